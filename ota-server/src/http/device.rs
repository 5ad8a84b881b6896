//! Device API: check-in and status reports.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::DeviceAuth;
use super::error::{ApiError, ErrorBody, JsonBody};
use super::AppState;
use crate::config::OfferMode;
use crate::domain::offer::{NoUpdateReason, Offer, Running};
use crate::domain::status::StatusReport;
use crate::domain::{Release, Sha256};
use crate::store::{CheckinRecord, DeviceEvent};

/// What the device runs now.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunningImage {
    /// SHA-256 (hex) of the complete signed image in the boot slot.
    pub digest: String,
    pub version: Option<String>,
    /// The manifest sequence number the device has committed.
    pub sequence: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckinRequest {
    /// Device class name, used only if neither the certificate nor an earlier check-in set it.
    pub class: Option<String>,
    pub running: RunningImage,
}

/// A downloadable artifact.
#[derive(Debug, Serialize, ToSchema)]
pub struct Link {
    /// Relative URL under this server.
    pub url: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PatchLink {
    pub url: String,
    pub sha256: String,
    pub size: u64,
    pub format: u64,
    pub base_sha256: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpdateOffer {
    pub release_id: i64,
    pub sequence: u64,
    pub version: String,
    /// The signed SUIT envelope (base64): the device verifies it, not the server.
    pub envelope: String,
    pub image: Link,
    pub patch: Option<PatchLink>,
}

/// An offer (`update`), or `{"update": null, "no_update_reason": "..."}`: nothing now, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckinResponse {
    pub update: Option<UpdateOffer>,
    /// Present exactly when `update` is null: why nothing is offered. Stable names; a device
    /// must treat one it does not know as "nothing now, check in again later".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_update_reason: Option<NoUpdateReason>,
}

pub fn artifact_url(d: &Sha256) -> String {
    format!("/api/v1/device/artifacts/{}", d.hex())
}

async fn envelope_bytes(state: &AppState, release: &Release) -> Result<Arc<[u8]>, ApiError> {
    if let Some(b) = state
        .envelopes
        .lock()
        .ok()
        .and_then(|m| m.get(&release.envelope_digest).cloned())
    {
        return Ok(b);
    }
    let mut stream = state
        .artifacts
        .get_range(&release.envelope_digest, 0, release.envelope_size)
        .await
        .map_err(ApiError::internal)?;
    let mut bytes = Vec::with_capacity(usize::try_from(release.envelope_size).unwrap_or(0));
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.map_err(ApiError::internal)?);
    }
    if Sha256::of(&bytes) != release.envelope_digest {
        return Err(ApiError::internal("stored envelope digest mismatch"));
    }
    let bytes: Arc<[u8]> = bytes.into();
    if let Ok(mut m) = state.envelopes.lock() {
        if m.len() > 1024 {
            m.clear();
        }
        m.insert(release.envelope_digest, bytes.clone());
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
        let mut r =
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "check-in rate exceeded").into_response();
        if let Ok(v) = retry.to_string().parse() {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(r);
    }
    let digest = Sha256::parse_hex(&req.running.digest)
        .ok_or_else(|| ApiError::bad_request("invalid_digest", "running.digest must be 64 hex digits"))?;
    let running = Running {
        digest,
        version: req.running.version.filter(|v| v.len() <= 64),
        sequence: req.running.sequence,
    };
    if i64::try_from(running.sequence).is_err() {
        return Err(ApiError::bad_request("invalid_sequence", "sequence out of range"));
    }
    let class = match device
        .class
        .clone()
        .or(auth.cert_class.filter(|c| state.class_known(c)))
    {
        Some(c) => c,
        None => match req.class {
            Some(c) if state.class_known(&c) => c,
            Some(_) => return Err(ApiError::bad_request("unknown_device_class", "class is not configured")),
            None => {
                return Err(ApiError::bad_request(
                    "device_class_required",
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
        Offer::NoUpdate(NoUpdateReason::NoRollout) => {
            let latest = state.latest.get(state.store.as_ref(), &class, now).await?;
            Offer::NoUpdate(
                NoUpdateReason::when_nothing_newer(latest.as_deref(), &running).unwrap_or(NoUpdateReason::NoRollout),
            )
        }
        other => other,
    };
    let mut no_update_reason = None;
    let update = match offer {
        Offer::NoUpdate(reason) => {
            state.metrics.inc(
                "ota_checkins_total",
                &[("result", "no_update"), ("reason", reason.as_str())],
            );
            no_update_reason = Some(reason);
            None
        }
        Offer::Update { release, patch } => {
            state.metrics.inc("ota_checkins_total", &[("result", "offered")]);
            let envelope = envelope_bytes(&state, &release).await?;
            Some(UpdateOffer {
                release_id: release.id,
                sequence: release.sequence,
                version: release.version.clone(),
                envelope: base64::engine::general_purpose::STANDARD.encode(&envelope),
                image: Link {
                    url: artifact_url(&release.image_digest),
                    sha256: release.image_digest.hex(),
                    size: release.image_size,
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
    Ok(axum::Json(CheckinResponse {
        update,
        no_update_reason,
    })
    .into_response())
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
