//! Building images byte-for-byte as imgtool 2.5.0 does (`Image.load`, `create`, `pad_to`).
//!
//! Signing is not done here: the caller hashes [`UnsignedImage::covered`], signs with whatever
//! holds the key (file, HSM), and hands the unprotected TLVs to [`UnsignedImage::finish`].

use alloc::vec::Vec;
use core::fmt;

use super::header::{ImageFlags, ImageHeader, ImageVersion, HEADER_LEN};
use super::tlv::{TlvEntryHeader, TlvInfo, TlvKind, PROTECTED_TLV_INFO_MAGIC, TLV_INFO_LEN, TLV_INFO_MAGIC};
use super::trailer::{boot_magic, trailer_size, TrailerLayout};
use super::view::ImageView;

/// What goes into the header and the protected TLV area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageOptions {
    /// `-H/--header-size`.
    pub header_size: u16,
    /// `--pad-header`: prepend `header_size` erased bytes instead of overwriting the input's start.
    pub pad_header: bool,
    pub version: ImageVersion,
    /// `-s/--security-counter`; `None` emits no SEC_CNT TLV (and so no protected area).
    pub security_counter: Option<u32>,
    /// `-L/--load-addr` (sets RAM_LOAD when non-zero).
    pub load_addr: u32,
    /// `-F/--rom-fixed` (sets ROM_FIXED).
    pub rom_fixed: Option<u32>,
    pub non_bootable: bool,
    /// `-R/--erased-val`: 0xff by default.
    pub erased_val: u8,
}

impl Default for ImageOptions {
    fn default() -> Self {
        Self {
            header_size: 0x200,
            pad_header: false,
            version: ImageVersion::default(),
            security_counter: None,
            load_addr: 0,
            rom_fixed: None,
            non_bootable: false,
            erased_val: 0xff,
        }
    }
}

