//! Our delta extension (SUIT defines none; see `docs/FORMATS.md`, "Delta extension").
//!
//! Carried in the shared sequence as the custom parameter [`super::Parameter::FWSIGN_DELTA_PATCHES`]
//! (`suit-parameter-custom => bstr`, so the draft's own CDDL still accepts the envelope):
//!
//! ```cddl
//! FW_Delta_Patches = [ + FW_Delta_Patch ]
//! FW_Delta_Patch = [
//!     format:           uint,         ; DeltaFormat
//!     precursor-digest: SUIT_Digest,  ; SHA-256 of the complete signed image the patch applies to
//!     precursor-size:   uint,
//!     patch-digest:     SUIT_Digest,  ; SHA-256 of the patch file
//!     patch-size:       uint,
//!     patch-uri:        tstr,         ; may be relative
//! ]
//! ```
//!
//! The result of applying a patch is the manifest's image (image-digest / image-size), so a patch
//! is bound both to its precursor and to its result (RFC 9124 REQ.SEC.AUTH.PRECURSOR).

use super::cbor::Reader;
use super::Digest;
use crate::error::{DecodeError, DecodeErrorKind as Kind};

/// Most delta patches one manifest may list.
pub const MAX_DELTAS: usize = 8;

/// A patch format identifier. Unknown values stay representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeltaFormat(pub u64);

impl DeltaFormat {
    /// The project's own delta container, version 1 (the delta-patch issue's format).
    pub const FWSIGN_V1: Self = Self(1);
    /// A plain BSDIFF40 patch (Colin Percival's bsdiff 4.x).
    pub const BSDIFF40: Self = Self(2);
}

/// One allowed patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaPatch<'a> {
    pub format: DeltaFormat,
    pub precursor_digest: Digest<'a>,
    pub precursor_size: u64,
    pub patch_digest: Digest<'a>,
    pub patch_size: u64,
    pub uri: &'a str,
}

impl<'a> DeltaPatch<'a> {
    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        r.array_exact(6)?;
        Ok(Self {
            format: DeltaFormat(r.uint()?),
            precursor_digest: Digest::read(r)?,
            precursor_size: r.uint()?,
            patch_digest: Digest::read(r)?,
            patch_size: r.uint()?,
            uri: r.tstr()?,
        })
    }
}

/// The validated patch list; iteration cannot fail.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeltaIter<'a> {
    reader: Option<Reader<'a>>,
    remaining: usize,
}

impl<'a> DeltaIter<'a> {
    pub(crate) fn decode(bytes: &'a [u8], base: usize) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, base);
        let count = r.array_len()?;
        if count == 0 {
            return Err(DecodeError::new(Kind::UnexpectedValue, base));
        }
        if count > MAX_DELTAS {
            return Err(DecodeError::new(Kind::TooManyEntries, base));
        }
        let first = r;
        for _ in 0..count {
            DeltaPatch::read(&mut r)?;
        }
        r.finish()?;
        Ok(Self {
            reader: Some(first),
            remaining: count,
        })
    }
}

impl<'a> Iterator for DeltaIter<'a> {
    type Item = DeltaPatch<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let reader = self.reader.as_mut()?;
        if self.remaining == 0 {
            return None;
        }
        self.remaining = self.remaining.saturating_sub(1);
        DeltaPatch::read(reader).ok()
    }
}
