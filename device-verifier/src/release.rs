//! Release manifests (SUIT envelopes, draft-ietf-suit-manifest) verified on the device.
//!
//! Order of work, so that nothing in the manifest is interpreted before it is authenticated
//! (draft §8.3; RFC 9124 REQ.SEC.AUTHENTIC):
//! 1. the envelope and authentication wrapper are parsed for structure only;
//! 2. every COSE_Sign1 must verify, over the detached SUIT_Digest, under a trusted key, and at
//!    least `threshold` distinct trusted keys must have signed;
//! 3. the SHA-256 of the manifest bstr (header included) must equal the signed digest;
//! 4. only then is the manifest decoded, and vendor, class and sequence number checked.
//!
//! [`bind_image`] then ties a slot's image to the release, and [`BoundImage::commit_after_boot`]
//! is the only way to hand a [`RollbackStore`] a new sequence number.

mod bind;
mod patch;
mod signature;

use manifest::suit::{DeltaIter, Envelope, Manifest, Text, MAX_SIGNATURES, SHA256_LEN, UUID_LEN};
use sha2::{Digest as _, Sha256};

use crate::error::{VerifyError, VerifyErrorKind as Kind};
use crate::keys::TrustedKey;

pub use bind::{bind_image, BoundImage};
pub use patch::{check_patch_file, match_patch};

/// What the device requires of a release manifest.
#[derive(Debug, Clone, Copy)]
pub struct ManifestPolicy<'a> {
    /// Manifest-signing keys (Ed25519 or P-256 SPKI). Trust old and new while rotating.
    pub trusted_keys: &'a [TrustedKey<'a>],
    /// How many distinct trusted keys must have signed (k of n). 0 is treated as 1.
    pub threshold: usize,
    /// The device's vendor identifier (RFC 4122 UUID, draft §8.4.8.3).
    pub vendor_id: [u8; UUID_LEN],
    /// The device's class identifier (RFC 4122 UUID, draft §8.4.8.4).
    pub class_id: [u8; UUID_LEN],
}

impl<'a> ManifestPolicy<'a> {
    /// A policy with the default threshold of one signature.
    pub fn new(trusted_keys: &'a [TrustedKey<'a>], vendor_id: [u8; UUID_LEN], class_id: [u8; UUID_LEN]) -> Self {
        Self {
            trusted_keys,
            threshold: 1,
            vendor_id,
            class_id,
        }
    }
}

/// The device's persistent anti-rollback state for release manifests.
pub trait RollbackStore {
    /// The highest sequence number committed so far (0 on a fresh device).
    fn sequence(&self) -> u64;

    /// Persists `commit.sequence()`. A [`SequenceCommit`] can only be made by
    /// [`BoundImage::commit_after_boot`], so this cannot be called with an unverified number.
    fn commit(&mut self, commit: SequenceCommit) -> Result<(), StoreError>;
}

/// A sequence number that may be persisted: verified, bound to an image, booted.
#[derive(Debug, PartialEq, Eq)]
pub struct SequenceCommit {
    sequence: u64,
}

impl SequenceCommit {
    /// The sequence number to persist as the new floor.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }
}

/// The device's store could not persist the commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreError;

/// Proof that an envelope is authentic and meant for this device. Only [`verify_envelope`]
/// builds one.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedRelease<'a> {
    manifest: Manifest<'a>,
    signers: [usize; MAX_SIGNATURES],
    signer_count: usize,
}

impl<'a> VerifiedRelease<'a> {
    /// The manifest's sequence number (draft §8.4.2), above the device's stored one.
    pub fn sequence(&self) -> u64 {
        self.manifest.sequence()
    }

