//! Signed release manifests: the IETF SUIT envelope (draft-ietf-suit-manifest, approved at -34)
//! in the profile our tools emit (documented in `docs/FORMATS.md`, "SUIT profile"; the profile
//! CDDL is `docs/suit-profile.cddl`).
//!
//! ```text
//! 107({ 2: << [ << SUIT_Digest >>, + << 18([ << {1: alg} >>, {}, null, sig ]) >> ] >>,
//!       3: << { 1: 1, 2: seq, 3: << common >>, 7: << validate >>, 20: << install >>, 23: digest } >>,
//!      23: << text >> })
//! ```
//!
//! Decoding is two-phase so that nothing inside the manifest is interpreted before it is
//! authenticated (draft §8.3; RFC 9124 REQ.SEC.AUTHENTIC): [`Envelope::decode`] only walks the envelope and
//! the authentication wrapper and locates the manifest bstr; the caller checks the signatures and
//! the digest, then calls [`Envelope::manifest`].
//!
//! The encoder (feature `alloc`) writes exactly the canonical bytes this decoder accepts.

mod cbor;
#[cfg(feature = "alloc")]
mod class_ids;
mod common;
mod cose;
mod delta;
#[cfg(feature = "alloc")]
pub mod encode;
mod envelope;
mod manifest;
mod text;

pub use cbor::{MAX_DEPTH, MAX_ENTRIES};
#[cfg(feature = "alloc")]
pub use class_ids::{class_ids, ClassIds};
pub use common::Common;
pub use cose::{key_id, CoseAlg, Sign1, KID_LEN, SIG_STRUCTURE_MAX};
pub use delta::{DeltaFormat, DeltaIter, DeltaPatch, MAX_DELTAS};
pub use envelope::{Envelope, Sign1Iter, MAX_SIGNATURES};
pub use manifest::Manifest;
pub use text::Text;

use crate::error::{DecodeError, DecodeErrorKind as Kind};
use cbor::Reader;

/// CBOR tag of `SUIT_Envelope_Tagged` (draft §8.2).
pub const TAG_ENVELOPE: u64 = 107;
/// Highest sequence number of a release in this profile, 2^63 − 1: the server keeps sequence
/// numbers in signed 64-bit database columns, so the signer signs none above and the server
/// refuses any above (`sequence_out_of_range`), rather than disagreeing (docs/FORMATS.md).
pub const MAX_SEQUENCE: u64 = i64::MAX as u64;
/// CBOR tag of `COSE_Sign1_Tagged` (RFC 9052 §2).
pub const TAG_COSE_SIGN1: u64 = 18;
/// Length of a SHA-256 digest.
pub const SHA256_LEN: usize = 32;
/// Length of an RFC 4122 UUID (vendor and class identifiers).
pub const UUID_LEN: usize = 16;

/// A key of the envelope or manifest map (draft §8.2, §8.4; IANA "SUIT Envelope Elements",
/// "SUIT Manifest Elements"). Unknown values stay representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Member(pub i64);

impl Member {
    pub const AUTHENTICATION_WRAPPER: Self = Self(2);
    pub const MANIFEST: Self = Self(3);
    pub const VERSION: Self = Self(1);
    pub const SEQUENCE_NUMBER: Self = Self(2);
    pub const COMMON: Self = Self(3);
    pub const REFERENCE_URI: Self = Self(4);
    pub const VALIDATE: Self = Self(7);
    pub const LOAD: Self = Self(8);
    pub const INVOKE: Self = Self(9);
    pub const PAYLOAD_FETCH: Self = Self(16);
    pub const INSTALL: Self = Self(20);
    pub const TEXT: Self = Self(23);
    /// `SUIT_Common` keys (draft §8.4.5).
    pub const COMMON_COMPONENTS: Self = Self(2);
    pub const COMMON_SHARED_SEQUENCE: Self = Self(4);
}

/// A SUIT command: condition or directive (draft §8.4.9, §8.4.10). Unknown values stay representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Command(pub i64);

impl Command {
    pub const CONDITION_VENDOR_IDENTIFIER: Self = Self(1);
    pub const CONDITION_CLASS_IDENTIFIER: Self = Self(2);
    pub const CONDITION_IMAGE_MATCH: Self = Self(3);
    pub const CONDITION_COMPONENT_SLOT: Self = Self(5);
    pub const CONDITION_CHECK_CONTENT: Self = Self(6);
    pub const DIRECTIVE_SET_COMPONENT_INDEX: Self = Self(12);
    pub const CONDITION_ABORT: Self = Self(14);
    pub const DIRECTIVE_TRY_EACH: Self = Self(15);
    pub const DIRECTIVE_WRITE: Self = Self(18);
    pub const DIRECTIVE_OVERRIDE_PARAMETERS: Self = Self(20);
    pub const DIRECTIVE_FETCH: Self = Self(21);
    pub const DIRECTIVE_COPY: Self = Self(22);
    pub const DIRECTIVE_INVOKE: Self = Self(23);
    pub const CONDITION_DEVICE_IDENTIFIER: Self = Self(24);
    pub const DIRECTIVE_SWAP: Self = Self(31);
    pub const DIRECTIVE_RUN_SEQUENCE: Self = Self(32);

