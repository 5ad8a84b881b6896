//! Admin API for staged rollouts (create, status, actions) and the fleet's version distribution.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::AdminAuth;
use super::error::{ApiError, ErrorBody, JsonBody};
use super::{outcome, AppState};
use crate::domain::auth::Role;
use crate::domain::rollout::{EngineError, Promotion, RolloutPlan, StagePlan};
use crate::rollouts::{Action, RolloutError, RolloutSpec, RolloutView};

/// Default share of a stage's cohort that must commit before promotion.
pub const DEFAULT_MIN_COMMITTED_PERCENT: f64 = 95.0;

/// Default soak per stage when a plan is not given: long enough to see boot loops.
pub const DEFAULT_SOAK_MS: i64 = 15 * 60 * 1000;

impl From<RolloutError> for ApiError {
    fn from(e: RolloutError) -> Self {
        let message = e.to_string();
        match e {
            RolloutError::NotFound => ApiError::not_found("rollout_not_found", message),
            RolloutError::ReleaseNotFound => ApiError::not_found("release_not_found", message),
            RolloutError::AlreadyRolling(..) => ApiError::new(StatusCode::CONFLICT, "rollout_exists", message),
            RolloutError::Superseded { .. } => ApiError::new(StatusCode::CONFLICT, "release_superseded", message),
            RolloutError::Engine(EngineError::InvalidAction { .. }) => {
                ApiError::new(StatusCode::CONFLICT, "invalid_action", message)
            }
            RolloutError::Engine(EngineError::Plan(_)) => ApiError::bad_request("invalid_plan", message),
            RolloutError::Store(e) => e.into(),
        }
    }
}

/// One stage of a requested plan.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageInput {
    /// The stage's cohort: a cumulative share of the target devices, in percent (0.01 … 100),
    /// earlier stages' devices included.
    pub percent: f64,
    /// Committed devices, cumulative (this stage and every earlier one), needed to promote;
    /// capped by what the stage's cohort can give. Default: no count (the share below decides).
    pub min_committed: Option<u32>,
    /// Share of the stage's cohort (those not failed) that must have committed to promote,
    /// in percent (default 95: devices that are switched off must not stall a rollout).
    pub min_committed_percent: Option<f64>,
    /// Milliseconds the stage must run before promotion (default 15 minutes).
    pub soak_ms: Option<i64>,
    /// Pause at this many failed or rolled-back devices in the stage (default 1 in the first
    /// stage, 5 after; 0 = off).
    pub max_failures: Option<u32>,
    /// Pause when the stage's failure rate exceeds this percentage (default 5).
    pub max_failure_rate_percent: Option<f64>,
    /// Finished devices needed before the rate gate applies (default 20).
    pub rate_min_samples: Option<u32>,
    /// `automatic` (default) or `approval`.
    pub promotion: Option<String>,
}

/// A requested plan; every field has a default (1% → 10% → 50% → 100%).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    pub stages: Option<Vec<StageInput>>,
    /// Most devices between offer and outcome at once (default 50).
    pub max_in_flight: Option<u32>,
    /// Failures after which a device is held out of the rollout (default 2).
    pub penalty_after_failures: Option<u32>,
    /// A device in flight without a report for this long counts as failed (default 30 min).
    pub stall_after_ms: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRollout {
    pub release_id: i64,
    pub name: Option<String>,
    #[serde(default)]
    pub plan: PlanInput,
    /// Start at once (default); `false` creates a draft to start later.
    pub start: Option<bool>,
    /// Limit the rollout to devices of the class carrying one of these tags (default: all).
    pub tags: Option<Vec<String>>,
    /// 32 hex digits fixing which devices fall in which stage (reproducible cohorts);
    /// default: random.
    pub cohort_salt: Option<String>,
}

fn bad_plan(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_plan", message)
}

