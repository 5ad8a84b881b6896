//! The delta patch container: a fixed 96-byte header followed by one range-coded payload.
//!
//! ```text
//! [ header 96 B | payload (payload_len bytes, range coded) ]
//! ```
//!
//! The payload decodes to a bsdiff-family record stream that a device reads front to back once
//! (seek, diff bytes, extra bytes, interleaved per record), coded with an adaptive binary range
//! coder whose context models are fixed by [`model`]. Everything here is specified in
//! `docs/FORMATS.md`, section "Delta patch format"; the checks below cite it as `FORMATS §Delta`.
//!
//! Decoding is `no_std` and zero-copy: [`PatchView`] borrows the payload.
//! [`DeltaHeader::to_bytes`] and, with the `alloc` feature, `encode_patch` build patches.

pub mod model;

use core::fmt;

use crate::bytes::{array_at, u16_at, u32_at};

/// First 8 bytes of every patch.
pub const MAGIC: [u8; 8] = *b"FWDELTA\0";
/// The only format version this crate reads and writes.
pub const FORMAT_VERSION: u16 = 1;
/// Size of the fixed header, which is also the value of its `header_len` field.
pub const HEADER_LEN: usize = 96;
/// Length of a SHA-256 digest.
pub const DIGEST_LEN: usize = 32;
/// The range coder's initial and final bytes make even an empty payload 5 bytes long.
pub const MIN_PAYLOAD_LEN: u32 = 5;

/// How the payload is compressed. A newtype so unknown values stay representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Codec(pub u8);

impl Codec {
    /// Adaptive binary range coder (LZMA-style, 11-bit probabilities) with the per-field
    /// context models of [`model`].
    pub const RANGE_CM: Self = Self(1);
}

/// Parameters of [`Codec::RANGE_CM`], carried in the header so a device can size its RAM
/// and refuse models it was not built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodecParams {
    /// Slowest probability adaptation rate: `p += (2048 - p) >> adapt_shift` (see
    /// [`model::adapt`]).
    pub adapt_shift: u8,
    /// How many high bits of the previous output byte select the literal model
    /// (0 ..= [`model::MAX_LITERAL_CONTEXT_BITS`]).
    pub literal_context_bits: u8,
}

impl CodecParams {
    /// What the signer writes.
    pub const DEFAULT: Self = Self {
        adapt_shift: 4,
        literal_context_bits: 1,
    };
}

/// The decoded fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeltaHeader {
    pub codec: Codec,
    pub params: CodecParams,
    /// Size of the image the patch applies to (the running image).
    pub base_size: u32,
    /// SHA-256 over exactly `base_size` bytes of the base slot.
    pub base_digest: [u8; DIGEST_LEN],
    /// Size of the image the patch produces; no apply may write more.
    pub result_size: u32,
    /// SHA-256 of the produced image.
    pub result_digest: [u8; DIGEST_LEN],
    /// Length of the range-coded payload that follows the header.
    pub payload_len: u32,
}

/// Why a patch header or container was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeltaErrorKind {
    /// The input ended before the header or payload did.
    Truncated,
    /// The first 8 bytes are not [`MAGIC`].
    BadMagic,
    /// The format version is not [`FORMAT_VERSION`].
    UnsupportedVersion,
    /// `header_len` is not [`HEADER_LEN`].
    BadHeaderLen,
    /// The codec is unknown.
    UnsupportedCodec,
    /// The codec parameters are outside what this version allows.
    BadCodecParams,
    /// A reserved field is not zero.
    ReservedNonZero,
    /// `payload_len` is below [`MIN_PAYLOAD_LEN`].
    PayloadTooSmall,
    /// Bytes follow the payload.
    TrailingBytes,
}

impl DeltaErrorKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Truncated => "patch truncated",
            Self::BadMagic => "bad patch magic",
            Self::UnsupportedVersion => "unsupported patch format version",
            Self::BadHeaderLen => "bad patch header length",
            Self::UnsupportedCodec => "unsupported patch codec",
            Self::BadCodecParams => "patch codec parameters out of range",
            Self::ReservedNonZero => "reserved patch header field not zero",
            Self::PayloadTooSmall => "patch payload shorter than the coder's minimum",
            Self::TrailingBytes => "trailing bytes after the patch payload",
        }
    }
}

/// A malformed patch container: what was wrong and at which byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeltaError {
    pub kind: DeltaErrorKind,
    pub offset: usize,
}

impl DeltaError {
    pub const fn new(kind: DeltaErrorKind, offset: usize) -> Self {
        Self { kind, offset }
    }
}

impl fmt::Display for DeltaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte offset {}", self.kind.as_str(), self.offset)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DeltaError {}

fn truncated(e: crate::DecodeError) -> DeltaError {
    DeltaError::new(DeltaErrorKind::Truncated, e.offset)
}

