//! Test inputs and a flash slot that records (and can fail) erases and writes.

use device_verifier::{FlashError, FlashRead, FlashWrite};
use signer::delta::MemSlot;

pub fn fixture(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/third-party/delta-pair/");
    std::fs::read(format!("{path}{name}")).unwrap_or_else(|e| panic!("{path}{name}: {e}"))
}

/// Deterministic pseudo-random bytes (xorshift64*), so tests need no stored data.
pub fn rng_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `edits` firmware-like changes to `base`: byte patches, insertions (shifting what follows)
/// and deletions, at deterministic pseudo-random places.
pub fn edit(base: &[u8], seed: u64, edits: usize) -> Vec<u8> {
    let noise = rng_bytes(seed, edits * 16 + 16);
    let mut out = base.to_vec();
    for e in 0..edits {
        let r = &noise[e * 16..e * 16 + 16];
        let at = if out.is_empty() {
            0
        } else {
            usize::try_from(u64::from_le_bytes(r[..8].try_into().unwrap())).unwrap() % out.len()
        };
        let len = usize::from(r[8] % 32) + 1;
        match r[9] % 3 {
            0 => {
                for (i, b) in out.iter_mut().skip(at).take(len).enumerate() {
                    *b = b.wrapping_add(r[10 + i % 6] | 1);
                }
            }
            1 => {
                let insert: Vec<u8> = (0..len).map(|i| r[10 + i % 6].wrapping_mul(7)).collect();
                out.splice(at..at, insert);
            }
            _ => {
                let end = (at + len).min(out.len());
                out.drain(at..end);
            }
        }
    }
    out
}

/// A target slot that counts erase/write operations, remembers the furthest written byte,
/// and can fail (power cut) once `fail_after` operations have succeeded.
pub struct RecordingSlot {
    pub slot: MemSlot,
    pub ops: usize,
    pub max_end: usize,
    pub fail_after: Option<usize>,
}

impl RecordingSlot {
    pub fn new(len: usize) -> Self {
        Self {
            slot: MemSlot::new(len),
            ops: 0,
            max_end: 0,
            fail_after: None,
        }
    }

    fn tick(&mut self) -> Result<(), FlashError> {
        if self.fail_after.is_some_and(|n| self.ops >= n) {
            return Err(FlashError);
        }
        self.ops += 1;
        Ok(())
    }
}

impl FlashRead for RecordingSlot {
    fn capacity(&self) -> u32 {
        FlashRead::capacity(&self.slot)
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        self.slot.read(offset, buf)
    }
}

impl FlashWrite for RecordingSlot {
    fn capacity(&self) -> u32 {
        FlashRead::capacity(&self.slot)
    }

    fn erase(&mut self, offset: u32, len: u32) -> Result<(), FlashError> {
        self.tick()?;
        self.slot.erase(offset, len)
    }

    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        self.tick()?;
        let end = usize::try_from(offset).unwrap() + data.len();
        self.max_end = self.max_end.max(end);
        self.slot.write(offset, data)
    }
}
