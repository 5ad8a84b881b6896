//! The rollout state machine: operator actions, automatic gates, and offer decisions.

use serde::{Deserialize, Serialize};

use super::cohort::in_cohort;
use super::device::{DeviceRecord, DeviceStage};
use super::plan::{PlanError, Promotion, RolloutPlan};
use super::Timestamp;
use crate::domain::offer::NoUpdateReason;

/// Where the rollout is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum RolloutState {
    /// Created, not yet started: nobody is offered anything.
    Draft,
    Running,
    /// Gates of the current stage passed; an operator must approve the next stage.
    AwaitingApproval,
    Paused {
        reason: PauseReason,
    },
    Completed,
    /// Devices that had not started get no offer; updated devices keep running.
    Aborted,
}

/// Why a rollout paused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PauseReason {
    Operator,
    FailureCount {
        stage: usize,
        failures: u32,
        threshold: u32,
    },
    FailureRate {
        stage: usize,
        failures: u32,
        finished: u32,
        rate_bp: u32,
        threshold_bp: u16,
    },
}

impl std::fmt::Display for PauseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Operator => f.write_str("paused by an operator"),
            Self::FailureCount {
                stage,
                failures,
                threshold,
            } => write!(
                f,
                "stage {} had {failures} failed or rolled-back devices (threshold {threshold})",
                stage + 1
            ),
            Self::FailureRate {
                stage,
                failures,
                finished,
                rate_bp,
                threshold_bp,
            } => write!(
                f,
                "stage {} failure rate {:.1}% ({failures} of {finished} finished devices) exceeds {:.1}%",
                stage + 1,
                f64::from(*rate_bp) / 100.0,
                f64::from(*threshold_bp) / 100.0
            ),
        }
    }
}

/// Operator actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutAction {
    Start,
    Pause,
    Resume,
    Approve,
    Abort,
}

/// Something that happened to the rollout, for the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Transition {
    Started,
    Paused { reason: PauseReason },
    Resumed,
    AwaitingApproval { stage: usize },
    Promoted { from: usize, to: usize },
    Completed,
    Aborted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: Timestamp,
    pub stage: usize,
    pub transition: Transition,
    /// Human-readable reason.
    pub message: String,
}

/// Per-stage counts, derived from device records (never incremented, so never double counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageCounts {
    pub offered: u32,
    pub downloading: u32,
    pub installed: u32,
    pub committed: u32,
    pub failed: u32,
    pub rolled_back: u32,
}

impl StageCounts {
    pub fn failures(&self) -> u32 {
        self.failed.saturating_add(self.rolled_back)
    }

    pub fn in_flight(&self) -> u32 {
        self.offered
            .saturating_sub(self.committed)
            .saturating_sub(self.failures())
    }

    /// Field by field sum: cumulative counts are the sums of the per-stage ones.
    pub fn plus(&self, other: &Self) -> Self {
        Self {
            offered: self.offered.saturating_add(other.offered),
            downloading: self.downloading.saturating_add(other.downloading),
            installed: self.installed.saturating_add(other.installed),
            committed: self.committed.saturating_add(other.committed),
            failed: self.failed.saturating_add(other.failed),
            rolled_back: self.rolled_back.saturating_add(other.rolled_back),
        }
    }
}

/// Adds (`add`) or removes one device record's contribution to per-stage counts. Callers that
/// keep counts in memory remove a record's old state and add its new one on every change; the
/// result always equals [`Rollout::counts`] over the records.
pub fn tally(counts: &mut [StageCounts], record: &DeviceRecord, add: bool) {
    tally_stage(counts, record.stage_index, record.stage, 1, add);
}

