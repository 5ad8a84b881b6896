//! Bounds-checked little-endian readers over borrowed bytes (no panics: every access is `get`).

use crate::error::{DecodeError, DecodeErrorKind};

/// Reads `N` bytes at `offset`, or reports truncation at `offset`.
pub(crate) fn array_at<const N: usize>(bytes: &[u8], offset: usize) -> Result<[u8; N], DecodeError> {
    let end = offset
        .checked_add(N)
        .ok_or(DecodeError::new(DecodeErrorKind::Truncated, offset))?;
    let slice = bytes
        .get(offset..end)
        .ok_or(DecodeError::new(DecodeErrorKind::Truncated, offset))?;
    let mut out = [0u8; N];
    out.copy_from_slice(slice);
    Ok(out)
}

pub(crate) fn u16_at(bytes: &[u8], offset: usize) -> Result<u16, DecodeError> {
    array_at::<2>(bytes, offset).map(u16::from_le_bytes)
}

pub(crate) fn u32_at(bytes: &[u8], offset: usize) -> Result<u32, DecodeError> {
    array_at::<4>(bytes, offset).map(u32::from_le_bytes)
}

/// Borrows `len` bytes at `offset`, or reports truncation at `offset`.
pub(crate) fn slice_at(bytes: &[u8], offset: usize, len: usize) -> Result<&[u8], DecodeError> {
    offset
        .checked_add(len)
        .and_then(|end| bytes.get(offset..end))
        .ok_or(DecodeError::new(DecodeErrorKind::Truncated, offset))
}
