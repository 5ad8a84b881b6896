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

/// Devices by where they are with the rollout's release. Every count is of devices (never of
/// offers or attempts: a device offered again after `retry-failed` is still one device, counted
/// where it is now). Whether the counts cover one stage or several depends on the field holding
/// them: [`StageView::counts`] (this stage), [`StageView::cumulative`] (so far),
/// [`RolloutView::totals`] (all stages).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct CountsView {
    /// Devices offered the release, whatever happened next: it includes every count below
    /// (those that have not reported yet are `offered` only).
    pub offered: u32,
    /// Downloading, downloaded or verified.
    pub downloading: u32,
    /// Installing, or rebooted into the new image and not yet confirmed.
    pub installed: u32,
    /// Rebooted into the new image and confirmed it: the only success.
    pub committed: u32,
    /// Reported a failure (or stalled: no report for `stall_after_ms`).
    pub failed: u32,
    /// Came back on the old image after installing.
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

/// One stage. Its devices are those first offered the release while it was the current stage
/// (`counts`, **this stage**); `cumulative` adds every earlier stage (**so far**). Cohorts
/// are cumulative fractions of the target: the 10% stage's cohort holds the 1% stage's devices.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StageView {
    pub index: usize,
    /// The stage's cohort as a share of the target, in basis points (cumulative).
    pub fraction_bp: u16,
    /// `fraction_bp` in percent.
    pub percent: f64,
    /// Devices of the target in this stage's cohort, **cumulative** (earlier stages' devices
    /// included; devices already running the release counted once); counted for the current
    /// stage only, null otherwise or until counted.
    pub cohort: Option<u32>,
    /// `done`, `current` or `pending`.
    pub status: &'static str,
    /// **This stage**: devices first offered the release while this stage was current. The
    /// failure gates (`max_failures`, `max_failure_rate_bp`) count these.
    pub counts: CountsView,
    /// **So far**: this stage's `counts` plus every earlier stage's. The promotion gate
    /// compares `cumulative.committed` with `committed_needed`, against the (cumulative)
    /// `cohort`.
    pub cumulative: CountsView,
    /// Committed devices, cumulative (`cumulative.committed`), that promotion needs: the
    /// smaller of `min_committed_percent` of the cohort's reachable devices (the cohort less
    /// the devices that failed so far) and `min_committed`. Null unless this is the current
    /// stage and its cohort is counted.
    pub committed_needed: Option<u32>,
    /// The operator's committed-device count for promotion (cumulative); null when none was
    /// given (then `min_committed_percent` alone decides).
    pub min_committed: Option<u32>,
    /// Share of the cohort's reachable devices that must have committed, in percent.
    pub min_committed_percent: f64,
    pub soak_ms: i64,
    /// Pause at this many failed or rolled-back devices of this stage (0 = no count gate).
    pub max_failures: u32,
    /// Pause when this stage's failure rate exceeds this, in basis points (10000 = never).
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
    /// Every stage together: the last stage's `cumulative`.
    pub totals: CountsView,
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
        let mut so_far = StageCounts::default();
        let stages: Vec<StageView> = r
            .plan
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let done = i < r.stage || r.state == RolloutState::Completed;
                let this_stage = l.counts.get(i).copied().unwrap_or_default();
                so_far = so_far.plus(&this_stage);
                let cohort = if i == r.stage { cohort_now } else { None };
                StageView {
                    index: i,
                    fraction_bp: s.fraction_bp,
                    percent: f64::from(s.fraction_bp) / 100.0,
                    cohort,
                    status: if done {
                        "done"
                    } else if i == r.stage {
                        "current"
                    } else {
                        "pending"
                    },
                    counts: this_stage.into(),
                    cumulative: so_far.into(),
                    committed_needed: cohort
                        .filter(|_| !done)
                        .map(|size| r.committed_needed(i, &l.counts, size)),
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
            totals: so_far.into(),
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
