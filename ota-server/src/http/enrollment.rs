//! EST (RFC 7030) under `/.well-known/est/`, the CRL at `/crl`, and the admin side of device
//! certificates: enrolment tokens, a device's certificates, revocation by serial. The
//! workflows are [`crate::service::enrollment`]'s and [`crate::service::devices`]'.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use ota_protocol::admin::{CertificateView, CreatedEnrollmentToken, NewEnrollmentToken};
use ota_protocol::{ErrorBody, ErrorCode};

use super::auth::{AdminAuth, ConnInfo};
use super::error::{ApiError, JsonBody};
use super::AppState;
use crate::domain::auth::Role;
use crate::domain::certificates::{DeviceCertificate, EnrollmentGrant};

impl From<&DeviceCertificate> for CertificateView {
    fn from(c: &DeviceCertificate) -> Self {
        Self {
            serial: c.serial.clone(),
            device_id: c.device_id.clone(),
            fingerprint: c.fingerprint.clone(),
            not_before_ms: c.not_before_ms,
            not_after_ms: c.not_after_ms,
            issued_ms: c.issued_ms,
            revoked_ms: c.revoked_ms,
            revoked_reason: c.revoked_reason.clone(),
        }
    }
}

/// RFC 7030 §4.1.3 / §4.2.3: `application/pkcs7-mime`, base64 (RFC 2045 lines of 64).
fn pkcs7_response(der: &[u8]) -> Response {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut body = String::with_capacity(b64.len() + b64.len() / 64 + 1);
    for line in b64.as_bytes().chunks(64) {
        body.push_str(std::str::from_utf8(line).unwrap_or_default());
        body.push('\n');
    }
    (
        [
            (header::CONTENT_TYPE, "application/pkcs7-mime; smime-type=certs-only"),
            (header::HeaderName::from_static("content-transfer-encoding"), "base64"),
        ],
        body,
    )
        .into_response()
}

/// RFC 7030 §4.2.1: the body is a base64 DER PKCS#10 request (whitespace ignored).
fn csr_body(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let text: Vec<u8> = body.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(&text)
        .map_err(|_| ApiError::bad_request(ErrorCode::CSR_MALFORMED, "the body is not base64 (RFC 7030 §4.2.1)"))
}

/// The enrolment token: `Authorization: Bearer <token>`, or HTTP Basic with the token as the
/// password (RFC 7030 §3.2.3 has clients authenticate with HTTP authentication).
fn enrollment_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Some(token.trim().to_owned());
    }
    let basic = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(basic.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, password)| password.to_owned())
}

/// EST `cacerts`: the issuing CA certificate (no authentication, RFC 7030 §4.1.1).
#[utoipa::path(get, path = "/.well-known/est/cacerts", tag = "est",
    responses((status = 200, description = "base64 CMS certs-only", content_type = "application/pkcs7-mime"),
        (status = 404, body = ErrorBody)))]
pub async fn cacerts(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(pkcs7_response(&state.enrollment().cacerts()?))
}

/// EST `simpleenroll` with a one-time enrolment token: the device's first operational
/// certificate. The certificate names the token's device id and class, not the request's subject.
#[utoipa::path(post, path = "/.well-known/est/simpleenroll", tag = "est",
    request_body(content = String, description = "base64 DER PKCS#10", content_type = "application/pkcs10"),
    responses((status = 200, description = "base64 CMS certs-only", content_type = "application/pkcs7-mime"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn simpleenroll(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let Some(token) = enrollment_token(&headers) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::ENROLLMENT_TOKEN_INVALID,
            "simpleenroll needs a one-time enrolment token: Authorization: Bearer <token>",
        ));
    };
    let csr = csr_body(&body)?;
    Ok(pkcs7_response(&state.enrollment().simple_enroll(&token, &csr).await?))
}

/// EST `simplereenroll`: a device authenticated by its current certificate gets a new one for
/// the same identity and a new key.
#[utoipa::path(post, path = "/.well-known/est/simplereenroll", tag = "est",
    request_body(content = String, description = "base64 DER PKCS#10", content_type = "application/pkcs10"),
    responses((status = 200, description = "base64 CMS certs-only", content_type = "application/pkcs7-mime"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn simplereenroll(
    State(state): State<AppState>,
    conn: Option<axum::Extension<ConnInfo>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let Some(ident) = conn.and_then(|c| c.0.device) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::CLIENT_CERTIFICATE_REQUIRED,
            "simplereenroll needs the device's current certificate (mutual TLS)",
        ));
    };
    let csr = csr_body(&body)?;
    Ok(pkcs7_response(&state.enrollment().simple_reenroll(&ident, &csr).await?))
}

/// The CRL: revoked certificates of the issuing CA, DER (RFC 5280 §5), with a short nextUpdate.
#[utoipa::path(get, path = "/crl", tag = "est",
    responses((status = 200, description = "DER X.509 CRL", content_type = "application/pkix-crl"),
        (status = 404, body = ErrorBody)))]
pub async fn crl(State(state): State<AppState>) -> Result<Response, ApiError> {
    let crl = state.enrollment().crl().await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pkix-crl"),
            (header::CACHE_CONTROL, "max-age=5"),
        ],
        crl.to_vec(),
    )
        .into_response())
}

/// A one-time enrolment token for one device (admin); shown once.
#[utoipa::path(post, path = "/api/v1/admin/enrollment-tokens", tag = "admin", request_body = NewEnrollmentToken,
    responses((status = 201, body = CreatedEnrollmentToken), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_token(
    State(state): State<AppState>,
    admin: AdminAuth,
    JsonBody(req): JsonBody<NewEnrollmentToken>,
) -> Result<(StatusCode, Json<CreatedEnrollmentToken>), ApiError> {
    let grant = EnrollmentGrant {
        device_id: req.device_id,
        class: req.class,
    };
    let device_id = grant.device_id.clone();
    let created = state
        .enrollment()
        .create_token(&admin.caller(), grant, req.expires_in_seconds)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedEnrollmentToken {
            device_id,
            token: created.token,
            expires_ms: created.expires_ms,
        }),
    ))
}

/// A device's certificates, newest first (viewer).
#[utoipa::path(get, path = "/api/v1/admin/devices/{id}/certificates", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, body = [CertificateView]), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn certificates(
    State(state): State<AppState>,
    admin: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<Vec<CertificateView>>, ApiError> {
    admin.require(Role::Viewer)?;
    let certs = state.devices().certificates(&id).await?;
    Ok(Json(certs.iter().map(CertificateView::from).collect()))
}

/// Revoke one certificate of a device by serial (admin): requests made with it are refused and
/// its connections closed; the device's other certificates keep working.
#[utoipa::path(post, path = "/api/v1/admin/devices/{id}/certificates/{serial}/revoke", tag = "admin",
    params(("id" = String, Path), ("serial" = String, Path, description = "hex, either case")),
    responses((status = 200, body = CertificateView), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_certificate(
    State(state): State<AppState>,
    admin: AdminAuth,
    Path((id, serial)): Path<(String, String)>,
) -> Result<Json<CertificateView>, ApiError> {
    let cert = state
        .devices()
        .revoke_certificate(&admin.caller(), &id, &serial)
        .await?;
    Ok(Json(CertificateView::from(&cert)))
}
