//! The `embedded-storage` adapters (`flash::nor::NorRegion`) against an in-memory NOR flash that
//! enforces embedded-storage 0.3's rules: aligned, in-bounds reads, writes and erases
//! (`nor_flash::check_*`), and no second write to a word before it is erased.
//! Security properties: `endless_data` (nothing outside the region is read or written),
//! `truncated` / out-of-range requests are typed errors, never panics; `power_fail` (an
//! interrupted apply is an error and a retry succeeds).
#![cfg(feature = "embedded-storage")]

mod common;

use common::{key_a, repo_fixture};
use device_verifier::delta::{self, ApplyErrorKind, ApplyIo, ApplyRam};
use device_verifier::flash::nor::{NorRegion, RegionError, MAX_GRANULE};
use device_verifier::{verify_image, FlashError, FlashRead, FlashWrite, ImagePolicy, SliceFlash, TrustedKey};
use embedded_storage::nor_flash::{
    check_erase, check_read, check_write, ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash,
};
use proptest::prelude::*;

/// Bytes outside every region under test: must never change.
const SENTINEL: u8 = 0xA5;

/// A NOR flash in memory with read unit `R`, write unit `W` and erase unit `E`.
#[derive(Debug)]
struct MemNor<const R: usize, const W: usize, const E: usize> {
    bytes: Vec<u8>,
    /// Per write unit: programmed since its last erase.
    programmed: Vec<bool>,
    /// Requests the driver refused (misaligned, out of bounds, double write): the adapter must
    /// never send one.
    refused: usize,
    /// Fail every operation after this many successful writes (a power cut).
    writes_left: Option<usize>,
    reads: usize,
}

impl<const R: usize, const W: usize, const E: usize> MemNor<R, W, E> {
    fn new(len: usize) -> Self {
        Self {
            bytes: vec![SENTINEL; len],
            programmed: vec![false; len / W],
            refused: 0,
            writes_left: None,
            reads: 0,
        }
    }

    fn refuse(&mut self, kind: NorFlashErrorKind) -> NorFlashErrorKind {
        self.refused += 1;
        kind
    }
}

impl<const R: usize, const W: usize, const E: usize> ErrorType for MemNor<R, W, E> {
    type Error = NorFlashErrorKind;
}

impl<const R: usize, const W: usize, const E: usize> ReadNorFlash for MemNor<R, W, E> {
    const READ_SIZE: usize = R;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        check_read(self, offset, bytes.len()).map_err(|k| self.refuse(k))?;
        self.reads += 1;
        let start = offset as usize;
        bytes.copy_from_slice(&self.bytes[start..start + bytes.len()]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.bytes.len()
    }
}

impl<const R: usize, const W: usize, const E: usize> NorFlash for MemNor<R, W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        check_erase(self, from, to).map_err(|k| self.refuse(k))?;
        if self.writes_left == Some(0) {
            return Err(NorFlashErrorKind::Other);
        }
        let (from, to) = (from as usize, to as usize);
        self.bytes[from..to].fill(0xFF);
        self.programmed[from / W..to / W].fill(false);
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        check_write(self, offset, bytes.len()).map_err(|k| self.refuse(k))?;
        let start = offset as usize;
        let units = start / W..(start + bytes.len()) / W;
        // embedded-storage: "It is not allowed to write to the same word twice."
        if self.programmed[units.clone()].iter().any(|p| *p) {
            return Err(self.refuse(NorFlashErrorKind::Other));
        }
        match &mut self.writes_left {
            Some(0) => return Err(NorFlashErrorKind::Other),
            Some(n) => *n -= 1,
            None => {}
        }
        // NOR programming only clears bits.
        for (dst, src) in self.bytes[start..start + bytes.len()].iter_mut().zip(bytes) {
            *dst &= *src;
        }
        self.programmed[units].fill(true);
        Ok(())
    }
}

/// 128 KiB of flash with 4 KiB sectors; the slot under test is 64 KiB at 32 KiB.
const FLASH_LEN: usize = 128 * 1024;
const SLOT_START: u32 = 32 * 1024;
const SLOT_LEN: u32 = 64 * 1024;

