//! Fuzzing delta apply: hostile patches against a fixed base, with bounded output.
#![allow(clippy::as_conversions, clippy::arithmetic_side_effects, clippy::indexing_slicing)] // fuzz harness, never on a device

use sha2::{Digest, Sha256};

use crate::delta::{apply, read_header, ApplyRam};
use crate::{FlashError, FlashRead, FlashWrite, SliceFlash};

/// The seeds in `fuzz/corpus/delta_apply/` patch this image (so mutations get past the base
/// digest check and into the record decoder).
const BASE: &[u8] = include_bytes!("../../../fixtures/images/fw-v1.signed.bin");
/// The target slot: anything a patch writes must fit here, and `apply` must stop at its
/// declared result size.
const SLOT: usize = 64 * 1024;

struct Slot {
    bytes: [u8; SLOT],
    high_water: usize,
}

impl FlashRead for Slot {
    fn capacity(&self) -> u32 {
        SLOT as u32
    }
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        let start = offset as usize;
        let src = self.bytes.get(start..start + buf.len()).ok_or(FlashError)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

impl FlashWrite for Slot {
    fn capacity(&self) -> u32 {
        SLOT as u32
    }
    fn erase(&mut self, offset: u32, len: u32) -> Result<(), FlashError> {
        let (start, len) = (offset as usize, len as usize);
        self.bytes.get_mut(start..start + len).ok_or(FlashError)?.fill(0xff);
        Ok(())
    }
    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        let start = offset as usize;
        self.bytes
            .get_mut(start..start + data.len())
            .ok_or(FlashError)?
            .copy_from_slice(data);
        self.high_water = self.high_water.max(start + data.len());
        Ok(())
    }
}

/// Applies arbitrary bytes as a patch to [`BASE`]. A success must have produced exactly the
/// declared result (size and SHA-256); no run may write past the declared result size.
pub fn delta_apply(data: &[u8]) {
    let mut source: &[u8] = data;
    let Ok(header) = read_header(&mut source) else { return };
    let mut base = SliceFlash::new(BASE);
    let mut target = Slot {
        bytes: [0xff; SLOT],
        high_water: 0,
    };
    let mut ram = ApplyRam::new();
    let mut page = [0u8; 1024];
    let result = apply(&header, &mut base, &mut target, &mut source, &mut ram, &mut page);
    // Page-granular writes may round up, but never past the page holding the last result byte.
    let bound = (header.result_size as usize).div_ceil(page.len()) * page.len();
    assert!(
        target.high_water <= bound.min(SLOT),
        "wrote past the declared result size"
    );
    if let Ok(applied) = result {
        let size = applied.result_size() as usize;
        let written = &target.bytes[..size];
        assert_eq!(&<[u8; 32]>::from(Sha256::digest(written)), applied.result_digest());
    }
}
