//! API errors: `{ "error": { "code": "stable_code", "message": "…" } }`. 5xx bodies say only
//! "internal error"; the cause goes to the log.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ota_protocol::{ErrorBody, ErrorCode};
use serde::de::DeserializeOwned;

use crate::ca::CsrError;
use crate::domain::ingest::{RejectKind, Rejection};
use crate::service::checkin::CheckinError;
use crate::service::devices::DeviceError;
use crate::service::enrollment::EnrollError;
use crate::service::ingest::IngestError;
use crate::store::StoreError;

/// An error response; its body is `ota_protocol::ErrorBody`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// Logs `cause` (never sent to the client) and answers 500.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::INTERNAL, "internal error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(ErrorBody::new(self.code, self.message))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(code) => Self::new(StatusCode::CONFLICT, code, "conflicts with stored state"),
            other => Self::internal(other),
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        let status = match r.kind {
            RejectKind::Malformed => StatusCode::BAD_REQUEST,
            RejectKind::Verification => StatusCode::UNPROCESSABLE_ENTITY,
            RejectKind::Conflict => StatusCode::CONFLICT,
        };
        Self::new(status, r.code, r.message)
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Rejected(r) => r.into(),
            IngestError::SequenceNotAbovePrevious => Self::new(
                StatusCode::CONFLICT,
                ErrorCode::SEQUENCE_NOT_ABOVE_PREVIOUS,
                "a release with this or a higher sequence number exists for the class",
            ),
            IngestError::Store(e) => e.into(),
            IngestError::Internal(cause) => Self::internal(cause),
        }
    }
}

impl From<CheckinError> for ApiError {
    fn from(e: CheckinError) -> Self {
        let message = e.to_string();
        match e {
            CheckinError::Revoked => Self::new(StatusCode::FORBIDDEN, ErrorCode::DEVICE_REVOKED, message),
            CheckinError::Decommissioned => Self::new(StatusCode::FORBIDDEN, ErrorCode::DEVICE_DECOMMISSIONED, message),
            CheckinError::CertificateRevoked => {
                Self::new(StatusCode::FORBIDDEN, ErrorCode::CERTIFICATE_REVOKED, message)
            }
            CheckinError::InvalidDigest => Self::bad_request(ErrorCode::INVALID_DIGEST, message),
            CheckinError::InvalidSequence => Self::bad_request(ErrorCode::INVALID_SEQUENCE, message),
            // The class is the device's identity, not a request field: refusals are 403.
            CheckinError::UnknownClass(_) => Self::new(StatusCode::FORBIDDEN, ErrorCode::UNKNOWN_DEVICE_CLASS, message),
            CheckinError::ClassRequired => Self::new(StatusCode::FORBIDDEN, ErrorCode::DEVICE_CLASS_REQUIRED, message),
            CheckinError::ClassMismatch { .. } => {
                Self::new(StatusCode::FORBIDDEN, ErrorCode::DEVICE_CLASS_MISMATCH, message)
            }
            CheckinError::Denied => Self::new(StatusCode::FORBIDDEN, ErrorCode::DEVICE_DENIED, message),
            CheckinError::NotAllowed(_) => Self::new(StatusCode::FORBIDDEN, ErrorCode::DEVICE_NOT_ALLOWED, message),
            CheckinError::Rollout(e) => e.into(),
            CheckinError::Store(e) => e.into(),
            CheckinError::Internal(cause) => Self::internal(cause),
        }
    }
}

impl From<DeviceError> for ApiError {
    fn from(e: DeviceError) -> Self {
        let message = e.to_string();
        match e {
            DeviceError::InsufficientRole(needed) => super::auth::insufficient_role(needed),
            DeviceError::NotFound => Self::not_found(ErrorCode::DEVICE_NOT_FOUND, "no such device"),
            DeviceError::InvalidTags => Self::bad_request(ErrorCode::INVALID_TAGS, crate::domain::TAGS_RULE),
            DeviceError::UnknownClass(_) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::UNKNOWN_DEVICE_CLASS,
                message,
            ),
            DeviceError::InvalidSerial => Self::bad_request(ErrorCode::INVALID_SERIAL, message),
            DeviceError::Store(e) => e.into(),
        }
    }
}

impl From<EnrollError> for ApiError {
    fn from(e: EnrollError) -> Self {
        let message = e.to_string();
        match e {
            EnrollError::Disabled => Self::not_found(ErrorCode::ENROLLMENT_DISABLED, message),
            EnrollError::TokenInvalid => {
                Self::new(StatusCode::UNAUTHORIZED, ErrorCode::ENROLLMENT_TOKEN_INVALID, message)
            }
            EnrollError::Csr(CsrError::Malformed) => Self::bad_request(ErrorCode::CSR_MALFORMED, message),
            EnrollError::Csr(CsrError::NoProofOfPossession) => {
                Self::bad_request(ErrorCode::CSR_PROOF_OF_POSSESSION, message)
            }
            EnrollError::Csr(CsrError::UnsupportedKey) => Self::bad_request(ErrorCode::CSR_UNSUPPORTED_KEY, message),
            EnrollError::SubjectMismatch(_) | EnrollError::KeyReused => {
                Self::bad_request(ErrorCode::CSR_SUBJECT_MISMATCH, message)
            }
            EnrollError::InsufficientRole(needed) => super::auth::insufficient_role(needed),
            EnrollError::InvalidDeviceId(_) => Self::bad_request(ErrorCode::INVALID_DEVICE_ID, message),
            EnrollError::UnknownClass(_) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::UNKNOWN_DEVICE_CLASS,
                message,
            ),
            EnrollError::InvalidExpiry => Self::bad_request(ErrorCode::INVALID_EXPIRY, message),
            EnrollError::Device(e) => e.into(),
            EnrollError::Store(e) => e.into(),
            EnrollError::Internal(cause) => Self::internal(cause),
        }
    }
}

/// `axum::Json` with our error codes for rejected bodies.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    let message = r.body_text();
    match r {
        JsonRejection::JsonDataError(_) => ApiError::bad_request(ErrorCode::INVALID_JSON_BODY, message),
        JsonRejection::JsonSyntaxError(_) => ApiError::bad_request(ErrorCode::MALFORMED_JSON, message),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UNSUPPORTED_MEDIA_TYPE,
            message,
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BODY_TOO_LARGE,
            "request body too large",
        ),
        other => ApiError::bad_request(ErrorCode::MALFORMED_BODY, other.body_text()),
    }
}