fn flash_with<const R: usize, const W: usize, const E: usize>(image: &[u8]) -> MemNor<R, W, E> {
    let mut flash = MemNor::new(FLASH_LEN);
    let start = SLOT_START as usize;
    flash.bytes[start..start + SLOT_LEN as usize].fill(0xFF);
    flash.bytes[start..start + image.len()].copy_from_slice(image);
    flash
}

fn policy_keys(spki: &[u8]) -> [TrustedKey<'_>; 1] {
    [TrustedKey::from_spki(spki).unwrap()]
}

fn verify_in_region<const R: usize>(image: &[u8]) {
    let spki = key_a();
    let keys = policy_keys(&spki);
    let policy = ImagePolicy {
        trusted_keys: &keys,
        security_counter_floor: Some(0),
    };
    let mut buf = [0u8; 61]; // odd: every chunk boundary is unaligned
    let expected = verify_image(&mut SliceFlash::new(image), &policy, &mut buf).unwrap();
    let mut flash = flash_with::<R, 4, 4096>(image);
    let mut region = NorRegion::new(&mut flash, SLOT_START, SLOT_LEN).unwrap();
    let verified = verify_image(&mut region, &policy, &mut buf).unwrap();
    assert_eq!(verified, expected, "READ_SIZE {R}");
    assert_eq!(region.last_error(), None);
    assert_eq!(
        flash.refused, 0,
        "READ_SIZE {R}: the adapter sent a request the driver refused"
    );
}

#[test]
fn verify_image_through_a_region_at_any_read_size() {
    let image = repo_fixture("images/fw-v1.signed.bin");
    verify_in_region::<1>(&image);
    verify_in_region::<2>(&image);
    verify_in_region::<4>(&image);
    verify_in_region::<16>(&image);
    verify_in_region::<MAX_GRANULE>(&image);
}

#[test]
fn endless_data_reads_outside_the_region_are_refused() {
    let mut flash = flash_with::<4, 4, 4096>(&[]);
    let mut region = NorRegion::new(&mut flash, SLOT_START, SLOT_LEN).unwrap();
    assert_eq!(FlashRead::capacity(&region), SLOT_LEN);
    let mut buf = [0u8; 8];
    // Straddling the end, starting at the end, past it, and offsets that overflow u32.
    for offset in [SLOT_LEN - 4, SLOT_LEN, SLOT_LEN + 4, u32::MAX - 3, u32::MAX] {
        assert_eq!(region.read(offset, &mut buf), Err(FlashError), "offset {offset}");
        assert_eq!(region.last_error(), Some(NorFlashErrorKind::OutOfBounds));
    }
    // An empty read at the very end is in range.
    region.read(SLOT_LEN, &mut []).unwrap();
    // The driver never saw a request: the adapter refused each one itself.
    let region = region.into_inner();
    assert_eq!((region.reads, region.refused), (0, 0));
}

#[test]
fn regions_must_lie_inside_the_flash_and_be_aligned() {
    let flash = || MemNor::<4, 8, 4096>::new(FLASH_LEN);
    let len = FLASH_LEN as u32;
    assert_eq!(
        NorRegion::new(flash(), len - 4096, 8192).unwrap_err(),
        RegionError::OutOfBounds
    );
    assert_eq!(
        NorRegion::new(flash(), u32::MAX, 4).unwrap_err(),
        RegionError::OutOfBounds
    );
    assert_eq!(NorRegion::new(flash(), 2, 4096).unwrap_err(), RegionError::NotAligned);
    assert_eq!(NorRegion::new(flash(), 0, 4097).unwrap_err(), RegionError::NotAligned);
    // Read-aligned is enough to read; writing needs whole erase units.
    assert!(NorRegion::new(flash(), 4, 4096).is_ok());
    assert_eq!(
        NorRegion::new_writable(flash(), 4, 4096).unwrap_err(),
        RegionError::NotAligned
    );
    assert_eq!(
        NorRegion::new_writable(flash(), 0, 6000).unwrap_err(),
        RegionError::NotAligned
    );
    let region = NorRegion::new_writable(flash(), 4096, 8192).unwrap();
    assert_eq!((region.start(), region.len(), region.is_empty()), (4096, 8192, false));
    let whole = NorRegion::whole(flash()).unwrap();
    assert_eq!((whole.start(), whole.len()), (0, len));
    // Granules the adapter cannot buffer are refused up front.
    assert_eq!(
        NorRegion::new(MemNor::<{ MAX_GRANULE * 2 }, 8, 4096>::new(FLASH_LEN), 0, 4096).unwrap_err(),
        RegionError::UnsupportedGranule
    );
    assert_eq!(
        NorRegion::new(MemNor::<0, 8, 4096>::new(FLASH_LEN), 0, 4096).unwrap_err(),
        RegionError::UnsupportedGranule
    );
    assert_eq!(
        RegionError::NotAligned.to_string(),
        "region is not aligned to the flash's read, write or erase unit"
    );
}

