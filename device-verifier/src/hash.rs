//! The image hash algorithms MCUboot defines that this verifier supports.

use manifest::image::TlvKind;
use sha2::{Digest, Sha256, Sha512};

/// Largest digest (SHA-512).
pub(crate) const MAX_DIGEST: usize = 64;

/// The image hash algorithm: which hash TLV an image carries (MCUboot `IMAGE_TLV_SHA256` /
/// `IMAGE_TLV_SHA512`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-256 (imgtool's default).
    Sha256,
    /// SHA-512 (`imgtool sign --sha 512`, and Ed25519 `--pure` images without a hash TLV).
    Sha512,
}

impl HashAlg {
    pub(crate) fn from_tlv(kind: TlvKind) -> Option<Self> {
        match kind {
            TlvKind::SHA256 => Some(Self::Sha256),
            TlvKind::SHA512 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// Digest length in bytes (32 or 64).
    pub fn digest_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }

    pub(crate) fn hasher(self) -> Hasher {
        match self {
            Self::Sha256 => Hasher::Sha256(Sha256::new()),
            Self::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    /// One-shot digest into a fixed buffer; returns the used prefix length.
    pub(crate) fn digest_into(self, data: &[u8], out: &mut [u8; MAX_DIGEST]) -> usize {
        let mut hasher = self.hasher();
        hasher.update(data);
        hasher.finish(out)
    }
}

pub(crate) enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
        }
    }

    /// Writes the digest to the front of `out` and returns its length.
    pub(crate) fn finish(self, out: &mut [u8; MAX_DIGEST]) -> usize {
        match self {
            Self::Sha256(h) => {
                let (head, _) = out.split_at_mut(32);
                head.copy_from_slice(&h.finalize());
                32
            }
            Self::Sha512(h) => {
                out.copy_from_slice(&h.finalize());
                64
            }
        }
    }
}
