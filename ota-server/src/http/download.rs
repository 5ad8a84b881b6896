//! Artifact downloads: streamed from storage with `Range`, `If-Range` and a strong `ETag`
//! (the SHA-256), so an interrupted download resumes (RFC 9110 §13.1.5, §14).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use ota_protocol::{ErrorBody, ErrorCode};

use super::auth::DeviceAuth;
use super::error::ApiError;
use super::AppState;
use crate::domain::Sha256;
use crate::service::downloads::Download;

/// A parsed single `bytes=` range, resolved against the length: `start..end` (end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    Full,
    Partial(u64, u64),
    Unsatisfiable,
}

/// RFC 9110 §14.1.2. Multiple ranges or a malformed header are ignored (full response), which
/// the RFC allows; a syntactically valid range outside the file is unsatisfiable.
pub fn parse_range(value: Option<&str>, len: u64) -> RangeSpec {
    let Some(v) = value else {
        return RangeSpec::Full;
    };
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return RangeSpec::Full;
    };
    if spec.contains(',') {
        return RangeSpec::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeSpec::Full;
    };
    match (a.trim(), b.trim()) {
        ("", "") => RangeSpec::Full,
        ("", suffix) => match suffix.parse::<u64>() {
            Ok(0) => RangeSpec::Unsatisfiable,
            Ok(_) if len == 0 => RangeSpec::Unsatisfiable,
            Ok(n) => RangeSpec::Partial(len.saturating_sub(n), len),
            Err(_) => RangeSpec::Full,
        },
        (start, end) => {
            let Ok(start) = start.parse::<u64>() else {
                return RangeSpec::Full;
            };
            let end = if end.is_empty() {
                len
            } else {
                match end.parse::<u64>() {
                    Ok(e) if e >= start => e.saturating_add(1).min(len),
                    _ => return RangeSpec::Full,
                }
            };
            if start >= len {
                RangeSpec::Unsatisfiable
            } else {
                RangeSpec::Partial(start, end)
            }
        }
    }
}

fn etag(d: &Sha256) -> String {
    format!("\"{}\"", d.hex())
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Download an artifact (image, patch or envelope) of a release of the device's class, by SHA-256.
#[utoipa::path(get, path = "/api/v1/device/artifacts/{digest}", tag = "device",
    params(("digest" = String, Path, description = "SHA-256 hex")),
    responses((status = 200), (status = 206), (status = 304), (status = 404, body = ErrorBody),
        (status = 416, body = ErrorBody)))]
pub async fn artifact(
    State(state): State<AppState>,
    auth: DeviceAuth,
    Path(digest): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found(ErrorCode::ARTIFACT_NOT_FOUND, "no such artifact");
    let digest = Sha256::parse_hex(&digest).ok_or_else(not_found)?;
    // A device is served only the artifacts of its class's releases (threat model: "Device and
    // admin API", cross-class download); another class's artifact is as unknown as a random digest.
    let Some(class) = auth.device.class_with(auth.cert_class.as_deref()) else {
        return Err(not_found());
    };
    if !state.store.artifact_known(&digest, Some(class)).await? {
        return Err(not_found());
    }
    let len = state
        .artifacts
        .len(&digest)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal(format!("artifact {digest} missing from storage")))?;
    let tag = etag(&digest);

    if let Some(inm) = header_str(&headers, header::IF_NONE_MATCH) {
        if inm.split(',').any(|t| t.trim() == tag || t.trim() == "*") {
            return builder(StatusCode::NOT_MODIFIED, &tag)
                .body(Body::empty())
                .map_err(ApiError::internal);
        }
    }
    // If-Range: a range only applies while the representation is unchanged (strong compare).
    let range_header = match header_str(&headers, header::IF_RANGE) {
        Some(ir) if ir.trim() != tag => None,
        _ => header_str(&headers, header::RANGE),
    };
    let (status, start, end) = match parse_range(range_header, len) {
        RangeSpec::Full => (StatusCode::OK, 0, len),
        RangeSpec::Partial(s, e) => (StatusCode::PARTIAL_CONTENT, s, e),
        RangeSpec::Unsatisfiable => {
            let mut r = axum::response::IntoResponse::into_response(ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                ErrorCode::RANGE_NOT_SATISFIABLE,
                "range outside the artifact",
            ));
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(r);
        }
    };
    // A device streams at most `downloads_per_device` at once (threat model: "stalled reader").
    let Some(slot) = state.download_slots.take(&auth.device.id) else {
        state.metrics.inc("ota_downloads_total", &[("result", "rate_limited")]);
        return Ok(super::device::rate_limited(
            "too many downloads at once from this device",
            1,
        ));
    };
    let stored = state
        .artifacts
        .get_range(&digest, start, end)
        .await
        .map_err(ApiError::internal)?;
    let download = Download {
        device_id: auth.device.id.clone(),
        digest,
        size: len,
        start,
        end,
    };
    let stream = download.stream(
        stored,
        slot,
        state.store.clone(),
        state.clock.clone(),
        state.metrics.clone(),
    );
    state.metrics.add("ota_download_bytes_total", &[], end - start);
    let mut b = builder(status, &tag)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, end - start);
    if status == StatusCode::PARTIAL_CONTENT {
        b = b.header(header::CONTENT_RANGE, format!("bytes {start}-{}/{len}", end - 1));
    }
    b.body(Body::from_stream(stream)).map_err(ApiError::internal)
}

fn builder(status: StatusCode, tag: &str) -> axum::http::response::Builder {
    Response::builder()
        .status(status)
        .header(header::ETAG, tag)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CACHE_CONTROL, "private, max-age=31536000, immutable")
}

#[cfg(test)]
mod tests {
    use super::{parse_range, RangeSpec::*};

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Full);
        assert_eq!(parse_range(Some("bytes=0-4"), 10), Partial(0, 5));
        assert_eq!(parse_range(Some("bytes=4-"), 10), Partial(4, 10));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Partial(7, 10));
        assert_eq!(parse_range(Some("bytes=5-100"), 10), Partial(5, 10));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-2"), 10), Full);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), Full);
        assert_eq!(parse_range(Some("bytes=x-1"), 10), Full);
    }
}