    /// The manifest's vendor identifier (equal to the policy's).
    pub fn vendor_id(&self) -> &'a [u8; UUID_LEN] {
        self.manifest.common().vendor_id()
    }

    /// The manifest's class identifier (equal to the policy's).
    pub fn class_id(&self) -> &'a [u8; UUID_LEN] {
        self.manifest.common().class_id()
    }

    /// SHA-256 of the complete signed image.
    pub fn image_digest(&self) -> &'a [u8; SHA256_LEN] {
        self.manifest.common().image_digest().bytes
    }

    /// Size in bytes of the complete signed image (draft suit-parameter-image-size).
    pub fn image_size(&self) -> u64 {
        self.manifest.common().image_size()
    }

    /// Where to fetch the image, as the manifest names it (may be relative), if it does.
    pub fn install_uri(&self) -> Option<&'a str> {
        self.manifest.install_uri()
    }

    /// The manifest's text (version, release notes), if present; covered by the signature
    /// through its digest in the manifest (draft suit-text).
    pub fn text(&self) -> Option<&Text<'a>> {
        self.manifest.text()
    }

    /// Delta patches the release allows (our extension).
    pub fn deltas(&self) -> DeltaIter<'a> {
        self.manifest.common().deltas()
    }

    /// Indices into [`ManifestPolicy::trusted_keys`] of the distinct keys that signed.
    pub fn signer_key_indices(&self) -> &[usize] {
        self.signers.get(..self.signer_count).unwrap_or_default()
    }

    /// The decoded manifest (authenticated).
    pub fn manifest(&self) -> &Manifest<'a> {
        &self.manifest
    }
}

pub(crate) fn sha256(data: &[u8]) -> [u8; SHA256_LEN] {
    Sha256::digest(data).into()
}

fn malformed(e: manifest::DecodeError) -> VerifyError {
    VerifyError::malformed(e, 0)
}

/// Verifies a SUIT envelope (see the module docs for the order of checks). Offsets in errors
/// are byte offsets into `envelope`.
pub fn verify_envelope<'e, S: RollbackStore + ?Sized>(
    envelope: &'e [u8],
    policy: &ManifestPolicy<'_>,
    rollback: &S,
) -> Result<VerifiedRelease<'e>, VerifyError> {
    let env = Envelope::decode(envelope).map_err(malformed)?;

    // draft §8.3: every authentication block signs the encoded SUIT_Digest (detached payload).
    // Every block present must verify under a trusted key; a bad extra signature is not ignored.
    let payload = env.digest_encoded();
    let mut signers = [usize::MAX; MAX_SIGNATURES];
    let mut signer_count = 0usize;
    for block in env.signatures() {
        let sign1 = block.map_err(malformed)?;
        let seen = signers.get(..signer_count).unwrap_or_default();
        let key_index = signature::verify(&sign1, payload, policy.trusted_keys, seen)?;
        if !seen.contains(&key_index) {
            if let Some(slot) = signers.get_mut(signer_count) {
                *slot = key_index;
                signer_count = signer_count.saturating_add(1);
            }
        }
    }
    // k of n: distinct trusted keys, so one key signing twice counts once.
    if signer_count < policy.threshold.max(1) {
        return Err(VerifyError::new(Kind::ThresholdNotMet, 0));
    }

    // draft §8.3: the digest covers the manifest bstr including its CBOR header.
    if sha256(env.manifest_bstr()) != *env.digest().bytes {
        return Err(VerifyError::new(Kind::ManifestDigestMismatch, 0));
    }

    // Authenticated: now the manifest may be interpreted.
    let manifest = env.manifest(&sha256).map_err(malformed)?;
    let common = manifest.common();
    // draft §8.4.9.1 (condition-vendor-identifier / condition-class-identifier); RFC 9124 REQ.SEC.COMPATIBLE.
    if common.vendor_id() != &policy.vendor_id {
        return Err(VerifyError::new(Kind::WrongVendor, 0));
    }
    if common.class_id() != &policy.class_id {
        return Err(VerifyError::new(Kind::WrongClass, 0));
    }
    // draft §8.4.2, RFC 9124 REQ.SEC.SEQUENCE: the sequence number must be strictly greater than the stored one.
    if manifest.sequence() <= rollback.sequence() {
        return Err(VerifyError::new(Kind::SequenceRollback, 0));
    }
    Ok(VerifiedRelease {
        manifest,
        signers,
        signer_count,
    })
}
