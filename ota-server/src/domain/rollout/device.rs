//! One device's progress through a rollout, driven by its status reports and check-ins.

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// Where a device is with this rollout's release. Ordered: progress only moves forward,
/// except through an explicit retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStage {
    Offered,
    Downloading,
    Downloaded,
    Verified,
    Installing,
    Rebooted,
    /// Rebooted into the new image and confirmed it: the only success.
    Committed,
    Failed,
    /// Came back running its old image after installing: a failure.
    RolledBack,
}

impl DeviceStage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Offered => "offered",
            Self::Downloading => "downloading",
            Self::Downloaded => "downloaded",
            Self::Verified => "verified",
            Self::Installing => "installing",
            Self::Rebooted => "rebooted",
            Self::Committed => "committed",
            Self::Failed => "failed",
            Self::RolledBack => "rolled_back",
        }
    }

    /// Between being offered and a final outcome.
    pub fn in_flight(self) -> bool {
        self < Self::Committed
    }

    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::RolledBack)
    }
}

/// Why a device failed, as it reported (or as the server inferred).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum FailureKind {
    Reported(String),
    /// Reported its old image digest after installing.
    RolledBack,
}

/// What a device tells the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "reason")]
pub enum DeviceReport {
    Downloading,
    Downloaded,
    Verified,
    Installing,
    Rebooted,
    Committed,
    Failed(String),
    RolledBack,
}

/// The store's row for (rollout, device).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub device_id: String,
    /// Stage index in force when the device was first offered (its counts go there).
    pub stage_index: usize,
    pub stage: DeviceStage,
    /// Failed attempts so far in this rollout (penalty box after `penalty_after_failures`).
    pub failures: u32,
    /// Image digest the device ran when it was offered: seeing it again after an install
    /// means the device rolled back.
    pub base_digest: Option<String>,
    pub last_failure: Option<FailureKind>,
    pub offered_at: Timestamp,
    pub updated_at: Timestamp,
}

impl DeviceRecord {
    pub fn offered(device_id: &str, stage_index: usize, base_digest: Option<String>, now: Timestamp) -> Self {
        Self {
            device_id: device_id.to_owned(),
            stage_index,
            stage: DeviceStage::Offered,
            failures: 0,
            base_digest,
            last_failure: None,
            offered_at: now,
            updated_at: now,
        }
    }

    /// Applies a status report. Returns whether anything changed: replays and out-of-order
    /// reports (a late "downloading" after "verified") change nothing.
    pub fn apply(&mut self, report: &DeviceReport, now: Timestamp) -> bool {
        // A final outcome is final until an operator retries.
        if !self.stage.in_flight() {
            return false;
        }
        let next = match report {
            DeviceReport::Downloading => DeviceStage::Downloading,
            DeviceReport::Downloaded => DeviceStage::Downloaded,
            DeviceReport::Verified => DeviceStage::Verified,
            DeviceReport::Installing => DeviceStage::Installing,
            DeviceReport::Rebooted => DeviceStage::Rebooted,
            DeviceReport::Committed => DeviceStage::Committed,
            DeviceReport::Failed(reason) => {
                self.fail(DeviceStage::Failed, FailureKind::Reported(reason.clone()), now);
                return true;
            }
            DeviceReport::RolledBack => {
                self.fail(DeviceStage::RolledBack, FailureKind::RolledBack, now);
                return true;
            }
        };
        if next <= self.stage {
            return false;
        }
        self.stage = next;
        self.updated_at = now;
        true
    }

    /// A check-in says what the device really runs. After installing, its old digest means the
    /// new image did not stick: a rollback, counted as a failure.
    pub fn observe_running(&mut self, running_digest: &str, now: Timestamp) -> bool {
        let after_install = matches!(self.stage, DeviceStage::Installing | DeviceStage::Rebooted);
        if after_install && self.base_digest.as_deref() == Some(running_digest) {
            self.fail(DeviceStage::RolledBack, FailureKind::RolledBack, now);
            return true;
        }
        false
    }

    /// In flight with no report since `stall_after_ms`: failed as stalled. Returns whether it was.
    pub fn stall(&mut self, stall_after_ms: Timestamp, now: Timestamp) -> bool {
        if !self.stage.in_flight() || now.saturating_sub(self.updated_at) < stall_after_ms {
            return false;
        }
        let reason = format!("stalled: no progress reported for {} s", stall_after_ms / 1000);
        self.fail(DeviceStage::Failed, FailureKind::Reported(reason), now);
        true
    }

    fn fail(&mut self, stage: DeviceStage, kind: FailureKind, now: Timestamp) {
        self.stage = stage;
        self.failures = self.failures.saturating_add(1);
        self.last_failure = Some(kind);
        self.updated_at = now;
    }

    /// Operator "retry failed": a failed device may be offered again (unless penalty-boxed).
    pub fn retry(&mut self, now: Timestamp) -> bool {
        if !self.stage.is_failure() {
            return false;
        }
        self.stage = DeviceStage::Offered;
        self.offered_at = now;
        self.updated_at = now;
        true
    }
}
