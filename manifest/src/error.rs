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

    // --- CBOR (RFC 8949), as the SUIT decoder reads it ---
    /// A reserved additional-information value, a float, or an undefined simple value.
    CborInvalid,
    /// An indefinite-length string, array or map (our profile allows definite lengths only).
    IndefiniteLength,
    /// An integer or length not in its shortest form (RFC 8949 §4.2.1 preferred serialization).
    NonPreferredEncoding,
    /// A CBOR item of another major type (or tag, or simple value) than the format requires.
    UnexpectedType,
    /// A text string that is not valid UTF-8.
    InvalidUtf8,
    /// An integer outside the range the field allows.
    IntegerOverflow,
    /// The same key twice in one map.
    DuplicateKey,
    /// Items nest deeper than the decoder's bound.
    DepthExceeded,
    /// An array, map or command sequence has more entries than the decoder's bound.
    TooManyEntries,

    // --- SUIT (draft-ietf-suit-manifest) and COSE (RFC 9052) structure ---
    /// A required member is absent.
    MissingMember,
    /// A member whose meaning we do not know; inside the signed manifest every member is critical.
    UnknownCriticalMember,
    /// A value the format fixes (manifest version 1, tag 107 / 18, ...) has another value.
    UnexpectedValue,
    /// A digest or signature algorithm outside the profile.
    UnsupportedAlgorithm,
    /// A SUIT feature that exists in the draft but is outside our profile (several components,
    /// try-each, load, payload-fetch, embedded COSE payload, ...).
    UnsupportedFeature,
    /// A command or parameter outside the profile.
    UnsupportedCommand,
    /// A condition refers to a parameter no directive has set.
    ParameterNotSet,
    /// A severed member's digest is in the manifest but the member is not in the envelope.
    SeveredMemberMissing,
    /// A severable member in the envelope does not match the digest the manifest holds for it.
    SeveredDigestMismatch,
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
            Self::CborInvalid => "invalid CBOR item",
            Self::IndefiniteLength => "indefinite-length CBOR item",
            Self::NonPreferredEncoding => "CBOR integer or length not in shortest form",
            Self::UnexpectedType => "unexpected CBOR type",
            Self::InvalidUtf8 => "text string is not UTF-8",
            Self::IntegerOverflow => "integer out of range",
            Self::DuplicateKey => "duplicate map key",
            Self::DepthExceeded => "nesting too deep",
            Self::TooManyEntries => "too many entries",
            Self::MissingMember => "required member missing",
            Self::UnknownCriticalMember => "unknown critical member",
            Self::UnexpectedValue => "unexpected value",
            Self::UnsupportedAlgorithm => "algorithm outside the SUIT profile",
            Self::UnsupportedFeature => "SUIT feature outside the profile",
            Self::UnsupportedCommand => "SUIT command or parameter outside the profile",
            Self::ParameterNotSet => "condition on a parameter that was not set",
            Self::SeveredMemberMissing => "severed member absent from the envelope",
            Self::SeveredDigestMismatch => "severable member does not match its digest",
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
