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

    /// Every stage between offer and outcome (what the in-flight cap counts).
    pub const IN_FLIGHT: [Self; 6] = [
        Self::Offered,
        Self::Downloading,
        Self::Downloaded,
        Self::Verified,
        Self::Installing,
        Self::Rebooted,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Committed, Self::Failed, Self::RolledBack]
            .into_iter()
            .chain(Self::IN_FLIGHT)
            .find(|stage| stage.as_str() == s)
    }
}

/// Something that moves a device's record. The store applies it to the *stored* record
/// (`store/queries/rollouts.rs`, rows locked), never to a copy another replica may have
/// outdated, so every replica's change lands on the latest state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordEvent {
    /// A status report.
    Report(DeviceReport),
    /// A check-in says what the device runs: `reached` = the rollout's image, at or above its
    /// sequence (a commit, even if the report was lost); otherwise, its old image after an
    /// install is a rollback.
    Running { digest: String, reached: bool },
    /// The stall timer: in flight with no progress for `after_ms`.
    Stall { after_ms: Timestamp },
    /// Operator "retry failed", except devices with `penalty_after` failures or more.
    Retry { penalty_after: u32 },
    /// A claim of success (a "committed" report, or a check-in running the new image) from a
    /// device the server never served the release's image or a patch to it in full: not a
    /// commit, recorded as suspicious (threat model: "forged commit").
    Unproven,
}

impl RecordEvent {
    /// Whether applying it may change a count the gates read (an outcome or a retry).
    pub fn may_finish(&self) -> bool {
        match self {
            Self::Report(r) => matches!(
                r,
                DeviceReport::Committed | DeviceReport::Failed(_) | DeviceReport::RolledBack
            ),
            Self::Running { .. } | Self::Stall { .. } | Self::Retry { .. } => true,
            Self::Unproven => false,
        }
    }

    /// Whether it claims the device runs the release: what needs download evidence first.
    pub fn claims_commit(&self) -> bool {
        matches!(
            self,
            Self::Report(DeviceReport::Committed) | Self::Running { reached: true, .. }
        )
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
    /// Claims of success without evidence ([`RecordEvent::Unproven`]).
    #[serde(default)]
    pub unproven_claims: u32,
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
            unproven_claims: 0,
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

    /// Applies one event; returns whether the record changed.
    pub fn take(&mut self, event: &RecordEvent, now: Timestamp) -> bool {
        match event {
            RecordEvent::Report(report) => self.apply(report, now),
            RecordEvent::Running { reached: true, .. } => self.apply(&DeviceReport::Committed, now),
            RecordEvent::Running { digest, reached: false } => self.observe_running(digest, now),
            RecordEvent::Stall { after_ms } => self.stall(*after_ms, now),
            RecordEvent::Retry { penalty_after } => self.failures < *penalty_after && self.retry(now),
            RecordEvent::Unproven => self.unproven(),
        }
    }

    /// A claim of success without evidence: counted, and the stage left where it was (nor is
    /// the stall timer reset: a device that never installs still stalls).
    fn unproven(&mut self) -> bool {
        if !self.stage.in_flight() {
            return false;
        }
        self.unproven_claims = self.unproven_claims.saturating_add(1);
        true
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
