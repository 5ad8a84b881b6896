//! `struct image_header` (image.h): 32 bytes, packed, little-endian.

use core::fmt;
use core::str::FromStr;

use crate::bytes::{array_at, u16_at, u32_at};
use crate::error::{DecodeError, DecodeErrorKind};

/// `IMAGE_MAGIC` (image.h). The pre-1.0 `IMAGE_MAGIC_V1` 0x96f3b83c is not accepted.
pub const IMAGE_MAGIC: u32 = 0x96f3_b83d;
/// Size of `struct image_header`; `ih_hdr_size` may be larger (padding), never smaller.
pub const HEADER_LEN: usize = 32;

/// `ih_flags` bits (image.h `IMAGE_F_*`). Unknown bits are kept, never dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ImageFlags(pub u32);

impl ImageFlags {
    pub const PIC: Self = Self(0x01);
    pub const ENCRYPTED_AES128: Self = Self(0x04);
    pub const ENCRYPTED_AES256: Self = Self(0x08);
    pub const NON_BOOTABLE: Self = Self(0x10);
    pub const RAM_LOAD: Self = Self(0x20);
    pub const ROM_FIXED: Self = Self(0x100);
    pub const COMPRESSED_LZMA1: Self = Self(0x200);
    pub const COMPRESSED_LZMA2: Self = Self(0x400);
    pub const COMPRESSED_ARM_THUMB: Self = Self(0x800);

    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Names of the set bits that have one, for display.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        const NAMES: [(u32, &str); 9] = [
            (0x01, "PIC"),
            (0x04, "ENCRYPTED_AES128"),
            (0x08, "ENCRYPTED_AES256"),
            (0x10, "NON_BOOTABLE"),
            (0x20, "RAM_LOAD"),
            (0x100, "ROM_FIXED"),
            (0x200, "COMPRESSED_LZMA1"),
            (0x400, "COMPRESSED_LZMA2"),
            (0x800, "COMPRESSED_ARM_THUMB"),
        ];
        NAMES
            .into_iter()
            .filter(move |(bit, _)| self.0 & bit != 0)
            .map(|(_, name)| name)
    }
}

/// `struct image_version`: `maj.min.rev+build`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct ImageVersion {
    pub major: u8,
    pub minor: u8,
    pub revision: u16,
    pub build: u32,
}

impl ImageVersion {
    /// imgtool's `-s auto`: `(major << 24) | (minor << 16) | revision`; the build number is ignored.
    pub const fn auto_security_counter(&self) -> u32 {
        ((self.major as u32) << 24) | ((self.minor as u32) << 16) | self.revision as u32
    }
}

impl fmt::Display for ImageVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}+{}", self.major, self.minor, self.revision, self.build)
    }
}

/// Why a version string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionParseError {
    /// Not of the form `maj[.min[.rev[+build]]]` with decimal numbers and no leading zeros.
    Syntax,
    /// A component does not fit its field (major/minor 0..=255, revision 0..=65535, build 0..=2^32-1).
    OutOfRange,
}

impl fmt::Display for VersionParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Syntax => "expected maj.min.rev+build, e.g. 1.2.3+4 (decimal, no leading zeros)",
            Self::OutOfRange => {
                "a component is out of range (major and minor ≤ 255, revision ≤ 65535, build ≤ 4294967295)"
            }
        })
    }
}

/// Parses one decimal component the way imgtool's regex `\d+` with `int()` does, but refusing
/// leading zeros as the brief requires.
fn component<T: TryFrom<u64>>(text: &str) -> Result<T, VersionParseError> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return Err(VersionParseError::Syntax);
    }
    if bytes.len() > 1 && bytes.first() == Some(&b'0') {
        return Err(VersionParseError::Syntax);
    }
    let value: u64 = text.parse().map_err(|_| VersionParseError::OutOfRange)?;
    T::try_from(value).map_err(|_| VersionParseError::OutOfRange)
}

impl FromStr for ImageVersion {
    type Err = VersionParseError;

