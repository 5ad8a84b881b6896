//! Which release, if any, a checking-in device is offered.
//!
//! With `offer_mode = "rollout"` (the default) staged rollouts decide
//! ([`crate::service::rollouts::RolloutService::offer`]); with `offer_mode = "latest"` an [`OfferPolicy`]
//! does — [`LatestRelease`] offers the newest release of the device's class to every device of it.

use std::fmt;

pub use ota_protocol::device::NoUpdateReason;

use super::{Device, Millis, Patch, Release, Sha256};

/// What the device says it runs (the truth about a device is its check-in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub digest: Sha256,
    pub version: Option<String>,
    pub sequence: u64,
}

/// `no_release` or `up_to_date` when nothing newer than `running` exists; `None` when the
/// newest release of the class (`latest`) is newer.
pub fn nothing_newer(latest: Option<&Release>, running: &Running) -> Option<NoUpdateReason> {
    match latest {
        None => Some(NoUpdateReason::NO_RELEASE),
        // Anti-rollback: an older or equal sequence, or the same image, is nothing newer.
        Some(r) if r.facts.sequence <= running.sequence || r.facts.image_digest == running.digest => {
            Some(NoUpdateReason::UP_TO_DATE)
        }
        Some(_) => None,
    }
}

/// The outcome of a decision: an update, or nothing and why (the device API's
/// `no_update_reason`, ota-server/README.md "API").
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
        if let Some(reason) = nothing_newer(latest, running) {
            return Offer::NoUpdate(reason);
        }
        let Some(release) = latest else {
            return Offer::NoUpdate(NoUpdateReason::NO_RELEASE);
        };
        let patch = release
            .facts
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
    use crate::domain::{DeviceState, ReleaseFacts};

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
            revoked_serials: vec![],
            current_serial: None,
            pending_command: None,
        }
    }

    fn release(seq: u64) -> Release {
        Release {
            id: 1,
            facts: ReleaseFacts {
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
            },
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
            Offer::NoUpdate(NoUpdateReason::UP_TO_DATE)
        );
        assert_eq!(
            p.decide(&device(), &running([0; 32], 6), Some(&release(5)), 0),
            Offer::NoUpdate(NoUpdateReason::UP_TO_DATE)
        );
        assert_eq!(
            p.decide(&device(), &running([0; 32], 0), None, 0),
            Offer::NoUpdate(NoUpdateReason::NO_RELEASE)
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
            Offer::NoUpdate(NoUpdateReason::UP_TO_DATE)
        );
    }
}
