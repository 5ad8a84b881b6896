//! A zero-copy view of a whole image held in memory (host tools, fuzzing, tests).
//! The device verifier streams from flash instead and does not need the image in RAM.

use super::header::ImageHeader;
use super::tlv::{TlvInfo, TlvIter, PROTECTED_TLV_INFO_MAGIC, TLV_INFO_LEN, TLV_INFO_MAGIC};
use crate::bytes::slice_at;
use crate::error::{DecodeError, DecodeErrorKind};

/// A structurally valid image: header, body and both TLV areas lie within the buffer.
///
/// This checks structure only. Whether the image is *authentic* is `device-verifier`'s job.
#[derive(Debug, Clone, Copy)]
pub struct ImageView<'a> {
    bytes: &'a [u8],
    header: ImageHeader,
    protected: Option<&'a [u8]>,
    unprotected: &'a [u8],
    end: usize,
}

impl<'a> ImageView<'a> {
    /// Parses an image at the start of `bytes`. Bytes after the unprotected TLV area (the slot
    /// padding and trailer) are allowed and exposed as [`ImageView::trailer`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let header = ImageHeader::parse(bytes)?;
        let body_end = to_usize(header.body_end(), 12)?;
        let prot_len = usize::from(header.protect_tlv_size);

        let protected = if prot_len == 0 {
            None
        } else {
            // image.h: the protected area's it_tlv_tot must equal ih_protect_tlv_size.
            let area = Self::area(bytes, body_end, PROTECTED_TLV_INFO_MAGIC)?;
            if area.len() != prot_len {
                return Err(DecodeError::new(
                    DecodeErrorKind::ProtectedSizeMismatch,
                    body_end.saturating_add(2),
                ));
            }
            Some(area)
        };
        let unprot_at = body_end.saturating_add(prot_len);
        let unprotected = Self::area(bytes, unprot_at, TLV_INFO_MAGIC)?;
        let end = unprot_at.saturating_add(unprotected.len());
        let view = Self {
            bytes,
            header,
            protected,
            unprotected,
            end,
        };
        // Walk every entry once so a view never holds an area with an overrunning entry.
        for tlv in view.protected_tlvs().chain(view.unprotected_tlvs()) {
            tlv?;
        }
        Ok(view)
    }

    /// Like [`ImageView::parse`] but rejects anything after the unprotected TLV area.
    pub fn parse_exact(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let view = Self::parse(bytes)?;
        if view.end != bytes.len() {
            return Err(DecodeError::new(DecodeErrorKind::TrailingBytes, view.end));
        }
        Ok(view)
    }

    /// The whole TLV area (info header included) at `at`, checked against `magic`.
    fn area(bytes: &'a [u8], at: usize, magic: u16) -> Result<&'a [u8], DecodeError> {
        let info = TlvInfo::parse(bytes.get(at..).unwrap_or_default()).map_err(|e| e.at_base(at))?;
        if info.magic != magic {
            return Err(DecodeError::new(DecodeErrorKind::BadTlvInfoMagic, at));
        }
        slice_at(bytes, at, usize::from(info.total)).map_err(|_| DecodeError::new(DecodeErrorKind::Truncated, at))
    }

    pub fn header(&self) -> &ImageHeader {
        &self.header
    }

    /// The header padding (bytes 32..hdr_size).
    pub fn header_padding(&self) -> &'a [u8] {
        self.bytes
            .get(super::HEADER_LEN..usize::from(self.header.hdr_size))
            .unwrap_or_default()
    }

    pub fn body(&self) -> &'a [u8] {
        let start = usize::from(self.header.hdr_size);
        let end = start.saturating_add(self.body_len());
        self.bytes.get(start..end).unwrap_or_default()
    }

    fn body_len(&self) -> usize {
        usize::try_from(self.header.img_size).unwrap_or(usize::MAX)
    }

    /// The bytes the image hash and signature cover: header, padding, body, protected TLVs.
    pub fn covered(&self) -> &'a [u8] {
        let len = usize::from(self.header.hdr_size)
            .saturating_add(self.body_len())
            .saturating_add(usize::from(self.header.protect_tlv_size));
        self.bytes.get(..len).unwrap_or_default()
    }

    /// The protected area including its info header, if present.
    pub fn protected_area(&self) -> Option<&'a [u8]> {
        self.protected
    }

    /// The unprotected area including its info header.
    pub fn unprotected_area(&self) -> &'a [u8] {
        self.unprotected
    }

    fn base_of_unprotected(&self) -> usize {
        self.end.saturating_sub(self.unprotected.len())
    }

    pub fn protected_tlvs(&self) -> TlvIter<'a> {
        let base = self
            .base_of_unprotected()
            .saturating_sub(usize::from(self.header.protect_tlv_size));
        let entries = self.protected.and_then(|a| a.get(TLV_INFO_LEN..)).unwrap_or_default();
        TlvIter::new(entries, base.saturating_add(TLV_INFO_LEN))
    }

    pub fn unprotected_tlvs(&self) -> TlvIter<'a> {
        let entries = self.unprotected.get(TLV_INFO_LEN..).unwrap_or_default();
        TlvIter::new(entries, self.base_of_unprotected().saturating_add(TLV_INFO_LEN))
    }

    /// Length of the image proper: up to the end of the unprotected TLV area.
    pub fn image_len(&self) -> usize {
        self.end
    }

    /// Everything after the image: slot padding and the MCUboot trailer, if the image was padded.
    pub fn trailer(&self) -> &'a [u8] {
        self.bytes.get(self.end..).unwrap_or_default()
    }
}

fn to_usize(value: Option<u32>, offset: usize) -> Result<usize, DecodeError> {
    value
        .and_then(|v| usize::try_from(v).ok())
        .ok_or(DecodeError::new(DecodeErrorKind::SizeOverflow, offset))
}
