//! Verification errors: a kind plus the byte offset where verification stopped (in the slot for
//! images, in the envelope for manifests).

use core::fmt;

pub use manifest::DecodeErrorKind;

/// Why an image, a release manifest or a delta patch was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyErrorKind {
    /// The bytes are not a well-formed image.
    Malformed(DecodeErrorKind),
    /// The flash driver reported an error.
    Flash,
    /// Header, body and TLVs do not fit inside the slot.
    ExceedsSlot,
    /// The caller's work buffer is empty or smaller than the protected TLV area.
    BufferTooSmall,
    /// Encrypted or compressed images are not supported by this verifier.
    UnsupportedFlags,
    /// A TLV kind that is not allowed in the unprotected area (only hash, key, signature and
    /// SIG_PURE are; MCUboot's `MCUBOOT_USE_TLV_ALLOW_LIST`).
    UnexpectedTlv,
    /// A TLV that may appear at most once appears twice.
    DuplicateTlv,
    /// A TLV has the wrong length for its kind.
    BadTlvLength,
    /// No image hash TLV (SHA256 / SHA512).
    MissingHash,
    /// The hash algorithm (e.g. SHA384) is not supported.
    UnsupportedHash,
    /// The computed hash differs from the hash TLV.
    HashMismatch,
    /// No KEYHASH or PUBKEY TLV.
    MissingKey,
    /// The KEYHASH / PUBKEY names no trusted key.
    UntrustedKey,
    /// No signature TLV.
    MissingSignature,
    /// The signature type does not match the trusted key's algorithm, or is unsupported.
    SignatureKindMismatch,
    /// SIG_PURE is present but not 1, or is combined with a non-Ed25519 signature.
    BadPureFlag,
    /// The signature does not verify.
    BadSignature,
    /// The policy requires a security counter and the image has none.
    MissingSecurityCounter,
    /// The image's security counter is below the device's stored floor (anti-rollback).
    Rollback,

    // --- Release manifests (SUIT envelopes) ---
    /// A COSE signature verifies under no trusted manifest key.
    UntrustedManifestKey,
    /// Fewer distinct trusted keys signed the manifest than the policy's threshold.
    ThresholdNotMet,
    /// The manifest bstr does not hash to the signed SUIT_Digest.
    ManifestDigestMismatch,
    /// The manifest's vendor identifier is not the device's.
    WrongVendor,
    /// The manifest's class identifier is not the device's.
    WrongClass,
    /// The manifest's sequence number is not above the device's stored one (anti-rollback).
    SequenceRollback,
    /// The image in the slot does not hash to the manifest's image-digest.
    ImageDigestMismatch,
    /// The signed image's length differs from the manifest's image-size.
    ImageSizeMismatch,
    /// The image given as the booted one is not the image bound to this release.
    NotBootedImage,
    /// The device's rollback store failed to persist the new sequence number.
    RollbackStore,
    /// A delta patch is not one the verified manifest allows for the running image.
    PatchNotInManifest,
}

impl VerifyErrorKind {
    /// A short, stable description.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Malformed(kind) => kind.as_str(),
            Self::Flash => "flash read failed",
            Self::ExceedsSlot => "image exceeds its slot",
            Self::BufferTooSmall => "work buffer too small",
            Self::UnsupportedFlags => "encrypted or compressed image not supported",
            Self::UnexpectedTlv => "TLV kind not allowed in the unprotected area",
            Self::DuplicateTlv => "duplicate TLV",
            Self::BadTlvLength => "TLV has the wrong length for its kind",
            Self::MissingHash => "no image hash TLV",
            Self::UnsupportedHash => "unsupported image hash algorithm",
            Self::HashMismatch => "image hash mismatch",
            Self::MissingKey => "no KEYHASH or PUBKEY TLV",
            Self::UntrustedKey => "image signed by an untrusted key",
            Self::MissingSignature => "no signature TLV",
            Self::SignatureKindMismatch => "signature type does not match the trusted key",
            Self::BadPureFlag => "invalid SIG_PURE TLV",
            Self::BadSignature => "signature verification failed",
            Self::MissingSecurityCounter => "no security counter TLV",
            Self::Rollback => "security counter below the device's floor (rollback)",
            Self::UntrustedManifestKey => "manifest signature verifies under no trusted key",
            Self::ThresholdNotMet => "too few trusted keys signed the manifest",
            Self::ManifestDigestMismatch => "manifest does not match its signed digest",
            Self::WrongVendor => "manifest is for another vendor",
            Self::WrongClass => "manifest is for another device class",
            Self::SequenceRollback => "manifest sequence number not above the device's (rollback)",
            Self::ImageDigestMismatch => "image does not match the manifest's digest",
            Self::ImageSizeMismatch => "image size differs from the manifest's",
            Self::NotBootedImage => "image is not the one bound to this release",
            Self::RollbackStore => "rollback store failed to commit",
            Self::PatchNotInManifest => "delta patch not allowed by the manifest for this base image",
        }
    }
}

/// A refused input: why, and at which byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyError {
    /// Why the input was refused.
    pub kind: VerifyErrorKind,
    /// Where the check stopped: a byte offset in the slot for images, in the envelope for
    /// manifests (0 for checks of the whole input, such as a digest or the sequence number).
    pub offset: u32,
}

impl VerifyError {
    /// An error of `kind` at `offset`.
    pub const fn new(kind: VerifyErrorKind, offset: u32) -> Self {
        Self { kind, offset }
    }

    pub(crate) fn at(kind: VerifyErrorKind, offset: usize) -> Self {
        Self::new(kind, u32::try_from(offset).unwrap_or(u32::MAX))
    }

    pub(crate) fn malformed(error: manifest::DecodeError, base: u32) -> Self {
        let offset = u32::try_from(error.offset).unwrap_or(u32::MAX).saturating_add(base);
        Self::new(VerifyErrorKind::Malformed(error.kind), offset)
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at offset {}", self.kind.as_str(), self.offset)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for VerifyError {}
