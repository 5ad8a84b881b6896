//! A strict CBOR (RFC 8949) reader over borrowed bytes.
//!
//! Hand-written rather than taken from a crate because the device side must be `no_std`, never
//! allocate, never panic, and be *strict* in ways general decoders are not by default: only
//! definite lengths, only preferred (shortest) integer and length encodings, no floats or
//! undefined simple values, no duplicate map keys, a bounded nesting depth, array/map counts that
//! cannot exceed the bytes left, and no trailing bytes. Every error carries the absolute offset
//! of the offending item in the outermost buffer (`base` is added for nested `bstr .cbor` views).

use crate::error::{DecodeError, DecodeErrorKind as Kind};

/// Deepest nesting (arrays, maps, tags, `bstr .cbor` wrappers) any SUIT structure we read needs.
pub const MAX_DEPTH: u8 = 16;
/// Most entries in one array or map.
pub const MAX_ENTRIES: usize = 64;

pub(crate) const MAJOR_UINT: u8 = 0;
pub(crate) const MAJOR_NINT: u8 = 1;
pub(crate) const MAJOR_BSTR: u8 = 2;
pub(crate) const MAJOR_TSTR: u8 = 3;
pub(crate) const MAJOR_ARRAY: u8 = 4;
pub(crate) const MAJOR_MAP: u8 = 5;
pub(crate) const MAJOR_TAG: u8 = 6;
pub(crate) const MAJOR_SIMPLE: u8 = 7;

/// RFC 8949 §3.3 simple values we accept.
const SIMPLE_FALSE: u64 = 20;
const SIMPLE_TRUE: u64 = 21;
const SIMPLE_NULL: u64 = 22;

/// A cursor over one CBOR byte string. `Copy`, so a caller can look ahead on a copy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    base: usize,
    depth: u8,
}

impl<'a> Reader<'a> {
    /// A reader over a whole buffer whose first byte sits at absolute offset `base`.
    pub(crate) fn new(bytes: &'a [u8], base: usize) -> Self {
        Self {
            bytes,
            pos: 0,
            base,
            depth: 0,
        }
    }

    /// A reader over the contents of a `bstr .cbor` wrapper found by this reader: one level deeper.
    pub(crate) fn nested(&self, bytes: &'a [u8], base: usize) -> Result<Self, DecodeError> {
        let depth = self.deeper()?;
        Ok(Self {
            bytes,
            pos: 0,
            base,
            depth,
        })
    }

    fn deeper(&self) -> Result<u8, DecodeError> {
        match self.depth.checked_add(1) {
            Some(d) if d <= MAX_DEPTH => Ok(d),
            _ => Err(self.error(Kind::DepthExceeded)),
        }
    }

    /// Absolute offset of the next item.
    pub(crate) fn offset(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    pub(crate) fn error(&self, kind: Kind) -> DecodeError {
        DecodeError::new(kind, self.offset())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// RFC 8949 §3: no bytes may follow the top-level item.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.error(Kind::TrailingBytes))
        }
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.bytes.get(self.pos).ok_or(self.error(Kind::Truncated))?;
        self.pos = self.pos.saturating_add(1);
        Ok(b)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(len).ok_or(self.error(Kind::Truncated))?;
        let out = self.bytes.get(self.pos..end).ok_or(self.error(Kind::Truncated))?;
        self.pos = end;
        Ok(out)
    }

    /// Major type of the next item, without consuming it.
    pub(crate) fn peek_major(&self) -> Result<u8, DecodeError> {
        self.bytes
            .get(self.pos)
            .map(|b| b >> 5)
            .ok_or(self.error(Kind::Truncated))
    }

