//! A rollout for people: its target, state (with why it paused or what it waits for), stages
//! with both counts (this stage / so far, ota-server/README.md "Rollouts", "Counts") and timeline.

use ota_protocol::rollouts::{RolloutState, RolloutView};

use crate::output::{self, Table};

/// The class, and the tags a rollout is limited to.
pub(super) fn target(r: &RolloutView) -> String {
    if r.target_tags.is_empty() {
        r.release.class.clone()
    } else {
        format!("{} [{}]", r.release.class, r.target_tags.join(","))
    }
}

/// `stage 2/4 (10%)`.
pub(super) fn stage_text(r: &RolloutView) -> String {
    match r.current() {
        Some(s) => format!("{}/{} ({}%)", r.current_stage + 1, r.stages.len(), s.percent),
        None => "-".into(),
    }
}

/// The state, with the pause reason or what the rollout waits for.
pub(super) fn state_text(r: &RolloutView) -> String {
    let state = r.state.as_str();
    if r.state == RolloutState::PAUSED {
        let kind = r.pause_kind.as_ref().map_or("", |k| k.as_str());
        let reason = r.pause_reason.as_deref().unwrap_or("no reason given");
        format!("{state} ({kind}: {reason}; `otactl rollout resume {}` continues)", r.id)
    } else if r.state == RolloutState::AWAITING_APPROVAL {
        format!("{state} (`otactl rollout approve {}` promotes the stage)", r.id)
    } else if r.state == RolloutState::DRAFT {
        format!("{state} (`otactl rollout start {}` starts it)", r.id)
    } else {
        state.to_owned()
    }
}

pub(super) fn print_status(r: &RolloutView) {
    let mut head = Table::new(&["rollout", &format!("{} ({:?})", r.id, r.name)]);
    for (k, v) in [
        (
            "release",
            format!(
                "{} {} (sequence {}) of {}",
                r.release.id,
                r.release.version,
                r.release.sequence,
                target(r)
            ),
        ),
        ("state", state_text(r)),
        ("stage", stage_text(r)),
        (
            "devices",
            format!(
                "offered {}, committed {}, failed {}, rolled back {} (all stages)",
                r.totals.offered, r.totals.committed, r.totals.failed, r.totals.rolled_back
            ),
        ),
        (
            "in flight",
            format!(
                "{} of at most {}; held out {}",
                r.in_flight, r.max_in_flight, r.penalty_boxed
            ),
        ),
        ("suspicious", suspicious_text(r)),
        ("created", output::time(r.created_ms)),
        ("updated", output::time(r.updated_ms)),
    ] {
        head.row(vec![k.into(), v]);
    }
    head.print();
    output::line("");
    let mut t = Table::new(&[
        "STAGE",
        "SHARE",
        "STATUS",
        "COHORT",
        "COMMITTED SO FAR",
        "NEEDED",
        "THIS STAGE: OFFERED",
        "COMMITTED",
        "FAILED",
        "ROLLED BACK",
        "SOAK",
        "PROMOTION",
    ]);
    for s in &r.stages {
        t.row(vec![
            (s.index + 1).to_string(),
            format!("{}%", s.percent),
            s.status.to_string(),
            output::opt(s.cohort),
            s.cumulative.committed.to_string(),
            output::opt(s.committed_needed),
            s.counts.offered.to_string(),
            s.counts.committed.to_string(),
            s.counts.failed.to_string(),
            s.counts.rolled_back.to_string(),
            output::duration_ms(s.soak_ms),
            s.promotion.to_string(),
        ]);
    }
    t.print();
    if !r.timeline.is_empty() {
        output::line("");
        let mut tl = Table::new(&["AT", "STAGE", "EVENT", "MESSAGE"]);
        for e in &r.timeline {
            tl.row(vec![
                output::time(e.at_ms),
                (e.stage + 1).to_string(),
                e.kind.to_string(),
                e.message.clone(),
            ]);
        }
        tl.print();
    }
}

/// Devices that claimed success without having downloaded the release (not counted).
fn suspicious_text(r: &RolloutView) -> String {
    if r.suspicious.is_empty() {
        return "none".into();
    }
    let shown: Vec<String> = r
        .suspicious
        .iter()
        .take(5)
        .map(|s| format!("{} ({} claims)", s.device_id, s.unproven_claims))
        .collect();
    let more = r.suspicious.len().saturating_sub(shown.len());
    let tail = if more > 0 {
        format!(", and {more} more")
    } else {
        String::new()
    };
    format!(
        "{}{tail}: claimed success without downloading the release, not counted",
        shown.join(", ")
    )
}