/// Why an image could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// `header_size` is below the 32-byte header.
    HeaderSizeTooSmall,
    /// Without `--pad-header`, the input's first `header_size` bytes must be zero.
    HeaderNotZero,
    /// The input is shorter than `header_size` (without `--pad-header`).
    InputShorterThanHeader,
    /// The image does not fit the 32-bit size fields.
    TooLarge,
    /// A TLV value or area does not fit its 16-bit length.
    TlvTooLarge,
    /// `load_addr` and `rom_fixed` are mutually exclusive.
    LoadAndRomFixed,
    /// Invalid `--align` (must be 1, 2, 4, 8, 16 or 32).
    InvalidAlign,
    /// Image plus trailer exceed the slot.
    DoesNotFitSlot {
        image_len: usize,
        trailer_len: u32,
        slot_size: u32,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HeaderSizeTooSmall => f.write_str("header size must be at least 32 bytes"),
            Self::HeaderNotZero => {
                f.write_str("header padding was not requested and the input does not start with zeros")
            }
            Self::InputShorterThanHeader => f.write_str("the input is shorter than the header size"),
            Self::TooLarge => f.write_str("the image is too large for MCUboot's 32-bit size fields"),
            Self::TlvTooLarge => f.write_str("a TLV does not fit its 16-bit length"),
            Self::LoadAndRomFixed => f.write_str("load address and ROM-fixed address cannot both be set"),
            Self::InvalidAlign => f.write_str("invalid alignment (expected 1, 2, 4, 8, 16 or 32)"),
            Self::DoesNotFitSlot {
                image_len,
                trailer_len,
                slot_size,
            } => write!(
                f,
                "image size (0x{image_len:x}) + trailer (0x{trailer_len:x}) exceeds the slot size 0x{slot_size:x}"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}

/// Header, body and protected TLVs: the bytes the hash and signature cover.
#[derive(Debug, Clone)]
pub struct UnsignedImage {
    covered: Vec<u8>,
}

impl UnsignedImage {
    /// Lays out `input` as imgtool `load` + `add_header` + protected TLVs do.
    pub fn new(input: &[u8], options: &ImageOptions) -> Result<Self, EncodeError> {
        let header_size = usize::from(options.header_size);
        if header_size < HEADER_LEN {
            return Err(EncodeError::HeaderSizeTooSmall);
        }
        if options.load_addr != 0 && options.rom_fixed.is_some() {
            return Err(EncodeError::LoadAndRomFixed);
        }
        let mut covered = Vec::with_capacity(input.len().saturating_add(header_size).saturating_add(64));
        if options.pad_header {
            covered.resize(header_size, options.erased_val);
            covered.extend_from_slice(input);
        } else {
            let head = input.get(..header_size).ok_or(EncodeError::InputShorterThanHeader)?;
            if head.iter().any(|&b| b != 0) {
                return Err(EncodeError::HeaderNotZero);
            }
            covered.extend_from_slice(input);
        }
        let img_size = u32::try_from(covered.len().saturating_sub(header_size)).map_err(|_| EncodeError::TooLarge)?;

        let protected = protected_area(options)?;
        let protect_tlv_size = u16::try_from(protected.len()).map_err(|_| EncodeError::TlvTooLarge)?;
        let mut flags = ImageFlags::default();
        if options.load_addr != 0 {
            flags = flags.union(ImageFlags::RAM_LOAD);
        }
        if options.rom_fixed.is_some() {
            flags = flags.union(ImageFlags::ROM_FIXED);
        }
        if options.non_bootable {
            flags = flags.union(ImageFlags::NON_BOOTABLE);
        }
        let header = ImageHeader {
            load_addr: options.rom_fixed.unwrap_or(options.load_addr),
            hdr_size: options.header_size,
            protect_tlv_size,
            img_size,
            flags,
            version: options.version,
            pad1: 0,
        };
        if header.protected_end().is_none() {
            return Err(EncodeError::TooLarge);
        }
        if let Some(dst) = covered.get_mut(..HEADER_LEN) {
            dst.copy_from_slice(&header.to_bytes());
        }
        covered.extend_from_slice(&protected);
        Ok(Self { covered })
    }

    /// The bytes to hash (and, for `--pure`, to sign).
    pub fn covered(&self) -> &[u8] {
        &self.covered
    }

    /// Appends the unprotected TLV area (in the given order) and returns the finished image.
    pub fn finish(self, unprotected: &[(TlvKind, &[u8])]) -> Result<Vec<u8>, EncodeError> {
        let mut image = self.covered;
        image.extend_from_slice(&tlv_area(TLV_INFO_MAGIC, unprotected)?);
        Ok(image)
    }
}

/// imgtool's protected area: SEC_CNT only (we emit no BOOT_RECORD, DEPENDENCY, …); empty if none.
fn protected_area(options: &ImageOptions) -> Result<Vec<u8>, EncodeError> {
    match options.security_counter {
        None => Ok(Vec::new()),
        Some(counter) => tlv_area(PROTECTED_TLV_INFO_MAGIC, &[(TlvKind::SEC_CNT, &counter.to_le_bytes())]),
    }
}

/// Encodes one TLV area: info header (`it_tlv_tot` includes itself) plus entries.
pub fn tlv_area(magic: u16, entries: &[(TlvKind, &[u8])]) -> Result<Vec<u8>, EncodeError> {
    let mut area = Vec::new();
    area.extend_from_slice(&[0; TLV_INFO_LEN]);
    for (kind, value) in entries {
        let len = u16::try_from(value.len()).map_err(|_| EncodeError::TlvTooLarge)?;
        area.extend_from_slice(&TlvEntryHeader { kind: *kind, len }.to_bytes());
        area.extend_from_slice(value);
    }
    let total = u16::try_from(area.len()).map_err(|_| EncodeError::TlvTooLarge)?;
    if let Some(dst) = area.get_mut(..TLV_INFO_LEN) {
        dst.copy_from_slice(&TlvInfo { magic, total }.to_bytes());
    }
    Ok(area)
}

/// imgtool `check_trailer`: the image plus its trailer must fit `slot_size` (checked even when
/// the image is not padded).
pub fn check_fits_slot(image_len: usize, slot_size: u32, layout: &TrailerLayout) -> Result<u32, EncodeError> {
    let trailer_len = trailer_size(layout).ok_or(EncodeError::InvalidAlign)?;
    let needed = u64::try_from(image_len)
        .unwrap_or(u64::MAX)
        .saturating_add(u64::from(trailer_len));
    if needed > u64::from(slot_size) {
        return Err(EncodeError::DoesNotFitSlot {
            image_len,
            trailer_len,
            slot_size,
        });
    }
    Ok(trailer_len)
}

/// imgtool `pad_to` (`--pad`, `--confirm`): fill to `slot_size` with `erased_val`, write the boot
/// magic in the last 16 bytes and, for `confirm`, `image_ok = 0x01`.
pub fn pad_to_slot(
    image: &mut Vec<u8>,
    slot_size: u32,
    layout: &TrailerLayout,
    erased_val: u8,
    confirm: bool,
) -> Result<(), EncodeError> {
    check_fits_slot(image.len(), slot_size, layout)?;
    let slot = usize::try_from(slot_size).map_err(|_| EncodeError::TooLarge)?;
    image.resize(slot, erased_val);
    let magic = boot_magic(layout.max_align);
    if let Some(dst) = image.get_mut(slot.saturating_sub(magic.len())..) {
        dst.copy_from_slice(&magic);
    }
    if confirm && !layout.overwrite_only {
        let from_end = layout.image_ok_from_end().ok_or(EncodeError::TooLarge)?;
        let at = slot.saturating_sub(usize::try_from(from_end).map_err(|_| EncodeError::TooLarge)?);
        if let Some(byte) = image.get_mut(at) {
            *byte = 0x01;
        }
    }
    Ok(())
}

/// Re-encodes a parsed image from its parts (header fields, padding, body, TLV entries, trailer).
/// For every image [`ImageView::parse`] accepts, this returns the input bytes exactly.
pub fn reencode(view: &ImageView<'_>) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(view.image_len().saturating_add(view.trailer().len()));
    out.extend_from_slice(&view.header().to_bytes());
    out.extend_from_slice(view.header_padding());
    out.extend_from_slice(view.body());
    let collect = |iter: super::tlv::TlvIter<'_>| -> Vec<(TlvKind, Vec<u8>)> {
        iter.filter_map(Result::ok)
            .map(|t| (t.kind, t.value.to_vec()))
            .collect()
    };
    if view.protected_area().is_some() {
        let entries = collect(view.protected_tlvs());
        let refs: Vec<(TlvKind, &[u8])> = entries.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        out.extend_from_slice(&tlv_area(PROTECTED_TLV_INFO_MAGIC, &refs)?);
    }
    let entries = collect(view.unprotected_tlvs());
    let refs: Vec<(TlvKind, &[u8])> = entries.iter().map(|(k, v)| (*k, v.as_slice())).collect();
    out.extend_from_slice(&tlv_area(TLV_INFO_MAGIC, &refs)?);
    out.extend_from_slice(view.trailer());
    Ok(out)
}
