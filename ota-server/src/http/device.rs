//! Device API: check-in and status reports.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::StreamExt as _;
use ota_protocol::device::{
    artifact_path, CheckinRequest, CheckinResponse, Link, NoUpdateReason, PatchLink, StatusReport, UpdateOffer,
};
use ota_protocol::{ErrorBody, ErrorCode};

use super::auth::DeviceAuth;
use super::error::{ApiError, JsonBody};
use super::AppState;
use crate::config::OfferMode;
use crate::domain::offer::{nothing_newer, Offer, Running};
use crate::domain::{Release, Sha256};
use crate::store::{CheckinRecord, DeviceEvent};

/// Where devices download the artifact with this digest.
pub fn artifact_url(d: &Sha256) -> String {
    artifact_path(&d.hex())
}

async fn envelope_bytes(state: &AppState, release: &Release) -> Result<Arc<[u8]>, ApiError> {
    if let Some(b) = state
        .envelopes
        .lock()
        .ok()
        .and_then(|m| m.get(&release.facts.envelope_digest).cloned())
    {
        return Ok(b);
    }
    let mut stream = state
        .artifacts
        .get_range(&release.facts.envelope_digest, 0, release.facts.envelope_size)
        .await
        .map_err(ApiError::internal)?;
    let mut bytes = Vec::with_capacity(usize::try_from(release.facts.envelope_size).unwrap_or(0));
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.map_err(ApiError::internal)?);
    }
    if Sha256::of(&bytes) != release.facts.envelope_digest {
        return Err(ApiError::internal("stored envelope digest mismatch"));
    }
    let bytes: Arc<[u8]> = bytes.into();
    if let Ok(mut m) = state.envelopes.lock() {
        if m.len() > 1024 {
            m.clear();
        }
        m.insert(release.facts.envelope_digest, bytes.clone());
    }
    Ok(bytes)
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
    let device = auth.device;
    if let Err(retry) = state.limiter.check(&device.id, now) {
        state.metrics.inc("ota_checkins_total", &[("result", "rate_limited")]);
        let mut r = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RATE_LIMITED,
            "check-in rate exceeded",
        )
        .into_response();
        if let Ok(v) = retry.to_string().parse() {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(r);
    }
    let digest = Sha256::parse_hex(&req.running.digest)
        .ok_or_else(|| ApiError::bad_request(ErrorCode::INVALID_DIGEST, "running.digest must be 64 hex digits"))?;
    let running = Running {
        digest,
        version: req.running.version.filter(|v| v.len() <= 64),
        sequence: req.running.sequence,
    };
    if i64::try_from(running.sequence).is_err() {
        return Err(ApiError::bad_request(
            ErrorCode::INVALID_SEQUENCE,
            "sequence out of range",
        ));
    }
    let class = match device
        .class
        .clone()
        .or(auth.cert_class.filter(|c| state.class_known(c)))
    {
        Some(c) => c,
        None => match req.class {
            Some(c) if state.class_known(&c) => c,
            Some(_) => {
                return Err(ApiError::bad_request(
                    ErrorCode::UNKNOWN_DEVICE_CLASS,
                    "class is not configured",
                ))
            }
            None => {
                return Err(ApiError::bad_request(
                    ErrorCode::DEVICE_CLASS_REQUIRED,
                    "first check-in must name the class",
                ))
            }
        },
    };
    if device.checkin_changes(&running, &class, now) {
        let record = CheckinRecord {
            id: device.id.clone(),
            class: Some(class.clone()),
            running: running.clone(),
            now,
        };
        if device.class.is_none() {
            // The first class a device gets decides what it is offered: durable before the answer.
            state.checkins.record_durable(record).await?;
        } else {
            // Last seen / running image: written behind (see `store::batch`).
            state.checkins.record(record).await?;
        }
    }
    let offer = match state.offer_mode {
        OfferMode::Rollout => state
            .rollouts
            .offer(&device, &class, &running, now)
            .await
            .map_err(ApiError::from)?,
        OfferMode::Latest => {
            let latest = state.latest.get(state.store.as_ref(), &class, now).await?;
            state.offer.decide(&device, &running, latest.as_deref(), now)
        }
    };
    let offer = match offer {
        // No rollout of anything newer: tell "runs the newest" from "newer, not rolled out".
        Offer::NoUpdate(reason) if reason == NoUpdateReason::NO_ROLLOUT => {
            let latest = state.latest.get(state.store.as_ref(), &class, now).await?;
            Offer::NoUpdate(nothing_newer(latest.as_deref(), &running).unwrap_or(reason))
        }
        other => other,
    };
    let response = match offer {
        Offer::NoUpdate(reason) => {
            state.metrics.inc(
                "ota_checkins_total",
                &[("result", "no_update"), ("reason", reason.as_str())],
            );
            CheckinResponse::no_update(reason)
        }
        Offer::Update { release, patch } => {
            state.metrics.inc("ota_checkins_total", &[("result", "offered")]);
            let envelope = envelope_bytes(&state, &release).await?;
            CheckinResponse::offer(UpdateOffer {
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
            })
        }
    };
    Ok(axum::Json(response).into_response())
}

/// Report update progress.
#[utoipa::path(post, path = "/api/v1/device/status", tag = "device", request_body = StatusReport,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn status(
    State(state): State<AppState>,
    auth: DeviceAuth,
    JsonBody(report): JsonBody<StatusReport>,
) -> Result<StatusCode, ApiError> {
    let event = DeviceEvent {
        at_ms: state.clock.now_ms(),
        status: report.name().to_owned(),
        release_id: report.release_id(),
        reason: report.reason().map(str::to_owned),
    };
    let at_ms = event.at_ms;
    // History is written behind, like check-ins (admin reads flush first).
    state.checkins.record_event(&auth.device.id, event).await?;
    state
        .rollouts
        .report(&auth.device.id, &report, at_ms)
        .await
        .map_err(ApiError::from)?;
    state
        .metrics
        .inc("ota_status_reports_total", &[("status", report.name())]);
    Ok(StatusCode::NO_CONTENT)
}
