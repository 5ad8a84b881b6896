//! The MCUboot image format, as written by imgtool 2.5.0 and read by MCUboot's bootutil.
//!
//! ```text
//! [ header 32 B | header pad to hdr_size | body (img_size) | protected TLVs | TLVs | slot trailer ]
//!  ^------------------------------- hashed and signed ----------------------^
//! ```
//!
//! Sources: MCUboot `boot/bootutil/include/bootutil/image.h` and imgtool `image.py`; the
//! verified facts are in `docs/FORMATS.md`.

mod header;
mod tlv;
mod trailer;
mod view;

#[cfg(feature = "alloc")]
pub mod encode;

pub use header::{ImageFlags, ImageHeader, ImageVersion, VersionParseError, HEADER_LEN, IMAGE_MAGIC};
pub use tlv::{
    Tlv, TlvEntryHeader, TlvInfo, TlvIter, TlvKind, PROTECTED_TLV_INFO_MAGIC, TLV_ENTRY_HEADER_LEN, TLV_INFO_LEN,
    TLV_INFO_MAGIC,
};
pub use trailer::{boot_magic, trailer_size, TrailerLayout, BOOT_MAGIC, DEFAULT_MAX_ALIGN, DEFAULT_MAX_SECTORS};
pub use view::ImageView;
