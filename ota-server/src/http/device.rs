//! Device API: check-in and status reports. The workflows are the check-in service's
//! ([`crate::service::checkin`]); this maps their results to `ota_protocol::device`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use ota_protocol::device::{
    artifact_path, CheckinRequest, CheckinResponse, DeviceCommand, Link, NoUpdateReason, PatchLink, StatusReport,
    UpdateOffer,
};
use ota_protocol::{ErrorBody, ErrorCode};

use super::auth::DeviceAuth;
use super::error::{ApiError, JsonBody};
use super::AppState;
use crate::domain::certificates::renewal_due;
use crate::domain::{Sha256, FACTORY_RESET};
use crate::service::checkin::CheckinAnswer;

/// How long the answer carrying `factory_reset` has to reach the device before the device is
/// decommissioned (which closes its connections).
const FACTORY_RESET_SETTLE: std::time::Duration = std::time::Duration::from_secs(1);

/// Where devices download the artifact with this digest.
pub fn artifact_url(d: &Sha256) -> String {
    artifact_path(&d.hex())
}

/// Check in: report what runs, get an offer or "no update" with its reason.
#[utoipa::path(post, path = "/api/v1/device/checkin", tag = "device", request_body = CheckinRequest,
    responses((status = 200, body = CheckinResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn checkin(
    State(state): State<AppState>,
    auth: DeviceAuth,
    JsonBody(req): JsonBody<CheckinRequest>,
) -> Result<Response, ApiError> {
    let now = state.clock.now_ms();
    if let Err(retry) = state.limiter.check(&auth.device.id, now) {
        state.metrics.inc("ota_checkins_total", &[("result", "rate_limited")]);
        return Ok(rate_limited("check-in rate exceeded", retry));
    }
    // Decommissioning that reaches the device: the answer carries the command, and the device
    // is decommissioned (its certificates revoked, its connections closed) once the answer has
    // had FACTORY_RESET_SETTLE to leave. Should the server stop in between, the command stays
    // pending and the next check-in gets it again.
    if auth.device.pending_command.as_deref() == Some(FACTORY_RESET) {
        let (devices, id) = (state.devices(), auth.device.id.clone());
        tokio::spawn(async move {
            tokio::time::sleep(FACTORY_RESET_SETTLE).await;
            if let Err(e) = devices.deliver_factory_reset(&id).await {
                tracing::error!(device = %id, error = %e, "decommissioning after factory_reset failed; it stays pending");
            }
        });
        let mut answer = CheckinResponse::no_update(NoUpdateReason::DEVICE_INACTIVE);
        answer.command = Some(DeviceCommand::FACTORY_RESET);
        return Ok(axum::Json(answer).into_response());
    }
    // Rotation ahead of expiry: the answer says when the certificate is due for renewal.
    let renew_certificate = state.issuing_ca.is_some()
        && auth
            .certificate
            .as_ref()
            .is_some_and(|c| renewal_due(c.not_after_ms, state.renew_before_ms, now));
    let mut response = match state.checkin().checkin(&auth.device, auth.cert_class, req, now).await? {
        CheckinAnswer::NoUpdate(reason) => CheckinResponse::no_update(reason),
        CheckinAnswer::Update {
            release,
            patch,
            envelope,
        } => CheckinResponse::offer(UpdateOffer {
            release_id: release.id,
            sequence: release.facts.sequence,
            version: release.facts.version.clone(),
            envelope: base64::engine::general_purpose::STANDARD.encode(&envelope),
            image: Link {
                url: artifact_url(&release.facts.image_digest),
                sha256: release.facts.image_digest.hex(),
                size: release.facts.image_size,
            },
            patch: patch.map(|p| PatchLink {
                url: artifact_url(&p.digest),
                sha256: p.digest.hex(),
                size: p.size,
                format: p.format,
                base_sha256: p.base_digest.hex(),
            }),
        }),
    };
    response.renew_certificate = renew_certificate;
    Ok(axum::Json(response).into_response())
}

/// 429 with `Retry-After` (seconds).
pub(super) fn rate_limited(message: &'static str, retry_after_s: u64) -> Response {
    let mut r = ApiError::new(StatusCode::TOO_MANY_REQUESTS, ErrorCode::RATE_LIMITED, message).into_response();
    if let Ok(v) = retry_after_s.to_string().parse() {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Report update progress. Rate limited per device (`report_burst`, `report_per_second`); the
/// history it writes is bounded per device and by age (`history_per_device`,
/// `history_retention_days`).
#[utoipa::path(post, path = "/api/v1/device/status", tag = "device", request_body = StatusReport,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn status(
    State(state): State<AppState>,
    auth: DeviceAuth,
    JsonBody(report): JsonBody<StatusReport>,
) -> Result<Response, ApiError> {
    // A report flood (one certificate writing history as fast as it can) is cut here.
    if let Err(retry) = state.report_limiter.check(&auth.device.id, state.clock.now_ms()) {
        state
            .metrics
            .inc("ota_status_reports_total", &[("status", "rate_limited")]);
        return Ok(rate_limited("status report rate exceeded", retry));
    }
    state.checkin().report(&auth.device.id, &report).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
