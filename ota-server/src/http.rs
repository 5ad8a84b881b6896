//! HTTP: extract and authenticate, call the services, map to JSON. Routes:
//! * `/api/v1/device/…` — devices (mTLS identity, per-request revocation check);
//! * `/api/v1/admin/…` — operators (bearer tokens with roles; every mutation audited);
//! * `/api/v1/openapi.json`, `/metrics`, `/healthz`.

pub mod admin;
pub mod auth;
pub mod dashboard;
pub mod device;
pub mod download;
pub mod enrollment;
pub mod error;
pub mod ingest;
pub mod openapi;
pub mod ratelimit;
pub mod registration;
pub mod rollouts;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use ota_protocol::ErrorCode;

use crate::artifacts::ArtifactStore;
use crate::ca::IssuingCa;
use crate::config::{Limits, MetricsAuth, OfferMode};
use crate::domain::ingest::{ClassRef, ReleaseVerifier};
use crate::domain::offer::OfferPolicy;
use crate::domain::registration::RegistrationPolicy;
use crate::domain::{Millis, Sha256, SharedClock};
use crate::metrics::Metrics;
use crate::service::checkin::CheckinService;
use crate::service::devices::DeviceService;
use crate::service::downloads::DownloadSlots;
use crate::service::enrollment::{CrlCache, EnrollmentService};
use crate::service::ingest::IngestService;
use crate::service::registration::RegistrationService;
use crate::service::rollouts::RolloutService;
use crate::store::batch::CheckinWriter;
use crate::store::cache::LatestReleases;
use crate::store::SharedStore;
use auth::AdminAuth;
use error::ApiError;
use ratelimit::RateLimiter;

/// Everything a handler needs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: SharedStore,
    pub artifacts: Arc<dyn ArtifactStore>,
    pub staging_dir: PathBuf,
    pub verifier: Arc<dyn ReleaseVerifier>,
    /// The policy used when `offer_mode = "latest"`.
    pub offer: Arc<dyn OfferPolicy>,
    pub offer_mode: OfferMode,
    /// Staged rollouts: decide offers when `offer_mode = "rollout"`, and take status reports.
    pub rollouts: Arc<RolloutService>,
    pub clock: SharedClock,
    pub metrics: Arc<Metrics>,
    pub limiter: Arc<RateLimiter>,
    /// Status reports per device (separate from check-ins: an update sends several at once).
    pub report_limiter: Arc<RateLimiter>,
    /// How many refused admin authentications are audited (the rest are only counted).
    pub auth_failure_audit: Arc<RateLimiter>,
    /// Who may read `/metrics`.
    pub metrics_auth: MetricsAuth,
    pub classes: Arc<Vec<ClassRef>>,
    /// Each class's registration policy.
    pub registration: Arc<HashMap<String, RegistrationPolicy>>,
    pub limits: Limits,
    pub dev_insecure_http: bool,
    /// Group-committed check-in writes.
    pub checkins: CheckinWriter,
    /// Newest release per class (short TTL, invalidated by ingest).
    pub latest: Arc<LatestReleases>,
    /// Downloads streaming per device (the `downloads_per_device` cap).
    pub download_slots: Arc<DownloadSlots>,
    /// Envelopes are small and sent on every offer: kept in memory by digest.
    pub envelopes: Arc<Mutex<HashMap<Sha256, Arc<[u8]>>>>,
    /// The enrolment CA (`[enrollment]`); `None`: EST and the CRL answer `enrollment_disabled`.
    pub issuing_ca: Option<Arc<IssuingCa>>,
    /// A check-in with a certificate expiring within this is told to renew (0: never).
    pub renew_before_ms: Millis,
    /// See [`CheckinService::rotation_grace_ms`].
    pub rotation_grace_ms: Millis,
    pub crl_next_update_s: u64,
    pub crl_cache: Arc<CrlCache>,
}

impl AppState {
    /// The ingest workflow over this state's store, artifacts and verifier.
    pub fn ingest(&self) -> IngestService {
        IngestService {
            store: self.store.clone(),
            artifacts: self.artifacts.clone(),
            verifier: self.verifier.clone(),
            latest: self.latest.clone(),
            clock: self.clock.clone(),
            staging_dir: self.staging_dir.clone(),
        }
    }

