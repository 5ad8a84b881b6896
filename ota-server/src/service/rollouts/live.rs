//! One rollout as a replica caches it: its stored row (with its version), release, and the
//! counts the store aggregated from the device records (refreshed on every tick and after
//! every outcome; the records themselves stay in the store).

use super::{RolloutStatus, COHORT_REFRESH_MS};
use crate::domain::offer::{Offer, Running};
use crate::domain::rollout::{tally_stage, DeviceStage, Rollout, RolloutState, StageCounts};
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
    /// Per-stage counts as last aggregated by the store (new offers of this replica are added
    /// at once; the next recount brings in everyone else's).
    pub counts: Vec<StageCounts>,
    /// Failed or rolled-back devices with at least `penalty_after_failures` failures.
    pub penalty_boxed: u32,
    pub cohort: Option<CohortCount>,
}

/// One line of the store's aggregate: records offered in `stage_index`, now at `stage`, and
/// how many of them are penalty-boxed.
pub(super) type Tally = (usize, DeviceStage, u32, u32);

impl Live {
    pub fn new(row: RolloutRow, release: Release) -> Self {
        let counts = vec![StageCounts::default(); row.rollout.plan.stages.len()];
        Self {
            row,
            release,
            counts,
            penalty_boxed: 0,
            cohort: None,
        }
    }

    /// Replaces the counts with the store's aggregate.
    pub fn set_counts(&mut self, tallies: &[Tally]) {
        let mut counts = vec![StageCounts::default(); self.row.rollout.plan.stages.len()];
        let mut boxed = 0u32;
        for &(index, stage, n, penalty) in tallies {
            tally_stage(&mut counts, index, stage, n, true);
            boxed = boxed.saturating_add(penalty);
        }
        self.counts = counts;
        self.penalty_boxed = boxed;
    }

    /// A new offer this replica stored (until the next recount).
    pub fn add_offer(&mut self, stage_index: usize) {
        tally_stage(&mut self.counts, stage_index, DeviceStage::Offered, 1, true);
    }

    /// Takes a newer stored row; a new stage needs its cohort counted again.
    pub fn set_row(&mut self, row: RolloutRow) {
        if row.rollout.stage != self.row.rollout.stage || row.rollout.plan != self.row.rollout.plan {
            self.cohort = None;
        }
        self.row = row;
    }

    pub fn finished(&self) -> bool {
        matches!(self.row.rollout.state, RolloutState::Completed | RolloutState::Aborted)
    }

    /// Devices between offer and outcome.
    pub fn in_flight(&self) -> u32 {
        self.counts.iter().map(StageCounts::in_flight).sum()
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

    /// When the cohort was last counted (for any stage).
    pub fn cohort_counted_at(&self) -> Option<Millis> {
        self.cohort.map(|c| c.counted_at)
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
        RolloutStatus {
            row: self.row.clone(),
            release: self.release.clone(),
            counts: self.counts.clone(),
            cohort: self.cohort_size(&self.row.rollout),
            in_flight: self.in_flight(),
            penalty_boxed: self.penalty_boxed,
            suspicious: Vec::new(),
        }
    }
}
