//! One rollout as the service keeps it in memory: its stored row, release, device records and
//! the counts derived from them.

use std::collections::HashMap;

use super::{RolloutStatus, COHORT_REFRESH_MS};
use crate::domain::offer::{Offer, Running};
use crate::domain::rollout::{tally, DeviceRecord, DeviceStage, Rollout, RolloutState, StageCounts};
use crate::domain::{Millis, Release};
use crate::store::RolloutRow;

/// The last count of a stage's cohort.
#[derive(Debug, Clone, Copy)]
pub(super) struct CohortCount {
    fraction_bp: u16,
    /// Active devices of the cohort that did not yet run the release when counted.
    eligible: u32,
    /// Devices of the cohort's stages that had committed when counted (they no longer count
    /// as eligible: they run the release).
    committed: u32,
    counted_at: Millis,
    /// When to count again: [`COHORT_REFRESH_MS`], or longer when the scan is slow.
    refresh_after_ms: Millis,
}

#[derive(Debug)]
pub(super) struct Live {
    pub row: RolloutRow,
    pub release: Release,
    pub records: HashMap<String, DeviceRecord>,
    /// Always equal to `row.rollout.counts(records)`: updated with every record change.
    pub counts: Vec<StageCounts>,
    pub cohort: Option<CohortCount>,
}

impl Live {
    pub fn new(row: RolloutRow, release: Release, records: Vec<DeviceRecord>) -> Self {
        let counts = row.rollout.counts(&records);
        Self {
            row,
            release,
            records: records.into_iter().map(|r| (r.device_id.clone(), r)).collect(),
            counts,
            cohort: None,
        }
    }

    pub fn finished(&self) -> bool {
        matches!(self.row.rollout.state, RolloutState::Completed | RolloutState::Aborted)
    }

    /// Devices between offer and outcome.
    pub fn in_flight(&self) -> u32 {
        self.counts.iter().map(StageCounts::in_flight).sum()
    }

    /// Replaces (or adds) a device record, keeping the counts in step.
    pub fn put(&mut self, record: DeviceRecord) {
        if let Some(old) = self.records.get(&record.device_id) {
            tally(&mut self.counts, old, false);
        }
        tally(&mut self.counts, &record, true);
        self.records.insert(record.device_id.clone(), record);
    }

    /// Devices the current stage's cohort holds, if counted for this stage: those still
    /// needing the release when counted plus those that had committed it by then. (Adding
    /// today's committed count instead would count a device that committed since twice.)
    pub fn cohort_size(&self, rollout: &Rollout) -> Option<u32> {
        let c = self.cohort?;
        let fraction = rollout.plan.stages.get(rollout.stage)?.fraction_bp;
        if c.fraction_bp != fraction {
            return None;
        }
        Some(c.eligible.saturating_add(c.committed))
    }

    pub fn cohort_stale(&self, now: Millis) -> bool {
        let r = &self.row.rollout;
        match (self.cohort, r.plan.stages.get(r.stage)) {
            (Some(c), Some(stage)) => c.fraction_bp != stage.fraction_bp || now - c.counted_at >= c.refresh_after_ms,
            _ => true,
        }
    }

    /// `scan_ms`: how long counting took; recounts are spaced to keep them under ~10% of a core.
    pub fn set_cohort(&mut self, fraction_bp: u16, eligible: u32, scan_ms: Millis, now: Millis) {
        let stage = self.row.rollout.stage;
        let committed = self.counts.iter().take(stage + 1).map(|c| c.committed).sum();
        self.cohort = Some(CohortCount {
            fraction_bp,
            eligible,
            committed,
            counted_at: now,
            refresh_after_ms: COHORT_REFRESH_MS.max(scan_ms.saturating_mul(10)),
        });
    }

    /// After a transition: a new stage needs its cohort counted before its gates are evaluated.
    pub fn stage_changed(&mut self, next: &Rollout) {
        if next.stage != self.row.rollout.stage {
            self.cohort = None;
        }
    }

    /// The offer of this rollout's release to a device running `running` (with the patch from
    /// its image, if the release has one).
    pub fn update_offer(&self, running: &Running) -> Offer {
        let patch = self
            .release
            .facts
            .patches
            .iter()
            .find(|p| p.base_digest == running.digest)
            .cloned();
        Offer::Update {
            release: Box::new(self.release.clone()),
            patch,
        }
    }

    /// Where the rollout stands (what the API's view is built from).
    pub fn status(&self) -> RolloutStatus {
        let penalty = self.row.rollout.plan.penalty_after_failures;
        let penalty_boxed = self
            .records
            .values()
            .filter(|d| matches!(d.stage, DeviceStage::Failed | DeviceStage::RolledBack) && d.failures >= penalty)
            .count();
        RolloutStatus {
            row: self.row.clone(),
            release: self.release.clone(),
            counts: self.counts.clone(),
            cohort: self.cohort_size(&self.row.rollout),
            in_flight: self.in_flight(),
            penalty_boxed: u32::try_from(penalty_boxed).unwrap_or(u32::MAX),
        }
    }
}