    /// imgtool `decode_version`: `^(\d+)(\.(\d+)(\.(\d+)(\+(\d+))?)?)?$`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (numbers, build) = match text.split_once('+') {
            Some((numbers, build)) => (numbers, Some(build)),
            None => (text, None),
        };
        let mut parts = numbers.split('.');
        let major = component(parts.next().unwrap_or(""))?;
        let minor = parts.next().map(component).transpose()?;
        let revision = parts.next().map(component).transpose()?;
        if parts.next().is_some() {
            return Err(VersionParseError::Syntax);
        }
        // imgtool only accepts "+build" after a full maj.min.rev.
        if build.is_some() && revision.is_none() {
            return Err(VersionParseError::Syntax);
        }
        Ok(Self {
            major,
            minor: minor.unwrap_or(0),
            revision: revision.unwrap_or(0),
            build: build.map(component).transpose()?.unwrap_or(0),
        })
    }
}

/// A decoded `struct image_header`. Every field round-trips, including `_pad1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImageHeader {
    pub load_addr: u32,
    pub hdr_size: u16,
    /// Size of the protected TLV area including its 4-byte info header; 0 when absent.
    pub protect_tlv_size: u16,
    /// Size of the body alone (no header, no TLVs).
    pub img_size: u32,
    pub flags: ImageFlags,
    pub version: ImageVersion,
    pub pad1: u32,
}

impl ImageHeader {
    /// Decodes and sanity-checks the first 32 bytes of `bytes`.
    ///
    /// Checks (bootutil `boot_image_check` / `bootutil_img_validate`): magic, `ih_hdr_size ≥ 32`,
    /// and that `hdr_size + img_size + protect_tlv_size` fits 32 bits.
    pub fn parse(bytes: &[u8]) -> Result<Self, DecodeError> {
        let raw: [u8; HEADER_LEN] = array_at(bytes, 0)?;
        let field32 = |off: usize| u32_at(&raw, off);
        let field16 = |off: usize| u16_at(&raw, off);
        if field32(0)? != IMAGE_MAGIC {
            return Err(DecodeError::new(DecodeErrorKind::BadImageMagic, 0));
        }
        let header = Self {
            load_addr: field32(4)?,
            hdr_size: field16(8)?,
            protect_tlv_size: field16(10)?,
            img_size: field32(12)?,
            flags: ImageFlags(field32(16)?),
            version: ImageVersion {
                major: raw[20],
                minor: raw[21],
                revision: field16(22)?,
                build: field32(24)?,
            },
            pad1: field32(28)?,
        };
        if usize::from(header.hdr_size) < HEADER_LEN {
            return Err(DecodeError::new(DecodeErrorKind::HeaderTooSmall, 8));
        }
        if header.protected_end().is_none() {
            return Err(DecodeError::new(DecodeErrorKind::SizeOverflow, 12));
        }
        Ok(header)
    }

    /// Encodes the header exactly as imgtool's `struct.pack('<IIHHIIBBHII', ...)`.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let fields: [(usize, &[u8]); 10] = [
            (0, &IMAGE_MAGIC.to_le_bytes()),
            (4, &self.load_addr.to_le_bytes()),
            (8, &self.hdr_size.to_le_bytes()),
            (10, &self.protect_tlv_size.to_le_bytes()),
            (12, &self.img_size.to_le_bytes()),
            (16, &self.flags.0.to_le_bytes()),
            (20, &[self.version.major, self.version.minor]),
            (22, &self.version.revision.to_le_bytes()),
            (24, &self.version.build.to_le_bytes()),
            (28, &self.pad1.to_le_bytes()),
        ];
        for (offset, value) in fields {
            if let Some(dst) = out.get_mut(offset..offset.saturating_add(value.len())) {
                dst.copy_from_slice(value);
            }
        }
        out
    }

    /// Offset of the first byte after the body: `hdr_size + img_size`.
    pub fn body_end(&self) -> Option<u32> {
        u32::from(self.hdr_size).checked_add(self.img_size)
    }

    /// Offset of the first byte after the hashed region (header, body, protected TLVs).
    pub fn protected_end(&self) -> Option<u32> {
        self.body_end()?.checked_add(u32::from(self.protect_tlv_size))
    }
}
