//! Adapters from [`embedded-storage`](https://docs.rs/embedded-storage/0.3) NOR flash drivers
//! (`ReadNorFlash`, `NorFlash`) to this crate's [`FlashRead`] and [`FlashWrite`]. Feature
//! `embedded-storage`.
//!
//! A [`NorRegion`] is one slot inside a larger flash: every offset the verifier passes is relative
//! to the region's start, and nothing outside `start..start + len` is ever read, erased or
//! written. Driver granularity is respected as embedded-storage 0.3 defines it
//! (`nor_flash::check_read` / `check_write` / `check_erase`):
//!
//! * reads: the verifier reads at any offset and length (a 32-byte header, 4-byte TLV entries);
//!   for `READ_SIZE > 1` the unaligned head and tail go through a small stack buffer and the
//!   aligned middle is read straight into the caller's buffer;
//! * writes: must start on a `WRITE_SIZE` boundary; a length that is not a multiple of
//!   `WRITE_SIZE` is padded with 0xFF (the erased value) up to the next boundary, so a later write
//!   must start on a fresh write unit — which is how delta apply writes (whole pages, one final
//!   partial page);
//! * erases: `offset` and `len` must be whole erase units (`ERASE_SIZE`); size the delta page
//!   buffer as a multiple of `ERASE_SIZE`.
//!
//! A refused or failed operation returns the crate's [`FlashError`] (so the verifier reports
//! `VerifyErrorKind::Flash` / `ApplyErrorKind::FlashRead` / `FlashWrite` with the offset) and
//! records why in [`NorRegion::last_error`]: `OutOfBounds` or `NotAligned` when the adapter
//! refused before calling the driver, otherwise the driver error's own kind.
//!
//! Two regions of the *same* chip (base and target slot of a delta update) each need their own
//! handle to the driver: use a memory-mapped [`SliceFlash`](crate::SliceFlash) for the running
//! slot, or a shared-access wrapper that implements `NorFlash` (for example a partition type
//! over a mutex-guarded driver, as embassy-embedded-hal provides).

use embedded_storage::nor_flash::{NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};

use super::{FlashError, FlashRead, FlashWrite};

/// Largest `READ_SIZE` / `WRITE_SIZE` the adapter handles (the size of its stack buffer for an
/// unaligned head, tail or final partial write unit). Internal flash of common Cortex-M parts
/// uses 1 to 32 bytes.
pub const MAX_GRANULE: usize = 256;

/// Why a [`NorRegion`] could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegionError {
    /// `start + len` overflows or lies past the driver's capacity.
    OutOfBounds,
    /// `start` or `len` is not a multiple of the driver's read unit (or, for
    /// [`NorRegion::new_writable`], of its write and erase units).
    NotAligned,
    /// The driver's `READ_SIZE` or `WRITE_SIZE` is 0 or larger than [`MAX_GRANULE`].
    UnsupportedGranule,
}

impl RegionError {
    /// A short, stable description.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OutOfBounds => "region lies outside the flash",
            Self::NotAligned => "region is not aligned to the flash's read, write or erase unit",
            Self::UnsupportedGranule => "flash read or write unit is 0 or too large",
        }
    }
}

impl core::fmt::Display for RegionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RegionError {}

/// One slot inside a NOR flash driven through embedded-storage: a [`FlashRead`] for any
/// `ReadNorFlash`, and also a [`FlashWrite`] for any `NorFlash` (the delta target).
#[derive(Debug)]
pub struct NorRegion<F> {
    flash: F,
    start: u32,
    len: u32,
    last_error: Option<NorFlashErrorKind>,
}

/// `value` is a multiple of `unit` (`unit` is non-zero: checked by the constructors).
fn aligned(value: u32, unit: u32) -> bool {
    value.checked_rem(unit) == Some(0)
}

/// A driver granule as `u32`, if it is one the adapter supports.
fn granule(size: usize) -> Result<u32, RegionError> {
    if size == 0 || size > MAX_GRANULE {
        return Err(RegionError::UnsupportedGranule);
    }
    u32::try_from(size).map_err(|_| RegionError::UnsupportedGranule)
}