    /// The device workflows (identity, check-in, status reports) over this state.
    pub fn checkin(&self) -> CheckinService {
        CheckinService {
            store: self.store.clone(),
            artifacts: self.artifacts.clone(),
            offer: self.offer.clone(),
            offer_mode: self.offer_mode,
            rollouts: self.rollouts.clone(),
            clock: self.clock.clone(),
            metrics: self.metrics.clone(),
            classes: self.classes.clone(),
            registration: self.registration.clone(),
            checkins: self.checkins.clone(),
            latest: self.latest.clone(),
            envelopes: self.envelopes.clone(),
            rotation_grace_ms: self.rotation_grace_ms,
        }
    }

    /// The registration allow and deny lists over this state.
    pub fn registration(&self) -> RegistrationService {
        RegistrationService {
            devices: self.devices(),
        }
    }

    /// Operator actions on devices and device reads over this state.
    pub fn devices(&self) -> DeviceService {
        DeviceService {
            store: self.store.clone(),
            classes: self.classes.clone(),
            checkins: self.checkins.clone(),
            clock: self.clock.clone(),
            crl_cache: self.crl_cache.clone(),
        }
    }

    /// EST enrolment and the CRL over this state.
    pub fn enrollment(&self) -> EnrollmentService {
        EnrollmentService {
            store: self.store.clone(),
            ca: self.issuing_ca.clone(),
            checkin: self.checkin(),
            clock: self.clock.clone(),
            metrics: self.metrics.clone(),
            crl_cache: self.crl_cache.clone(),
            crl_next_update_s: self.crl_next_update_s,
        }
    }

    pub fn class_known(&self, name: &str) -> bool {
        self.classes.iter().any(|c| c.name == name)
    }

    /// Appends an audit record; a failure to audit is logged loudly (the action already happened).
    pub async fn audit(&self, actor: &str, action: &str, target: &str, result: &str) {
        crate::service::audit(&self.store, &self.clock, actor, action, target, result).await;
    }
}

/// The `result` column of an audit record.
pub fn outcome<T>(r: &Result<T, ApiError>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("error:{}", e.code),
    }
}

