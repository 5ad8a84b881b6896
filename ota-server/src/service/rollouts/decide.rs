//! What a check-in decides, as pure functions of the cached rollouts and the device's own
//! records (read from the store for this check-in: another replica may have moved them).

use std::collections::{BTreeMap, HashMap};

use super::live::Live;
use crate::domain::offer::{NoUpdateReason, Running};
use crate::domain::rollout::{DeviceRecord, OfferDecision, RecordEvent, RolloutState};
use crate::domain::{Device, Millis};

/// A device's records, by rollout id.
pub(super) type DeviceRecords = HashMap<i64, DeviceRecord>;

/// What a check-in decides, before anything is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Choice {
    Nothing(NoUpdateReason),
    /// Offer this rollout's release again (an update under way).
    Continue(i64),
    /// A new offer: the device's record must be stored first.
    Start(i64),
}

/// Rollouts of the class a device's check-in is about (drafts offer nothing).
pub(super) fn of_class(l: &Live, class: &str) -> bool {
    l.release.facts.class_name == class && l.row.rollout.state != RolloutState::Draft
}

/// Whether the rollout's release is one the device can accept (anti-rollback: never offer an
/// image at or below the sequence it runs, nor the image it runs).
pub(super) fn applicable(l: &Live, class: &str, running: &Running) -> bool {
    of_class(l, class) && l.release.facts.sequence > running.sequence && l.release.facts.image_digest != running.digest
}

/// The rollouts whose record of this device a check-in needs: unfinished ones of its class,
/// and finished ones still offering it something. None: the check-in reads no record.
pub(super) fn concerned(live: &BTreeMap<i64, Live>, class: &str, running: &Running) -> Vec<i64> {
    live.values()
        .filter(|l| of_class(l, class) && (!l.finished() || applicable(l, class, running)))
        .map(|l| l.row.id)
        .collect()
}

/// What a check-in reveals about the device's records: running the new image with its
/// sequence committed is a commit (even if the report was lost); the old image again after an
/// install is a rollback. Returns the events that change a record.
pub(super) fn observations(
    live: &BTreeMap<i64, Live>,
    records: &DeviceRecords,
    class: &str,
    running: &Running,
    now: Millis,
) -> Vec<(i64, RecordEvent)> {
    live.values()
        .filter(|l| of_class(l, class))
        .filter_map(|l| {
            let mut r = records.get(&l.row.id)?.clone();
            let event = RecordEvent::Running {
                digest: running.digest.hex(),
                reached: running.digest == l.release.facts.image_digest && running.sequence >= l.release.facts.sequence,
            };
            r.take(&event, now).then_some((l.row.id, event))
        })
        .collect()
}

fn decision(l: &Live, device: &Device, records: &DeviceRecords) -> OfferDecision {
    l.row
        .rollout
        .decide_offer(&device.id, records.get(&l.row.id), l.in_flight())
}

/// Which rollout, if any, offers the device its release now.
pub(super) fn choose(
    live: &BTreeMap<i64, Live>,
    records: &DeviceRecords,
    device: &Device,
    class: &str,
    running: &Running,
) -> Choice {
    // An update under way finishes before any newer rollout starts on the device (its record
    // would otherwise be left in flight).
    let under_way = live.values().rev().find(|l| {
        applicable(l, class, running)
            && records.get(&l.row.id).is_some_and(|r| r.stage.in_flight())
            && matches!(decision(l, device, records), OfferDecision::Offer { .. })
    });
    if let Some(l) = under_way {
        return Choice::Continue(l.row.id);
    }
    // Newest rollout first: a paused newer rollout must not stop an older, completed one from
    // bringing a device that is further behind up to date.
    for l in live.values().rev() {
        if !applicable(l, class, running) || !l.row.rollout.targets(&device.tags) {
            continue;
        }
        match decision(l, device, records) {
            OfferDecision::Offer { new: true } => return Choice::Start(l.row.id),
            OfferDecision::Offer { new: false } => return Choice::Continue(l.row.id),
            _ => continue,
        }
    }
    Choice::Nothing(why_nothing(live, records, device, class, running))
}

/// Why no rollout offers the device anything: the decision of the newest rollout of a newer
/// release that targets the device (the one [`choose`] would have followed), else whether
/// rollouts exist that target other devices. [`NoUpdateReason::NO_ROLLOUT`] means no rollout
/// of a newer release exists: the caller tells `up_to_date` / `no_release` from it with the
/// newest release of the class.
fn why_nothing(
    live: &BTreeMap<i64, Live>,
    records: &DeviceRecords,
    device: &Device,
    class: &str,
    running: &Running,
) -> NoUpdateReason {
    let mut other_targets = false;
    // Drafts included: a draft of a newer release is "not started", not "no rollout".
    let newer = live.values().rev().filter(|l| {
        l.release.facts.class_name == class
            && l.release.facts.sequence > running.sequence
            && l.release.facts.image_digest != running.digest
    });
    for l in newer {
        if !l.row.rollout.targets(&device.tags) {
            other_targets = true;
            continue;
        }
        if let Some(reason) = decision(l, device, records).no_update_reason() {
            return reason;
        }
    }
    if other_targets {
        NoUpdateReason::NOT_TARGETED
    } else {
        NoUpdateReason::NO_ROLLOUT
    }
}
