//! The device API (`/api/v1/device/…`; devices authenticate with mutual TLS): check-in, status
//! reports and artifact downloads (ota-server/README.md, "API").
//!
//! Requests refuse unknown fields (the server answers `invalid_json_body`); responses may gain
//! fields, so devices ignore fields they do not know.

use serde::{Deserialize, Serialize};

use crate::names::wire_name;

/// `POST`: [`CheckinRequest`] → [`CheckinResponse`].
pub const CHECKIN_PATH: &str = "/api/v1/device/checkin";
/// `POST`: [`StatusReport`] → 204.
pub const STATUS_PATH: &str = "/api/v1/device/status";
/// `GET {ARTIFACTS_PATH}/{sha256}`: an image or patch, streamed; `Range`, `If-Range`, strong
/// `ETag` (the SHA-256), `If-None-Match`.
pub const ARTIFACTS_PATH: &str = "/api/v1/device/artifacts";

/// Devices are identified by their client certificate (mutual TLS): the URI SAN
/// `urn:fwsign:device:<id>`, else the subject CN; the subject OU, if present, is the class
/// (ota-server/README.md, "Configuration").
pub const DEVICE_ID_URI_PREFIX: &str = "urn:fwsign:device:";

/// The path of the artifact with this SHA-256 (hex), as offers name it in [`Link::url`].
pub fn artifact_path(sha256_hex: &str) -> String {
    format!("{ARTIFACTS_PATH}/{sha256_hex}")
}

/// What the device runs now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RunningImage {
    /// SHA-256 (hex) of the complete signed image in the boot slot.
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The manifest sequence number the device has committed.
    pub sequence: u64,
}

/// `POST /api/v1/device/checkin`: what the device runs. The first contact registers the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CheckinRequest {
    /// The class the device believes it is, if it says: checked, never used to choose it. The
    /// class comes from the certificate's subject OU or an operator's assignment; a check-in
    /// naming another is refused (`device_class_mismatch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    pub running: RunningImage,
}

impl CheckinRequest {
    /// A check-in (the device's class is its certificate's or an operator's).
    pub fn new(digest_hex: impl Into<String>, version: Option<String>, sequence: u64) -> Self {
        Self {
            class: None,
            running: RunningImage {
                digest: digest_hex.into(),
                version,
                sequence,
            },
        }
    }

    /// Says which class the device believes it is (the server refuses a check-in whose class
    /// is not the device's).
    pub fn with_class(mut self, class: impl Into<String>) -> Self {
        self.class = Some(class.into());
        self
    }
}

/// A downloadable artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Link {
    /// Relative URL under this server.
    pub url: String,
    pub sha256: String,
    pub size: u64,
}

/// A delta patch: usable only by a device whose running image is the patch's base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct PatchLink {
    /// Relative URL under this server.
    pub url: String,
    pub sha256: String,
    pub size: u64,
    /// Delta container format (docs/FORMATS.md).
    pub format: u64,
    /// SHA-256 (hex) of the image the patch applies to.
    pub base_sha256: String,
}

impl PatchLink {
    /// The patch as a plain [`Link`] (to download it).
    pub fn link(&self) -> Link {
        Link {
            url: self.url.clone(),
            sha256: self.sha256.clone(),
            size: self.size,
        }
    }
}

/// An update the device may install, after verifying the envelope itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CheckinResponse {
    pub update: Option<UpdateOffer>,
    /// Present exactly when `update` is null: why nothing is offered. Stable names; a device
    /// must treat one it does not know as "nothing now, check in again later".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_update_reason: Option<NoUpdateReason>,
    /// The client certificate expires within the server's `renew_before_days`: re-enrol now
    /// (EST `simplereenroll`, [`EST_SIMPLEREENROLL_PATH`]) and switch to the new certificate.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub renew_certificate: bool,
    /// An operator's command, sent once: [`DeviceCommand::FACTORY_RESET`] (the device was
    /// decommissioned: erase credentials, keys and data; its certificates no longer work).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<DeviceCommand>,
}

wire_name! {
    /// A command in a check-in answer. A device must ignore one it does not know.
    pub struct DeviceCommand;
    /// Decommissioned: erase credentials, keys and user data, and stop calling the server.
    FACTORY_RESET = "factory_reset";
}

