//! C ABI for `device-verifier`: lets a C bootloader verify the MCUboot image in a
//! flash slot with the same Rust code the signer and the OTA server use.
//!
//! The entry points are in [`abi`] and declared in `include/device_verifier.h` (cbindgen).
//! `device-verifier` itself stays `#![forbid(unsafe_code)]`; this crate holds the only `unsafe`
//! a C ABI needs (exported symbols, pointers from C), all of it in `abi.rs`.
//!
//! Statuses are stable numbers: 0 is success, negative values are refusals or usage errors.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::as_conversions
)]

pub mod abi;

use device_verifier::error::DecodeErrorKind as D;
use device_verifier::{VerifyError, VerifyErrorKind as K};

/// Result of a call. Values never change meaning; new ones get new numbers.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FwvStatus {
    /// The image verified; the out-parameter is filled in.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullArgument = -1,
    /// A trusted key is not a 44-byte Ed25519 (or 91-byte P-256) DER SubjectPublicKeyInfo.
    BadTrustedKey = -2,
    /// More than `FWV_MAX_TRUSTED_KEYS` trusted keys.
    TooManyKeys = -3,
    /// The flash callback returned non-zero, or a read fell outside the slot.
    Flash = -10,
    /// The work buffer is empty or smaller than the protected TLV area.
    BufferTooSmall = -11,
    /// Structure: the input ended early.
    Truncated = -20,
    /// Structure: the header does not start with IMAGE_MAGIC.
    BadImageMagic = -21,
    /// Structure: ih_hdr_size below 32.
    HeaderTooSmall = -22,
    /// Structure: size fields overflow.
    SizeOverflow = -23,
    /// Structure: a TLV area has the wrong magic.
    BadTlvInfoMagic = -24,
    /// Structure: protected TLV area size disagrees with the header.
    ProtectedSizeMismatch = -25,
    /// Structure: a TLV area is smaller than its info header.
    TlvAreaTooSmall = -26,
    /// Structure: a TLV runs past its area.
    TlvOverrun = -27,
    /// Structure: unexpected trailing bytes.
    TrailingBytes = -28,
    /// Structure: other malformation.
    Malformed = -29,
    /// Header, body and TLVs do not fit in the slot.
    ExceedsSlot = -30,
    /// Encrypted or compressed images are not supported.
    UnsupportedFlags = -31,
    /// A TLV kind that is not allowed in the unprotected area.
    UnexpectedTlv = -32,
    /// A TLV that may appear once appears twice.
    DuplicateTlv = -33,
    /// A TLV has the wrong length for its kind.
    BadTlvLength = -34,
    /// No image hash TLV.
    MissingHash = -40,
    /// Unsupported image hash algorithm.
    UnsupportedHash = -41,
    /// The image hash does not match (tampered image).
    HashMismatch = -42,
    /// No KEYHASH or PUBKEY TLV.
    MissingKey = -50,
    /// Signed by a key that is not trusted.
    UntrustedKey = -51,
    /// No signature TLV.
    MissingSignature = -52,
    /// The signature type does not match the key.
    SignatureKindMismatch = -53,
    /// Invalid SIG_PURE TLV.
    BadPureFlag = -54,
    /// The signature does not verify.
    BadSignature = -55,
    /// The policy has a floor and the image has no security counter.
    MissingSecurityCounter = -60,
    /// The security counter is below the floor (rollback).
    Rollback = -61,
    /// A refusal this version of the header does not name.
    Other = -99,
}

