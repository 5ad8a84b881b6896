//! Which release, if any, a checking-in device is offered.
//!
//! With `offer_mode = "rollout"` (the default) staged rollouts decide
//! ([`crate::rollouts::RolloutService::offer`]); with `offer_mode = "latest"` an [`OfferPolicy`]
//! does — [`LatestRelease`] offers the newest release of the device's class to every device of it.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Device, Millis, Patch, Release, Sha256};

/// What the device says it runs (the truth about a device is its check-in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub digest: Sha256,
    pub version: Option<String>,
    pub sequence: u64,
}

/// Why a check-in offers nothing: the device API's `no_update_reason` (see the README, "API").
/// The strings are stable; new reasons may be added, so devices must treat an unknown one as
/// "nothing now, ask again later".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoUpdateReason {
    /// No release of the device's class is newer than the image it runs.
    UpToDate,
    /// The device's class has no release at all.
    NoRelease,
    /// A newer release exists, but no rollout offers it (with `offer_mode = "rollout"` a
    /// release reaches devices only through a rollout).
    NoRollout,
    /// The rollouts of newer releases target device tags this device does not carry.
    NotTargeted,
    /// The rollout of the newer release is a draft: not started yet.
    RolloutNotStarted,
    /// The rollout is paused (by an operator or by its failure gates). A device that was
    /// offered the release but had not started does not start; one mid-install finishes.
    RolloutPaused,
    /// The rollout was aborted: devices that had not started get nothing more.
    RolloutAborted,
    /// The device is not in the current stage's cohort; a later stage may include it.
    NotInCohort,
    /// The rollout's limit of devices updating at once (`max_in_flight`) is reached.
    InFlightLimit,
    /// The device failed this release and waits for an operator's `retry-failed`.
    AwaitingRetry,
    /// The device failed `penalty_after_failures` times: held out of this rollout (penalty box).
    HeldOut,
    /// The rollout has the device as committed to this release, yet it checks in with an
    /// older image; nothing is offered again.
    AlreadyUpdated,
    /// The device is revoked or decommissioned. (The device API refuses such devices with 403
    /// before anything is decided, so devices never see this.)
    DeviceInactive,
}

impl NoUpdateReason {
    /// The wire name (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpToDate => "up_to_date",
            Self::NoRelease => "no_release",
            Self::NoRollout => "no_rollout",
            Self::NotTargeted => "not_targeted",
            Self::RolloutNotStarted => "rollout_not_started",
            Self::RolloutPaused => "rollout_paused",
            Self::RolloutAborted => "rollout_aborted",
            Self::NotInCohort => "not_in_cohort",
            Self::InFlightLimit => "in_flight_limit",
            Self::AwaitingRetry => "awaiting_retry",
            Self::HeldOut => "held_out",
            Self::AlreadyUpdated => "already_updated",
            Self::DeviceInactive => "device_inactive",
        }
    }

    /// Every reason, in declaration order.
    pub const ALL: [Self; 13] = [
        Self::UpToDate,
        Self::NoRelease,
        Self::NoRollout,
        Self::NotTargeted,
        Self::RolloutNotStarted,
        Self::RolloutPaused,
        Self::RolloutAborted,
        Self::NotInCohort,
        Self::InFlightLimit,
        Self::AwaitingRetry,
        Self::HeldOut,
        Self::AlreadyUpdated,
        Self::DeviceInactive,
    ];

    /// Whether the device runs the newest release there is for it (nothing is being withheld).
    pub fn is_current(self) -> bool {
        matches!(self, Self::UpToDate | Self::NoRelease)
    }

    /// `no_release` or `up_to_date` when nothing newer than `running` exists; `None` when the
    /// newest release of the class (`latest`) is newer.
    pub fn when_nothing_newer(latest: Option<&Release>, running: &Running) -> Option<Self> {
        match latest {
            None => Some(Self::NoRelease),
            // Anti-rollback: an older or equal sequence, or the same image, is nothing newer.
            Some(r) if r.sequence <= running.sequence || r.image_digest == running.digest => Some(Self::UpToDate),
            Some(_) => None,
        }
    }
}

impl fmt::Display for NoUpdateReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    NoUpdate(NoUpdateReason),
    Update {
        release: Box<Release>,
        /// A patch whose base is the running image, if the release has one.
        patch: Option<Patch>,
    },
}