pub fn router(state: AppState) -> Router {
    let bundle_limit = usize::try_from(state.limits.max_bundle_bytes).unwrap_or(usize::MAX);
    let json_limit = state.limits.max_json_bytes;
    let device = Router::new()
        .route("/checkin", post(device::checkin))
        .route("/status", post(device::status))
        .route("/artifacts/{digest}", get(download::artifact));
    let admin = Router::new()
        .route(
            "/releases",
            post(ingest::upload)
                .layer(DefaultBodyLimit::max(bundle_limit))
                .get(admin::list_releases),
        )
        .route("/releases/{id}", get(admin::get_release))
        .route("/devices", get(admin::list_devices))
        .route("/devices/{id}", get(admin::get_device))
        .route("/devices/{id}/revoke", post(admin::revoke))
        .route("/devices/{id}/tags", axum::routing::put(admin::set_tags))
        .route("/devices/{id}/class", axum::routing::put(admin::set_class))
        .route("/devices/{id}/decommission", post(admin::decommission))
        .route("/devices/{id}/export", get(admin::export))
        .route("/devices/{id}/certificates", get(enrollment::certificates))
        .route(
            "/devices/{id}/certificates/{serial}/revoke",
            post(enrollment::revoke_certificate),
        )
        .route("/enrollment-tokens", post(enrollment::create_token))
        .route("/registration/{list}", get(registration::list).post(registration::add))
        .route(
            "/registration/{list}/{device_id}",
            axum::routing::delete(registration::remove),
        )
        .route("/rollouts", post(rollouts::create).get(rollouts::list))
        .route("/rollouts/{id}", get(rollouts::get))
        .route("/rollouts/{id}/{action}", post(rollouts::act))
        .route("/fleet", get(rollouts::fleet))
        .route("/tokens", post(admin::create_token).get(admin::list_tokens))
        .route("/tokens/{id}/revoke", post(admin::revoke_token))
        .route("/audit", get(admin::audit_log));
    Router::new()
        .nest("/api/v1/device", device)
        .nest("/api/v1/admin", admin)
        .route(ota_protocol::device::EST_CACERTS_PATH, get(enrollment::cacerts))
        .route(
            ota_protocol::device::EST_SIMPLEENROLL_PATH,
            post(enrollment::simpleenroll),
        )
        .route(
            ota_protocol::device::EST_SIMPLEREENROLL_PATH,
            post(enrollment::simplereenroll),
        )
        .route(ota_protocol::device::CRL_PATH, get(enrollment::crl))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .merge(dashboard::routes())
        .fallback(|| async { ApiError::not_found(ErrorCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::METHOD_NOT_ALLOWED,
                "method not allowed",
            )
        })
        .layer(DefaultBodyLimit::max(json_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

async fn metrics(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    // `metrics_auth = "token"`: rollout state and fleet counts only for token holders (a
    // public scrape is not an authentication attempt, so the token is only looked at here).
    if state.metrics_auth == MetricsAuth::Token {
        let (mut parts, _) = request.into_parts();
        <AdminAuth as axum::extract::FromRequestParts<AppState>>::from_request_parts(&mut parts, &state).await?;
    }
    let mut text = state.metrics.render();
    // Rotation health: issued certificates due for renewal that are still in use.
    if state.issuing_ca.is_some() {
        let now = state.clock.now_ms();
        match state
            .store
            .count_expiring_certificates(now, now.saturating_add(state.renew_before_ms))
            .await
        {
            Ok(n) => text.push_str(&format!(
                "# TYPE ota_certificates_due_for_renewal gauge\nota_certificates_due_for_renewal {n}\n"
            )),
            Err(e) => tracing::warn!(error = %e, "certificate gauge left out of /metrics"),
        }
    }
    match state.rollouts.statuses().await {
        Ok(statuses) => {
            let views: Vec<_> = statuses.iter().map(ota_protocol::rollouts::RolloutView::from).collect();
            text.push_str(&rollout_gauges(&views));
        }
        // The process metrics are still worth a scrape; the rollout gauges are left out.
        Err(e) => tracing::warn!(error = %e, "rollout gauges left out of /metrics"),
    }
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// Per-rollout gauges: state, current stage, devices in flight, and devices per stage and outcome.
fn rollout_gauges(views: &[ota_protocol::rollouts::RolloutView]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    out.push_str("# TYPE ota_rollout_state gauge\n");
    for v in views {
        let _ = writeln!(out, "ota_rollout_state{{rollout=\"{}\",state=\"{}\"}} 1", v.id, v.state);
    }
    out.push_str("# TYPE ota_rollout_stage gauge\n");
    for v in views {
        let _ = writeln!(out, "ota_rollout_stage{{rollout=\"{}\"}} {}", v.id, v.current_stage + 1);
    }
    out.push_str("# TYPE ota_rollout_in_flight gauge\n");
    for v in views {
        let _ = writeln!(out, "ota_rollout_in_flight{{rollout=\"{}\"}} {}", v.id, v.in_flight);
    }
    out.push_str("# TYPE ota_rollout_suspicious_devices gauge\n");
    for v in views {
        let _ = writeln!(
            out,
            "ota_rollout_suspicious_devices{{rollout=\"{}\"}} {}",
            v.id,
            v.suspicious.len()
        );
    }
    out.push_str("# TYPE ota_rollout_devices gauge\n");
    for v in views {
        for s in &v.stages {
            let c = &s.counts;
            for (outcome, n) in [
                ("offered", c.offered),
                ("downloading", c.downloading),
                ("installed", c.installed),
                ("committed", c.committed),
                ("failed", c.failed),
                ("rolled_back", c.rolled_back),
            ] {
                let _ = writeln!(
                    out,
                    "ota_rollout_devices{{rollout=\"{}\",stage=\"{}\",outcome=\"{outcome}\"}} {n}",
                    v.id,
                    s.index + 1
                );
            }
        }
    }
    out
}

/// Counts and times every request by route template (never by raw path: ids stay out of labels).
async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_owned();
    let start = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    state.metrics.request(&route, &method, status, start.elapsed());
    tracing::debug!(%route, %method, status, elapsed_us = start.elapsed().as_micros() as u64, "request");
    response
}
