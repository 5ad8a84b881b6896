//! TLV areas (image.h `struct image_tlv_info`, `struct image_tlv`).
//!
//! An area is `u16 magic, u16 it_tlv_tot` followed by entries `u16 type, u16 len, value[len]`
//! with no padding. `it_tlv_tot` includes the 4-byte info header.

use crate::bytes::{slice_at, u16_at};
use crate::error::{DecodeError, DecodeErrorKind};

/// `IMAGE_TLV_INFO_MAGIC`: the unprotected area.
pub const TLV_INFO_MAGIC: u16 = 0x6907;
/// `IMAGE_TLV_PROT_INFO_MAGIC`: the protected (hashed) area.
pub const PROTECTED_TLV_INFO_MAGIC: u16 = 0x6908;
/// Size of `struct image_tlv_info`.
pub const TLV_INFO_LEN: usize = 4;
/// Size of `struct image_tlv` (the per-entry header).
pub const TLV_ENTRY_HEADER_LEN: usize = 4;

/// A TLV type (image.h `IMAGE_TLV_*`). Unknown values stay representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TlvKind(pub u16);

impl TlvKind {
    pub const KEYHASH: Self = Self(0x01);
    pub const PUBKEY: Self = Self(0x02);
    pub const SHA256: Self = Self(0x10);
    pub const SHA384: Self = Self(0x11);
    pub const SHA512: Self = Self(0x12);
    pub const RSA2048_PSS: Self = Self(0x20);
    pub const ECDSA224: Self = Self(0x21);
    pub const ECDSA_SIG: Self = Self(0x22);
    pub const RSA3072_PSS: Self = Self(0x23);
    pub const ED25519: Self = Self(0x24);
    pub const SIG_PURE: Self = Self(0x25);
    pub const ENC_RSA2048: Self = Self(0x30);
    pub const ENC_KW: Self = Self(0x31);
    pub const ENC_EC256: Self = Self(0x32);
    pub const ENC_X25519: Self = Self(0x33);
    pub const ENC_X25519_SHA512: Self = Self(0x34);
    pub const DEPENDENCY: Self = Self(0x40);
    pub const SEC_CNT: Self = Self(0x50);
    pub const BOOT_RECORD: Self = Self(0x60);
    pub const DECOMP_SIZE: Self = Self(0x70);
    pub const DECOMP_SHA: Self = Self(0x71);
    pub const DECOMP_SIGNATURE: Self = Self(0x72);
    pub const COMP_DEC_SIZE: Self = Self(0x73);
    pub const UUID_VID: Self = Self(0x74);
    pub const UUID_CID: Self = Self(0x75);

    /// The image.h name of a known kind.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x01 => "KEYHASH",
            0x02 => "PUBKEY",
            0x10 => "SHA256",
            0x11 => "SHA384",
            0x12 => "SHA512",
            0x20 => "RSA2048_PSS",
            0x21 => "ECDSA224",
            0x22 => "ECDSA_SIG",
            0x23 => "RSA3072_PSS",
            0x24 => "ED25519",
            0x25 => "SIG_PURE",
            0x30 => "ENC_RSA2048",
            0x31 => "ENC_KW",
            0x32 => "ENC_EC256",
            0x33 => "ENC_X25519",
            0x34 => "ENC_X25519_SHA512",
            0x40 => "DEPENDENCY",
            0x50 => "SEC_CNT",
            0x60 => "BOOT_RECORD",
            0x70 => "DECOMP_SIZE",
            0x71 => "DECOMP_SHA",
            0x72 => "DECOMP_SIGNATURE",
            0x73 => "COMP_DEC_SIZE",
            0x74 => "UUID_VID",
            0x75 => "UUID_CID",
            _ => return None,
        })
    }

    /// Image hash TLVs.
    pub const fn is_hash(self) -> bool {
        matches!(self.0, 0x10..=0x12)
    }

    /// Signature TLVs.
    pub const fn is_signature(self) -> bool {
        matches!(self.0, 0x20..=0x24)
    }
}

/// `struct image_tlv_info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlvInfo {
    pub magic: u16,
    /// Total size of the area, info header included.
    pub total: u16,
}

impl TlvInfo {
    pub fn parse(bytes: &[u8]) -> Result<Self, DecodeError> {
        let info = Self {
            magic: u16_at(bytes, 0)?,
            total: u16_at(bytes, 2)?,
        };
        if info.magic != TLV_INFO_MAGIC && info.magic != PROTECTED_TLV_INFO_MAGIC {
            return Err(DecodeError::new(DecodeErrorKind::BadTlvInfoMagic, 0));
        }
        if usize::from(info.total) < TLV_INFO_LEN {
            return Err(DecodeError::new(DecodeErrorKind::TlvAreaTooSmall, 2));
        }
        Ok(info)
    }

    pub fn to_bytes(self) -> [u8; TLV_INFO_LEN] {
        let [m0, m1] = self.magic.to_le_bytes();
        let [t0, t1] = self.total.to_le_bytes();
        [m0, m1, t0, t1]
    }
}

/// `struct image_tlv`: the 4-byte header in front of every entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlvEntryHeader {
    pub kind: TlvKind,
    pub len: u16,
}

impl TlvEntryHeader {
    pub fn parse(bytes: &[u8]) -> Result<Self, DecodeError> {
        Ok(Self {
            kind: TlvKind(u16_at(bytes, 0)?),
            len: u16_at(bytes, 2)?,
        })
    }

    pub fn to_bytes(self) -> [u8; TLV_ENTRY_HEADER_LEN] {
        let [k0, k1] = self.kind.0.to_le_bytes();
        let [l0, l1] = self.len.to_le_bytes();
        [k0, k1, l0, l1]
    }
}

/// One TLV entry borrowed from its area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub kind: TlvKind,
    pub value: &'a [u8],
    /// Offset of the entry header from the start of the buffer the area was parsed from.
    pub offset: usize,
}

/// Iterates the entries of one TLV area's payload (the bytes after its info header).
///
/// Stops after the first error; a length that runs past the area is [`DecodeErrorKind::TlvOverrun`].
#[derive(Debug, Clone)]
pub struct TlvIter<'a> {
    entries: &'a [u8],
    pos: usize,
    base: usize,
    failed: bool,
}

impl<'a> TlvIter<'a> {
    /// `entries` are the area's bytes after the info header; `base` is their offset in the image.
    pub fn new(entries: &'a [u8], base: usize) -> Self {
        Self {
            entries,
            pos: 0,
            base,
            failed: false,
        }
    }

    fn next_entry(&mut self) -> Result<Tlv<'a>, DecodeError> {
        let at = self.base.saturating_add(self.pos);
        let header = TlvEntryHeader::parse(self.entries.get(self.pos..).unwrap_or_default())
            .map_err(|e| DecodeError::new(DecodeErrorKind::TlvOverrun, e.offset).at_base(at))?;
        let value_at = self.pos.saturating_add(TLV_ENTRY_HEADER_LEN);
        let value = slice_at(self.entries, value_at, usize::from(header.len))
            .map_err(|_| DecodeError::new(DecodeErrorKind::TlvOverrun, at))?;
        self.pos = value_at.saturating_add(value.len());
        Ok(Tlv {
            kind: header.kind,
            value,
            offset: at,
        })
    }
}

impl<'a> Iterator for TlvIter<'a> {
    type Item = Result<Tlv<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.entries.len() {
            return None;
        }
        let entry = self.next_entry();
        self.failed = entry.is_err();
        Some(entry)
    }
}
