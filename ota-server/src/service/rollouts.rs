//! The rollout service: the pure engine ([`crate::domain::rollout`]) wired to the store and to
//! device traffic, on one replica or several sharing one database.
//!
//! **The store is the source of truth** (docs/ARCHITECTURE.md, "Scaling out"): the rollout's
//! engine state (plan, state, stage, pause, timeline) is a row with a version, and every device's
//! progress is a row of `rollout_devices`. Each replica caches the rollout rows and the counts
//! aggregated from the records ([`live`]), and reconciles its cache with the store on every
//! tick (0.5 s): a replica follows an operator action or a gate transition made on any other
//! replica within a second, and one started late learns everything at start.
//!
//! * **Transitions happen once fleet-wide.** Operator actions and gate transitions (promote,
//!   pause on failures, stall, complete) are compare-and-set updates on the row's version
//!   ([`Store::update_rollout`]): of two replicas deciding the same transition, one stores it
//!   and the other reloads. No leader is needed.
//! * **Offers are durable before the device hears them**, and the gates that guard them are
//!   checked in the same transaction ([`Store::reserve_offer`]): the rollout must still be at
//!   the version the decision was made on (a pause stored anywhere stops every new offer at
//!   once) and hold fewer than `max_in_flight` devices in flight (the cap holds across
//!   replicas).
//! * **Reports and check-in observations are applied to the stored record** (rows locked,
//!   [`Store::apply_record_events`]), group-committed ([`events`]) and committed before the
//!   device is answered. A replica never writes a record it computed from a copy.
//!
//! Crash safety (kill -9 of any replica at any point): what a device was told is stored before
//! it was told (offers, and the 200 of a report), so counts, which are only ever aggregated from
//! stored records, never miss a device that acted on an answer. A report whose answer never
//! arrived is either stored or not; in the second case its effect comes back with the device's
//! next check-in (running the new image with its sequence = committed; its old image after an
//! install = rolled back) or, for a device that went silent mid-update, with the stall timer.
//! Nothing is counted from memory, so nothing is counted twice.

mod decide;
mod events;
mod live;

use std::collections::BTreeMap;
use std::sync::Arc;

use ota_protocol::device::StatusReport;
use rand_core::{OsRng, RngCore as _};
use tokio::sync::RwLock;

use crate::domain::offer::{NoUpdateReason, Offer, Running};
use crate::domain::rollout::{
    cohort_point, DeviceRecord, DeviceReport, EngineError, RecordEvent, Rollout, RolloutAction, RolloutPlan,
    RolloutState, StageCounts, Transition,
};
use crate::domain::{Device, DeviceState, Millis, Release};
use crate::store::{Reservation, RolloutRow, SharedStore, StoreError};
use decide::{Choice, DeviceRecords};
use events::EventWriter;
use live::Live;

/// How often cohort sizes are recounted from the store while a stage runs (new devices join).
pub const COHORT_REFRESH_MS: Millis = 3_000;

/// Attempts at a new offer or an operator action when other replicas change the rollout
/// meanwhile (each attempt reloads it).
const ATTEMPTS: usize = 4;

/// Finished rollouts with nothing in flight are recounted every this many ticks (10 s).
const FINISHED_RECOUNT_TICKS: u64 = 20;

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
    /// Devices with claims of success but no evidence, and how many claims each made (most
    /// recent first; filled by [`RolloutService::status`] and [`RolloutService::statuses`]).
    pub suspicious: Vec<(String, u32)>,
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

/// The rollouts, as this replica caches them, kept in step with the store.
#[derive(Debug)]
pub struct RolloutService {
    store: SharedStore,
    events: EventWriter,
    /// Every rollout by id. Never held across a database call.
    live: RwLock<BTreeMap<i64, Live>>,
    /// Ticks so far (finished rollouts are recounted every [`FINISHED_RECOUNT_TICKS`]).
    ticks: std::sync::atomic::AtomicU64,
}

fn contended() -> RolloutError {
    RolloutError::Store(StoreError::Unavailable(
        "the rollout kept changing on other replicas; retry".into(),
    ))
}