/// [`tally`] for `n` records offered in stage `stage_index` that are now at `stage` (what the
/// store's per-stage aggregate returns).
pub fn tally_stage(counts: &mut [StageCounts], stage_index: usize, stage: DeviceStage, n: u32, add: bool) {
    let Some(c) = counts.get_mut(stage_index) else {
        return;
    };
    let bump = |v: &mut u32| {
        *v = if add { v.saturating_add(n) } else { v.saturating_sub(n) };
    };
    bump(&mut c.offered);
    match stage {
        DeviceStage::Downloading | DeviceStage::Downloaded | DeviceStage::Verified => bump(&mut c.downloading),
        DeviceStage::Installing | DeviceStage::Rebooted => bump(&mut c.installed),
        DeviceStage::Committed => bump(&mut c.committed),
        DeviceStage::Failed => bump(&mut c.failed),
        DeviceStage::RolledBack => bump(&mut c.rolled_back),
        DeviceStage::Offered => {}
    }
}

/// An action that does not apply in the current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("cannot {action:?} a rollout that is {state}")]
    InvalidAction { action: RolloutAction, state: &'static str },
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// What to tell a device that checks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferDecision {
    /// Offer the release (a new offer, or the one already under way).
    Offer {
        new: bool,
    },
    NotStarted,
    NotInCohort,
    Paused,
    Aborted,
    InFlightCap,
    AlreadyUpdated,
    /// Failed before and waits for an operator's retry.
    Failed,
    /// Failed too often: held out of this rollout.
    PenaltyBox,
}

impl OfferDecision {
    /// What the device API tells a device this decision offers nothing to; `None` for an offer.
    pub fn no_update_reason(self) -> Option<NoUpdateReason> {
        Some(match self {
            Self::Offer { .. } => return None,
            Self::NotStarted => NoUpdateReason::ROLLOUT_NOT_STARTED,
            Self::NotInCohort => NoUpdateReason::NOT_IN_COHORT,
            Self::Paused => NoUpdateReason::ROLLOUT_PAUSED,
            Self::Aborted => NoUpdateReason::ROLLOUT_ABORTED,
            Self::InFlightCap => NoUpdateReason::IN_FLIGHT_LIMIT,
            Self::AlreadyUpdated => NoUpdateReason::ALREADY_UPDATED,
            Self::Failed => NoUpdateReason::AWAITING_RETRY,
            Self::PenaltyBox => NoUpdateReason::HELD_OUT,
        })
    }
}

/// A rollout's persistent state (device records are stored beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    pub plan: RolloutPlan,
    pub salt: [u8; 16],
    pub state: RolloutState,
    pub stage: usize,
    pub stage_started_at: Timestamp,
    /// Failures per stage an operator accepted by resuming; thresholds count beyond them.
    pub acknowledged_failures: Vec<u32>,
    pub timeline: Vec<TimelineEntry>,
    /// Device tags (groups) the rollout is limited to, within its class: a device needs one of
    /// them. Empty = every device of the class.
    #[serde(default)]
    pub target_tags: Vec<String>,
}

impl Rollout {
    pub fn new(plan: RolloutPlan, salt: [u8; 16]) -> Result<Self, EngineError> {
        plan.validate()?;
        let stages = plan.stages.len();
        Ok(Self {
            plan,
            salt,
            state: RolloutState::Draft,
            stage: 0,
            stage_started_at: 0,
            acknowledged_failures: vec![0; stages],
            timeline: Vec::new(),
            target_tags: Vec::new(),
        })
    }