impl<F: ReadNorFlash> NorRegion<F> {
    /// The region `start..start + len` of `flash`, for reading (an image slot, a staged patch).
    /// `start` and `len` must be multiples of `F::READ_SIZE` and lie inside the flash.
    pub fn new(flash: F, start: u32, len: u32) -> Result<Self, RegionError> {
        let read = granule(F::READ_SIZE)?;
        let end = start.checked_add(len).ok_or(RegionError::OutOfBounds)?;
        let capacity = u32::try_from(flash.capacity()).unwrap_or(u32::MAX);
        if end > capacity {
            return Err(RegionError::OutOfBounds);
        }
        if !aligned(start, read) || !aligned(len, read) {
            return Err(RegionError::NotAligned);
        }
        Ok(Self {
            flash,
            start,
            len,
            last_error: None,
        })
    }

    /// The whole flash as one region (its capacity, capped at 4 GiB, rounded down to whole read
    /// units).
    pub fn whole(flash: F) -> Result<Self, RegionError> {
        let read = granule(F::READ_SIZE)?;
        let capacity = u32::try_from(flash.capacity()).unwrap_or(u32::MAX);
        let len = capacity.saturating_sub(capacity.checked_rem(read).unwrap_or(0));
        Self::new(flash, 0, len)
    }

    /// Offset of the region's first byte in the flash.
    pub fn start(&self) -> u32 {
        self.start
    }

    /// Length of the region in bytes.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the region is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Why the most recent failed operation failed (`None` if none has failed yet).
    pub fn last_error(&self) -> Option<NorFlashErrorKind> {
        self.last_error
    }

    /// Gives the driver back.
    pub fn into_inner(self) -> F {
        self.flash
    }

    /// Records `kind` and returns the crate's flash error.
    fn fail(&mut self, kind: NorFlashErrorKind) -> FlashError {
        self.last_error = Some(kind);
        FlashError
    }

    /// The absolute flash address of region offset `offset`, if `offset..offset + len` lies
    /// inside the region.
    fn absolute(&mut self, offset: u32, len: usize) -> Result<u32, FlashError> {
        let inside = u32::try_from(len)
            .ok()
            .and_then(|len| offset.checked_add(len))
            .is_some_and(|end| end <= self.len);
        if !inside {
            return Err(self.fail(NorFlashErrorKind::OutOfBounds));
        }
        // offset < len and start + len fits (checked by `new`), so this cannot overflow.
        self.start
            .checked_add(offset)
            .ok_or_else(|| self.fail(NorFlashErrorKind::OutOfBounds))
    }

    /// One driver read; a driver error is recorded with its kind.
    fn driver_read(&mut self, at: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        match self.flash.read(at, buf) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail(e.kind())),
        }
    }
}

impl<F: NorFlash> NorRegion<F> {
    /// The region `start..start + len` of `flash`, for reading, erasing and writing (a delta
    /// target or download slot). `start` and `len` must be whole erase units (and so whole read
    /// and write units too).
    pub fn new_writable(flash: F, start: u32, len: u32) -> Result<Self, RegionError> {
        let write = granule(F::WRITE_SIZE)?;
        let erase = u32::try_from(F::ERASE_SIZE).map_err(|_| RegionError::UnsupportedGranule)?;
        if erase == 0 {
            return Err(RegionError::UnsupportedGranule);
        }
        let region = Self::new(flash, start, len)?;
        let units_ok = [write, erase]
            .iter()
            .all(|unit| aligned(start, *unit) && aligned(len, *unit));
        if !units_ok {
            return Err(RegionError::NotAligned);
        }
        Ok(region)
    }
}