impl DeltaHeader {
    /// Parses the fixed header from the first [`HEADER_LEN`] bytes of `bytes` (more may follow).
    pub fn parse(bytes: &[u8]) -> Result<Self, DeltaError> {
        let err = DeltaError::new;
        // FORMATS §Delta, header table: offset 0, magic "FWDELTA\0".
        if array_at::<8>(bytes, 0).map_err(truncated)? != MAGIC {
            return Err(err(DeltaErrorKind::BadMagic, 0));
        }
        // FORMATS §Delta: version 1 only; a device must not guess at a newer layout.
        if u16_at(bytes, 8).map_err(truncated)? != FORMAT_VERSION {
            return Err(err(DeltaErrorKind::UnsupportedVersion, 8));
        }
        // FORMATS §Delta: header_len is exactly 96 in version 1.
        if usize::from(u16_at(bytes, 10).map_err(truncated)?) != HEADER_LEN {
            return Err(err(DeltaErrorKind::BadHeaderLen, 10));
        }
        // Everything below is inside the 96 bytes: fail early and uniformly on a short header.
        array_at::<HEADER_LEN>(bytes, 0).map_err(|_| err(DeltaErrorKind::Truncated, bytes.len()))?;
        let fixed = |offset| array_at::<1>(bytes, offset).map(|[b]| b).map_err(truncated);
        // FORMATS §Delta: codec 1 (RANGE_CM) is the only codec of version 1.
        let codec = Codec(fixed(12)?);
        if codec != Codec::RANGE_CM {
            return Err(err(DeltaErrorKind::UnsupportedCodec, 12));
        }
        let params = CodecParams {
            adapt_shift: fixed(13)?,
            literal_context_bits: fixed(14)?,
        };
        // FORMATS §Delta: adapt_shift 4..=6, literal_context_bits 0..=1 (bounds the device RAM).
        if !(model::MIN_ADAPT_SHIFT..=model::MAX_ADAPT_SHIFT).contains(&params.adapt_shift) {
            return Err(err(DeltaErrorKind::BadCodecParams, 13));
        }
        if params.literal_context_bits > model::MAX_LITERAL_CONTEXT_BITS {
            return Err(err(DeltaErrorKind::BadCodecParams, 14));
        }
        // FORMATS §Delta: reserved bytes 15 and 92..96 are zero.
        if fixed(15)? != 0 {
            return Err(err(DeltaErrorKind::ReservedNonZero, 15));
        }
        if u32_at(bytes, 92).map_err(truncated)? != 0 {
            return Err(err(DeltaErrorKind::ReservedNonZero, 92));
        }
        let payload_len = u32_at(bytes, 88).map_err(truncated)?;
        // FORMATS §Delta: the range coder always emits at least 5 bytes.
        if payload_len < MIN_PAYLOAD_LEN {
            return Err(err(DeltaErrorKind::PayloadTooSmall, 88));
        }
        Ok(Self {
            codec,
            params,
            base_size: u32_at(bytes, 16).map_err(truncated)?,
            base_digest: array_at::<DIGEST_LEN>(bytes, 20).map_err(truncated)?,
            result_size: u32_at(bytes, 52).map_err(truncated)?,
            result_digest: array_at::<DIGEST_LEN>(bytes, 56).map_err(truncated)?,
            payload_len,
        })
    }

    /// The 96 header bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let fields: [(usize, &[u8]); 10] = [
            (0, &MAGIC),
            (8, &FORMAT_VERSION.to_le_bytes()),
            (10, &[96, 0]),
            (
                12,
                &[
                    self.codec.0,
                    self.params.adapt_shift,
                    self.params.literal_context_bits,
                    0,
                ],
            ),
            (16, &self.base_size.to_le_bytes()),
            (20, &self.base_digest),
            (52, &self.result_size.to_le_bytes()),
            (56, &self.result_digest),
            (88, &self.payload_len.to_le_bytes()),
            (92, &[0, 0, 0, 0]),
        ];
        for (offset, value) in fields {
            if let Some(dst) = out.get_mut(offset..offset.saturating_add(value.len())) {
                dst.copy_from_slice(value);
            }
        }
        out
    }
}

/// A whole patch in memory: header plus the borrowed payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchView<'a> {
    pub header: DeltaHeader,
    pub payload: &'a [u8],
}

impl<'a> PatchView<'a> {
    /// Parses header and payload; the input must end exactly where the payload does.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DeltaError> {
        let header = DeltaHeader::parse(bytes)?;
        let rest = bytes.get(HEADER_LEN..).unwrap_or_default();
        let len = usize::try_from(header.payload_len).unwrap_or(usize::MAX);
        let payload = rest
            .get(..len)
            .ok_or(DeltaError::new(DeltaErrorKind::Truncated, bytes.len()))?;
        // FORMATS §Delta: nothing follows the payload.
        if rest.len() != len {
            return Err(DeltaError::new(
                DeltaErrorKind::TrailingBytes,
                HEADER_LEN.saturating_add(len),
            ));
        }
        Ok(Self { header, payload })
    }
}

/// Header followed by payload. `header.payload_len` must equal `payload.len()`.
#[cfg(feature = "alloc")]
pub fn encode_patch(header: &DeltaHeader, payload: &[u8]) -> alloc::vec::Vec<u8> {
    let mut out = alloc::vec::Vec::with_capacity(HEADER_LEN.saturating_add(payload.len()));
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests;
