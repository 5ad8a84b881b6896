//! The error body every API answers with: `{"error": {"code": "<stable_code>", "message": "..."}}`
//! (ota-server/README.md, "API"). 4xx codes are stable; 5xx bodies say only `internal error`.

use serde::{Deserialize, Serialize};

use crate::names::wire_name;

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: a stable, machine-readable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable, machine-readable code.
    pub code: ErrorCode,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message: message.into(),
            },
        }
    }
}

wire_name! {
    /// A stable error code (`error.code`). The HTTP status says which class of failure it is;
    /// the code says which check failed.
    pub struct ErrorCode;

    // Any API.
    /// 500: the cause is in the server's log, never in the body.
    INTERNAL = "internal";
    /// 404: no such route.
    NOT_FOUND = "not_found";
    /// 405: the route exists, the method does not.
    METHOD_NOT_ALLOWED = "method_not_allowed";
    /// 400: the body is not JSON.
    MALFORMED_JSON = "malformed_json";
    /// 400: JSON, but not the expected shape (a missing or unknown field, a wrong type).
    INVALID_JSON_BODY = "invalid_json_body";
    /// 400: the body could not be read.
    MALFORMED_BODY = "malformed_body";
    /// 415: a JSON body without `content-type: application/json`.
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type";
    /// 413: a JSON body over `limits.max_json_bytes`.
    BODY_TOO_LARGE = "body_too_large";
    /// 409: a number does not fit what the store keeps.
    VALUE_OUT_OF_RANGE = "value_out_of_range";

    // Device API.
    /// 401: no client certificate.
    CLIENT_CERTIFICATE_REQUIRED = "client_certificate_required";
    /// 403: the device is revoked.
    DEVICE_REVOKED = "device_revoked";
    /// 403: the device is decommissioned.
    DEVICE_DECOMMISSIONED = "device_decommissioned";
    /// 429: too many check-ins (`Retry-After` says when to try again).
    RATE_LIMITED = "rate_limited";
    /// 400: `running.digest` is not 64 hex digits.
    INVALID_DIGEST = "invalid_digest";
    /// 400: `running.sequence` is out of range.
    INVALID_SEQUENCE = "invalid_sequence";
    /// 403: the device has no class: its certificate names none (subject OU) and no operator
    /// assigned one (`PUT /api/v1/admin/devices/{id}/class`). A device never chooses its class.
    DEVICE_CLASS_REQUIRED = "device_class_required";
    /// 403 (device request: the certificate names a class this server does not serve) or 422
    /// (release upload, class assignment): the device class is not configured.
    UNKNOWN_DEVICE_CLASS = "unknown_device_class";
    /// 403: the check-in names a class other than the device's (from its certificate or an
    /// operator).
    DEVICE_CLASS_MISMATCH = "device_class_mismatch";
    /// 403: the device id is on the registration deny list (recall, stolen unit).
    DEVICE_DENIED = "device_denied";
    /// 403: the device's class admits only allow-listed devices (`registration = "allowlist"`)
    /// and this one is not on the allow list (`POST /api/v1/admin/registration/allow`).
    DEVICE_NOT_ALLOWED = "device_not_allowed";
    /// 403: the client certificate's serial was revoked (the device's other certificates
    /// may still work: `POST /api/v1/admin/devices/{id}/certificates/{serial}/revoke`).
    CERTIFICATE_REVOKED = "certificate_revoked";
    /// 404: no such EST operation, or enrolment is not configured (`[enrollment]`).
    ENROLLMENT_DISABLED = "enrollment_disabled";
    /// 401: `simpleenroll` needs a one-time enrolment token (`Authorization: Bearer`, or
    /// HTTP Basic with the token as the password) that is valid and unused.
    ENROLLMENT_TOKEN_INVALID = "enrollment_token_invalid";
    /// 400: the body is not a base64 DER PKCS#10 request (RFC 7030 §4.2.1), or too large.
    CSR_MALFORMED = "csr_malformed";
    /// 400: the request's signature does not verify with the key it carries: no proof of
    /// possession (RFC 7030 §3.4).
    CSR_PROOF_OF_POSSESSION = "csr_proof_of_possession";
    /// 400: the request's key type is not accepted (ECDSA P-256/P-384, Ed25519, RSA ≥ 2048).
    CSR_UNSUPPORTED_KEY = "csr_unsupported_key";
    /// 400: the request names another subject than the certificate it renews (RFC 7030
    /// §4.2.2), or re-uses the current certificate's key.
    CSR_SUBJECT_MISMATCH = "csr_subject_mismatch";
    /// 404: no artifact with that digest.
    ARTIFACT_NOT_FOUND = "artifact_not_found";
    /// 416: the requested range is outside the artifact.
    RANGE_NOT_SATISFIABLE = "range_not_satisfiable";

    // Admin API: authentication.
    /// 401: no bearer token.
    MISSING_TOKEN = "missing_token";
    /// 401: the bearer token is unknown.
    INVALID_TOKEN = "invalid_token";
    /// 401: the bearer token was revoked (`POST /api/v1/admin/tokens/{id}/revoke`).
    TOKEN_REVOKED = "token_revoked";
    /// 401: the bearer token has expired.
    TOKEN_EXPIRED = "token_expired";
    /// 404: the device id is not on that registration list.
    REGISTRATION_ENTRY_NOT_FOUND = "registration_entry_not_found";
    /// 400: a registration list entry is invalid (device id, class, note, or too many at once).
    INVALID_REGISTRATION_ENTRY = "invalid_registration_entry";
    /// 400: a device id is not 1–128 characters of `A-Z a-z 0-9 . _ : -`.
    INVALID_DEVICE_ID = "invalid_device_id";
    /// 400: a certificate serial is not 1–40 hex digits.
    INVALID_SERIAL = "invalid_serial";
    /// 404: no token with that id.
    TOKEN_NOT_FOUND = "token_not_found";
    /// 400: `expires_in_seconds` is 0 or above ten years.
    INVALID_EXPIRY = "invalid_expiry";
    /// 403: the token's role may not do this.
    INSUFFICIENT_ROLE = "insufficient_role";

    // Admin API: release upload.
    /// 400: the bundle lacks `envelope` or `image`.
    BUNDLE_INCOMPLETE = "bundle_incomplete";
    /// 400 (415 when not multipart): the upload is not a readable `multipart/form-data` body.
    BUNDLE_MALFORMED = "bundle_malformed";
    /// 400: a part other than `envelope`, `image`, `patch`, `summary`.
    BUNDLE_PART_UNKNOWN = "bundle_part_unknown";
    /// 400: `envelope`, `image` or `summary` given twice.
    BUNDLE_PART_DUPLICATE = "bundle_part_duplicate";
    /// 413: the bundle exceeds `limits.max_bundle_bytes` (or the envelope or summary 64 KiB).
    BUNDLE_TOO_LARGE = "bundle_too_large";
    /// 400: the SUIT envelope does not decode.
    ENVELOPE_MALFORMED = "envelope_malformed";
    /// 400: `release.json` is not valid.
    SUMMARY_MALFORMED = "summary_malformed";
    /// 422: `release.json` disagrees with the verified envelope or files.
    SUMMARY_MISMATCH = "summary_mismatch";
    /// 422: no trusted manifest key signed the envelope.
    MANIFEST_UNTRUSTED_KEY = "manifest_untrusted_key";
    /// 422: a manifest signature does not verify.
    MANIFEST_SIGNATURE_INVALID = "manifest_signature_invalid";
    /// 422: fewer trusted signatures than `manifest_threshold`.
    MANIFEST_THRESHOLD_NOT_MET = "manifest_threshold_not_met";
    /// 422: the manifest does not match the digest the signatures cover.
    MANIFEST_DIGEST_MISMATCH = "manifest_digest_mismatch";
    /// 422: the image's SHA-256 differs from the manifest's.
    IMAGE_DIGEST_MISMATCH = "image_digest_mismatch";
    /// 422: the image's size differs from the manifest's.
    IMAGE_SIZE_MISMATCH = "image_size_mismatch";
    /// 422: the image's MCUboot signature does not verify with a trusted image key.
    IMAGE_SIGNATURE_INVALID = "image_signature_invalid";
    /// 422: the image is not a valid MCUboot image.
    IMAGE_MALFORMED = "image_malformed";
    /// 422: a patch the manifest names was not uploaded.
    PATCH_MISSING = "patch_missing";
    /// 422: a patch's size differs from the manifest's.
    PATCH_SIZE_MISMATCH = "patch_size_mismatch";
    /// 422: a patch's digest is not what the manifest names.
    PATCH_DIGEST_MISMATCH = "patch_digest_mismatch";
    /// 422: an uploaded file the manifest does not name.
    UNEXPECTED_ARTIFACT = "unexpected_artifact";
    /// 409: the sequence number is not above every stored release of the class.
    SEQUENCE_NOT_ABOVE_PREVIOUS = "sequence_not_above_previous";
    /// 422: the sequence number is above 2^63 − 1, the highest the profile allows.
    SEQUENCE_OUT_OF_RANGE = "sequence_out_of_range";

    // Admin API: releases, devices, tokens.
    /// 404: no such release.
    RELEASE_NOT_FOUND = "release_not_found";
    /// 404: no such device.
    DEVICE_NOT_FOUND = "device_not_found";
    /// 400: a query parameter is not valid.
    INVALID_QUERY = "invalid_query";
    /// 400: tags are at most 32, each 1–32 of `a-z 0-9 . _ -`.
    INVALID_TAGS = "invalid_tags";
    /// 400: a name is empty or too long.
    INVALID_NAME = "invalid_name";
    /// 400: a role other than `admin`, `release-manager`, `viewer`.
    INVALID_ROLE = "invalid_role";

    // Admin API: rollouts.
    /// 404: no such rollout.
    ROLLOUT_NOT_FOUND = "rollout_not_found";
    /// 400: the plan is not valid (stages, percentages, promotion).
    INVALID_PLAN = "invalid_plan";
    /// 400: `cohort_salt` is not 32 hex digits.
    INVALID_COHORT_SALT = "invalid_cohort_salt";
    /// 404: an action other than start, pause, resume, approve, abort, retry-failed.
    UNKNOWN_ACTION = "unknown_action";
    /// 409: the action does not apply in the rollout's state (e.g. resume a running rollout).
    INVALID_ACTION = "invalid_action";
    /// 409: the release already has an unfinished rollout.
    ROLLOUT_EXISTS = "rollout_exists";
    /// 409: a newer release of the class already has a rollout.
    RELEASE_SUPERSEDED = "release_superseded";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_wire_format() {
        let body = ErrorBody::new(ErrorCode::ROLLOUT_NOT_FOUND, "no such rollout");
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"error":{"code":"rollout_not_found","message":"no such rollout"}}"#
        );
        let newer: ErrorBody =
            serde_json::from_str(r#"{"error":{"code":"quota_exceeded","message":"later"}}"#).unwrap();
        assert_eq!(newer.error.code, "quota_exceeded");
        assert!(!newer.error.code.is_known());
    }

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for c in ErrorCode::KNOWN {
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert!(c.as_str().chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'), "{c}");
        }
    }
}
