//! The slot trailer MCUboot keeps at the end of each slot (bootutil_priv.h `boot_status`,
//! imgtool `_trailer_size` / `pad_to`).

/// `boot_img_magic` for the default `max_align` of 8.
pub const BOOT_MAGIC: [u8; 16] = [
    0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f, 0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80,
];
/// Tail of the alternate magic used when `max_align != 8` (after a u16 `max_align`).
const ALT_MAGIC_TAIL: [u8; 14] = [
    0x2d, 0xe1, 0x5d, 0x29, 0x41, 0x0b, 0x8d, 0x77, 0x67, 0x9c, 0x11, 0x0f, 0x1f, 0x8a,
];
/// imgtool `DEFAULT_MAX_ALIGN`.
pub const DEFAULT_MAX_ALIGN: u32 = 8;
/// imgtool `DEFAULT_MAX_SECTORS`.
pub const DEFAULT_MAX_SECTORS: u32 = 128;

/// The 16 magic bytes for a given `max_align` (imgtool `Image.__init__`).
pub fn boot_magic(max_align: u32) -> [u8; 16] {
    if max_align == DEFAULT_MAX_ALIGN {
        return BOOT_MAGIC;
    }
    let mut magic = [0u8; 16];
    let [lo, hi, ..] = max_align.to_le_bytes();
    magic[0] = lo;
    magic[1] = hi;
    for (dst, src) in magic.iter_mut().skip(2).zip(ALT_MAGIC_TAIL) {
        *dst = src;
    }
    magic
}

/// What determines the trailer's size and content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrailerLayout {
    /// Flash write size (`--align`): 1, 2, 4, 8, 16 or 32.
    pub align: u32,
    /// `--max-align`; imgtool's default is `max(8, align)`.
    pub max_align: u32,
    /// `-M/--max-sectors`.
    pub max_sectors: u32,
    /// `--overwrite-only`.
    pub overwrite_only: bool,
}

impl TrailerLayout {
    /// imgtool defaults for a given `--align`.
    pub fn for_align(align: u32, max_align: Option<u32>) -> Self {
        Self {
            align,
            max_align: max_align.unwrap_or(if align > DEFAULT_MAX_ALIGN {
                align
            } else {
                DEFAULT_MAX_ALIGN
            }),
            max_sectors: DEFAULT_MAX_SECTORS,
            overwrite_only: false,
        }
    }

    /// Bytes the magic occupies: `align_up(16, max_align)`.
    pub fn magic_area(&self) -> Option<u32> {
        align_up(16, self.max_align)
    }

    /// Offset of `image_ok` counted back from the end of the slot.
    pub fn image_ok_from_end(&self) -> Option<u32> {
        self.magic_area()?.checked_add(self.max_align)
    }
}

fn align_up(value: u32, align: u32) -> Option<u32> {
    if align == 0 {
        return Some(value);
    }
    let rem = value % align;
    if rem == 0 {
        Some(value)
    } else {
        value.checked_add(align - rem)
    }
}

/// imgtool `_trailer_size` for unencrypted images; `None` for an invalid write size or overflow.
pub fn trailer_size(layout: &TrailerLayout) -> Option<u32> {
    let magic = layout.magic_area()?;
    if layout.overwrite_only {
        return layout.max_align.checked_mul(2)?.checked_add(magic);
    }
    if !matches!(layout.align, 1 | 2 | 4 | 8 | 16 | 32) {
        return None;
    }
    let status = layout.max_sectors.checked_mul(3)?.checked_mul(layout.align)?;
    status.checked_add(layout.max_align.checked_mul(4)?)?.checked_add(magic)
}
