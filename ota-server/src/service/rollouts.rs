//! The rollout service: the pure engine ([`crate::domain::rollout`]) wired to the store and to
//! device traffic.
//!
//! * Check-ins ask [`RolloutService::offer`] which release (if any) a device gets: its class's
//!   rollouts are consulted newest first; a new offer is stored before the device hears of it.
//! * Status reports ([`RolloutService::report`]) move the device's record forward; the stage's
//!   gates are evaluated after every change and on a timer ([`RolloutService::tick`], soak time).
//! * Operator actions ([`RolloutService::act`]) go through the engine and are stored with their
//!   timeline entry.
//!
//! Device records are written behind ([`writer`]: ordered, coalesced, group-committed every
//! 10 ms) so no database write happens under the lock on the hot path; transitions and operator
//! actions flush them first and are then stored before they take effect. Counts are kept in
//! memory for speed but are derived from the stored device records when the server starts
//! ([`RolloutService::load`]), so a restart mid-rollout neither loses nor double counts a
//! device (graceful shutdown flushes; a crash loses at most the last flush interval).

mod live;
mod writer;

use std::collections::BTreeMap;
use std::sync::Arc;

use ota_protocol::device::StatusReport;
use rand_core::{OsRng, RngCore as _};
use tokio::sync::RwLock;

use crate::domain::offer::{NoUpdateReason, Offer, Running};
use crate::domain::rollout::{
    cohort_point, DeviceRecord, DeviceReport, DeviceStage, EngineError, OfferDecision, Rollout, RolloutAction,
    RolloutPlan, RolloutState, StageCounts,
};
use crate::domain::{Device, DeviceState, Millis, Release};
use crate::store::{RolloutRow, SharedStore, StoreError};
use live::Live;
use writer::RecordWriter;

/// How often cohort sizes are recounted from the store while a stage runs (new devices join).
pub const COHORT_REFRESH_MS: Millis = 3_000;

/// Why a rollout request was refused.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error("no such rollout")]
    NotFound,
    #[error("no such release")]
    ReleaseNotFound,
    #[error("release {0} already has a rollout that is not finished (rollout {1})")]
    AlreadyRolling(i64, i64),
    #[error("release {release} (sequence {sequence}) is not newer than release {newer} of the class, which already has a rollout")]
    Superseded { release: i64, sequence: u64, newer: i64 },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Operator actions, as the API names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Engine(RolloutAction),
    /// Offer the release again to devices that failed, except those in the penalty box.
    RetryFailed,
}

impl Action {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "start" => Self::Engine(RolloutAction::Start),
            "pause" => Self::Engine(RolloutAction::Pause),
            "resume" => Self::Engine(RolloutAction::Resume),
            "approve" => Self::Engine(RolloutAction::Approve),
            "abort" => Self::Engine(RolloutAction::Abort),
            "retry-failed" => Self::RetryFailed,
            _ => return None,
        })
    }
}

/// What an operator asks for when creating a rollout.
#[derive(Debug, Clone)]
pub struct RolloutSpec {
    pub name: Option<String>,
    pub plan: RolloutPlan,
    /// Device tags the rollout is limited to (empty: the whole class).
    pub target_tags: Vec<String>,
    /// Fixes the cohorts (default: random).
    pub salt: Option<[u8; 16]>,
    /// Start at once rather than as a draft.
    pub start: bool,
}

/// Where a rollout stands: what the admin API's view (`http/rollouts/view.rs`) is built from.
#[derive(Debug, Clone)]
pub struct RolloutStatus {
    pub row: RolloutRow,
    pub release: Release,
    /// Devices per stage and outcome.
    pub counts: Vec<StageCounts>,
    /// The current stage's cohort, if counted for this stage.
    pub cohort: Option<u32>,
    /// Devices between offer and outcome.
    pub in_flight: u32,
    /// Failed or rolled-back devices with at least `penalty_after_failures` failures.
    pub penalty_boxed: u32,
}

/// One cohort to recount: what the scan of the class's devices needs.
struct CohortQuery {
    rollout: i64,
    class: String,
    salt: [u8; 16],
    fraction_bp: u16,
    sequence: u64,
    tags: Vec<String>,
}