/// Decides what to offer. Implementations must be deterministic given their inputs.
pub trait OfferPolicy: Send + Sync + fmt::Debug {
    fn decide(&self, device: &Device, running: &Running, latest: Option<&Release>, now: Millis) -> Offer;
}

/// Offers the newest release of the class when it is newer than what runs.
#[derive(Debug, Default, Clone, Copy)]
pub struct LatestRelease;

impl OfferPolicy for LatestRelease {
    fn decide(&self, _device: &Device, running: &Running, latest: Option<&Release>, _now: Millis) -> Offer {
        // Anti-rollback is the device's job too, but never offer what it cannot accept.
        if let Some(reason) = NoUpdateReason::when_nothing_newer(latest, running) {
            return Offer::NoUpdate(reason);
        }
        let Some(release) = latest else {
            return Offer::NoUpdate(NoUpdateReason::NoRelease);
        };
        let patch = release
            .patches
            .iter()
            .find(|p| p.base_digest == running.digest)
            .cloned();
        Offer::Update {
            release: Box::new(release.clone()),
            patch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DeviceState;

    fn device() -> Device {
        Device {
            id: "d1".into(),
            class: Some("c".into()),
            state: DeviceState::Active,
            registered_ms: 0,
            last_seen_ms: 0,
            running_digest: None,
            running_version: None,
            running_sequence: None,
            last_status: None,
            tags: vec![],
        }
    }

    fn release(seq: u64) -> Release {
        Release {
            id: 1,
            class_name: "c".into(),
            class_id: "x".into(),
            sequence: seq,
            version: "2".into(),
            envelope_digest: Sha256([1; 32]),
            envelope_size: 10,
            image_digest: Sha256([2; 32]),
            image_size: 100,
            patches: vec![Patch {
                format: 1,
                base_digest: Sha256([9; 32]),
                base_size: 90,
                digest: Sha256([3; 32]),
                size: 5,
            }],
            created_ms: 0,
            uploaded_by: "t".into(),
        }
    }

    fn running(digest: [u8; 32], sequence: u64) -> Running {
        Running {
            digest: Sha256(digest),
            version: None,
            sequence,
        }
    }

    #[test]
    fn rollback_never_offered() {
        let p = LatestRelease;
        assert_eq!(
            p.decide(&device(), &running([0; 32], 5), Some(&release(5)), 0),
            Offer::NoUpdate(NoUpdateReason::UpToDate)
        );
        assert_eq!(
            p.decide(&device(), &running([0; 32], 6), Some(&release(5)), 0),
            Offer::NoUpdate(NoUpdateReason::UpToDate)
        );
        assert_eq!(
            p.decide(&device(), &running([0; 32], 0), None, 0),
            Offer::NoUpdate(NoUpdateReason::NoRelease)
        );
    }

    #[test]
    fn patch_only_when_base_matches() {
        let p = LatestRelease;
        match p.decide(&device(), &running([9; 32], 1), Some(&release(5)), 0) {
            Offer::Update { patch: Some(patch), .. } => assert_eq!(patch.size, 5),
            other => panic!("{other:?}"),
        }
        match p.decide(&device(), &running([8; 32], 1), Some(&release(5)), 0) {
            Offer::Update { patch: None, .. } => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn already_running_is_no_update() {
        let p = LatestRelease;
        assert_eq!(
            p.decide(&device(), &running([2; 32], 1), Some(&release(5)), 0),
            Offer::NoUpdate(NoUpdateReason::UpToDate)
        );
    }

    #[test]
    fn no_update_reasons_have_stable_wire_names() {
        for r in NoUpdateReason::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
            let back: NoUpdateReason = serde_json::from_value(serde_json::json!(r.as_str())).unwrap();
            assert_eq!(back, r);
        }
        let names: Vec<&str> = NoUpdateReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "up_to_date",
                "no_release",
                "no_rollout",
                "not_targeted",
                "rollout_not_started",
                "rollout_paused",
                "rollout_aborted",
                "not_in_cohort",
                "in_flight_limit",
                "awaiting_retry",
                "held_out",
                "already_updated",
                "device_inactive",
            ],
            "the device API's reasons are stable: add new ones, never rename"
        );
    }
}
