//! Staged rollouts and the fleet view (admin API; ota-server/README.md, "Rollouts").
//!
//! Counts are of devices, never of offers or attempts. A stage's `counts` are **this stage**
//! (devices first offered the release while it was current), its `cumulative` **so far** (this
//! stage and every earlier one), and the rollout's `totals` every stage together.

use serde::{Deserialize, Serialize};

use crate::names::wire_name;

/// `POST` (release-manager): [`NewRollout`] → 201 [`RolloutView`]; `GET` (viewer): every
/// rollout, newest first; `GET …/{id}`; `POST …/{id}/{action}` ([`RolloutAction`]).
pub const ROLLOUTS_PATH: &str = "/api/v1/admin/rollouts";
/// `GET` (viewer): [`FleetView`].
pub const FLEET_PATH: &str = "/api/v1/admin/fleet";

wire_name! {
    /// How a stage is promoted to the next once its gates pass.
    pub struct Promotion;
    /// By itself (the default).
    AUTOMATIC = "automatic";
    /// Only after an operator's `approve`.
    APPROVAL = "approval";
}

/// One stage of a requested plan. Every field but `percent` has a default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StageInput {
    /// The stage's cohort: a cumulative share of the target devices, in percent (0.01 … 100),
    /// earlier stages' devices included.
    pub percent: f64,
    /// Committed devices, cumulative (this stage and every earlier one), needed to promote;
    /// capped by what the stage's cohort can give. Default: no count (the share below decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_committed: Option<u32>,
    /// Share of the stage's cohort (those not failed) that must have committed to promote,
    /// in percent (default 95: devices that are switched off must not stall a rollout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_committed_percent: Option<f64>,
    /// Milliseconds the stage must run before promotion (default 15 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak_ms: Option<i64>,
    /// Pause at this many failed or rolled-back devices in the stage (default 1 in the first
    /// stage, 5 after; 0 = off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failures: Option<u32>,
    /// Pause when the stage's failure rate exceeds this percentage (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failure_rate_percent: Option<f64>,
    /// Finished devices needed before the rate gate applies (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_min_samples: Option<u32>,
    /// `automatic` (default) or `approval`; another value is refused (`invalid_plan`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<Promotion>,
}

impl StageInput {
    /// A stage of `percent` with every other field at its default.
    pub fn percent(percent: f64) -> Self {
        Self {
            percent,
            ..Self::default()
        }
    }
}

/// A requested plan; every field has a default (1% → 10% → 50% → 100%).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<StageInput>>,
    /// Most devices between offer and outcome at once (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
    /// Failures after which a device is held out of the rollout (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub penalty_after_failures: Option<u32>,
    /// A device in flight without a report for this long counts as failed (default 30 min).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_after_ms: Option<i64>,
}

impl PlanInput {
    /// Every field unset: the server's default plan.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// `POST /api/v1/admin/rollouts`: roll a stored release out to its class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewRollout {
    pub release_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "PlanInput::is_default")]
    pub plan: PlanInput,
    /// Start at once (default); `false` creates a draft to start later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<bool>,
    /// Limit the rollout to devices of the class carrying one of these tags (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// 32 hex digits fixing which devices fall in which stage (reproducible cohorts);
    /// default: random.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohort_salt: Option<String>,
}

impl NewRollout {
    /// A rollout of `release_id` with the default plan, started at once.
    pub fn of(release_id: i64) -> Self {
        Self {
            release_id,
            ..Self::default()
        }
    }
}

wire_name! {
    /// An operator action on a rollout: `POST /api/v1/admin/rollouts/{id}/{action}`.
    pub struct RolloutAction;
    /// Start a draft.
    START = "start";
    /// Stop offering the release (devices already installing finish).
    PAUSE = "pause";
    /// Continue a paused rollout, accepting the failures so far.
    RESUME = "resume";
    /// Promote a stage that waits for approval.
    APPROVE = "approve";
    /// Devices that have not started get nothing more; updated devices keep their update.
    ABORT = "abort";
    /// Offer the release again to devices that failed, except those held out.
    RETRY_FAILED = "retry-failed";
}

wire_name! {
    /// Where a rollout is.
    pub struct RolloutState;
    /// Created with `start: false`; offers nothing until `start`.
    DRAFT = "draft";
    /// Offering the release to the current stage's cohort.
    RUNNING = "running";
    /// The current stage passed its gates and waits for `approve`.
    AWAITING_APPROVAL = "awaiting_approval";
    /// Stopped by an operator or its failure gates (`pause_kind`, `pause_reason`).
    PAUSED = "paused";
    /// Every stage done.
    COMPLETED = "completed";
    /// Aborted by an operator.
    ABORTED = "aborted";
}

wire_name! {
    /// Why a rollout paused.
    pub struct PauseKind;
    /// An operator paused it.
    OPERATOR = "operator";
    /// A stage reached `max_failures` failed or rolled-back devices.
    FAILURE_COUNT = "failure_count";
    /// A stage's failure rate exceeded `max_failure_rate_bp`.
    FAILURE_RATE = "failure_rate";
}