fn to_basis_points(percent: f64, what: &str) -> Result<u16, ApiError> {
    if !percent.is_finite() || !(0.0..=100.0).contains(&percent) {
        return Err(bad_plan(format!("{what} must be a percentage between 0 and 100")));
    }
    Ok((percent * 100.0).round() as u16)
}

impl PlanInput {
    fn into_plan(self) -> Result<RolloutPlan, ApiError> {
        let mut defaults = RolloutPlan::canary_by_share(DEFAULT_SOAK_MS);
        for s in &mut defaults.stages {
            s.min_committed_bp = (DEFAULT_MIN_COMMITTED_PERCENT * 100.0) as u16;
        }
        let stages = match self.stages {
            None => defaults.stages.clone(),
            Some(stages) => stages
                .into_iter()
                .enumerate()
                .map(|(i, s)| {
                    let fraction_bp = to_basis_points(s.percent, "percent")?;
                    Ok(StagePlan {
                        fraction_bp,
                        min_committed: s.min_committed,
                        min_committed_bp: to_basis_points(
                            s.min_committed_percent.unwrap_or(DEFAULT_MIN_COMMITTED_PERCENT),
                            "min_committed_percent",
                        )?,
                        soak_ms: s.soak_ms.unwrap_or(DEFAULT_SOAK_MS),
                        max_failures: s.max_failures.unwrap_or(if i == 0 { 1 } else { 5 }),
                        max_failure_rate_bp: to_basis_points(
                            s.max_failure_rate_percent.unwrap_or(5.0),
                            "max_failure_rate_percent",
                        )?,
                        rate_min_samples: s.rate_min_samples.unwrap_or(20),
                        promotion: match s.promotion.as_deref() {
                            None | Some("automatic") => Promotion::Automatic,
                            Some("approval") => Promotion::Approval,
                            Some(other) => {
                                return Err(bad_plan(format!(
                                    "promotion must be automatic or approval, not {other:?}"
                                )))
                            }
                        },
                    })
                })
                .collect::<Result<_, ApiError>>()?,
        };
        let plan = RolloutPlan {
            stages,
            max_in_flight: self.max_in_flight.unwrap_or(defaults.max_in_flight),
            penalty_after_failures: self.penalty_after_failures.unwrap_or(defaults.penalty_after_failures),
            stall_after_ms: self.stall_after_ms.unwrap_or(defaults.stall_after_ms),
        };
        plan.validate().map_err(|e| bad_plan(e.to_string()))?;
        Ok(plan)
    }
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found("rollout_not_found", "no such rollout"))
}