impl FwvStatus {
    /// The status for a verification error.
    pub fn from_error(error: &VerifyError) -> Self {
        match error.kind {
            K::Malformed(kind) => match kind {
                D::Truncated => Self::Truncated,
                D::BadImageMagic => Self::BadImageMagic,
                D::HeaderTooSmall => Self::HeaderTooSmall,
                D::SizeOverflow => Self::SizeOverflow,
                D::BadTlvInfoMagic => Self::BadTlvInfoMagic,
                D::ProtectedSizeMismatch => Self::ProtectedSizeMismatch,
                D::TlvAreaTooSmall => Self::TlvAreaTooSmall,
                D::TlvOverrun => Self::TlvOverrun,
                D::TrailingBytes => Self::TrailingBytes,
                _ => Self::Malformed,
            },
            K::Flash => Self::Flash,
            K::ExceedsSlot => Self::ExceedsSlot,
            K::BufferTooSmall => Self::BufferTooSmall,
            K::UnsupportedFlags => Self::UnsupportedFlags,
            K::UnexpectedTlv => Self::UnexpectedTlv,
            K::DuplicateTlv => Self::DuplicateTlv,
            K::BadTlvLength => Self::BadTlvLength,
            K::MissingHash => Self::MissingHash,
            K::UnsupportedHash => Self::UnsupportedHash,
            K::HashMismatch => Self::HashMismatch,
            K::MissingKey => Self::MissingKey,
            K::UntrustedKey => Self::UntrustedKey,
            K::MissingSignature => Self::MissingSignature,
            K::SignatureKindMismatch => Self::SignatureKindMismatch,
            K::BadPureFlag => Self::BadPureFlag,
            K::BadSignature => Self::BadSignature,
            K::MissingSecurityCounter => Self::MissingSecurityCounter,
            K::Rollback => Self::Rollback,
            _ => Self::Other,
        }
    }

    /// A NUL-terminated description (static storage). Byte strings rather than C-string
    /// literals because cbindgen 0.24 (Debian bookworm) cannot parse the latter.
    pub fn message(self) -> &'static [u8] {
        match self {
            Self::Ok => b"ok\0",
            Self::NullArgument => b"a required pointer argument is NULL\0",
            Self::BadTrustedKey => b"trusted key is not a supported DER SubjectPublicKeyInfo\0",
            Self::TooManyKeys => b"too many trusted keys\0",
            Self::Flash => b"flash read failed\0",
            Self::BufferTooSmall => b"work buffer too small\0",
            Self::Truncated => b"image truncated\0",
            Self::BadImageMagic => b"bad image magic\0",
            Self::HeaderTooSmall => b"header size below 32 bytes\0",
            Self::SizeOverflow => b"size fields overflow\0",
            Self::BadTlvInfoMagic => b"bad TLV info magic\0",
            Self::ProtectedSizeMismatch => b"protected TLV size disagrees with header\0",
            Self::TlvAreaTooSmall => b"TLV area smaller than its info header\0",
            Self::TlvOverrun => b"TLV length runs past its area\0",
            Self::TrailingBytes => b"trailing bytes\0",
            Self::Malformed => b"malformed image\0",
            Self::ExceedsSlot => b"image exceeds its slot\0",
            Self::UnsupportedFlags => b"encrypted or compressed image not supported\0",
            Self::UnexpectedTlv => b"TLV kind not allowed in the unprotected area\0",
            Self::DuplicateTlv => b"duplicate TLV\0",
            Self::BadTlvLength => b"TLV has the wrong length for its kind\0",
            Self::MissingHash => b"no image hash TLV\0",
            Self::UnsupportedHash => b"unsupported image hash algorithm\0",
            Self::HashMismatch => b"image hash mismatch\0",
            Self::MissingKey => b"no KEYHASH or PUBKEY TLV\0",
            Self::UntrustedKey => b"image signed by an untrusted key\0",
            Self::MissingSignature => b"no signature TLV\0",
            Self::SignatureKindMismatch => b"signature type does not match the trusted key\0",
            Self::BadPureFlag => b"invalid SIG_PURE TLV\0",
            Self::BadSignature => b"signature verification failed\0",
            Self::MissingSecurityCounter => b"no security counter TLV\0",
            Self::Rollback => b"security counter below the device's floor (rollback)\0",
            Self::Other => b"verification failed\0",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FwvStatus;

    #[test]
    fn every_message_is_nul_terminated_once() {
        for status in [
            FwvStatus::Ok,
            FwvStatus::HashMismatch,
            FwvStatus::Rollback,
            FwvStatus::Other,
        ] {
            let message = status.message();
            assert_eq!(message.last(), Some(&0));
            assert_eq!(message.iter().filter(|b| **b == 0).count(), 1);
        }
    }
}
