//! The target-slot writer: result bytes are staged in the caller's page buffer, hashed, and
//! written one erase unit at a time, never past the declared result size.

use sha2::{Digest, Sha256};

use super::{ApplyError, ApplyErrorKind as Kind};
use crate::flash::FlashWrite;

pub(super) struct Output<'a, T> {
    target: &'a mut T,
    page: &'a mut [u8],
    page_len: u32,
    fill: usize,
    /// Slot offset of the page being filled.
    page_offset: u32,
    /// Bytes produced so far (the result offset of the next byte).
    produced: u32,
    result_size: u32,
    hasher: Sha256,
}

impl<'a, T: FlashWrite> Output<'a, T> {
    pub(super) fn new(target: &'a mut T, page: &'a mut [u8], result_size: u32) -> Result<Self, ApplyError> {
        let page_len = u32::try_from(page.len()).map_err(|_| ApplyError::new(Kind::BadPageBuffer, 0))?;
        if page_len == 0 {
            return Err(ApplyError::new(Kind::BadPageBuffer, 0));
        }
        // Every page the result touches is erased whole, so the slot must hold the result
        // rounded up to a page.
        let pages = result_size.div_ceil(page_len);
        let needed = u64::from(pages).saturating_mul(u64::from(page_len));
        if needed > u64::from(target.capacity()) {
            return Err(ApplyError::new(Kind::TargetTooSmall, 0));
        }
        Ok(Self {
            target,
            page,
            page_len,
            fill: 0,
            page_offset: 0,
            produced: 0,
            result_size,
            hasher: Sha256::new(),
        })
    }

    pub(super) fn produced(&self) -> u32 {
        self.produced
    }

    pub(super) fn push(&mut self, byte: u8) -> Result<(), ApplyError> {
        // FORMATS §Delta: the result is exactly result_size bytes; a byte past it is refused
        // here even if a record check upstream were wrong.
        if self.produced >= self.result_size {
            return Err(ApplyError::new(Kind::ResultOverrun, self.produced));
        }
        let slot = self
            .page
            .get_mut(self.fill)
            .ok_or(ApplyError::new(Kind::BadPageBuffer, self.produced))?;
        *slot = byte;
        self.fill = self.fill.saturating_add(1);
        self.produced = self.produced.saturating_add(1);
        if self.fill == self.page.len() {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ApplyError> {
        if self.fill == 0 {
            return Ok(());
        }
        let data = self.page.get(..self.fill).unwrap_or_default();
        let len = u32::try_from(data.len()).map_err(|_| ApplyError::new(Kind::BadPageBuffer, self.page_offset))?;
        let end = self.page_offset.checked_add(len);
        // FORMATS §Delta: no write may reach past result_size.
        if end.is_none_or(|end| end > self.result_size) {
            return Err(ApplyError::new(Kind::ResultOverrun, self.page_offset));
        }
        self.hasher.update(data);
        self.target
            .erase(self.page_offset, self.page_len)
            .map_err(|_| ApplyError::new(Kind::FlashWrite, self.page_offset))?;
        self.target
            .write(self.page_offset, data)
            .map_err(|_| ApplyError::new(Kind::FlashWrite, self.page_offset))?;
        self.page_offset = self.page_offset.saturating_add(len);
        self.fill = 0;
        Ok(())
    }

    /// Writes the last partial page and returns the SHA-256 of everything written.
    pub(super) fn finish(mut self) -> Result<[u8; 32], ApplyError> {
        self.flush()?;
        Ok(self.hasher.finalize().into())
    }
}