    fn state_name(&self) -> &'static str {
        match self.state {
            RolloutState::Draft => "draft",
            RolloutState::Running => "running",
            RolloutState::AwaitingApproval => "awaiting approval",
            RolloutState::Paused { .. } => "paused",
            RolloutState::Completed => "completed",
            RolloutState::Aborted => "aborted",
        }
    }

    fn record(&mut self, now: Timestamp, transition: Transition, message: String) -> Transition {
        self.timeline.push(TimelineEntry {
            at: now,
            stage: self.stage,
            transition: transition.clone(),
            message,
        });
        transition
    }

    /// Counts per stage from the rollout's device records.
    pub fn counts(&self, records: &[DeviceRecord]) -> Vec<StageCounts> {
        let mut counts = vec![StageCounts::default(); self.plan.stages.len()];
        for record in records {
            tally(&mut counts, record, true);
        }
        counts
    }

    /// Applies an operator action.
    pub fn act(&mut self, action: RolloutAction, now: Timestamp) -> Result<Transition, EngineError> {
        let invalid = EngineError::InvalidAction {
            action,
            state: self.state_name(),
        };
        let transition = match (action, &self.state) {
            (RolloutAction::Start, RolloutState::Draft) => {
                self.state = RolloutState::Running;
                self.stage_started_at = now;
                self.record(now, Transition::Started, "started".into())
            }
            (RolloutAction::Pause, RolloutState::Running | RolloutState::AwaitingApproval) => {
                self.pause(PauseReason::Operator, now)
            }
            (RolloutAction::Resume, RolloutState::Paused { .. }) => {
                self.state = RolloutState::Running;
                self.record(now, Transition::Resumed, "resumed by an operator".into())
            }
            (RolloutAction::Approve, RolloutState::AwaitingApproval) => self.promote(now, "approved by an operator"),
            (RolloutAction::Abort, RolloutState::Draft | RolloutState::Running)
            | (RolloutAction::Abort, RolloutState::AwaitingApproval | RolloutState::Paused { .. }) => {
                self.state = RolloutState::Aborted;
                self.record(now, Transition::Aborted, "aborted by an operator".into())
            }
            _ => return Err(invalid),
        };
        Ok(transition)
    }

    /// Resuming accepts the failures seen so far: thresholds then count only new ones.
    pub fn acknowledge_failures(&mut self, counts: &[StageCounts]) {
        for (ack, c) in self.acknowledged_failures.iter_mut().zip(counts) {
            *ack = c.failures();
        }
    }

    fn pause(&mut self, reason: PauseReason, now: Timestamp) -> Transition {
        self.state = RolloutState::Paused { reason: reason.clone() };
        let message = reason.to_string();
        self.record(now, Transition::Paused { reason }, message)
    }

    fn promote(&mut self, now: Timestamp, why: &str) -> Transition {
        let from = self.stage;
        self.stage += 1;
        self.stage_started_at = now;
        self.state = RolloutState::Running;
        let fraction = self.plan.stages[self.stage].fraction_bp;
        self.record(
            now,
            Transition::Promoted { from, to: self.stage },
            format!(
                "stage {} → {} ({:.1}% of the fleet): {why}",
                from + 1,
                self.stage + 1,
                f64::from(fraction) / 100.0
            ),
        )
    }

    /// The automatic gates, evaluated whenever counts change or time passes.
    /// `cohort_size` is how many target devices the current stage's cohort holds.
    pub fn evaluate(&mut self, counts: &[StageCounts], cohort_size: u32, now: Timestamp) -> Option<Transition> {
        if self.state != RolloutState::Running {
            return None;
        }
        let stage = self.stage;
        let plan = self.plan.stages[stage].clone();
        let current = counts.get(stage).copied().unwrap_or_default();
        let acknowledged = self.acknowledged_failures.get(stage).copied().unwrap_or(0);
        let failures = current.failures().saturating_sub(acknowledged);
        // Failure gates first: a stage never promotes past its failures.
        if plan.max_failures > 0 && failures >= plan.max_failures {
            let reason = PauseReason::FailureCount {
                stage,
                failures,
                threshold: plan.max_failures,
            };
            return Some(self.pause(reason, now));
        }
        let finished = failures.saturating_add(current.committed);
        if finished >= plan.rate_min_samples.max(1) {
            let rate_bp = failures.saturating_mul(10_000) / finished;
            if rate_bp > u32::from(plan.max_failure_rate_bp) {
                let reason = PauseReason::FailureRate {
                    stage,
                    failures,
                    finished,
                    rate_bp,
                    threshold_bp: plan.max_failure_rate_bp,
                };
                return Some(self.pause(reason, now));
            }
        }
        // Success gates: enough devices committed (capped by what the cohort can give), and soaked.
        let committed: u32 = counts.iter().take(stage + 1).map(|c| c.committed).sum();
        let required = self.committed_needed(stage, counts, cohort_size);
        let soaked = now.saturating_sub(self.stage_started_at) >= plan.soak_ms;
        if committed < required || !soaked {
            return None;
        }
        if stage + 1 == self.plan.stages.len() {
            self.state = RolloutState::Completed;
            return Some(self.record(now, Transition::Completed, format!("{committed} devices committed")));
        }
        match plan.promotion {
            Promotion::Automatic => Some(self.promote(now, &format!("{committed} committed, soaked"))),
            Promotion::Approval => {
                self.state = RolloutState::AwaitingApproval;
                Some(self.record(
                    now,
                    Transition::AwaitingApproval { stage },
                    format!(
                        "stage {} passed its gates ({committed} committed); waiting for approval",
                        stage + 1
                    ),
                ))
            }
        }
    }

    /// Committed devices — cumulative, this stage and every earlier one — that `stage` needs
    /// before it may be promoted: `min_committed_bp` of its cohort (`cohort_size`, itself
    /// cumulative) less the devices that failed so far, or the plan's `min_committed` count if
    /// that is fewer. `counts` are per stage (the stage in force when each device was offered).
    pub fn committed_needed(&self, stage: usize, counts: &[StageCounts], cohort_size: u32) -> u32 {
        let Some(plan) = self.plan.stages.get(stage) else {
            return 0;
        };
        let failed_total: u32 = counts.iter().take(stage + 1).map(StageCounts::failures).sum();
        let reachable = cohort_size.saturating_sub(failed_total);
        let share = u64::from(reachable) * u64::from(plan.min_committed_bp);
        let by_share = u32::try_from(share.div_ceil(u64::from(super::cohort::BASIS_POINTS))).unwrap_or(u32::MAX);
        let needed = plan.min_committed.map_or(by_share, |n| n.min(by_share));
        // A stage whose cohort holds devices is promoted on evidence only: at least one of them
        // committed (a cohort whose every device failed below the failure gate promotes nothing).
        if cohort_size > 0 {
            needed.max(1)
        } else {
            needed
        }
    }

    /// Whether a device of the rollout's class with these tags is in its target.
    pub fn targets(&self, device_tags: &[String]) -> bool {
        self.target_tags.is_empty() || self.target_tags.iter().any(|t| device_tags.contains(t))
    }

    /// Whether a device (of the rollout's target) falls in the current stage's cohort.
    pub fn in_current_cohort(&self, device_id: &str) -> bool {
        in_cohort(&self.salt, device_id, self.plan.stages[self.stage].fraction_bp)
    }

    /// What to tell a target device at check-in. `in_flight` is the rollout's devices between
    /// offer and outcome right now.
    pub fn decide_offer(&self, device_id: &str, record: Option<&DeviceRecord>, in_flight: u32) -> OfferDecision {
        if let Some(record) = record {
            return match record.stage {
                DeviceStage::Committed => OfferDecision::AlreadyUpdated,
                s if s.is_failure() && record.failures >= self.plan.penalty_after_failures => OfferDecision::PenaltyBox,
                s if s.is_failure() => OfferDecision::Failed,
                // Paused or aborted: a device that was offered but never started does not start.
                DeviceStage::Offered if matches!(self.state, RolloutState::Paused { .. }) => OfferDecision::Paused,
                DeviceStage::Offered if self.state == RolloutState::Aborted => OfferDecision::Aborted,
                // Started devices finish even when paused or aborted: stopping mid-install helps nobody.
                _ => OfferDecision::Offer { new: false },
            };
        }
        match self.state {
            RolloutState::Draft => OfferDecision::NotStarted,
            RolloutState::Paused { .. } => OfferDecision::Paused,
            RolloutState::Aborted => OfferDecision::Aborted,
            RolloutState::Running | RolloutState::AwaitingApproval | RolloutState::Completed => {
                if !self.in_current_cohort(device_id) {
                    OfferDecision::NotInCohort
                } else if in_flight >= self.plan.max_in_flight {
                    OfferDecision::InFlightCap
                } else {
                    OfferDecision::Offer { new: true }
                }
            }
        }
    }
}