/// Create a rollout of a stored release (started unless `start` is false).
#[utoipa::path(post, path = "/api/v1/admin/rollouts", tag = "rollouts", request_body = NewRollout,
    responses((status = 201, body = RolloutView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    admin: AdminAuth,
    JsonBody(req): JsonBody<NewRollout>,
) -> Result<(StatusCode, Json<RolloutView>), ApiError> {
    let release_id = req.release_id;
    let result = async {
        admin.require(Role::ReleaseManager)?;
        if req.name.as_deref().is_some_and(|n| n.len() > 200) {
            return Err(ApiError::bad_request("invalid_name", "name must be at most 200 bytes"));
        }
        let plan = req.plan.into_plan()?;
        let tags = crate::domain::normalize_tags(req.tags.unwrap_or_default())
            .ok_or_else(|| ApiError::bad_request("invalid_tags", crate::domain::TAGS_RULE))?;
        let salt = match req.cohort_salt.as_deref() {
            None => None,
            Some(hex_salt) => {
                let mut salt = [0u8; 16];
                hex::decode_to_slice(hex_salt, &mut salt)
                    .map_err(|_| ApiError::bad_request("invalid_cohort_salt", "cohort_salt must be 32 hex digits"))?;
                Some(salt)
            }
        };
        let release = state
            .store
            .release(release_id)
            .await?
            .ok_or(RolloutError::ReleaseNotFound)?;
        let view = state
            .rollouts
            .create(
                &release,
                RolloutSpec {
                    name: req.name,
                    plan,
                    target_tags: tags,
                    salt,
                    start: req.start.unwrap_or(true),
                },
                state.clock.now_ms(),
            )
            .await?;
        Ok((StatusCode::CREATED, Json(view)))
    }
    .await;
    let target = match &result {
        Ok((_, Json(v))) => format!("rollout:{} release:{release_id}", v.id),
        Err(_) => format!("release:{release_id}"),
    };
    state
        .audit(&admin.actor(), "rollout.create", &target, &outcome(&result))
        .await;
    result
}

/// Every rollout, newest first.
#[utoipa::path(get, path = "/api/v1/admin/rollouts", tag = "rollouts",
    responses((status = 200, body = [RolloutView]), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, admin: AdminAuth) -> Result<Json<Vec<RolloutView>>, ApiError> {
    admin.require(Role::Viewer)?;
    Ok(Json(state.rollouts.views().await))
}

/// One rollout: state, pause reason, counts per stage (`counts`: this stage; `cumulative`:
/// so far) and for all stages (`totals`), timeline.
#[utoipa::path(get, path = "/api/v1/admin/rollouts/{id}", tag = "rollouts", params(("id" = i64, Path)),
    responses((status = 200, body = RolloutView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    admin: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<RolloutView>, ApiError> {
    admin.require(Role::Viewer)?;
    Ok(Json(state.rollouts.view(parse_id(&id)?).await?))
}

/// `start`, `pause`, `resume` (accepts the failures so far), `approve` (the next stage),
/// `abort` (devices that have not started get nothing more), `retry-failed`.
#[utoipa::path(post, path = "/api/v1/admin/rollouts/{id}/{action}", tag = "rollouts",
    params(("id" = i64, Path), ("action" = String, Path)),
    responses((status = 200, body = RolloutView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn act(
    State(state): State<AppState>,
    admin: AdminAuth,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<RolloutView>, ApiError> {
    let result = async {
        admin.require(Role::ReleaseManager)?;
        let action = Action::parse(&action).ok_or_else(|| {
            ApiError::not_found(
                "unknown_action",
                "actions: start, pause, resume, approve, abort, retry-failed",
            )
        })?;
        let view = state.rollouts.act(parse_id(&id)?, action, state.clock.now_ms()).await?;
        Ok(Json(view))
    }
    .await;
    let verb = format!("rollout.{}", action.chars().take(16).collect::<String>());
    state
        .audit(&admin.actor(), &verb, &format!("rollout:{id}"), &outcome(&result))
        .await;
    result
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    pub version: Option<String>,
    pub sequence: Option<u64>,
    pub digest: Option<String>,
    pub devices: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClassVersions {
    pub class: Option<String>,
    pub versions: Vec<VersionView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FleetView {
    /// Active devices.
    pub devices: u64,
    pub classes: Vec<ClassVersions>,
}

/// What the active fleet runs, per class and image.
#[utoipa::path(get, path = "/api/v1/admin/fleet", tag = "rollouts",
    responses((status = 200, body = FleetView), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn fleet(State(state): State<AppState>, admin: AdminAuth) -> Result<Json<FleetView>, ApiError> {
    admin.require(Role::Viewer)?;
    let rows = state.store.fleet_versions().await?;
    let mut classes: Vec<ClassVersions> = Vec::new();
    let mut devices = 0;
    for row in rows {
        devices += row.devices;
        let v = VersionView {
            version: row.version,
            sequence: row.sequence,
            digest: row.digest.map(|d| d.hex()),
            devices: row.devices,
        };
        match classes.last_mut() {
            Some(c) if c.class == row.class => c.versions.push(v),
            _ => classes.push(ClassVersions {
                class: row.class,
                versions: vec![v],
            }),
        }
    }
    Ok(Json(FleetView { devices, classes }))
}
