//! The admin API (`/api/v1/admin/…`; bearer tokens with roles viewer ⊂ release-manager ⊂
//! admin): releases, devices, tokens and the audit log. Rollouts and the fleet view are in
//! [`crate::rollouts`].

use serde::{Deserialize, Serialize};

use crate::names::wire_name;

/// `GET` (viewer): [`ReleaseView`]s; `POST` (release-manager): upload a `signer release`
/// bundle as `multipart/form-data` (feature `client`: `client::ReleaseUpload`) → 201 [`ReleaseView`].
pub const RELEASES_PATH: &str = "/api/v1/admin/releases";
/// `GET` (viewer): [`DeviceView`]s, paged by [`DeviceQuery`]; `GET …/{id}`: [`DeviceDetail`];
/// `POST …/{id}/revoke`, `…/{id}/decommission` (admin); `PUT …/{id}/tags` (release-manager).
pub const DEVICES_PATH: &str = "/api/v1/admin/devices";
/// `POST` (admin): [`NewToken`] → 201 [`CreatedToken`].
pub const TOKENS_PATH: &str = "/api/v1/admin/tokens";
/// The registration allow and deny lists: `{REGISTRATION_PATH}/allow`, `.../deny`.
pub const REGISTRATION_PATH: &str = "/api/v1/admin/registration";
/// `GET` (admin): the newest [`AuditView`] entries.
pub const AUDIT_PATH: &str = "/api/v1/admin/audit";

/// A delta patch of a stored release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct PatchView {
    pub format: u64,
    pub base_sha256: String,
    pub base_size: u64,
    pub sha256: String,
    pub size: u64,
}

/// A stored (verified) release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ReleaseView {
    pub id: i64,
    pub class: String,
    pub class_id: String,
    pub sequence: u64,
    pub version: String,
    pub envelope_sha256: String,
    pub image_sha256: String,
    pub image_size: u64,
    pub patches: Vec<PatchView>,
    pub created_ms: i64,
    pub uploaded_by: String,
}

wire_name! {
    /// Whether a device may use the device API.
    pub struct DeviceState;
    /// May check in and download.
    ACTIVE = "active";
    /// Refused from its next request on (403 `device_revoked`).
    REVOKED = "revoked";
    /// Revoked and retired; its history is kept (403 `device_decommissioned`).
    DECOMMISSIONED = "decommissioned";
}

/// A registered device and what it last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct DeviceView {
    pub id: String,
    pub class: Option<String>,
    pub state: DeviceState,
    pub registered_ms: i64,
    pub last_seen_ms: i64,
    pub running_sha256: Option<String>,
    pub running_version: Option<String>,
    pub running_sequence: Option<u64>,
    /// The last status the device reported (a `StatusReport` name, e.g. `committed`).
    pub last_status: Option<String>,
    pub tags: Vec<String>,
    /// A command waiting for the device's next check-in (`factory_reset`: decommissioning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_command: Option<String>,
}

/// One entry of a device's history: a status report, or a revocation or decommissioning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct EventView {
    pub at_ms: i64,
    pub status: String,
    pub release_id: Option<i64>,
    pub reason: Option<String>,
}

/// A device and its newest events (newest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct DeviceDetail {
    pub device: DeviceView,
    pub events: Vec<EventView>,
}

/// `POST {DEVICES_PATH}/{id}/decommission`: by default the device is sent `factory_reset` at
/// its next check-in and decommissioned then (its certificates revoked); `immediate=true`
/// decommissions and revokes at once (a device that will never call again).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecommissionQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immediate: Option<bool>,
}

/// `GET {DEVICES_PATH}/{id}/export` (admin): everything the server holds of a device, as one
/// JSON document (keep it before the row is gone, or hand it to the device's owner).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct DeviceExport {
    pub exported_ms: i64,
    pub device: DeviceView,
    /// Every event kept (newest first; bounded by `history_per_device`).
    pub events: Vec<EventView>,
    pub certificates: Vec<CertificateView>,
    /// Audit records about the device and its certificates, newest first.
    pub audit: Vec<AuditView>,
}

/// The query of `GET /api/v1/admin/devices`: devices ordered by id, after `after`, at most
/// `limit` (default 100, 1–1000).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// `PUT /api/v1/admin/devices/{id}/tags`: replaces the device's tags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceTags {
    /// Groups rollouts can target: at most 32, each 1–32 of `a-z 0-9 . _ -`.
    pub tags: Vec<String>,
}