#[test]
fn erase_and_write_respect_the_flash_granularity() {
    let mut flash = MemNor::<1, 8, 4096>::new(FLASH_LEN);
    let mut region = NorRegion::new_writable(&mut flash, SLOT_START, 8192).unwrap();
    // Erases: whole sectors only, inside the region.
    assert_eq!(region.erase(0, 1000), Err(FlashError));
    assert_eq!(region.last_error(), Some(NorFlashErrorKind::NotAligned));
    assert_eq!(region.erase(100, 4096), Err(FlashError));
    assert_eq!(region.erase(4096, 8192), Err(FlashError));
    assert_eq!(region.last_error(), Some(NorFlashErrorKind::OutOfBounds));
    region.erase(0, 8192).unwrap();
    // Writes: start on a write unit; a short tail is padded with 0xFF.
    assert_eq!(region.write(3, &[0; 8]), Err(FlashError));
    assert_eq!(region.last_error(), Some(NorFlashErrorKind::NotAligned));
    region.write(0, &[0x11; 13]).unwrap();
    assert_eq!(region.write(8192 - 8, &[0; 9]), Err(FlashError));
    assert_eq!(region.last_error(), Some(NorFlashErrorKind::OutOfBounds));
    region.write(8192 - 8, &[0x22; 3]).unwrap();
    let mut back = [0u8; 16];
    region.read(0, &mut back).unwrap();
    assert_eq!(back[..13], [0x11; 13]);
    assert_eq!(back[13..], [0xFF; 3]);
    // Writing the padded unit again is a double write: the driver's error kind comes back.
    assert_eq!(region.write(8, &[0x33; 8]), Err(FlashError));
    assert_eq!(region.last_error(), Some(NorFlashErrorKind::Other));
    let flash = region.into_inner();
    assert_eq!(flash.refused, 1, "only the deliberate double write reached the driver");
    let start = SLOT_START as usize;
    assert!(flash.bytes[..start].iter().all(|b| *b == SENTINEL));
    assert!(flash.bytes[start + 8192..].iter().all(|b| *b == SENTINEL));
}

/// v1 → v2 with the committed patch, base and target both in NOR regions of different chips.
fn apply_v1_to_v2(
    target: &mut MemNor<1, 8, 4096>,
    page: &mut [u8],
) -> Result<device_verifier::VerifiedImage, delta::ApplyError> {
    let v1 = repo_fixture("images/fw-v1.signed.bin");
    let patch = repo_fixture("releases/v2/delta-from-06eb12d24ae7.patch");
    let spki = key_a();
    let keys = policy_keys(&spki);
    let policy = ImagePolicy {
        trusted_keys: &keys,
        security_counter_floor: Some(0),
    };
    let mut base_flash = flash_with::<4, 4, 4096>(&v1);
    let mut base = NorRegion::new(&mut base_flash, SLOT_START, SLOT_LEN).unwrap();
    let mut target = NorRegion::new_writable(target, SLOT_START, SLOT_LEN).unwrap();
    let mut source: &[u8] = &patch;
    let header = delta::read_header(&mut source)?;
    let mut ram = ApplyRam::new();
    delta::apply_and_verify(
        &header,
        ApplyIo {
            base: &mut base,
            target: &mut target,
            patch: &mut source,
            ram: &mut ram,
            page,
        },
        &policy,
    )
}