/// EST (RFC 7030) operations under `/.well-known/est/`: the issuing CA certificate (`GET`),
/// enrolment with a one-time token, re-enrolment with the current certificate (`POST`, a
/// base64 DER PKCS#10 body, `Content-Type: application/pkcs10`; the answer is a base64 DER
/// CMS certs-only message, `application/pkcs7-mime`).
pub const EST_CACERTS_PATH: &str = "/.well-known/est/cacerts";
pub const EST_SIMPLEENROLL_PATH: &str = "/.well-known/est/simpleenroll";
pub const EST_SIMPLEREENROLL_PATH: &str = "/.well-known/est/simplereenroll";
/// The issuing CA's CRL (DER, `application/pkix-crl`), for services that trust the fleet's
/// certificates.
pub const CRL_PATH: &str = "/crl";

impl CheckinResponse {
    pub fn offer(update: UpdateOffer) -> Self {
        Self {
            update: Some(update),
            no_update_reason: None,
            renew_certificate: false,
            command: None,
        }
    }

    pub fn no_update(reason: NoUpdateReason) -> Self {
        Self {
            update: None,
            no_update_reason: Some(reason),
            renew_certificate: false,
            command: None,
        }
    }
}

wire_name! {
    /// Why a check-in offers nothing: the device API's `no_update_reason` (see
    /// ota-server/README.md, "API"). The strings are stable; new reasons may be added, so
    /// devices must treat an unknown one as "nothing now, ask again later".
    pub struct NoUpdateReason;
    /// No release of the device's class is newer than the image it runs.
    UP_TO_DATE = "up_to_date";
    /// The device's class has no release at all.
    NO_RELEASE = "no_release";
    /// A newer release exists, but no rollout offers it (with `offer_mode = "rollout"` a
    /// release reaches devices only through a rollout).
    NO_ROLLOUT = "no_rollout";
    /// The rollouts of newer releases target device tags this device does not carry.
    NOT_TARGETED = "not_targeted";
    /// The rollout of the newer release is a draft: not started yet.
    ROLLOUT_NOT_STARTED = "rollout_not_started";
    /// The rollout is paused (by an operator or by its failure gates). A device that was
    /// offered the release but had not started does not start; one mid-install finishes.
    ROLLOUT_PAUSED = "rollout_paused";
    /// The rollout was aborted: devices that had not started get nothing more.
    ROLLOUT_ABORTED = "rollout_aborted";
    /// The device is not in the current stage's cohort; a later stage may include it.
    NOT_IN_COHORT = "not_in_cohort";
    /// The rollout's limit of devices updating at once (`max_in_flight`) is reached.
    IN_FLIGHT_LIMIT = "in_flight_limit";
    /// The device failed this release and waits for an operator's `retry-failed`.
    AWAITING_RETRY = "awaiting_retry";
    /// The device failed `penalty_after_failures` times: held out of this rollout (penalty box).
    HELD_OUT = "held_out";
    /// The rollout has the device as committed to this release, yet it checks in with an
    /// older image; nothing is offered again.
    ALREADY_UPDATED = "already_updated";
    /// The device is revoked or decommissioned. (The device API refuses such devices with 403
    /// before anything is decided, so devices never see this.)
    DEVICE_INACTIVE = "device_inactive";
}

impl NoUpdateReason {
    /// Whether the device runs the newest release there is for it (nothing is being withheld):
    /// `up_to_date` or `no_release`. Any other reason, known or not, means something newer
    /// exists or may exist.
    pub fn is_current(&self) -> bool {
        *self == Self::UP_TO_DATE || *self == Self::NO_RELEASE
    }
}

/// Longest failure reason the server keeps (longer ones are cut on a character boundary).
pub const MAX_REASON: usize = 512;

/// `POST /api/v1/device/status`: what a device reports about an update in progress. Unknown
/// statuses are refused (`invalid_json_body`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(tag = "status", rename_all = "kebab-case", deny_unknown_fields)]
pub enum StatusReport {
    Downloading {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        release_id: Option<i64>,
    },
    Downloaded {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        release_id: Option<i64>,
    },
    Verified {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        release_id: Option<i64>,
    },
    Installing {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        release_id: Option<i64>,
    },
    Rebooted {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        release_id: Option<i64>,
    },
    Committed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        release_id: Option<i64>,
    },
    Failed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        release_id: Option<i64>,
        reason: String,
    },
    RolledBack {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        release_id: Option<i64>,
    },
}