/// `PUT /api/v1/admin/devices/{id}/class`: the class an operator assigns (registering the
/// device ahead of its first contact if it is new).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceClassAssignment {
    /// A class the server is configured for (`[[classes]]`).
    pub class: String,
}

wire_name! {
    /// What a token may do; each role includes the ones before it.
    pub struct Role;
    /// Reads everything but the audit log.
    VIEWER = "viewer";
    /// Also uploads releases, runs rollouts and tags devices.
    RELEASE_MANAGER = "release-manager";
    /// Also revokes and decommissions devices, makes tokens and reads the audit log.
    ADMIN = "admin";
}

/// `POST /api/v1/admin/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// 1–64 characters; the audit log names the token's actions by it.
    pub name: String,
    /// `admin`, `release-manager` or `viewer`.
    pub role: Role,
    /// Lifetime in seconds (1 s to 10 years). Unset: 90 days below admin, no expiry for admin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_seconds: Option<u64>,
}

/// A new token: shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CreatedToken {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// Shown once; the server keeps only its SHA-256.
    pub token: String,
    /// When it stops working (Unix ms); `null`: never.
    pub expires_ms: Option<i64>,
}

/// `GET /api/v1/admin/tokens` (admin): every token ever made, never a secret;
/// `POST /api/v1/admin/tokens/{id}/revoke` (admin) answers one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
    /// Last accepted request (to within a minute).
    pub last_used_ms: Option<i64>,
}

/// One audit log entry: every mutating admin call, refused ones included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AuditView {
    pub at_ms: i64,
    /// `token:<name>` of the caller.
    pub actor: String,
    /// e.g. `release.upload`, `rollout.pause`, `device.revoke`, `token.create`.
    pub action: String,
    pub target: String,
    /// `ok` or `error:<code>`.
    pub result: String,
}

/// Most entries one `POST /api/v1/admin/registration/{list}` takes.
pub const MAX_REGISTRATION_ENTRIES: usize = 10_000;

/// One device id to put on a registration list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewRegistrationEntry {
    /// The device id its certificate's CN will carry.
    pub device_id: String,
    /// Allow list only: the class the device registers in if its certificate names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Why it is listed (at most 256 characters): a batch, a recall number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `POST /api/v1/admin/registration/{allow|deny}` (admin): device ids registered ahead (allow)
/// or refused (deny; a registered device on it is revoked at once).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewRegistrationEntries {
    pub entries: Vec<NewRegistrationEntry>,
}

/// What adding entries did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct RegistrationAdded {
    /// Entries that were new (ids already on the list keep their entry).
    pub added: u64,
    /// Deny list: registered devices revoked because of it.
    pub revoked: Vec<String>,
}

/// An entry of a registration list, as `GET /api/v1/admin/registration/{list}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct RegistrationEntryView {
    pub device_id: String,
    pub class: Option<String>,
    pub note: String,
    pub created_ms: i64,
    pub created_by: String,
}

/// `POST` (admin): [`NewEnrollmentToken`] → 201 [`CreatedEnrollmentToken`]: a one-time token
/// with which one device enrols over EST (`/.well-known/est/simpleenroll`).
pub const ENROLLMENT_TOKENS_PATH: &str = "/api/v1/admin/enrollment-tokens";

/// `POST /api/v1/admin/enrollment-tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewEnrollmentToken {
    /// The device id the certificate will name.
    pub device_id: String,
    /// The class the certificate will name (its OU); unset: the device's class, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Lifetime in seconds (1 s to 30 days; default one day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_seconds: Option<u64>,
}

/// A new enrolment token: shown once, used once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CreatedEnrollmentToken {
    pub device_id: String,
    /// Shown once; the server keeps only its SHA-256.
    pub token: String,
    pub expires_ms: i64,
}

/// One certificate of a device: `GET {DEVICES_PATH}/{id}/certificates` (viewer) lists them,
/// newest first; `POST {DEVICES_PATH}/{id}/certificates/{serial}/revoke` (admin) answers one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CertificateView {
    /// Lower-case hex, without leading zero bytes (`openssl x509 -serial` prints it upper-case).
    pub serial: String,
    pub device_id: String,
    /// SHA-256 of the DER certificate, hex (unknown for a certificate of another issuer).
    pub fingerprint: Option<String>,
    pub not_before_ms: Option<i64>,
    pub not_after_ms: Option<i64>,
    /// When the server's enrolment CA issued it; `null`: another issuer's certificate.
    pub issued_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
    pub revoked_reason: Option<String>,
}