    /// Commands the draft defines (known, but maybe outside our profile).
    pub const fn is_known(self) -> bool {
        matches!(self.0, 1..=3 | 5 | 6 | 12 | 14 | 15 | 18 | 20..=24 | 31 | 32)
    }
}

/// A SUIT parameter (draft §8.4.8). Negative values are `suit-parameter-custom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Parameter(pub i64);

impl Parameter {
    pub const VENDOR_IDENTIFIER: Self = Self(1);
    pub const CLASS_IDENTIFIER: Self = Self(2);
    pub const IMAGE_DIGEST: Self = Self(3);
    pub const COMPONENT_SLOT: Self = Self(5);
    pub const STRICT_ORDER: Self = Self(12);
    pub const SOFT_FAILURE: Self = Self(13);
    pub const IMAGE_SIZE: Self = Self(14);
    pub const CONTENT: Self = Self(18);
    pub const URI: Self = Self(21);
    pub const SOURCE_COMPONENT: Self = Self(22);
    pub const INVOKE_ARGS: Self = Self(23);
    pub const DEVICE_IDENTIFIER: Self = Self(24);
    pub const FETCH_ARGUMENTS: Self = Self(25);
    /// Our extension (a `suit-parameter-custom`, so the draft's CDDL still validates it): the
    /// delta patches allowed to produce this image. See [`DeltaPatch`] and `docs/FORMATS.md`.
    pub const FWSIGN_DELTA_PATCHES: Self = Self(-257);

    pub const fn is_known(self) -> bool {
        matches!(self.0, 1..=3 | 5 | 12..=14 | 18 | 21..=25 | -257)
    }
}

/// A COSE hash algorithm in a `SUIT_Digest` (draft §8.3, §8.4.12; IANA COSE Algorithms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DigestAlg(pub i64);

impl DigestAlg {
    pub const SHA256: Self = Self(-16);
    pub const SHAKE128: Self = Self(-18);
    pub const SHA384: Self = Self(-43);
    pub const SHA512: Self = Self(-44);
    pub const SHAKE256: Self = Self(-45);
}

/// A `SUIT_Digest` (draft §8.3, §8.4.12) in the profile: SHA-256 only, no extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digest<'a> {
    pub alg: DigestAlg,
    pub bytes: &'a [u8; SHA256_LEN],
}

impl<'a> Digest<'a> {
    /// Decodes one `SUIT_Digest` that must fill `bytes` exactly; `base` is its absolute offset.
    pub fn decode(bytes: &'a [u8], base: usize) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, base);
        let digest = Self::read(&mut r)?;
        r.finish()?;
        Ok(digest)
    }

    pub(crate) fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let at = r.offset();
        let len = r.array_len()?;
        if len != 2 {
            // `$$SUIT_Digest-extensions` are outside the profile.
            return Err(DecodeError::new(
                if len > 2 {
                    Kind::UnsupportedFeature
                } else {
                    Kind::MissingMember
                },
                at,
            ));
        }
        let alg_at = r.offset();
        let alg = DigestAlg(r.int()?);
        // draft CDDL (suit-cose-hash-algs): SHA-256 is REQUIRED to implement; the profile allows nothing else.
        if alg != DigestAlg::SHA256 {
            return Err(DecodeError::new(Kind::UnsupportedAlgorithm, alg_at));
        }
        let bytes_at = r.offset();
        let bytes = r
            .bstr()?
            .try_into()
            .map_err(|_| DecodeError::new(Kind::UnexpectedValue, bytes_at))?;
        Ok(Self { alg, bytes })
    }
}

/// SHA-256, supplied by the caller so that the decoders stay free of cryptography (only the
/// `alloc` encoders hash, for `encode::EnvelopeBuilder`).
pub trait Sha256Fn {
    fn sha256(&self, data: &[u8]) -> [u8; SHA256_LEN];
}

impl<F: Fn(&[u8]) -> [u8; SHA256_LEN]> Sha256Fn for F {
    fn sha256(&self, data: &[u8]) -> [u8; SHA256_LEN] {
        self(data)
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests;
