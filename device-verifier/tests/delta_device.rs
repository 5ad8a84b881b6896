//! Device-side delta apply without the host encoder: header strictness, buffer and slot checks,
//! and the RAM budget (≤ 4 KiB besides the page buffer, docs/FORMATS.md "Delta patch").

use device_verifier::delta::{self, ApplyErrorKind, ApplyRam, PatchSource};
use device_verifier::{FlashError, FlashRead, FlashWrite, SliceFlash};
use manifest::delta::{encode_patch, Codec, CodecParams, DeltaErrorKind, DeltaHeader};
use sha2::{Digest, Sha256};

/// A target slot in memory that counts erases and writes.
struct Slot {
    bytes: Vec<u8>,
    ops: usize,
}

impl FlashRead for Slot {
    fn capacity(&self) -> u32 {
        u32::try_from(self.bytes.len()).unwrap()
    }
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        let o = usize::try_from(offset).unwrap();
        buf.copy_from_slice(self.bytes.get(o..o + buf.len()).ok_or(FlashError)?);
        Ok(())
    }
}

impl FlashWrite for Slot {
    fn capacity(&self) -> u32 {
        u32::try_from(self.bytes.len()).unwrap()
    }
    fn erase(&mut self, offset: u32, len: u32) -> Result<(), FlashError> {
        self.ops += 1;
        let o = usize::try_from(offset).unwrap();
        let len = usize::try_from(len).unwrap();
        self.bytes.get_mut(o..o + len).ok_or(FlashError)?.fill(0xFF);
        Ok(())
    }
    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        self.ops += 1;
        let o = usize::try_from(offset).unwrap();
        self.bytes
            .get_mut(o..o + data.len())
            .ok_or(FlashError)?
            .copy_from_slice(data);
        Ok(())
    }
}

/// The smallest valid patch: empty base to empty result. The range coder's flush of no
/// decisions is five zero bytes (FORMATS §Delta, "Payload coding").
fn empty_patch() -> (DeltaHeader, Vec<u8>) {
    let empty: [u8; 32] = Sha256::digest([]).into();
    let header = DeltaHeader {
        codec: Codec::RANGE_CM,
        params: CodecParams::DEFAULT,
        base_size: 0,
        base_digest: empty,
        result_size: 0,
        result_digest: empty,
        payload_len: 5,
    };
    (header, encode_patch(&header, &[0; 5]))
}

fn run(patch: &[u8], base: &[u8], target: &mut Slot, page: &mut [u8]) -> Result<(), delta::ApplyError> {
    let mut source = patch;
    let header = delta::read_header(&mut source)?;
    delta::apply(
        &header,
        &mut SliceFlash::new(base),
        target,
        &mut source,
        &mut ApplyRam::new(),
        page,
    )
    .map(|_| ())
}

#[test]
fn ram_budget_is_under_four_kib() {
    let size = std::mem::size_of::<ApplyRam>();
    assert!(size <= 4096, "ApplyRam is {size} bytes");
}

#[test]
fn empty_patch_applies_without_touching_flash() {
    let (_, patch) = empty_patch();
    let mut target = Slot {
        bytes: vec![0; 16],
        ops: 0,
    };
    run(&patch, &[], &mut target, &mut [0; 16]).unwrap();
    assert_eq!(target.ops, 0);
}

#[test]
fn header_tamper_and_truncation_are_refused() {
    let (_, patch) = empty_patch();
    let mut bad = patch.clone();
    bad[0] ^= 1;
    let mut target = Slot {
        bytes: vec![0; 16],
        ops: 0,
    };
    let err = run(&bad, &[], &mut target, &mut [0; 16]).unwrap_err();
    assert_eq!(err.kind, ApplyErrorKind::Header(DeltaErrorKind::BadMagic));
    for len in 0..patch.len() {
        let err = run(&patch[..len], &[], &mut target, &mut [0; 16]).unwrap_err();
        assert_eq!(err.kind, ApplyErrorKind::Truncated, "len {len}");
    }
    // The coder's first byte is always 0; the final code must be 0.
    for (at, kind) in [(96, ApplyErrorKind::Corrupt), (100, ApplyErrorKind::Corrupt)] {
        let mut bad = patch.clone();
        bad[at] = 1;
        assert_eq!(
            run(&bad, &[], &mut target, &mut [0; 16]).unwrap_err().kind,
            kind,
            "byte {at}"
        );
    }
    assert_eq!(target.ops, 0);
}

#[test]
fn trailing_source_bytes_are_refused() {
    let (_, mut patch) = empty_patch();
    patch.push(0);
    let mut target = Slot {
        bytes: vec![0; 16],
        ops: 0,
    };
    let err = run(&patch, &[], &mut target, &mut [0; 16]).unwrap_err();
    assert_eq!(err.kind, ApplyErrorKind::TrailingBytes);
}

#[test]
fn bad_buffers_and_small_slots_are_refused_before_writing() {
    let (mut header, _) = empty_patch();
    header.result_size = 100;
    let patch = encode_patch(&header, &[0; 5]);
    let mut target = Slot {
        bytes: vec![0; 64],
        ops: 0,
    };
    let err = run(&patch, &[], &mut target, &mut [0; 16]).unwrap_err();
    assert_eq!(err.kind, ApplyErrorKind::TargetTooSmall);
    let mut target = Slot {
        bytes: vec![0; 128],
        ops: 0,
    };
    let err = run(&patch, &[], &mut target, &mut []).unwrap_err();
    assert_eq!(err.kind, ApplyErrorKind::BadPageBuffer);
    assert_eq!(target.ops, 0);
}

#[test]
fn wrong_base_is_refused() {
    let (_, patch) = empty_patch();
    let mut target = Slot {
        bytes: vec![0; 16],
        ops: 0,
    };
    // A longer base slot is fine (only base_size bytes are hashed)...
    run(&patch, &[1, 2, 3], &mut target, &mut [0; 16]).unwrap();
    // ...a different declared base is not.
    let (mut header, _) = empty_patch();
    header.base_size = 3;
    let patch = encode_patch(&header, &[0; 5]);
    let err = run(&patch, &[1, 2, 3], &mut target, &mut [0; 16]).unwrap_err();
    assert_eq!(err.kind, ApplyErrorKind::WrongBase);
    let err = run(&patch, &[1, 2], &mut target, &mut [0; 16]).unwrap_err();
    assert_eq!(err.kind, ApplyErrorKind::WrongBase);
}

#[test]
fn failing_patch_source_is_an_error() {
    struct Broken;
    impl PatchSource for Broken {
        fn read(&mut self, _: &mut [u8]) -> Result<usize, delta::PatchReadError> {
            Err(delta::PatchReadError)
        }
    }
    assert_eq!(
        delta::read_header(&mut Broken).unwrap_err().kind,
        ApplyErrorKind::PatchRead
    );
}