/// What a check-in decides, before anything is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Choice {
    Nothing(NoUpdateReason),
    /// Offer this rollout's release again (an update under way).
    Continue(i64),
    /// A new offer: the device's record must be stored first.
    Start(i64),
}

/// Rollouts of the class a device's check-in is about (drafts offer nothing).
fn of_class(l: &Live, class: &str) -> bool {
    l.release.facts.class_name == class && l.row.rollout.state != RolloutState::Draft
}

/// What a check-in reveals about the device's records: running the new image with its
/// sequence committed is a commit (even if the report was lost); the old image again after an
/// install is a rollback. Returns the changed records, by rollout.
fn observations(
    live: &BTreeMap<i64, Live>,
    device: &Device,
    class: &str,
    running: &Running,
    now: Millis,
) -> Vec<(i64, DeviceRecord)> {
    live.values()
        .filter(|l| of_class(l, class))
        .filter_map(|l| {
            let mut r = l.records.get(&device.id)?.clone();
            let seen = if running.digest == l.release.facts.image_digest && running.sequence >= l.release.facts.sequence
            {
                r.apply(&DeviceReport::Committed, now)
            } else {
                r.observe_running(&running.digest.hex(), now)
            };
            seen.then_some((l.row.id, r))
        })
        .collect()
}

/// Which rollout, if any, offers the device its release now.
fn choose(live: &BTreeMap<i64, Live>, device: &Device, class: &str, running: &Running) -> Choice {
    // Anti-rollback: never offer what the device cannot accept.
    let applicable = |l: &Live| {
        of_class(l, class)
            && l.release.facts.sequence > running.sequence
            && l.release.facts.image_digest != running.digest
    };
    let decision = |l: &Live| {
        l.row
            .rollout
            .decide_offer(&device.id, l.records.get(&device.id), l.in_flight())
    };
    // An update under way finishes before any newer rollout starts on the device (its record
    // would otherwise be left in flight).
    let under_way = live.values().rev().find(|l| {
        applicable(l)
            && l.records.get(&device.id).is_some_and(|r| r.stage.in_flight())
            && matches!(decision(l), OfferDecision::Offer { .. })
    });
    if let Some(l) = under_way {
        return Choice::Continue(l.row.id);
    }
    // Newest rollout first: a paused newer rollout must not stop an older, completed one from
    // bringing a device that is further behind up to date.
    for l in live.values().rev() {
        if !applicable(l) || !l.row.rollout.targets(&device.tags) {
            continue;
        }
        match decision(l) {
            OfferDecision::Offer { new: true } => return Choice::Start(l.row.id),
            OfferDecision::Offer { new: false } => return Choice::Continue(l.row.id),
            _ => continue,
        }
    }
    Choice::Nothing(why_nothing(live, device, class, running))
}

/// Why no rollout offers the device anything: the decision of the newest rollout of a newer
/// release that targets the device (the one [`choose`] would have followed), else whether
/// rollouts exist that target other devices. [`NoUpdateReason::NO_ROLLOUT`] means no rollout
/// of a newer release exists: the caller tells `up_to_date` / `no_release` from it with the
/// newest release of the class.
fn why_nothing(live: &BTreeMap<i64, Live>, device: &Device, class: &str, running: &Running) -> NoUpdateReason {
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
        let decision = l
            .row
            .rollout
            .decide_offer(&device.id, l.records.get(&device.id), l.in_flight());
        if let Some(reason) = decision.no_update_reason() {
            return reason;
        }
    }
    if other_targets {
        NoUpdateReason::NOT_TARGETED
    } else {
        NoUpdateReason::NO_ROLLOUT
    }
}

/// The rollouts of this server, loaded at start and kept in step with the store.
#[derive(Debug)]
pub struct RolloutService {
    store: SharedStore,
    writer: RecordWriter,
    /// Every rollout by id. Check-ins that change nothing (most of them) share the read
    /// lock; anything that changes a record or a rollout takes the write lock, which is never
    /// held across a database write on the hot path (see [`writer`]).
    live: RwLock<BTreeMap<i64, Live>>,
}

