//! What the verifier needs from the device's flash: reading a slot ([`FlashRead`]) and, for delta
//! apply, erasing and writing one ([`FlashWrite`]). [`SliceFlash`] is a memory-mapped slot;
//! with the `embedded-storage` feature, `nor::NorRegion` adapts any embedded-storage NOR flash
//! driver.

#[cfg(feature = "embedded-storage")]
pub mod nor;

/// A flash read failed (driver error or out-of-range access).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlashError;

/// Read access to one flash slot. Offsets are relative to the start of the slot.
pub trait FlashRead {
    /// Size of the slot in bytes; nothing at or past it may be read.
    fn capacity(&self) -> u32;

    /// Fills `buf` with the bytes at `offset..offset + buf.len()`.
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError>;
}

/// A slot held in memory (memory-mapped flash, tests, host tools).
#[derive(Debug, Clone, Copy)]
pub struct SliceFlash<'a> {
    bytes: &'a [u8],
}

impl<'a> SliceFlash<'a> {
    /// A slot over `bytes` (memory-mapped flash or a RAM buffer); its capacity is their length,
    /// capped at 4 GiB.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }
}

impl FlashRead for SliceFlash<'_> {
    fn capacity(&self) -> u32 {
        u32::try_from(self.bytes.len()).unwrap_or(u32::MAX)
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        let start = usize::try_from(offset).map_err(|_| FlashError)?;
        let end = start.checked_add(buf.len()).ok_or(FlashError)?;
        let src = self.bytes.get(start..end).ok_or(FlashError)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// Write access to one flash slot (the delta target). Offsets are relative to the start of the
/// slot. Implementations pad writes to their program granularity themselves.
pub trait FlashWrite {
    /// Size of the slot in bytes; nothing at or past it may be erased or written.
    fn capacity(&self) -> u32;

    /// Erases `offset..offset + len` (a whole number of erase units, as the caller sized its
    /// page buffer).
    fn erase(&mut self, offset: u32, len: u32) -> Result<(), FlashError>;

    /// Programs `data` at `offset` (previously erased).
    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError>;
}

/// A slot held in host memory, erased state 0xFF: for host-side delta apply, simulators and
/// tests. Not for devices (it allocates), hence `std` only.
#[cfg(feature = "std")]
#[derive(Debug, Clone)]
pub struct MemSlot {
    /// The slot's contents.
    pub bytes: std::vec::Vec<u8>,
}

#[cfg(feature = "std")]
impl MemSlot {
    /// An erased slot of `len` bytes.
    pub fn new(len: usize) -> Self {
        Self {
            bytes: std::vec![0xFF; len],
        }
    }

    fn range(&mut self, offset: u32, len: usize) -> Result<&mut [u8], FlashError> {
        let start = usize::try_from(offset).map_err(|_| FlashError)?;
        let end = start.checked_add(len).ok_or(FlashError)?;
        self.bytes.get_mut(start..end).ok_or(FlashError)
    }
}

#[cfg(feature = "std")]
impl FlashRead for MemSlot {
    fn capacity(&self) -> u32 {
        u32::try_from(self.bytes.len()).unwrap_or(u32::MAX)
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        buf.copy_from_slice(self.range(offset, buf.len())?);
        Ok(())
    }
}

#[cfg(feature = "std")]
impl FlashWrite for MemSlot {
    fn capacity(&self) -> u32 {
        FlashRead::capacity(self)
    }

    fn erase(&mut self, offset: u32, len: u32) -> Result<(), FlashError> {
        self.range(offset, usize::try_from(len).map_err(|_| FlashError)?)?
            .fill(0xFF);
        Ok(())
    }

    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        self.range(offset, data.len())?.copy_from_slice(data);
        Ok(())
    }
}
