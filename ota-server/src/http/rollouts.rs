//! Admin API for staged rollouts (create, status, actions) and the fleet's version distribution.
//! The rollout service is [`crate::service::rollouts`]; its statuses become API views in
//! `rollouts/view.rs`.

mod view;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ota_protocol::rollouts::{
    ClassVersions, FleetView, NewRollout, PlanInput, Promotion as WirePromotion, RolloutView, VersionView,
};
use ota_protocol::{ErrorBody, ErrorCode};

use super::auth::AdminAuth;
use super::error::{ApiError, JsonBody};
use super::{outcome, AppState};
use crate::domain::auth::Role;
use crate::domain::rollout::{EngineError, Promotion, RolloutPlan, StagePlan};
use crate::service::rollouts::{Action, RolloutError, RolloutSpec};

/// Default share of a stage's cohort that must commit before promotion.
pub const DEFAULT_MIN_COMMITTED_PERCENT: f64 = 95.0;

/// Default soak per stage when a plan is not given: long enough to see boot loops.
pub const DEFAULT_SOAK_MS: i64 = 15 * 60 * 1000;

impl From<RolloutError> for ApiError {
    fn from(e: RolloutError) -> Self {
        let message = e.to_string();
        match e {
            RolloutError::NotFound => ApiError::not_found(ErrorCode::ROLLOUT_NOT_FOUND, message),
            RolloutError::ReleaseNotFound => ApiError::not_found(ErrorCode::RELEASE_NOT_FOUND, message),
            RolloutError::AlreadyRolling(..) => ApiError::new(StatusCode::CONFLICT, ErrorCode::ROLLOUT_EXISTS, message),
            RolloutError::Superseded { .. } => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::RELEASE_SUPERSEDED, message)
            }
            RolloutError::Engine(EngineError::InvalidAction { .. }) => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::INVALID_ACTION, message)
            }
            RolloutError::Engine(EngineError::Plan(_)) => ApiError::bad_request(ErrorCode::INVALID_PLAN, message),
            RolloutError::Store(e) => e.into(),
        }
    }
}

fn bad_plan(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(ErrorCode::INVALID_PLAN, message)
}

fn to_basis_points(percent: f64, what: &str) -> Result<u16, ApiError> {
    if !percent.is_finite() || !(0.0..=100.0).contains(&percent) {
        return Err(bad_plan(format!("{what} must be a percentage between 0 and 100")));
    }
    Ok((percent * 100.0).round() as u16)
}

/// The engine's plan for a requested one: defaults filled in, then validated.
fn plan_of(input: PlanInput) -> Result<RolloutPlan, ApiError> {
    let mut defaults = RolloutPlan::canary_by_share(DEFAULT_SOAK_MS);
    for s in &mut defaults.stages {
        s.min_committed_bp = (DEFAULT_MIN_COMMITTED_PERCENT * 100.0) as u16;
    }
    let stages = match input.stages {
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
                    promotion: match s.promotion {
                        None => Promotion::Automatic,
                        Some(p) if p == WirePromotion::AUTOMATIC => Promotion::Automatic,
                        Some(p) if p == WirePromotion::APPROVAL => Promotion::Approval,
                        Some(other) => {
                            return Err(bad_plan(format!(
                                "promotion must be automatic or approval, not {:?}",
                                other.as_str()
                            )))
                        }
                    },
                })
            })
            .collect::<Result<_, ApiError>>()?,
    };
    let plan = RolloutPlan {
        stages,
        max_in_flight: input.max_in_flight.unwrap_or(defaults.max_in_flight),
        penalty_after_failures: input.penalty_after_failures.unwrap_or(defaults.penalty_after_failures),
        stall_after_ms: input.stall_after_ms.unwrap_or(defaults.stall_after_ms),
    };
    plan.validate().map_err(|e| bad_plan(e.to_string()))?;
    Ok(plan)
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(ErrorCode::ROLLOUT_NOT_FOUND, "no such rollout"))
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
            return Err(ApiError::bad_request(
                ErrorCode::INVALID_NAME,
                "name must be at most 200 bytes",
            ));
        }
        let plan = plan_of(req.plan)?;
        let tags = crate::domain::normalize_tags(req.tags.unwrap_or_default())
            .ok_or_else(|| ApiError::bad_request(ErrorCode::INVALID_TAGS, crate::domain::TAGS_RULE))?;
        let salt = match req.cohort_salt.as_deref() {
            None => None,
            Some(hex_salt) => {
                let mut salt = [0u8; 16];
                hex::decode_to_slice(hex_salt, &mut salt).map_err(|_| {
                    ApiError::bad_request(ErrorCode::INVALID_COHORT_SALT, "cohort_salt must be 32 hex digits")
                })?;
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
        Ok((StatusCode::CREATED, Json(RolloutView::from(&view))))
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
    Ok(Json(
        state.rollouts.statuses().await?.iter().map(RolloutView::from).collect(),
    ))
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
    Ok(Json(RolloutView::from(&state.rollouts.status(parse_id(&id)?).await?)))
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
                ErrorCode::UNKNOWN_ACTION,
                "actions: start, pause, resume, approve, abort, retry-failed",
            )
        })?;
        let status = state.rollouts.act(parse_id(&id)?, action, state.clock.now_ms()).await?;
        Ok(Json(RolloutView::from(&status)))
    }
    .await;
    let verb = format!("rollout.{}", action.chars().take(16).collect::<String>());
    state
        .audit(&admin.actor(), &verb, &format!("rollout:{id}"), &outcome(&result))
        .await;
    result
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