impl StatusReport {
    /// The `status` on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Downloading { .. } => "downloading",
            Self::Downloaded { .. } => "downloaded",
            Self::Verified { .. } => "verified",
            Self::Installing { .. } => "installing",
            Self::Rebooted { .. } => "rebooted",
            Self::Committed { .. } => "committed",
            Self::Failed { .. } => "failed",
            Self::RolledBack { .. } => "rolled-back",
        }
    }

    pub fn release_id(&self) -> Option<i64> {
        match self {
            Self::Downloading { release_id }
            | Self::Downloaded { release_id }
            | Self::Verified { release_id }
            | Self::Installing { release_id }
            | Self::Rebooted { release_id }
            | Self::Committed { release_id }
            | Self::Failed { release_id, .. }
            | Self::RolledBack { release_id } => *release_id,
        }
    }

    /// The failure reason, cut to [`MAX_REASON`] bytes on a character boundary.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Failed { reason, .. } => {
                let mut end = reason.len().min(MAX_REASON);
                while !reason.is_char_boundary(end) {
                    end -= 1;
                }
                reason.get(..end)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_status() {
        for s in [
            "downloading",
            "downloaded",
            "verified",
            "installing",
            "rebooted",
            "committed",
            "rolled-back",
        ] {
            let r: StatusReport = serde_json::from_str(&format!(r#"{{"status":"{s}"}}"#)).unwrap();
            assert_eq!(r.name(), s);
            assert_eq!(serde_json::to_string(&r).unwrap(), format!(r#"{{"status":"{s}"}}"#));
        }
        let r: StatusReport = serde_json::from_str(r#"{"status":"failed","reason":"boot loop"}"#).unwrap();
        assert_eq!(r.reason(), Some("boot loop"));
        assert!(serde_json::from_str::<StatusReport>(r#"{"status":"failed"}"#).is_err());
        assert!(serde_json::from_str::<StatusReport>(r#"{"status":"exploded"}"#).is_err());
        let r = StatusReport::Failed {
            release_id: Some(7),
            reason: "é".repeat(MAX_REASON),
        };
        assert_eq!(serde_json::to_value(&r).unwrap()["release_id"], serde_json::json!(7));
        assert!(r.reason().unwrap().len() <= MAX_REASON);
    }

    /// The names devices in the field know: changing one is a wire break.
    #[test]
    fn no_update_reasons_are_stable() {
        let names: Vec<&str> = NoUpdateReason::KNOWN.iter().map(NoUpdateReason::as_str).collect();
        assert_eq!(
            names,
            [
                "up_to_date",
                "no_release",
                "no_rollout",
                "not_targeted",
                "rollout_not_started",
                "rollout_paused",
                "rollout_aborted",
                "not_in_cohort",
                "in_flight_limit",
                "awaiting_retry",
                "held_out",
                "already_updated",
                "device_inactive",
            ]
        );
        assert!(NoUpdateReason::NO_RELEASE.is_current());
        assert!(!NoUpdateReason::from("some_new_reason").is_current());
    }

    #[test]
    fn checkin_wire_format() {
        let req = CheckinRequest::new("00".repeat(32), Some("1.0.0".into()), 3);
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            serde_json::json!({"running": {"digest": "00".repeat(32), "version": "1.0.0", "sequence": 3}})
        );
        let none = CheckinResponse::no_update(NoUpdateReason::ROLLOUT_PAUSED);
        assert_eq!(
            serde_json::to_string(&none).unwrap(),
            r#"{"update":null,"no_update_reason":"rollout_paused"}"#
        );
        // An older server sends no reason; a newer one may add fields.
        let old: CheckinResponse = serde_json::from_str(r#"{"update":null,"later":1}"#).unwrap();
        assert_eq!(old.no_update_reason, None);
        assert!(serde_json::from_str::<CheckinRequest>(r#"{"running":{"digest":"00","sequence":0},"x":1}"#).is_err());
    }
}