impl RolloutService {
    /// Loads every rollout and its counts from the store.
    pub async fn load(store: SharedStore) -> Result<Arc<Self>, RolloutError> {
        let service = Arc::new(Self {
            events: EventWriter::spawn(store.clone()),
            store,
            live: RwLock::new(BTreeMap::new()),
            ticks: std::sync::atomic::AtomicU64::new(0),
        });
        service.reconcile().await?;
        if let Some(changes) = service.store.rollout_changes() {
            tokio::spawn(follow(Arc::downgrade(&service), changes));
        }
        Ok(service)
    }

    /// Stores every device-record event handed over so far (graceful shutdown, tests).
    pub async fn flush(&self) -> Result<(), RolloutError> {
        Ok(self.events.flush().await?)
    }

    /// Brings the cache in step with the store: rows another replica created or changed are
    /// reloaded (with their counts).
    async fn reconcile(&self) -> Result<(), RolloutError> {
        let versions = self.store.rollout_versions().await?;
        let stale: Vec<(i64, Option<Release>)> = {
            let live = self.live.read().await;
            versions
                .iter()
                .filter(|(id, v)| live.get(id).is_none_or(|l| l.row.version < *v))
                .map(|(id, _)| (*id, live.get(id).map(|l| l.release.clone())))
                .collect()
        };
        for (id, release) in stale {
            let Some(row) = self.store.rollout(id).await? else {
                continue;
            };
            let release = match release {
                Some(r) => r,
                None => self
                    .store
                    .release(row.release_id)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt(format!("rollout {id} names a missing release")))?,
            };
            {
                let mut live = self.live.write().await;
                match live.get_mut(&id) {
                    Some(l) if l.row.version < row.version => l.set_row(row),
                    Some(_) => {}
                    None => {
                        live.insert(id, Live::new(row, release));
                    }
                }
            }
            self.recount(id).await?;
        }
        Ok(())
    }

    /// Replaces a rollout's cached counts with the store's aggregate.
    async fn recount(&self, id: i64) -> Result<(), RolloutError> {
        let Some(penalty) = self
            .live
            .read()
            .await
            .get(&id)
            .map(|l| l.row.rollout.plan.penalty_after_failures)
        else {
            return Ok(());
        };
        let tallies = self.store.rollout_counts(id, penalty).await?;
        if let Some(l) = self.live.write().await.get_mut(&id) {
            l.set_counts(&tallies);
        }
        Ok(())
    }

    /// Stores `next` as rollout `id`'s state if it is still at `version`; the cache follows.
    /// False: another replica changed it first (the cache is reloaded).
    async fn store_state(&self, id: i64, version: i64, next: Rollout, now: Millis) -> Result<bool, RolloutError> {
        if !self.store.update_rollout(id, version, &next, now).await? {
            self.reconcile().await?;
            return Ok(false);
        }
        // The other replicas follow at once (and, should this be lost, at their next tick).
        if let Err(e) = self.store.announce_rollout(id).await {
            tracing::warn!(error = %e, rollout = id, "could not announce a rollout change");
        }
        if let Some(l) = self.live.write().await.get_mut(&id) {
            if l.row.version == version {
                let mut row = l.row.clone();
                row.rollout = next;
                row.version = version + 1;
                row.updated_ms = now;
                l.set_row(row);
            }
        }
        Ok(true)
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
        // Checked against what the store holds now, not only what this replica saw.
        self.reconcile().await?;
        {
            let live = self.live.read().await;
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
        if let Err(e) = self.store.announce_rollout(id).await {
            tracing::warn!(error = %e, rollout = id, "could not announce a new rollout");
        }
        let row = RolloutRow {
            id,
            version: 0,
            release_id: release.id,
            name,
            rollout,
            created_ms: now,
            updated_ms: now,
        };
        let l = Live::new(row, release.clone());
        let status = l.status();
        self.live.write().await.entry(id).or_insert(l);
        Ok(status)
    }

    /// Every rollout, newest first, with its counts aggregated from the store now: a view
    /// includes what every replica stored (offers of a finished rollout too, which move no
    /// version), not this replica's last tick.
    pub async fn statuses(&self) -> Result<Vec<RolloutStatus>, RolloutError> {
        self.reconcile().await?;
        let ids: Vec<i64> = self.live.read().await.keys().copied().collect();
        for id in ids {
            self.recount(id).await?;
        }
        let mut statuses: Vec<RolloutStatus> = self.live.read().await.values().rev().map(Live::status).collect();
        for status in &mut statuses {
            self.add_suspicious(status).await?;
        }
        Ok(statuses)
    }

    async fn add_suspicious(&self, status: &mut RolloutStatus) -> Result<(), RolloutError> {
        let shown = i64::try_from(ota_protocol::rollouts::SUSPICIOUS_SHOWN).unwrap_or(i64::MAX);
        status.suspicious = self.store.suspicious_devices(status.row.id, shown).await?;
        Ok(())
    }

    /// One rollout, counted from the store now (as [`Self::statuses`]).
    pub async fn status(&self, id: i64) -> Result<RolloutStatus, RolloutError> {
        // Created or changed on another replica since the last tick?
        self.reconcile().await?;
        self.recount(id).await?;
        let mut status = self
            .live
            .read()
            .await
            .get(&id)
            .map(Live::status)
            .ok_or(RolloutError::NotFound)?;
        self.add_suspicious(&mut status).await?;
        Ok(status)
    }

    /// Applies an operator action to the stored state (whatever replica last changed it);
    /// stored with its timeline entry before it takes effect.
    pub async fn act(&self, id: i64, action: Action, now: Millis) -> Result<RolloutStatus, RolloutError> {
        for _ in 0..ATTEMPTS {
            let row = self.store.rollout(id).await?.ok_or(RolloutError::NotFound)?;
            let mut next = row.rollout.clone();
            match action {
                Action::Engine(action) => {
                    if action == RolloutAction::Resume {
                        // Resuming accepts the failures seen so far: the gates count new ones only.
                        let penalty = next.plan.penalty_after_failures;
                        let tallies = self.store.rollout_counts(id, penalty).await?;
                        let mut counts = vec![StageCounts::default(); next.plan.stages.len()];
                        for (index, stage, n, _) in tallies {
                            crate::domain::rollout::tally_stage(&mut counts, index, stage, n, true);
                        }
                        next.acknowledge_failures(&counts);
                    }
                    next.act(action, now)?;
                    // The device records this rollout's gates were read from are all stored.
                    self.events.flush().await?;
                    if !self.store_state(id, row.version, next, now).await? {
                        continue;
                    }
                }
                Action::RetryFailed => {
                    let penalty_after = next.plan.penalty_after_failures;
                    let event = RecordEvent::Retry { penalty_after };
                    for record in self.store.rollout_devices(id).await? {
                        if record.stage.is_failure() && record.failures < penalty_after {
                            self.events
                                .store(&record.device_id, &[(id, event.clone())], now)
                                .await?;
                        }
                    }
                }
            }
            self.reconcile().await?;
            self.recount(id).await?;
            return self.status(id).await;
        }
        Err(contended())
    }

    /// What a device of `class` running `running` is offered. A check-in reads the device's
    /// records only when a rollout concerns it; what it reveals (a commit, a rollback) and a
    /// new offer are stored before the answer. Nothing offered carries its reason;
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
        let concerned = decide::concerned(&*self.live.read().await, class, running);
        let mut records: DeviceRecords = if concerned.is_empty() {
            DeviceRecords::new()
        } else {
            self.store
                .device_records(&device.id, &concerned)
                .await?
                .into_iter()
                .collect()
        };
        let seen = decide::observations(&*self.live.read().await, &records, class, running, now);
        if !seen.is_empty() {
            let stored = self.record(&device.id, &seen, now).await?;
            for (id, event) in &stored {
                if let Some(r) = records.get_mut(id) {
                    r.take(event, now);
                }
            }
        }
        for _ in 0..ATTEMPTS {
            let (choice, start) = {
                let live = self.live.read().await;
                let choice = decide::choose(&live, &records, device, class, running);
                let start = match &choice {
                    Choice::Start(id) => live.get(id).map(|l| {
                        let r = &l.row.rollout;
                        (l.row.version, r.stage, r.plan.max_in_flight)
                    }),
                    _ => None,
                };
                (choice, start)
            };
            let id = match choice {
                Choice::Nothing(reason) => return Ok(Offer::NoUpdate(reason)),
                Choice::Continue(id) => return Ok(self.update_offer(id, running).await),
                Choice::Start(id) => id,
            };
            let Some((version, stage, cap)) = start else {
                return Ok(Offer::NoUpdate(NoUpdateReason::NO_ROLLOUT));
            };
            let record = DeviceRecord::offered(&device.id, stage, Some(running.digest.hex()), now);
            match self.store.reserve_offer(id, version, &record, cap).await? {
                Reservation::Stored => {
                    if let Some(l) = self.live.write().await.get_mut(&id) {
                        l.add_offer(stage);
                    }
                    return Ok(self.update_offer(id, running).await);
                }
                Reservation::Full => return Ok(Offer::NoUpdate(NoUpdateReason::IN_FLIGHT_LIMIT)),
                // Changed on some replica since this one cached it: decide on the stored state.
                Reservation::Stale => {
                    self.reconcile().await?;
                    self.recount(id).await?;
                }
                // Offered by another replica meanwhile: continue that offer.
                Reservation::Exists(r) => {
                    records.insert(id, r);
                }
            }
        }
        // The rollout kept changing under this check-in: the device asks again at its next poll.
        Ok(Offer::NoUpdate(NoUpdateReason::IN_FLIGHT_LIMIT))
    }

    async fn update_offer(&self, id: i64, running: &Running) -> Offer {
        self.live
            .read()
            .await
            .get(&id)
            .map_or(Offer::NoUpdate(NoUpdateReason::NO_ROLLOUT), |l| l.update_offer(running))
    }

    /// A device's status report about `release_id`: stored before the device is answered.
    pub async fn report(&self, device_id: &str, report: &StatusReport, now: Millis) -> Result<(), RolloutError> {
        let Some(release_id) = report.release_id() else {
            return Ok(());
        };
        let event = RecordEvent::Report(match report {
            StatusReport::Downloading { .. } => DeviceReport::Downloading,
            StatusReport::Downloaded { .. } => DeviceReport::Downloaded,
            StatusReport::Verified { .. } => DeviceReport::Verified,
            StatusReport::Installing { .. } => DeviceReport::Installing,
            StatusReport::Rebooted { .. } => DeviceReport::Rebooted,
            StatusReport::Committed { .. } => DeviceReport::Committed,
            StatusReport::Failed { .. } => DeviceReport::Failed(report.reason().unwrap_or_default().to_owned()),
            StatusReport::RolledBack { .. } => DeviceReport::RolledBack,
        });
        let of_release = |live: &BTreeMap<i64, Live>| -> Vec<(i64, RecordEvent)> {
            live.values()
                .filter(|l| l.release.id == release_id && l.row.rollout.state != RolloutState::Draft)
                .map(|l| (l.row.id, event.clone()))
                .collect()
        };
        let mut events = of_release(&*self.live.read().await);
        if events.is_empty() {
            // A rollout another replica created since this one's last tick?
            self.reconcile().await?;
            events = of_release(&*self.live.read().await);
        }
        self.record(device_id, &events, now).await.map(drop)
    }

    /// Stores a device's record events (committed before returning); outcomes re-evaluate the
    /// gates of their rollouts at once.
    /// Returns the events as stored: a claim of success without evidence becomes
    /// [`RecordEvent::Unproven`].
    async fn record(
        &self,
        device_id: &str,
        events: &[(i64, RecordEvent)],
        now: Millis,
    ) -> Result<Vec<(i64, RecordEvent)>, RolloutError> {
        let events = self.require_evidence(device_id, events).await?;
        self.events.store(device_id, &events, now).await?;
        let mut outcome: Vec<i64> = events
            .iter()
            .filter(|(_, e)| e.may_finish())
            .map(|(id, _)| *id)
            .collect();
        outcome.dedup();
        for id in outcome {
            self.recount(id).await?;
            self.evaluate(id, now).await?;
        }
        Ok(events)
    }

    /// A commit counts only with evidence the server holds (threat model: "forged commit"):
    /// it served the device the release's image, or a patch to it, in full
    /// ([`crate::store::Store::fetched_release`], recorded before the last byte was sent).
    /// A claim without it is kept as [`RecordEvent::Unproven`], shown in the rollout view.
    async fn require_evidence(
        &self,
        device_id: &str,
        events: &[(i64, RecordEvent)],
    ) -> Result<Vec<(i64, RecordEvent)>, RolloutError> {
        let mut out = Vec::with_capacity(events.len());
        for (id, event) in events {
            if !event.claims_commit() {
                out.push((*id, event.clone()));
                continue;
            }
            let release = self.live.read().await.get(id).map(|l| l.release.id);
            let proven = match release {
                Some(release) => self.store.fetched_release(device_id, release).await?,
                None => false,
            };
            if proven {
                out.push((*id, event.clone()));
            } else {
                tracing::warn!(
                    device = device_id,
                    rollout = id,
                    "claim of success without a full download: not counted"
                );
                out.push((*id, RecordEvent::Unproven));
            }
        }
        Ok(out)
    }

    /// Evaluates a running rollout's gates on its cached counts and stores a transition.
    ///
    /// A success gate (promote, complete, await approval) is only passed on a cohort counted
    /// after the stage soaked: devices that registered during the soak belong to the cohort,
    /// and a canary counted before its devices first checked in (empty) must not promote.
    async fn evaluate(&self, id: i64, now: Millis) -> Result<(), RolloutError> {
        let mut transition = self.decide_transition(id, now).await;
        if let Some((_, _, Transition::Promoted { .. } | Transition::Completed | Transition::AwaitingApproval { .. })) =
            &transition
        {
            if self.cohort_counted_before_soak_end(id).await {
                self.count_cohorts(now, Some(id)).await?;
                transition = self.decide_transition(id, now).await;
            }
        }
        if let Some((next, version, _)) = transition {
            // Whoever stores it first made the transition; the others reload it.
            self.store_state(id, version, next, now).await?;
        }
        Ok(())
    }

    /// The transition the gates make on the cached counts and cohort, if any: the next state,
    /// the version it was decided on, and what happened.
    async fn decide_transition(&self, id: i64, now: Millis) -> Option<(Rollout, i64, Transition)> {
        let live = self.live.read().await;
        let l = live.get(&id)?;
        if l.row.rollout.state != RolloutState::Running {
            return None;
        }
        let size = l.cohort_size(&l.row.rollout)?;
        let mut next = l.row.rollout.clone();
        let transition = next.evaluate(&l.counts, size, now)?;
        Some((next, l.row.version, transition))
    }

    async fn cohort_counted_before_soak_end(&self, id: i64) -> bool {
        self.live.read().await.get(&id).is_some_and(|l| {
            let r = &l.row.rollout;
            let soak = r.plan.stages.get(r.stage).map_or(0, |s| s.soak_ms);
            l.cohort_counted_at()
                .is_none_or(|at| at < r.stage_started_at.saturating_add(soak))
        })
    }

    /// Timer: follows the store (other replicas' changes), recounts stale cohorts, fails
    /// devices that stalled mid-update, and evaluates time-based gates (soak).
    pub async fn tick(&self, now: Millis) -> Result<(), RolloutError> {
        self.reconcile().await?;
        let ticks = self.ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let active: Vec<(i64, Millis)> = self
            .live
            .read()
            .await
            .values()
            // Finished rollouts too while devices are between offer and outcome (they finish
            // after the rollout completed or was aborted), and now and then in any case (a
            // completed rollout still offers its release to devices that join late).
            .filter(|l| {
                l.row.rollout.state != RolloutState::Draft
                    && (!l.finished() || l.in_flight() > 0 || ticks % FINISHED_RECOUNT_TICKS == 0)
            })
            .map(|l| (l.row.id, l.row.rollout.plan.stall_after_ms))
            .collect();
        for &(id, _) in &active {
            self.recount(id).await?;
        }
        self.count_cohorts(now, None).await?;
        for &(id, stall_after) in &active {
            // Devices in flight that stopped reporting fail as stalled (the store applies the
            // rule to the stored record: a device that reported meanwhile is left alone).
            let event = RecordEvent::Stall { after_ms: stall_after };
            let stalled = self.store.stalled_devices(id, now.saturating_sub(stall_after)).await?;
            for device in &stalled {
                tracing::warn!(rollout = id, %device, "device stalled mid-update; counted as failed");
                self.events.store(device, &[(id, event.clone())], now).await?;
            }
            if !stalled.is_empty() {
                self.recount(id).await?;
            }
            self.evaluate(id, now).await?;
        }
        Ok(())
    }

    /// Recounts the cohorts of running rollouts whose count is stale, and of rollout `force`
    /// (a scan of the class's devices, done without holding the lock).
    async fn count_cohorts(&self, now: Millis, force: Option<i64>) -> Result<(), RolloutError> {
        let wanted: Vec<CohortQuery> = {
            let live = self.live.read().await;
            live.values()
                .filter(|l| {
                    l.row.rollout.state == RolloutState::Running && (l.cohort_stale(now) || force == Some(l.row.id))
                })
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
        for q in wanted {
            let scan = std::time::Instant::now();
            let devices = self.store.class_devices(&q.class).await?;
            let records = self.store.rollout_devices(q.rollout).await?;
            // A device whose "committed" arrived before its next check-in updated its stored
            // sequence is counted once, as committed.
            let committed: std::collections::HashSet<&str> = records
                .iter()
                .filter(|r| r.stage == crate::domain::rollout::DeviceStage::Committed)
                .map(|r| r.device_id.as_str())
                .collect();
            // An offered device that claims to run the release without having downloaded it
            // (threat model: "forged commit") still needs it: it stays in the cohort.
            let unfinished: std::collections::HashSet<&str> = records
                .iter()
                .filter(|r| r.stage.in_flight())
                .map(|r| r.device_id.as_str())
                .collect();
            // Devices of the cohort that still need the release (committed ones are added
            // from the counts: they run it now).
            let eligible: Vec<String> = devices
                .into_iter()
                .filter(|d| d.state == DeviceState::Active)
                .filter(|d| q.tags.is_empty() || q.tags.iter().any(|t| d.tags.contains(t)))
                .filter(|d| d.running_sequence.unwrap_or(0) < q.sequence || unfinished.contains(d.id.as_str()))
                .filter(|d| cohort_point(&q.salt, &d.id) < q.fraction_bp)
                .map(|d| d.id)
                .collect();
            let pending = eligible.iter().filter(|d| !committed.contains(d.as_str())).count();
            let scan_ms = Millis::try_from(scan.elapsed().as_millis()).unwrap_or(Millis::MAX);
            if let Some(l) = self.live.write().await.get_mut(&q.rollout) {
                l.set_cohort(q.fraction_bp, u32::try_from(pending).unwrap_or(u32::MAX), scan_ms, now);
            }
        }
        Ok(())
    }
}

/// Reloads what other replicas announce, for as long as the service exists.
async fn follow(service: std::sync::Weak<RolloutService>, mut changes: tokio::sync::broadcast::Receiver<String>) {
    loop {
        match changes.recv().await {
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
        let Some(service) = service.upgrade() else {
            return;
        };
        if let Err(e) = service.reconcile().await {
            tracing::warn!(error = %e, "could not follow a rollout change; the next tick will");
        }
    }
}