impl<F: ReadNorFlash> FlashRead for NorRegion<F> {
    fn capacity(&self) -> u32 {
        self.len
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        let mut at = self.absolute(offset, buf.len())?;
        let unit = granule(F::READ_SIZE).map_err(|_| self.fail(NorFlashErrorKind::NotAligned))?;
        if unit == 1 {
            return self.driver_read(at, buf);
        }
        let unit_len = usize::try_from(unit).map_err(|_| FlashError)?;
        let mut rest = buf;
        while !rest.is_empty() {
            let skew = at.checked_rem(unit).unwrap_or(0);
            let whole = rest.len().saturating_sub(rest.len().checked_rem(unit_len).unwrap_or(0));
            if skew == 0 && whole > 0 {
                // The aligned middle: straight into the caller's buffer.
                let (head, tail) = rest.split_at_mut(whole);
                self.driver_read(at, head)?;
                at = at
                    .checked_add(u32::try_from(whole).map_err(|_| FlashError)?)
                    .ok_or(FlashError)?;
                rest = tail;
            } else {
                // An unaligned head or a short tail: read the whole unit around it. The region
                // starts and ends on unit boundaries, so the unit lies inside it.
                let unit_start = at.saturating_sub(skew);
                let mut bounce = [0u8; MAX_GRANULE];
                let bounce = bounce.get_mut(..unit_len).ok_or(FlashError)?;
                self.driver_read(unit_start, bounce)?;
                let skip = usize::try_from(skew).map_err(|_| FlashError)?;
                let available = bounce.get(skip..).ok_or(FlashError)?;
                let take = available.len().min(rest.len());
                let (head, tail) = rest.split_at_mut(take);
                head.copy_from_slice(available.get(..take).ok_or(FlashError)?);
                at = at
                    .checked_add(u32::try_from(take).map_err(|_| FlashError)?)
                    .ok_or(FlashError)?;
                rest = tail;
            }
        }
        Ok(())
    }
}

impl<F: NorFlash> FlashWrite for NorRegion<F> {
    fn capacity(&self) -> u32 {
        self.len
    }

    fn erase(&mut self, offset: u32, len: u32) -> Result<(), FlashError> {
        let from = self.absolute(offset, usize::try_from(len).map_err(|_| FlashError)?)?;
        let to = from
            .checked_add(len)
            .ok_or_else(|| self.fail(NorFlashErrorKind::OutOfBounds))?;
        let unit = u32::try_from(F::ERASE_SIZE).unwrap_or(0);
        // embedded-storage `check_erase`: both ends on erase-unit boundaries. Rounding out would
        // erase bytes outside the requested range (possibly outside the region), so refuse.
        if unit == 0 || !aligned(from, unit) || !aligned(to, unit) {
            return Err(self.fail(NorFlashErrorKind::NotAligned));
        }
        match self.flash.erase(from, to) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail(e.kind())),
        }
    }

    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        let at = self.absolute(offset, data.len())?;
        let unit = granule(F::WRITE_SIZE).map_err(|_| self.fail(NorFlashErrorKind::NotAligned))?;
        // embedded-storage `check_write`: writes start on a write-unit boundary.
        if !aligned(at, unit) {
            return Err(self.fail(NorFlashErrorKind::NotAligned));
        }
        let unit_len = usize::try_from(unit).map_err(|_| FlashError)?;
        let whole = data.len().saturating_sub(data.len().checked_rem(unit_len).unwrap_or(0));
        let (body, tail) = data.split_at(whole);
        let tail_at = at
            .checked_add(u32::try_from(whole).map_err(|_| FlashError)?)
            .ok_or(FlashError)?;
        // The final partial unit is padded to a whole one, which must still lie inside the
        // region (always so for `new_writable` regions, which end on a write-unit boundary).
        // Checked before anything is written.
        let region_end = self.start.checked_add(self.len).ok_or(FlashError)?;
        if !tail.is_empty() && tail_at.checked_add(unit).is_none_or(|end| end > region_end) {
            return Err(self.fail(NorFlashErrorKind::OutOfBounds));
        }
        if !body.is_empty() {
            if let Err(e) = self.flash.write(at, body) {
                return Err(self.fail(e.kind()));
            }
        }
        if !tail.is_empty() {
            // Padded with the erased value, so the padding programs nothing.
            let mut padded = [0xFFu8; MAX_GRANULE];
            let padded = padded.get_mut(..unit_len).ok_or(FlashError)?;
            padded.get_mut(..tail.len()).ok_or(FlashError)?.copy_from_slice(tail);
            if let Err(e) = self.flash.write(tail_at, padded) {
                return Err(self.fail(e.kind()));
            }
        }
        Ok(())
    }
}
