//! Who is calling: devices by client certificate (checked against the store on every request),
//! admins by bearer token.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use ota_protocol::ErrorCode;

use super::error::ApiError;
use super::AppState;
use crate::domain::auth::{hash_token, Role, TokenRecord, TokenRefusal};
use crate::domain::Device;
use crate::domain::Millis;
use crate::service::Caller;
use crate::tls::{valid_device_id, DeviceIdentity};

/// Per-connection facts the accept loop attaches to every request.
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    /// The device named by a verified client certificate.
    pub device: Option<DeviceIdentity>,
}

/// Development only (`dev_insecure_http`): device id header.
pub const DEV_DEVICE_HEADER: &str = "x-device-id";
/// Development only: device class header.
pub const DEV_CLASS_HEADER: &str = "x-device-class";

/// An authenticated, active device (registered just in time on first contact).
#[derive(Debug, Clone)]
pub struct DeviceAuth {
    pub device: Device,
    /// Class named by the certificate, if any.
    pub cert_class: Option<String>,
    /// The certificate the device connected with (`None`: development header identity).
    pub certificate: Option<crate::tls::PresentedCertificate>,
}

fn identity(parts: &Parts, state: &AppState) -> Option<DeviceIdentity> {
    if let Some(id) = parts.extensions.get::<ConnInfo>().and_then(|c| c.device.clone()) {
        return Some(id);
    }
    if !state.dev_insecure_http {
        return None;
    }
    let id = parts.headers.get(DEV_DEVICE_HEADER)?.to_str().ok()?;
    let class = parts
        .headers
        .get(DEV_CLASS_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    valid_device_id(id).then(|| DeviceIdentity {
        id: id.to_owned(),
        class,
        certificate: None,
    })
}

impl FromRequestParts<AppState> for DeviceAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(ident) = identity(parts, state) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::CLIENT_CERTIFICATE_REQUIRED,
                "a device certificate issued by the fleet CA is required",
            ));
        };
        let device = state.checkin().device(&ident).await?;
        Ok(Self {
            device,
            cert_class: ident.class,
            certificate: ident.certificate,
        })
    }
}

/// 403: the caller's role does not include `needed`.
pub fn insufficient_role(needed: Role) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorCode::INSUFFICIENT_ROLE,
        format!("requires role {}", needed.as_str()),
    )
}

/// A caller holding a valid admin token.
#[derive(Debug, Clone)]
pub struct AdminAuth {
    pub token: TokenRecord,
}

impl AdminAuth {
    /// 403 unless the token's role includes `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        self.caller().require(needed).map_err(insufficient_role)
    }

    /// The caller as services see it.
    pub fn caller(&self) -> Caller {
        Caller {
            actor: self.actor(),
            role: self.token.role,
        }
    }

    /// The audit actor: token name and id, never the secret.
    pub fn actor(&self) -> String {
        format!("token:{}#{}", self.token.name, self.token.id)
    }
}

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let missing = || {
            state
                .metrics
                .inc("ota_admin_auth_failures_total", &[("reason", "missing_token")]);
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::MISSING_TOKEN,
                "Authorization: Bearer required",
            )
        };
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(missing)?;
        let token = value.strip_prefix("Bearer ").ok_or_else(missing)?;
        let hash = hash_token(token.trim());
        let now = state.clock.now_ms();
        let (code, message, target) = match state.store.token_by_hash(&hash).await? {
            Some(token) => {
                let (code, message) = match token.check(now) {
                    Ok(()) => {
                        // Last use, to within a minute (one write a minute per token at most).
                        if token.last_used_ms.is_none_or(|at| now - at >= LAST_USED_RESOLUTION_MS) {
                            if let Err(e) = state.store.touch_token(token.id, now).await {
                                tracing::warn!(error = %e, token = token.id, "recording a token's last use failed");
                            }
                        }
                        return Ok(Self { token });
                    }
                    Err(TokenRefusal::Revoked) => (ErrorCode::TOKEN_REVOKED, "the admin token was revoked"),
                    Err(TokenRefusal::Expired) => (ErrorCode::TOKEN_EXPIRED, "the admin token has expired"),
                };
                (code, message, format!("token:{}#{}", token.name, token.id))
            }
            // Never the secret: a prefix of its hash, so repeated attempts can be told apart.
            None => (
                ErrorCode::INVALID_TOKEN,
                "unknown admin token",
                format!("token:sha256:{}", &hash.hex()[..12]),
            ),
        };
        failed_authentication(state, &code, &target, now).await;
        Err(ApiError::new(StatusCode::UNAUTHORIZED, code, message))
    }
}

/// Last-use times are recorded to within this (milliseconds).
const LAST_USED_RESOLUTION_MS: Millis = 60_000;

/// A presented admin token was refused: counted in `ota_admin_auth_failures_total{reason}`,
/// and audited (`auth.failed`) unless the audit rate for failures is exceeded (a guessing
/// attack must not fill the audit log).
async fn failed_authentication(state: &AppState, code: &ErrorCode, target: &str, now: Millis) {
    state
        .metrics
        .inc("ota_admin_auth_failures_total", &[("reason", code.as_str())]);
    if state.auth_failure_audit.check("admin", now).is_ok() {
        state
            .audit("unauthenticated", "auth.failed", target, &format!("error:{code}"))
            .await;
    }
}
