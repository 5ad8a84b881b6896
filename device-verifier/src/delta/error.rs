//! Apply errors: a kind plus an offset (patch byte offset for decoding errors, slot offset for
//! flash and bounds errors).

use core::fmt;

use manifest::delta::DeltaErrorKind;

use crate::error::VerifyErrorKind;

/// Why a delta apply stopped. Nothing is reported as success unless every check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApplyErrorKind {
    /// The patch header is malformed (offset: header byte).
    Header(DeltaErrorKind),
    /// The base slot does not hold the image the patch was made from (size or SHA-256).
    WrongBase,
    /// The target slot cannot hold the result rounded up to whole pages.
    TargetTooSmall,
    /// The page buffer is empty or larger than 4 GiB.
    BadPageBuffer,
    /// The patch source reported an error.
    PatchRead,
    /// The patch ended early, or the coder needed bytes past `payload_len`.
    Truncated,
    /// Bytes follow the last record, or the source goes on after the payload.
    TrailingBytes,
    /// The payload decodes to something no encoder writes (bad first byte, oversized field,
    /// empty record).
    Corrupt,
    /// A record would produce bytes past `result_size`.
    ResultOverrun,
    /// A record would read the base image outside `0..base_size`.
    BaseOverrun,
    /// The produced image's SHA-256 differs from `result_digest`.
    ResultMismatch,
    /// Reading the base slot failed.
    FlashRead,
    /// Erasing or writing the target slot failed.
    FlashWrite,
    /// The produced image failed `verify_image`.
    Verify(VerifyErrorKind),
}

impl ApplyErrorKind {
    /// A short, stable description.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Header(kind) => kind.as_str(),
            Self::WrongBase => "base image does not match the patch",
            Self::TargetTooSmall => "target slot too small for the result",
            Self::BadPageBuffer => "page buffer empty or too large",
            Self::PatchRead => "reading the patch failed",
            Self::Truncated => "patch truncated",
            Self::TrailingBytes => "trailing bytes after the patch payload",
            Self::Corrupt => "corrupt patch payload",
            Self::ResultOverrun => "patch writes past the declared result size",
            Self::BaseOverrun => "patch reads outside the base image",
            Self::ResultMismatch => "result digest mismatch",
            Self::FlashRead => "flash read failed",
            Self::FlashWrite => "flash erase or write failed",
            Self::Verify(kind) => kind.as_str(),
        }
    }
}

/// A refused or failed apply: why, and where (see the module docs for which offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyError {
    /// Why the apply stopped.
    pub kind: ApplyErrorKind,
    /// Patch byte offset for decoding errors, slot offset for flash and bounds errors.
    pub offset: u32,
}

impl ApplyError {
    /// An error of `kind` at `offset`.
    pub const fn new(kind: ApplyErrorKind, offset: u32) -> Self {
        Self { kind, offset }
    }
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at offset {}", self.kind.as_str(), self.offset)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ApplyError {}