    /// Reads an initial byte and its argument (RFC 8949 §3). On error, nothing useful is left
    /// of `self` (callers propagate).
    fn head(&mut self) -> Result<(u8, u64), DecodeError> {
        let start = *self;
        let initial = self.byte()?;
        let major = initial >> 5;
        let info = initial & 0x1f;
        if major == MAJOR_SIMPLE && info >= 24 {
            // Floats and one-byte simple values: outside every SUIT structure.
            return Err(start.error(Kind::CborInvalid));
        }
        let arg = match info {
            0..=23 => u64::from(info),
            24 => {
                let v = u64::from(self.byte()?);
                // RFC 8949 §4.2.1: preferred serialization uses the shortest form.
                if v < 24 {
                    return Err(start.error(Kind::NonPreferredEncoding));
                }
                v
            }
            25 => {
                let v = u64::from(u16::from_be_bytes(self.array::<2>()?));
                if v <= 0xff {
                    return Err(start.error(Kind::NonPreferredEncoding));
                }
                v
            }
            26 => {
                let v = u64::from(u32::from_be_bytes(self.array::<4>()?));
                if v <= 0xffff {
                    return Err(start.error(Kind::NonPreferredEncoding));
                }
                v
            }
            27 => {
                let v = u64::from_be_bytes(self.array::<8>()?);
                if v <= 0xffff_ffff {
                    return Err(start.error(Kind::NonPreferredEncoding));
                }
                v
            }
            // RFC 8949 §3.2: indefinite lengths; our profile forbids them.
            31 if (MAJOR_BSTR..=MAJOR_MAP).contains(&major) => return Err(start.error(Kind::IndefiniteLength)),
            // 28..=30 are reserved; 31 elsewhere is a stray "break" or invalid.
            _ => return Err(start.error(Kind::CborInvalid)),
        };
        if major == MAJOR_SIMPLE && !matches!(arg, SIMPLE_FALSE | SIMPLE_TRUE | SIMPLE_NULL) {
            // Floats, `undefined` and unassigned simple values are outside every SUIT structure.
            return Err(start.error(Kind::CborInvalid));
        }
        Ok((major, arg))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let slice = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    fn expect(&mut self, major: u8) -> Result<u64, DecodeError> {
        let start = *self;
        let (m, arg) = self.head()?;
        if m != major {
            *self = start;
            return Err(start.error(Kind::UnexpectedType));
        }
        Ok(arg)
    }

    pub(crate) fn uint(&mut self) -> Result<u64, DecodeError> {
        self.expect(MAJOR_UINT)
    }

    /// An integer of either sign that fits `i64`.
    pub(crate) fn int(&mut self) -> Result<i64, DecodeError> {
        let start = *self;
        let (major, arg) = self.head()?;
        let magnitude = i64::try_from(arg).map_err(|_| start.error(Kind::IntegerOverflow))?;
        match major {
            MAJOR_UINT => Ok(magnitude),
            // RFC 8949 §3.1: major type 1 encodes -1 - arg.
            MAJOR_NINT => Ok(-1i64 - magnitude),
            _ => Err(start.error(Kind::UnexpectedType)),
        }
    }

    fn length(&mut self, major: u8) -> Result<usize, DecodeError> {
        let start = *self;
        let len = self.expect(major)?;
        usize::try_from(len).map_err(|_| start.error(Kind::Truncated))
    }

    pub(crate) fn bstr(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.length(MAJOR_BSTR)?;
        self.take(len)
    }

    /// A byte string: `(encoded item including its header, contents, absolute offset of contents)`.
    pub(crate) fn bstr_item(&mut self) -> Result<(&'a [u8], &'a [u8], usize), DecodeError> {
        let start = self.pos;
        let contents = self.bstr()?;
        let content_offset = self.offset().saturating_sub(contents.len());
        let whole = self.bytes.get(start..self.pos).unwrap_or_default();
        Ok((whole, contents, content_offset))
    }

    /// A `bstr .cbor T`: a reader over the wrapped item, one level deeper.
    pub(crate) fn bstr_cbor(&mut self) -> Result<Reader<'a>, DecodeError> {
        let (_, contents, at) = self.bstr_item()?;
        self.nested(contents, at)
    }

