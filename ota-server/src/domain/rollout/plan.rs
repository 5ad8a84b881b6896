//! What an operator asks for: ordered stages with their gates.

use serde::{Deserialize, Deserializer, Serialize};

use super::Timestamp;

use super::cohort::BASIS_POINTS;

/// How a stage that met its gates moves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Promotion {
    /// Move to the next stage as soon as the gates pass.
    Automatic,
    /// Wait in `awaiting_approval` until an operator approves.
    Approval,
}

/// One stage's cohort size and gates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagePlan {
    /// Cumulative share of the target population, in basis points (100 = 1%).
    pub fraction_bp: u16,
    /// Committed devices (cumulative over the rollout) needed before promotion, if the operator
    /// gave a count; `None`: the share below alone decides. Stored plans written before this was
    /// optional hold `u32::MAX` for "no count" and load as `None` (same gate: the smaller of
    /// the two always was the share).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count_or_legacy_none"
    )]
    pub min_committed: Option<u32>,
    /// Share of the stage's reachable cohort that must have committed, in basis points: a
    /// fleet always has devices that are off, and waiting for all of them would stall the
    /// rollout. Promotion needs the smaller of this and `min_committed`.
    #[serde(default = "all_bp")]
    pub min_committed_bp: u16,
    /// Milliseconds the stage must run before it may be promoted.
    pub soak_ms: i64,
    /// Pause when this many devices offered in this stage failed or rolled back.
    pub max_failures: u32,
    /// Pause when failures / (failures + committed) in this stage exceed this, in basis points,
    /// once at least `rate_min_samples` devices have finished.
    pub max_failure_rate_bp: u16,
    pub rate_min_samples: u32,
    pub promotion: Promotion,
}

/// A whole rollout plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutPlan {
    pub stages: Vec<StagePlan>,
    /// Most devices between "offered" and a final outcome at once.
    pub max_in_flight: u32,
    /// Failures after which a device is held out of the rollout (penalty box).
    pub penalty_after_failures: u32,
    /// A device in flight that reports no progress for this long is counted as failed
    /// ("stalled"): it frees its in-flight slot, and a device that went silent mid-update
    /// is a warning sign the failure gates should see.
    #[serde(default = "default_stall_ms")]
    pub stall_after_ms: i64,
}

/// Most stages a plan may have.
pub const MAX_STAGES: usize = 32;

/// Default for [`RolloutPlan::stall_after_ms`]: 30 minutes.
pub const DEFAULT_STALL_MS: Timestamp = 30 * 60 * 1000;

fn default_stall_ms() -> Timestamp {
    DEFAULT_STALL_MS
}

fn all_bp() -> u16 {
    BASIS_POINTS
}

/// `min_committed` as stored: a count, absent, or the `u32::MAX` that meant "no count" before
/// the field was optional (old rows must still load, with the same gate).
fn count_or_legacy_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(Option::<u32>::deserialize(d)?.filter(|&n| n != u32::MAX))
}

/// Why a plan was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("a rollout needs at least one stage")]
    NoStages,
    #[error("a rollout has at most {MAX_STAGES} stages")]
    TooManyStages,
    #[error("stage {0}: fraction must be 1..=10000 basis points")]
    BadFraction(usize),
    #[error("stage {0}: fractions must not decrease (cohorts only grow)")]
    ShrinkingStage(usize),
    #[error("the last stage must cover 100% (10000 basis points)")]
    LastStageNotFull,
    #[error("stage {0}: soak time must not be negative")]
    NegativeSoak(usize),
    #[error("stage {0}: failure rate and committed share must be at most 10000 basis points")]
    BadRate(usize),
    #[error("max_in_flight must be at least 1")]
    NoInFlight,
    #[error("stall_after_ms must be positive")]
    BadStall,
}

impl RolloutPlan {
    /// Checks the plan before a rollout is created from it.
    pub fn validate(&self) -> Result<(), PlanError> {
        if self.stages.is_empty() {
            return Err(PlanError::NoStages);
        }
        if self.stages.len() > MAX_STAGES {
            return Err(PlanError::TooManyStages);
        }
        if self.max_in_flight == 0 {
            return Err(PlanError::NoInFlight);
        }
        if self.stall_after_ms <= 0 {
            return Err(PlanError::BadStall);
        }
        let mut previous = 0;
        for (i, stage) in self.stages.iter().enumerate() {
            if stage.fraction_bp == 0 || stage.fraction_bp > BASIS_POINTS {
                return Err(PlanError::BadFraction(i));
            }
            if stage.fraction_bp < previous {
                return Err(PlanError::ShrinkingStage(i));
            }
            if stage.soak_ms < 0 {
                return Err(PlanError::NegativeSoak(i));
            }
            if stage.max_failure_rate_bp > BASIS_POINTS || stage.min_committed_bp > BASIS_POINTS {
                return Err(PlanError::BadRate(i));
            }
            previous = stage.fraction_bp;
        }
        if previous != BASIS_POINTS {
            return Err(PlanError::LastStageNotFull);
        }
        Ok(())
    }

    /// The usual canary plan: 1% → 10% → 50% → 100%, automatic promotion once `min_committed`
    /// devices per stage (or the whole cohort, if fewer) committed. The canary pauses on its
    /// first failure; later stages at 5 failures or a failure rate above 5%.
    pub fn canary(min_committed: [u32; 4], soak_ms: Timestamp) -> Self {
        Self::canary_with(min_committed.map(Some), soak_ms)
    }

    /// [`RolloutPlan::canary`] without committed counts: every stage promotes once its whole
    /// cohort committed (`min_committed_bp` decides alone).
    pub fn canary_by_share(soak_ms: Timestamp) -> Self {
        Self::canary_with([None; 4], soak_ms)
    }

    fn canary_with(min_committed: [Option<u32>; 4], soak_ms: Timestamp) -> Self {
        let stage = |fraction_bp, min_committed, max_failures| StagePlan {
            fraction_bp,
            min_committed,
            min_committed_bp: BASIS_POINTS,
            soak_ms,
            max_failures,
            max_failure_rate_bp: 500,
            rate_min_samples: 20,
            promotion: Promotion::Automatic,
        };
        Self {
            stages: vec![
                stage(100, min_committed[0], 1),
                stage(1_000, min_committed[1], 5),
                stage(5_000, min_committed[2], 5),
                stage(10_000, min_committed[3], 5),
            ],
            max_in_flight: 50,
            penalty_after_failures: 2,
            stall_after_ms: DEFAULT_STALL_MS,
        }
    }
}