#[test]
fn delta_apply_into_a_nor_region() {
    let v2 = repo_fixture("images/fw-v2.signed.bin");
    let mut target = MemNor::new(FLASH_LEN);
    let verified = apply_v1_to_v2(&mut target, &mut [0u8; 4096]).unwrap();
    assert_eq!(verified.image_len() as usize, v2.len());
    let start = SLOT_START as usize;
    assert_eq!(&target.bytes[start..start + v2.len()], &v2[..]);
    assert_eq!(target.refused, 0);
    assert!(target.bytes[..start].iter().all(|b| *b == SENTINEL));
    assert!(target.bytes[start + SLOT_LEN as usize..].iter().all(|b| *b == SENTINEL));
    // A page buffer that is not whole sectors is refused by the adapter, not the driver.
    let mut target = MemNor::new(FLASH_LEN);
    let err = apply_v1_to_v2(&mut target, &mut [0u8; 1000]).unwrap_err();
    assert_eq!(err.kind, ApplyErrorKind::FlashWrite);
    assert_eq!(target.refused, 0);
}

#[test]
fn power_fail_during_apply_is_an_error_and_a_retry_succeeds() {
    let v2 = repo_fixture("images/fw-v2.signed.bin");
    let mut target = MemNor::new(FLASH_LEN);
    target.writes_left = Some(5);
    let err = apply_v1_to_v2(&mut target, &mut [0u8; 4096]).unwrap_err();
    assert_eq!(err.kind, ApplyErrorKind::FlashWrite);
    // Power is back: the apply starts over (every page is erased before it is written).
    target.writes_left = None;
    apply_v1_to_v2(&mut target, &mut [0u8; 4096]).unwrap();
    let start = SLOT_START as usize;
    assert_eq!(&target.bytes[start..start + v2.len()], &v2[..]);
    assert_eq!(target.refused, 0);
}

#[test]
fn driver_errors_surface_as_flash_errors() {
    let image = repo_fixture("images/fw-v1.signed.bin");
    let spki = key_a();
    let keys = policy_keys(&spki);
    let policy = ImagePolicy {
        trusted_keys: &keys,
        security_counter_floor: None,
    };
    // A region whose driver refuses reads past 1 KiB (a chip that is smaller than it claims).
    struct Short(MemNor<1, 1, 1>);
    impl ErrorType for Short {
        type Error = NorFlashErrorKind;
    }
    impl ReadNorFlash for Short {
        const READ_SIZE: usize = 1;
        fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
            if offset as usize + bytes.len() > 1024 {
                return Err(NorFlashErrorKind::Other);
            }
            self.0.read(offset, bytes)
        }
        fn capacity(&self) -> usize {
            self.0.capacity()
        }
    }
    let mut flash = MemNor::new(image.len());
    flash.bytes.copy_from_slice(&image);
    let mut region = NorRegion::whole(Short(flash)).unwrap();
    let err = verify_image(&mut region, &policy, &mut [0u8; 256]).unwrap_err();
    assert_eq!(err.kind, device_verifier::VerifyErrorKind::Flash);
    assert_eq!(region.last_error(), Some(NorFlashErrorKind::Other));
}

proptest! {
    /// Any read through a region returns exactly the bytes a slice of that region holds, or
    /// is refused exactly when it leaves the region; never a panic, never a misaligned request.
    #[test]
    fn reads_match_the_region_bytes(offset in 0u32..9000, len in 0usize..300, fill in any::<u8>()) {
        fn check<const R: usize>(offset: u32, len: usize, fill: u8) {
            let mut flash = MemNor::<R, R, 4096>::new(16 * 1024);
            for (i, b) in flash.bytes.iter_mut().enumerate() {
                *b = (i as u8).wrapping_mul(31) ^ fill;
            }
            let expected_region = flash.bytes[4096..4096 + 8192].to_vec();
            let mut region = NorRegion::new(&mut flash, 4096, 8192).unwrap();
            let mut got = vec![0u8; len];
            let result = region.read(offset, &mut got);
            let mut expected = vec![0u8; len];
            let want = SliceFlash::new(&expected_region).read(offset, &mut expected);
            assert_eq!(result, want, "R={R} offset={offset} len={len}");
            if result.is_ok() {
                assert_eq!(got, expected, "R={R} offset={offset} len={len}");
            }
            assert_eq!(region.into_inner().refused, 0);
        }
        check::<1>(offset, len, fill);
        check::<4>(offset, len, fill);
        check::<8>(offset, len, fill);
        check::<32>(offset, len, fill);
    }
}
