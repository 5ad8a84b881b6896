//! Release upload (admin API).
//!
//! `POST /api/v1/admin/releases`, `multipart/form-data` with the files of a `signer release`
//! bundle, by field name:
//! * `envelope` — `release.suit` (required, ≤ 64 KiB);
//! * `image` — the signed MCUboot image (required);
//! * `patch` — a delta patch (zero or more);
//! * `summary` — `release.json` (optional; cross-checked, never trusted).
//!
//! Files are streamed to a staging directory and hashed as they arrive; the ingest service
//! ([`crate::service::ingest`]) verifies them and stores nothing unless every check passes.

use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::Json;
use ota_protocol::admin::ReleaseView;
use ota_protocol::{ErrorBody, ErrorCode};
use tokio::io::AsyncWriteExt as _;

use super::auth::AdminAuth;
use super::error::ApiError;
use super::{outcome, AppState};
use crate::domain::auth::Role;
use crate::domain::ingest::StagedArtifact;
use crate::domain::Sha256;
use crate::service::ingest::{Staged, Upload};

/// Largest envelope or summary held in memory.
const MAX_SMALL_PART: usize = 64 * 1024;

fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BUNDLE_TOO_LARGE,
            "bundle exceeds the upload limit",
        )
    } else {
        ApiError::bad_request(ErrorCode::BUNDLE_MALFORMED, e.body_text())
    }
}

async fn read_small(mut field: Field<'_>, what: &str) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if out.len() + chunk.len() > MAX_SMALL_PART {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::BUNDLE_TOO_LARGE,
                format!("{what} exceeds {MAX_SMALL_PART} bytes"),
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

async fn stage(state: &AppState, mut field: Field<'_>, name: String) -> Result<Staged, ApiError> {
    let tmp = tempfile::Builder::new()
        .prefix("upload-")
        .tempfile_in(&state.staging_dir)
        .map_err(ApiError::internal)?;
    let (file, path) = tmp.into_parts();
    let mut file = tokio::fs::File::from_std(file);
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    let mut size = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        sha2::Digest::update(&mut hasher, &chunk);
        size += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    file.flush().await.map_err(ApiError::internal)?;
    Ok(Staged {
        artifact: StagedArtifact {
            name,
            path: path.to_path_buf(),
            digest: Sha256(sha2::Digest::finalize(hasher).into()),
            size,
        },
        guard: path,
    })
}

struct Parts {
    envelope: Option<Vec<u8>>,
    summary: Option<Vec<u8>>,
    image: Option<Staged>,
    patches: Vec<Staged>,
}

async fn read_parts(state: &AppState, mut multipart: Multipart) -> Result<Parts, ApiError> {
    let mut parts = Parts {
        envelope: None,
        summary: None,
        image: None,
        patches: Vec::new(),
    };
    let duplicate =
        |n: &str| ApiError::bad_request(ErrorCode::BUNDLE_PART_DUPLICATE, format!("more than one `{n}` part"));
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().unwrap_or(&name).to_owned();
        match name.as_str() {
            "envelope" if parts.envelope.is_some() => return Err(duplicate("envelope")),
            "envelope" => parts.envelope = Some(read_small(field, "envelope").await?),
            "summary" if parts.summary.is_some() => return Err(duplicate("summary")),
            "summary" => parts.summary = Some(read_small(field, "summary").await?),
            "image" if parts.image.is_some() => return Err(duplicate("image")),
            "image" => parts.image = Some(stage(state, field, file_name).await?),
            "patch" => parts.patches.push(stage(state, field, file_name).await?),
            other => {
                return Err(ApiError::bad_request(
                    ErrorCode::BUNDLE_PART_UNKNOWN,
                    format!("unknown part `{other}` (expected envelope, image, patch, summary)"),
                ))
            }
        }
    }
    Ok(parts)
}

/// Upload a release bundle; verified as a device would before anything is stored.
#[utoipa::path(post, path = "/api/v1/admin/releases", tag = "admin",
    request_body(content_type = "multipart/form-data",
        description = "parts: envelope (release.suit), image, patch (0..n), summary (release.json, optional)"),
    responses((status = 201, body = ReleaseView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    admin: AdminAuth,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<ReleaseView>), ApiError> {
    let result = match (admin.require(Role::ReleaseManager), multipart) {
        (Err(e), _) => Err(e),
        (Ok(()), Err(rejection)) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::BUNDLE_MALFORMED,
            format!("expected multipart/form-data: {}", rejection.body_text()),
        )),
        (Ok(()), Ok(multipart)) => ingest(&state, &admin, multipart).await,
    };
    let target = match &result {
        Ok((_, Json(r))) => format!("release:{}", r.id),
        Err(_) => "release".into(),
    };
    let code = result.as_ref().err().map_or("accepted", |e| e.code.as_str());
    state.metrics.inc("ota_release_ingest_total", &[("result", code)]);
    state
        .audit(&admin.actor(), "release.upload", &target, &outcome(&result))
        .await;
    result
}

async fn ingest(
    state: &AppState,
    admin: &AdminAuth,
    multipart: Multipart,
) -> Result<(StatusCode, Json<ReleaseView>), ApiError> {
    let parts = read_parts(state, multipart).await?;
    let incomplete = |what: &str| ApiError::bad_request(ErrorCode::BUNDLE_INCOMPLETE, format!("missing `{what}` part"));
    let upload = Upload {
        envelope: parts.envelope.ok_or_else(|| incomplete("envelope"))?,
        image: parts.image.ok_or_else(|| incomplete("image"))?,
        patches: parts.patches,
        summary: parts.summary,
    };
    let release = state.ingest().ingest(upload, &admin.actor()).await?;
    Ok((StatusCode::CREATED, Json(ReleaseView::from(&release))))
}
