//! The rollout status the admin API and the dashboard show.

use serde::Serialize;
use utoipa::ToSchema;

use super::live::Live;
use crate::domain::rollout::{DeviceStage, PauseReason, Promotion, RolloutState, StageCounts, Transition};
use crate::domain::Millis;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RolloutReleaseView {
    pub id: i64,
    pub version: String,
    pub sequence: u64,
    pub class: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct CountsView {
    /// Every device offered in this stage (it includes all the others).
    pub offered: u32,
    pub downloading: u32,
    pub installed: u32,
    /// Rebooted into the new image and confirmed it: the only success.
    pub committed: u32,
    pub failed: u32,
    pub rolled_back: u32,
}

impl From<StageCounts> for CountsView {
    fn from(c: StageCounts) -> Self {
        Self {
            offered: c.offered,
            downloading: c.downloading,
            installed: c.installed,
            committed: c.committed,
            failed: c.failed,
            rolled_back: c.rolled_back,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StageView {
    pub index: usize,
    pub fraction_bp: u16,
    pub percent: f64,
    /// Devices of the fleet in this stage's cohort (cumulative); null until counted.
    pub cohort: Option<u32>,
    /// `done`, `current` or `pending`.
    pub status: &'static str,
    pub counts: CountsView,
    pub min_committed: u32,
    /// Share of the cohort that must commit, in percent.
    pub min_committed_percent: f64,
    pub soak_ms: i64,
    pub max_failures: u32,
    pub max_failure_rate_bp: u16,
    /// `automatic` or `approval`.
    pub promotion: &'static str,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineView {
    pub at_ms: Millis,
    pub stage: usize,
    /// `started`, `paused`, `resumed`, `awaiting_approval`, `promoted`, `completed`, `aborted`.
    pub kind: &'static str,
    pub message: String,
}

/// A rollout's status: state, why it paused, per-stage counts, and its timeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RolloutView {
    pub id: i64,
    pub name: String,
    pub release: RolloutReleaseView,
    /// Device tags the rollout is limited to (empty = the whole class).
    pub target_tags: Vec<String>,
    /// `draft`, `running`, `awaiting_approval`, `paused`, `completed` or `aborted`.
    pub state: &'static str,
    pub pause_reason: Option<String>,
    /// Machine-readable pause cause: `operator`, `failure_count` or `failure_rate`.
    pub pause_kind: Option<&'static str>,
    pub current_stage: usize,
    pub stages: Vec<StageView>,
    pub max_in_flight: u32,
    pub in_flight: u32,
    /// Devices held out after failing `penalty_after_failures` times.
    pub penalty_boxed: u32,
    pub penalty_after_failures: u32,
    pub timeline: Vec<TimelineView>,
    pub created_ms: Millis,
    pub updated_ms: Millis,
}

fn state_name(s: &RolloutState) -> &'static str {
    match s {
        RolloutState::Draft => "draft",
        RolloutState::Running => "running",
        RolloutState::AwaitingApproval => "awaiting_approval",
        RolloutState::Paused { .. } => "paused",
        RolloutState::Completed => "completed",
        RolloutState::Aborted => "aborted",
    }
}

fn transition_kind(t: &Transition) -> &'static str {
    match t {
        Transition::Started => "started",
        Transition::Paused { .. } => "paused",
        Transition::Resumed => "resumed",
        Transition::AwaitingApproval { .. } => "awaiting_approval",
        Transition::Promoted { .. } => "promoted",
        Transition::Completed => "completed",
        Transition::Aborted => "aborted",
    }
}

impl RolloutView {
    pub(super) fn new(l: &Live) -> Self {
        let r = &l.row.rollout;
        let (pause_reason, pause_kind) = match &r.state {
            RolloutState::Paused { reason } => (
                Some(reason.to_string()),
                Some(match reason {
                    PauseReason::Operator => "operator",
                    PauseReason::FailureCount { .. } => "failure_count",
                    PauseReason::FailureRate { .. } => "failure_rate",
                }),
            ),
            _ => (None, None),
        };
        let cohort_now = l.cohort_size(r);
        let stages = r
            .plan
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let done = i < r.stage || r.state == RolloutState::Completed;
                StageView {
                    index: i,
                    fraction_bp: s.fraction_bp,
                    percent: f64::from(s.fraction_bp) / 100.0,
                    cohort: if i == r.stage { cohort_now } else { None },
                    status: if done {
                        "done"
                    } else if i == r.stage {
                        "current"
                    } else {
                        "pending"
                    },
                    counts: l.counts.get(i).copied().unwrap_or_default().into(),
                    min_committed: s.min_committed,
                    min_committed_percent: f64::from(s.min_committed_bp) / 100.0,
                    soak_ms: s.soak_ms,
                    max_failures: s.max_failures,
                    max_failure_rate_bp: s.max_failure_rate_bp,
                    promotion: match s.promotion {
                        Promotion::Automatic => "automatic",
                        Promotion::Approval => "approval",
                    },
                }
            })
            .collect();
        let penalty = r.plan.penalty_after_failures;
        let penalty_boxed = l
            .records
            .values()
            .filter(|d| matches!(d.stage, DeviceStage::Failed | DeviceStage::RolledBack) && d.failures >= penalty)
            .count();
        Self {
            id: l.row.id,
            name: l.row.name.clone(),
            release: RolloutReleaseView {
                id: l.release.id,
                version: l.release.version.clone(),
                sequence: l.release.sequence,
                class: l.release.class_name.clone(),
            },
            target_tags: r.target_tags.clone(),
            state: state_name(&r.state),
            pause_reason,
            pause_kind,
            current_stage: r.stage,
            stages,
            max_in_flight: r.plan.max_in_flight,
            in_flight: l.in_flight(),
            penalty_boxed: u32::try_from(penalty_boxed).unwrap_or(u32::MAX),
            penalty_after_failures: penalty,
            timeline: r
                .timeline
                .iter()
                .map(|t| TimelineView {
                    at_ms: t.at,
                    stage: t.stage,
                    kind: transition_kind(&t.transition),
                    message: t.message.clone(),
                })
                .collect(),
            created_ms: l.row.created_ms,
            updated_ms: l.row.updated_ms,
        }
    }
}