wire_name! {
    /// Where a stage is.
    pub struct StageStatus;
    /// Promoted past (or the rollout completed).
    DONE = "done";
    /// The stage devices are offered the release in now.
    CURRENT = "current";
    /// Not reached yet.
    PENDING = "pending";
}

wire_name! {
    /// What happened to a rollout (its timeline).
    pub struct TimelineKind;
    /// Started.
    STARTED = "started";
    /// Paused (by an operator or a failure gate).
    PAUSED = "paused";
    /// Resumed by an operator.
    RESUMED = "resumed";
    /// A stage passed its gates and waits for approval.
    AWAITING_APPROVAL = "awaiting_approval";
    /// Promoted to the next stage.
    PROMOTED = "promoted";
    /// The last stage finished.
    COMPLETED = "completed";
    /// Aborted by an operator.
    ABORTED = "aborted";
}

/// The release a rollout offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
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

impl CountsView {
    /// Failed or rolled back: what the failure gates count.
    pub fn failures(&self) -> u32 {
        self.failed.saturating_add(self.rolled_back)
    }
}

/// One stage. Its devices are those first offered the release while it was the current stage
/// (`counts`, **this stage**); `cumulative` adds every earlier stage (**so far**). Cohorts
/// are cumulative fractions of the target: the 10% stage's cohort holds the 1% stage's devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
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
    pub status: StageStatus,
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
    pub promotion: Promotion,
}

/// How many suspicious devices a rollout view lists.
pub const SUSPICIOUS_SHOWN: usize = 100;

/// A device whose claims of success the server holds no evidence for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct SuspiciousDevice {
    pub device_id: String,
    /// Claims without evidence so far.
    pub unproven_claims: u32,
}

/// One event of a rollout's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct TimelineView {
    pub at_ms: i64,
    pub stage: usize,
    pub kind: TimelineKind,
    pub message: String,
}

/// A rollout's status: state, why it paused, per-stage counts, and its timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct RolloutView {
    pub id: i64,
    pub name: String,
    pub release: RolloutReleaseView,
    /// Device tags the rollout is limited to (empty = the whole class).
    pub target_tags: Vec<String>,
    pub state: RolloutState,
    pub pause_reason: Option<String>,
    /// Machine-readable pause cause.
    pub pause_kind: Option<PauseKind>,
    pub current_stage: usize,
    pub stages: Vec<StageView>,
    /// Every stage together: the last stage's `cumulative`.
    pub totals: CountsView,
    pub max_in_flight: u32,
    pub in_flight: u32,
    /// Devices held out after failing `penalty_after_failures` times.
    pub penalty_boxed: u32,
    pub penalty_after_failures: u32,
    /// Devices that claimed success (a `committed` report, or a check-in running the new
    /// image) without having downloaded the release's image or a patch to it in full: not
    /// counted as committed. Most recent first, at most [`SUSPICIOUS_SHOWN`].
    #[serde(default)]
    pub suspicious: Vec<SuspiciousDevice>,
    pub timeline: Vec<TimelineView>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl RolloutView {
    /// The current stage (none only for a plan without stages, which the server refuses).
    pub fn current(&self) -> Option<&StageView> {
        self.stages.get(self.current_stage)
    }

    /// Whether the rollout offers nothing more by itself: completed or aborted.
    pub fn is_finished(&self) -> bool {
        self.state == RolloutState::COMPLETED || self.state == RolloutState::ABORTED
    }
}

/// Devices running one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct VersionView {
    pub version: Option<String>,
    pub sequence: Option<u64>,
    pub digest: Option<String>,
    pub devices: u64,
}

/// What the active devices of one class run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ClassVersions {
    pub class: Option<String>,
    pub versions: Vec<VersionView>,
}

/// `GET /api/v1/admin/fleet`: what the active fleet runs, per class and image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct FleetView {
    /// Active devices.
    pub devices: u64,
    pub classes: Vec<ClassVersions>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_rollout_sends_only_what_is_given() {
        let req = NewRollout {
            plan: PlanInput {
                stages: Some(vec![
                    StageInput {
                        soak_ms: Some(0),
                        ..StageInput::percent(10.0)
                    },
                    StageInput {
                        promotion: Some(Promotion::APPROVAL),
                        ..StageInput::percent(100.0)
                    },
                ]),
                ..PlanInput::default()
            },
            cohort_salt: Some("00".repeat(16)),
            ..NewRollout::of(7)
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            serde_json::json!({"release_id": 7, "plan": {"stages": [
                {"percent": 10.0, "soak_ms": 0}, {"percent": 100.0, "promotion": "approval"}]},
                "cohort_salt": "00".repeat(16)})
        );
        assert!(serde_json::from_str::<NewRollout>(r#"{"release_id": 1, "surprise": 1}"#).is_err());
        let minimal: NewRollout = serde_json::from_str(r#"{"release_id": 1}"#).unwrap();
        assert_eq!(minimal, NewRollout::of(1));
    }

    #[test]
    fn action_names() {
        let names: Vec<&str> = RolloutAction::KNOWN.iter().map(RolloutAction::as_str).collect();
        assert_eq!(names, ["start", "pause", "resume", "approve", "abort", "retry-failed"]);
    }
}
