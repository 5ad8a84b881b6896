//! Release ingest: the checks a device would make, made before anything is stored.
//!
//! [`ReleaseVerifier`] is the boundary: [`SuitVerifier`] runs `device_verifier::verify_envelope`
//! and `bind_image` (the device's own code) over the uploaded bundle.

mod suit;

use std::fmt;
use std::path::PathBuf;

use device_verifier::flash::FlashRead;
use ota_protocol::ErrorCode;

use super::{ReleaseFacts, Sha256};
pub use suit::SuitVerifier;

/// An uploaded file, already hashed while it was written to staging (`path` names it for the
/// caller, which opens it; see [`ReleaseVerifier::verify`]).
#[derive(Debug, Clone)]
pub struct StagedArtifact {
    pub name: String,
    pub path: PathBuf,
    pub digest: Sha256,
    pub size: u64,
}

/// Everything uploaded for one release. Only `envelope` (small) is held in memory.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub envelope: Vec<u8>,
    pub image: StagedArtifact,
    pub patches: Vec<StagedArtifact>,
    /// `release.json`, if uploaded: cross-checked, never trusted.
    pub summary: Option<Vec<u8>>,
}

/// A device class as the manifest names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassRef {
    pub name: String,
    pub vendor_id: [u8; 16],
    pub class_id: [u8; 16],
}

impl ClassRef {
    /// The ids `signer release` derives ([`manifest::suit::class_ids`]).
    pub fn derive(name: &str, vendor_domain: &str) -> Self {
        let ids = manifest::suit::class_ids(vendor_domain, name);
        Self {
            name: name.to_owned(),
            vendor_id: ids.vendor_id,
            class_id: ids.class_id,
        }
    }

    pub fn class_id_string(&self) -> String {
        uuid::Uuid::from_bytes(self.class_id).to_string()
    }
}

/// Proof that a bundle passed every check of the release verifier: only this module and its
/// verifier construct one, and the store inserts nothing else (like `device_verifier`'s
/// `VerifiedImage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBundle {
    facts: ReleaseFacts,
}

impl VerifiedBundle {
    fn new(facts: ReleaseFacts) -> Self {
        Self { facts }
    }

    /// What verification established.
    pub fn facts(&self) -> &ReleaseFacts {
        &self.facts
    }
}

/// How a rejection maps onto HTTP (the HTTP layer picks the status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectKind {
    /// The upload itself is malformed (400).
    Malformed,
    /// A verification check failed (422).
    Verification,
    /// Conflicts with stored state, e.g. sequence number (409).
    Conflict,
}

/// A refused bundle: a stable code naming the check, and a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub kind: RejectKind,
    pub code: ErrorCode,
    pub message: String,
}

impl Rejection {
    pub fn malformed(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            kind: RejectKind::Malformed,
            code,
            message: message.into(),
        }
    }

    pub fn verification(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            kind: RejectKind::Verification,
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            kind: RejectKind::Conflict,
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Every ingest rejection code (stable; documented in the OpenAPI description).
pub const REJECTION_CODES: &[&str] = &[
    "bundle_incomplete",
    "bundle_part_unknown",
    "bundle_part_duplicate",
    "bundle_too_large",
    "envelope_malformed",
    "unknown_device_class",
    "manifest_untrusted_key",
    "manifest_signature_invalid",
    "manifest_threshold_not_met",
    "manifest_digest_mismatch",
    "sequence_not_above_previous",
    "sequence_out_of_range",
    "image_digest_mismatch",
    "image_size_mismatch",
    "image_signature_invalid",
    "image_malformed",
    "patch_missing",
    "patch_digest_mismatch",
    "patch_size_mismatch",
    "unexpected_artifact",
    "summary_malformed",
    "summary_mismatch",
];

/// Verifies a bundle as a device would.
pub trait ReleaseVerifier: Send + Sync + fmt::Debug {
    /// The class the envelope names. Unauthenticated: only selects the policy and the sequence
    /// floor for [`ReleaseVerifier::verify`], which checks the class again after the signature.
    fn class_of(&self, envelope: &[u8]) -> Result<ClassRef, Rejection>;

    /// Full verification; `floor` is the highest sequence number stored for the class, `image`
    /// reads the staged image (the caller opens it: this module does no I/O). Blocking.
    fn verify(
        &self,
        bundle: &Bundle,
        class: &ClassRef,
        floor: u64,
        image: &mut dyn FlashRead,
    ) -> Result<VerifiedBundle, Rejection>;
}