    pub(crate) fn tstr(&mut self) -> Result<&'a str, DecodeError> {
        let start = *self;
        let len = self.length(MAJOR_TSTR)?;
        let bytes = self.take(len)?;
        core::str::from_utf8(bytes).map_err(|_| start.error(Kind::InvalidUtf8))
    }

    fn count(&mut self, major: u8, items_per_entry: usize) -> Result<usize, DecodeError> {
        let start = *self;
        let len = self.length(major)?;
        if len > MAX_ENTRIES {
            return Err(start.error(Kind::TooManyEntries));
        }
        // Every item takes at least one byte: a count the rest of the input cannot hold is a lie.
        if len.saturating_mul(items_per_entry) > self.remaining() {
            return Err(start.error(Kind::Truncated));
        }
        Ok(len)
    }

    /// An array header; the caller reads exactly that many items.
    pub(crate) fn array_len(&mut self) -> Result<usize, DecodeError> {
        self.count(MAJOR_ARRAY, 1)
    }

    /// An array header of exactly `len` items.
    pub(crate) fn array_exact(&mut self, len: usize) -> Result<(), DecodeError> {
        let start = *self;
        if self.array_len()? == len {
            Ok(())
        } else {
            Err(start.error(Kind::UnexpectedValue))
        }
    }

    /// A map header; fails unless all keys are distinct (compared as encoded, which is exact
    /// because only preferred encodings are accepted). Leaves the reader at the first key.
    pub(crate) fn map_len(&mut self) -> Result<usize, DecodeError> {
        self.map_header(true)
    }

    fn map_header(&mut self, check_keys: bool) -> Result<usize, DecodeError> {
        let len = self.count(MAJOR_MAP, 2)?;
        if !check_keys {
            return Ok(len);
        }
        let mut outer = *self;
        for i in 0..len {
            let key_at = outer;
            let key = outer.raw_item()?;
            outer.skip()?;
            // Earlier entries were validated by the outer pass: re-scan them without re-checking.
            let mut inner = *self;
            for _ in 0..i {
                let start = inner.pos;
                inner.skip_with(false)?;
                if inner.bytes.get(start..inner.pos) == Some(key) {
                    return Err(key_at.error(Kind::DuplicateKey));
                }
                inner.skip_with(false)?;
            }
        }
        Ok(len)
    }

    pub(crate) fn tag(&mut self) -> Result<u64, DecodeError> {
        self.expect(MAJOR_TAG)
    }

    pub(crate) fn null(&mut self) -> Result<(), DecodeError> {
        let start = *self;
        match self.head()? {
            (MAJOR_SIMPLE, SIMPLE_NULL) => Ok(()),
            _ => Err(start.error(Kind::UnexpectedType)),
        }
    }

    /// Skips one complete item and returns its encoded bytes.
    pub(crate) fn raw_item(&mut self) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        self.skip()?;
        Ok(self.bytes.get(start..self.pos).unwrap_or_default())
    }

    /// Skips one complete well-formed item (recursion bounded by [`MAX_DEPTH`]).
    pub(crate) fn skip(&mut self) -> Result<(), DecodeError> {
        self.skip_with(true)
    }

    fn skip_with(&mut self, check_keys: bool) -> Result<(), DecodeError> {
        let start = *self;
        let (major, arg) = self.head()?;
        let len = usize::try_from(arg).map_err(|_| start.error(Kind::Truncated));
        match major {
            MAJOR_BSTR => {
                self.take(len?)?;
            }
            MAJOR_TSTR => {
                let bytes = self.take(len?)?;
                core::str::from_utf8(bytes).map_err(|_| start.error(Kind::InvalidUtf8))?;
            }
            MAJOR_ARRAY | MAJOR_MAP | MAJOR_TAG => {
                *self = start;
                let items = match major {
                    MAJOR_ARRAY => self.array_len()?,
                    MAJOR_MAP => self.map_header(check_keys)?.saturating_mul(2),
                    _ => {
                        self.tag()?;
                        1
                    }
                };
                let saved = self.depth;
                self.depth = self.deeper()?;
                for _ in 0..items {
                    self.skip_with(check_keys)?;
                }
                self.depth = saved;
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(bytes: &[u8], f: impl Fn(&mut Reader<'_>) -> Result<(), DecodeError>) -> Kind {
        f(&mut Reader::new(bytes, 0)).unwrap_err().kind
    }

    #[test]
    fn strictness() {
        assert_eq!(err(&[0x18, 0x05], |r| r.uint().map(drop)), Kind::NonPreferredEncoding);
        assert_eq!(err(&[0x5f, 0x41, 0x00, 0xff], |r| r.skip()), Kind::IndefiniteLength);
        assert_eq!(err(&[0xa2, 0x01, 0x00, 0x01, 0x00], |r| r.skip()), Kind::DuplicateKey);
        assert_eq!(err(&[0x9a, 0xff, 0xff, 0xff, 0xff], |r| r.skip()), Kind::TooManyEntries);
        assert_eq!(err(&[0x85, 0x01], |r| r.skip()), Kind::Truncated);
        assert_eq!(err(&[0xf9, 0x00, 0x00], |r| r.skip()), Kind::CborInvalid);
        assert_eq!(err(&[0x62, 0xff, 0xfe], |r| r.skip()), Kind::InvalidUtf8);
        assert_eq!(
            err(&[0x3b, 0x80, 0, 0, 0, 0, 0, 0, 0], |r| r.int().map(drop)),
            Kind::IntegerOverflow
        );
        let deep = [0x81u8; 40];
        assert_eq!(err(&deep, |r| r.skip()), Kind::DepthExceeded);
        let mut r = Reader::new(&[0x01, 0x02], 0);
        r.uint().unwrap();
        assert_eq!(r.finish().unwrap_err(), DecodeError::new(Kind::TrailingBytes, 1));
    }

    #[test]
    fn integers() {
        let mut r = Reader::new(&[0x2f, 0x39, 0x01, 0x00, 0x1b, 0, 0, 0, 1, 0, 0, 0, 0], 0);
        assert_eq!(r.int().unwrap(), -16);
        assert_eq!(r.int().unwrap(), -257);
        assert_eq!(r.uint().unwrap(), 1 << 32);
        r.finish().unwrap();
    }
}
