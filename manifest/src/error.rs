//! Decode errors: a kind plus the byte offset where decoding stopped (in the style of `der`).

use core::fmt;

/// Why a decoder rejected its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended before a field that had to be there.
    Truncated,
    /// The image header does not start with `IMAGE_MAGIC` (0x96f3b83d).
    BadImageMagic,
    /// `ih_hdr_size` is smaller than the 32-byte header itself.
    HeaderTooSmall,
    /// A size or offset computed from header fields overflows 32 bits.
    SizeOverflow,
    /// A TLV area does not start with the expected info magic (0x6907 / 0x6908).
    BadTlvInfoMagic,
    /// The protected TLV area's `it_tlv_tot` differs from the header's `ih_protect_tlv_size`.
    ProtectedSizeMismatch,
    /// A TLV area's total is smaller than its own 4-byte info header.
    TlvAreaTooSmall,
    /// A TLV entry's length runs past the end of its area.
    TlvOverrun,
    /// Bytes follow the structure where none are allowed.
    TrailingBytes,
}

impl DecodeErrorKind {
    /// A short, stable, human-readable description.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Truncated => "input truncated",
            Self::BadImageMagic => "bad image magic",
            Self::HeaderTooSmall => "header size below 32 bytes",
            Self::SizeOverflow => "size fields overflow",
            Self::BadTlvInfoMagic => "bad TLV info magic",
            Self::ProtectedSizeMismatch => "protected TLV size disagrees with header",
            Self::TlvAreaTooSmall => "TLV area smaller than its info header",
            Self::TlvOverrun => "TLV length runs past its area",
            Self::TrailingBytes => "trailing bytes",
        }
    }
}

/// A malformed input: what was wrong and at which byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DecodeError {
    pub kind: DecodeErrorKind,
    pub offset: usize,
}

impl DecodeError {
    pub const fn new(kind: DecodeErrorKind, offset: usize) -> Self {
        Self { kind, offset }
    }

    /// The same error, shifted by `base` (for views nested inside a larger buffer).
    #[must_use]
    pub const fn at_base(self, base: usize) -> Self {
        Self {
            kind: self.kind,
            offset: self.offset.saturating_add(base),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte offset {}", self.kind.as_str(), self.offset)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}
