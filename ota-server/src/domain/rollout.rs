//! The rollout engine: a pure state machine (no I/O, the clock is an argument).
//!
//! A rollout offers one release to a target population in ordered stages (e.g. 1% → 10% → 50%
//! → 100%). Devices join a stage's cohort deterministically — `hash(salt, device id)` against
//! the stage's fraction — so a device in the 1% stays in the 10%. A stage succeeds on devices
//! that **committed** (rebooted into the new image and confirmed), never on mere downloads;
//! failures past a count or rate pause the rollout by themselves.
//!
//! Counts are derived from per-device records, not incremented, so replaying a report or
//! restarting the server mid-rollout cannot double count. The store persists [`Rollout`] and
//! the [`DeviceRecord`]s; everything here is deterministic given those and `now`.

mod cohort;
mod device;
mod plan;
mod state;

pub use cohort::{cohort_point, in_cohort, BASIS_POINTS};
pub use device::{DeviceRecord, DeviceReport, DeviceStage, FailureKind, RecordEvent};
pub use plan::{PlanError, Promotion, RolloutPlan, StagePlan, DEFAULT_STALL_MS, MAX_STAGES};
pub use state::{
    tally, tally_stage, EngineError, OfferDecision, PauseReason, Rollout, RolloutAction, RolloutState, StageCounts,
    TimelineEntry, Transition,
};

/// Milliseconds since the Unix epoch (the server's [`super::Millis`]); the engine never reads
/// a clock itself.
pub type Timestamp = super::Millis;

#[cfg(test)]
mod tests;
