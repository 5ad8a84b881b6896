//! The rollout status the admin API and the dashboard show (`ota_protocol::rollouts::RolloutView`),
//! from the rollout service's [`RolloutStatus`].

use ota_protocol::rollouts::{
    CountsView, PauseKind, Promotion as WirePromotion, RolloutReleaseView, RolloutState as WireState, RolloutView,
    StageStatus, StageView, SuspiciousDevice, TimelineKind, TimelineView,
};

use crate::domain::rollout::{PauseReason, Promotion, RolloutState, StageCounts, Transition};
use crate::service::rollouts::RolloutStatus;

fn counts(c: StageCounts) -> CountsView {
    CountsView {
        offered: c.offered,
        downloading: c.downloading,
        installed: c.installed,
        committed: c.committed,
        failed: c.failed,
        rolled_back: c.rolled_back,
    }
}

fn state_name(s: &RolloutState) -> WireState {
    match s {
        RolloutState::Draft => WireState::DRAFT,
        RolloutState::Running => WireState::RUNNING,
        RolloutState::AwaitingApproval => WireState::AWAITING_APPROVAL,
        RolloutState::Paused { .. } => WireState::PAUSED,
        RolloutState::Completed => WireState::COMPLETED,
        RolloutState::Aborted => WireState::ABORTED,
    }
}

fn transition_kind(t: &Transition) -> TimelineKind {
    match t {
        Transition::Started => TimelineKind::STARTED,
        Transition::Paused { .. } => TimelineKind::PAUSED,
        Transition::Resumed => TimelineKind::RESUMED,
        Transition::AwaitingApproval { .. } => TimelineKind::AWAITING_APPROVAL,
        Transition::Promoted { .. } => TimelineKind::PROMOTED,
        Transition::Completed => TimelineKind::COMPLETED,
        Transition::Aborted => TimelineKind::ABORTED,
    }
}

impl From<&RolloutStatus> for RolloutView {
    fn from(l: &RolloutStatus) -> Self {
        view_of(l)
    }
}

/// The admin API's view of a rollout.
fn view_of(l: &RolloutStatus) -> RolloutView {
    let r = &l.row.rollout;
    let (pause_reason, pause_kind) = match &r.state {
        RolloutState::Paused { reason } => (
            Some(reason.to_string()),
            Some(match reason {
                PauseReason::Operator => PauseKind::OPERATOR,
                PauseReason::FailureCount { .. } => PauseKind::FAILURE_COUNT,
                PauseReason::FailureRate { .. } => PauseKind::FAILURE_RATE,
            }),
        ),
        _ => (None, None),
    };
    let cohort_now = l.cohort;
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
                    StageStatus::DONE
                } else if i == r.stage {
                    StageStatus::CURRENT
                } else {
                    StageStatus::PENDING
                },
                counts: counts(this_stage),
                cumulative: counts(so_far),
                committed_needed: cohort
                    .filter(|_| !done)
                    .map(|size| r.committed_needed(i, &l.counts, size)),
                min_committed: s.min_committed,
                min_committed_percent: f64::from(s.min_committed_bp) / 100.0,
                soak_ms: s.soak_ms,
                max_failures: s.max_failures,
                max_failure_rate_bp: s.max_failure_rate_bp,
                promotion: match s.promotion {
                    Promotion::Automatic => WirePromotion::AUTOMATIC,
                    Promotion::Approval => WirePromotion::APPROVAL,
                },
            }
        })
        .collect();
    RolloutView {
        id: l.row.id,
        name: l.row.name.clone(),
        release: RolloutReleaseView {
            id: l.release.id,
            version: l.release.facts.version.clone(),
            sequence: l.release.facts.sequence,
            class: l.release.facts.class_name.clone(),
        },
        target_tags: r.target_tags.clone(),
        state: state_name(&r.state),
        pause_reason,
        pause_kind,
        current_stage: r.stage,
        totals: counts(so_far),
        stages,
        max_in_flight: r.plan.max_in_flight,
        in_flight: l.in_flight,
        penalty_boxed: l.penalty_boxed,
        penalty_after_failures: r.plan.penalty_after_failures,
        suspicious: l
            .suspicious
            .iter()
            .map(|(device_id, n)| SuspiciousDevice {
                device_id: device_id.clone(),
                unproven_claims: *n,
            })
            .collect(),
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