impl RolloutService {
    /// Loads every rollout and its device records; counts are recomputed from the records.
    pub async fn load(store: SharedStore) -> Result<Arc<Self>, RolloutError> {
        let mut live = BTreeMap::new();
        for row in store.list_rollouts().await? {
            let release = store
                .release(row.release_id)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("rollout {} names a missing release", row.id)))?;
            let records = store.rollout_devices(row.id).await?;
            live.insert(row.id, Live::new(row, release, records));
        }
        Ok(Arc::new(Self {
            writer: RecordWriter::spawn(store.clone()),
            store,
            live: RwLock::new(live),
        }))
    }

    /// Stores every device record handed to the writer so far (graceful shutdown, tests).
    pub async fn flush(&self) -> Result<(), RolloutError> {
        Ok(self.writer.flush().await?)
    }

    /// Creates a rollout of `release` (started at once if `start`). `salt` fixes the cohorts
    /// (default: random, so every rollout samples the fleet afresh).
    pub async fn create(
        &self,
        release: &Release,
        spec: RolloutSpec,
        now: Millis,
    ) -> Result<RolloutStatus, RolloutError> {
        let RolloutSpec {
            name,
            plan,
            target_tags,
            salt,
            start,
        } = spec;
        let mut live = self.live.write().await;
        for other in live
            .values()
            .filter(|l| l.release.facts.class_name == release.facts.class_name)
        {
            if other.release.id == release.id && !other.finished() {
                return Err(RolloutError::AlreadyRolling(release.id, other.row.id));
            }
            if other.release.facts.sequence > release.facts.sequence {
                return Err(RolloutError::Superseded {
                    release: release.id,
                    sequence: release.facts.sequence,
                    newer: other.release.id,
                });
            }
        }
        let salt = salt.unwrap_or_else(|| {
            let mut salt = [0u8; 16];
            OsRng.fill_bytes(&mut salt);
            salt
        });
        let mut rollout = Rollout::new(plan, salt)?;
        rollout.target_tags = target_tags;
        if start {
            rollout.act(RolloutAction::Start, now)?;
        }
        let name = name.unwrap_or_else(|| format!("{} to {}", release.facts.version, release.facts.class_name));
        let id = self.store.insert_rollout(release.id, &name, &rollout, now).await?;
        let row = RolloutRow {
            id,
            release_id: release.id,
            name,
            rollout,
            created_ms: now,
            updated_ms: now,
        };
        let l = Live::new(row, release.clone(), Vec::new());
        let status = l.status();
        live.insert(id, l);
        Ok(status)
    }

    /// Every rollout, newest first.
    pub async fn statuses(&self) -> Vec<RolloutStatus> {
        self.live.read().await.values().rev().map(Live::status).collect()
    }

    pub async fn status(&self, id: i64) -> Result<RolloutStatus, RolloutError> {
        self.live
            .read()
            .await
            .get(&id)
            .map(Live::status)
            .ok_or(RolloutError::NotFound)
    }

    /// Applies an operator action; stored with its timeline entry before it takes effect.
    pub async fn act(&self, id: i64, action: Action, now: Millis) -> Result<RolloutStatus, RolloutError> {
        let mut live = self.live.write().await;
        let l = live.get_mut(&id).ok_or(RolloutError::NotFound)?;
        match action {
            Action::Engine(action) => {
                let mut next = l.row.rollout.clone();
                if action == RolloutAction::Resume {
                    // Resuming accepts the failures seen so far: the gates count new ones only.
                    next.acknowledge_failures(&l.counts);
                }
                next.act(action, now)?;
                if action == RolloutAction::Approve || action == RolloutAction::Start {
                    l.cohort = None;
                }
                self.writer.flush().await?;
                self.store.save_rollout(id, Some(&next), &[], now).await?;
                l.row.rollout = next;
                l.row.updated_ms = now;
            }
            Action::RetryFailed => {
                let penalty = l.row.rollout.plan.penalty_after_failures;
                let mut retried = Vec::new();
                for record in l.records.values() {
                    if record.stage.is_failure() && record.failures < penalty {
                        let mut r = record.clone();
                        r.retry(now);
                        retried.push(r);
                    }
                }
                for r in retried {
                    self.writer.record(id, r.clone(), now).await?;
                    l.put(r);
                }
                self.writer.flush().await?;
            }
        }
        Ok(l.status())
    }

    /// What a device of `class` running `running` is offered. Check-ins that change nothing
    /// (most of them) are answered under the read lock; the write lock is taken only to store
    /// what the check-in revealed or a new offer. Nothing offered carries its reason;
    /// [`NoUpdateReason::NO_ROLLOUT`] means no rollout of a release newer than `running`
    /// exists, which the caller tells apart from `up_to_date` / `no_release` with the class's
    /// newest release ([`crate::domain::offer::nothing_newer`]).
    pub async fn offer(
        &self,
        device: &Device,
        class: &str,
        running: &Running,
        now: Millis,
    ) -> Result<Offer, RolloutError> {
        if device.state != DeviceState::Active {
            return Ok(Offer::NoUpdate(NoUpdateReason::DEVICE_INACTIVE));
        }
        // `Continue` names a rollout of `live`; the fallback is unreachable.
        let gone = Offer::NoUpdate(NoUpdateReason::NO_ROLLOUT);
        {
            let live = self.live.read().await;
            if observations(&live, device, class, running, now).is_empty() {
                match choose(&live, device, class, running) {
                    Choice::Nothing(reason) => return Ok(Offer::NoUpdate(reason)),
                    Choice::Continue(id) => return Ok(live.get(&id).map_or(gone, |l| l.update_offer(running))),
                    Choice::Start(_) => {}
                }
            }
        }
        let mut live = self.live.write().await;
        for (id, record) in observations(&live, device, class, running, now) {
            if let Some(l) = live.get_mut(&id) {
                self.save_device(l, record, now).await?;
            }
        }
        // Decided again: the state may have moved between the two locks.
        match choose(&live, device, class, running) {
            Choice::Nothing(reason) => Ok(Offer::NoUpdate(reason)),
            Choice::Continue(id) => Ok(live.get(&id).map_or(gone, |l| l.update_offer(running))),
            Choice::Start(id) => {
                let l = live.get_mut(&id).ok_or(RolloutError::NotFound)?;
                let stage = l.row.rollout.stage;
                let r = DeviceRecord::offered(&device.id, stage, Some(running.digest.hex()), now);
                self.save_device(l, r, now).await?;
                Ok(l.update_offer(running))
            }
        }
    }

    /// A device's status report about `release_id`.
    pub async fn report(&self, device_id: &str, report: &StatusReport, now: Millis) -> Result<(), RolloutError> {
        let Some(release_id) = report.release_id() else {
            return Ok(());
        };
        let engine_report = match report {
            StatusReport::Downloading { .. } => DeviceReport::Downloading,
            StatusReport::Downloaded { .. } => DeviceReport::Downloaded,
            StatusReport::Verified { .. } => DeviceReport::Verified,
            StatusReport::Installing { .. } => DeviceReport::Installing,
            StatusReport::Rebooted { .. } => DeviceReport::Rebooted,
            StatusReport::Committed { .. } => DeviceReport::Committed,
            StatusReport::Failed { .. } => DeviceReport::Failed(report.reason().unwrap_or_default().to_owned()),
            StatusReport::RolledBack { .. } => DeviceReport::RolledBack,
        };
        let mut live = self.live.write().await;
        for l in live.values_mut().filter(|l| l.release.id == release_id) {
            let Some(record) = l.records.get(device_id) else {
                continue;
            };
            let mut r = record.clone();
            if r.apply(&engine_report, now) {
                self.save_device(l, r, now).await?;
            }
        }
        Ok(())
    }

    /// Stores a changed device record, then evaluates the rollout's gates (stored together
    /// when they fire).
    async fn save_device(&self, l: &mut Live, record: DeviceRecord, now: Millis) -> Result<(), RolloutError> {
        let mut next = l.row.rollout.clone();
        let mut counts = l.counts.clone();
        if let Some(old) = l.records.get(&record.device_id) {
            crate::domain::rollout::tally(&mut counts, old, false);
        }
        crate::domain::rollout::tally(&mut counts, &record, true);
        let fired = match l.cohort_size(&next) {
            Some(size) => next.evaluate(&counts, size, now).is_some(),
            None => false,
        };
        self.writer.record(l.row.id, record.clone(), now).await?;
        if fired {
            // The transition is stored only after the records that caused it.
            self.writer.flush().await?;
            self.store.save_rollout(l.row.id, Some(&next), &[], now).await?;
        }
        l.put(record);
        if fired {
            l.stage_changed(&next);
            l.row.rollout = next;
            l.row.updated_ms = now;
        }
        Ok(())
    }

    /// Timer: recounts stale cohorts and evaluates time-based gates (soak) of running rollouts.
    pub async fn tick(&self, now: Millis) -> Result<(), RolloutError> {
        // Cohort sizes need a scan of the class's devices: done without holding the lock.
        let wanted: Vec<CohortQuery> = {
            let live = self.live.read().await;
            live.values()
                .filter(|l| l.row.rollout.state == RolloutState::Running && l.cohort_stale(now))
                .map(|l| {
                    let r = &l.row.rollout;
                    CohortQuery {
                        rollout: l.row.id,
                        class: l.release.facts.class_name.clone(),
                        salt: r.salt,
                        fraction_bp: r.plan.stages[r.stage].fraction_bp,
                        sequence: l.release.facts.sequence,
                        tags: r.target_tags.clone(),
                    }
                })
                .collect()
        };
        let mut sizes = Vec::new();
        for q in wanted {
            let scan = std::time::Instant::now();
            let devices = self.store.class_devices(&q.class).await?;
            // Devices of the cohort that still need the release (committed ones are added back
            // from the records: they run it now).
            let eligible: Vec<String> = devices
                .into_iter()
                .filter(|d| d.state == DeviceState::Active)
                .filter(|d| q.tags.is_empty() || q.tags.iter().any(|t| d.tags.contains(t)))
                .filter(|d| d.running_sequence.unwrap_or(0) < q.sequence)
                .filter(|d| cohort_point(&q.salt, &d.id) < q.fraction_bp)
                .map(|d| d.id)
                .collect();
            let scan_ms = Millis::try_from(scan.elapsed().as_millis()).unwrap_or(Millis::MAX);
            sizes.push((q.rollout, q.fraction_bp, eligible, scan_ms));
        }
        let mut live = self.live.write().await;
        for (id, fraction, eligible, scan_ms) in sizes {
            if let Some(l) = live.get_mut(&id) {
                // A device whose "committed" arrived before its next check-in updated its
                // stored sequence is counted once, as committed.
                let pending = eligible
                    .iter()
                    .filter(|d| l.records.get(*d).is_none_or(|r| r.stage != DeviceStage::Committed))
                    .count();
                l.set_cohort(fraction, u32::try_from(pending).unwrap_or(u32::MAX), scan_ms, now);
            }
        }
        for l in live.values_mut() {
            if l.finished() {
                continue;
            }
            // Devices in flight that stopped reporting fail as stalled (stored with any
            // transition their failures trigger).
            let stall_after = l.row.rollout.plan.stall_after_ms;
            let stalled: Vec<_> = l
                .records
                .values()
                .filter(|r| r.stage.in_flight() && now.saturating_sub(r.updated_at) >= stall_after)
                .cloned()
                .collect();
            for mut record in stalled {
                if record.stall(stall_after, now) {
                    tracing::warn!(rollout = l.row.id, device = %record.device_id, "device stalled mid-update; counted as failed");
                    self.save_device(l, record, now).await?;
                }
            }
            if l.row.rollout.state != RolloutState::Running {
                continue;
            }
            let Some(size) = l.cohort_size(&l.row.rollout) else {
                continue;
            };
            let mut next = l.row.rollout.clone();
            if next.evaluate(&l.counts, size, now).is_some() {
                self.writer.flush().await?;
                self.store.save_rollout(l.row.id, Some(&next), &[], now).await?;
                l.stage_changed(&next);
                l.row.rollout = next;
                l.row.updated_ms = now;
            }
        }
        Ok(())
    }
}
