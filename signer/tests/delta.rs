//! Host create + device-side apply, end to end. Tests are named by the property they
//! defend; the format rules they exercise are in docs/FORMATS.md, "Delta patch format".

#[path = "delta/common.rs"]
mod common;

use common::{edit, fixture, rng_bytes, RecordingSlot};
use device_verifier::delta::{self as device, ApplyErrorKind, ApplyIo, ApplyRam};
use device_verifier::SliceFlash;
use manifest::delta::{PatchView, HEADER_LEN};
use proptest::prelude::*;
use signer::delta::{apply, create, DeltaError};

fn round_trip(old: &[u8], new: &[u8]) -> usize {
    let patch = create(old, new, &|_, _| {}).unwrap();
    assert_eq!(apply(old, &patch).unwrap(), new);
    patch.len()
}

fn apply_kind(old: &[u8], patch: &[u8]) -> ApplyErrorKind {
    match apply(old, patch) {
        Err(DeltaError::Apply(e)) => e.kind,
        other => panic!("expected an apply error, got {other:?}"),
    }
}

/// Applies through the device API only (no host-side container pre-check).
fn device_apply(old: &[u8], patch: &[u8], target: &mut RecordingSlot) -> Result<(), device::ApplyError> {
    let mut source = patch;
    let header = device::read_header(&mut source)?;
    let mut page = [0u8; 256];
    device::apply(
        &header,
        &mut SliceFlash::new(old),
        target,
        &mut source,
        &mut ApplyRam::new(),
        &mut page,
    )?;
    Ok(())
}

#[test]
fn fixture_pair_round_trip() {
    let old = fixture("fw-v1.bin");
    let new = fixture("fw-v2.bin");
    let size = round_trip(&old, &new);
    // Reference: Debian bsdiff makes 1,499 B for this pair (scripts/delta-bench.sh).
    assert!(size < 1_499, "fixture patch is {size} bytes");
}

#[test]
fn synthetic_pairs_round_trip() {
    let base = rng_bytes(1, 40_000);
    round_trip(&base, &base); // identical
    round_trip(&base, &rng_bytes(2, 40_000)); // completely different
    round_trip(&[], &[]); // empty → empty
    round_trip(&[], &base); // from nothing
    round_trip(&base, &[]); // to nothing
    round_trip(&base, &edit(&base, 3, 20_000)); // grown
    let shrunk: Vec<u8> = base[..10_000].iter().chain(&base[25_000..]).copied().collect();
    round_trip(&base, &shrunk);
}

#[test]
fn sixteen_mib_round_trip() {
    let old = rng_bytes(7, 16 << 20);
    let new = edit(&old, 8, 64);
    let size = round_trip(&old, &new);
    assert!(size < 64 << 10, "16 MiB patch is {size} bytes");
}

#[test]
fn wrong_base_is_refused_before_any_write() {
    let old = fixture("fw-v1.bin");
    let new = fixture("fw-v2.bin");
    let patch = create(&old, &new, &|_, _| {}).unwrap();
    let mut other = old.clone();
    other[1000] ^= 1;
    let mut target = RecordingSlot::new(new.len() + 256);
    let err = device_apply(&other, &patch, &mut target).unwrap_err();
    assert_eq!(err.kind, ApplyErrorKind::WrongBase);
    assert_eq!(target.ops, 0, "nothing may be erased or written for a wrong base");
    // A shorter base slot is refused the same way.
    assert_eq!(apply_kind(&old[..old.len() - 1], &patch), ApplyErrorKind::WrongBase);
}

/// Every byte of a patch flipped (on a small synthetic pair), and every 7th byte of the fixture
/// patch: each is refused, never panics, never writes past the declared result.
#[test]
fn tamper_anywhere_is_never_accepted() {
    let small_old = rng_bytes(41, 6_000);
    let small_new = edit(&small_old, 42, 40);
    let cases = [
        (small_old.clone(), small_new, 1usize),
        (fixture("fw-v1.bin"), fixture("fw-v2.bin"), 7),
    ];
    for (old, new, step) in cases {
        let patch = create(&old, &new, &|_, _| {}).unwrap();
        for i in (0..patch.len()).step_by(step) {
            let mut bad = patch.clone();
            bad[i] ^= if i % 2 == 0 { 0x01 } else { 0x80 };
            let mut target = RecordingSlot::new(new.len() + 256);
            let result = device_apply(&old, &bad, &mut target);
            // The result digest covers every byte and the final coder state is checked, so no
            // flip can be accepted.
            assert!(result.is_err(), "flip at byte {i} accepted");
            assert!(target.max_end <= new.len(), "wrote past the result at byte {i}");
        }
    }
}

#[test]
fn tamper_digests() {
    let old = fixture("fw-v1.bin");
    let new = fixture("fw-v2.bin");
    let patch = create(&old, &new, &|_, _| {}).unwrap();
    let mut bad = patch.clone();
    bad[56] ^= 1; // result_digest
    assert_eq!(apply_kind(&old, &bad), ApplyErrorKind::ResultMismatch);
    let mut bad = patch;
    bad[20] ^= 1; // base_digest
    assert_eq!(apply_kind(&old, &bad), ApplyErrorKind::WrongBase);
}

#[test]
fn truncated_patch_is_refused() {
    let old = rng_bytes(43, 6_000);
    let new = edit(&old, 44, 40);
    let patch = create(&old, &new, &|_, _| {}).unwrap();
    for len in 0..patch.len() {
        let mut target = RecordingSlot::new(new.len() + 256);
        let err = device_apply(&old, &patch[..len], &mut target).unwrap_err();
        assert_eq!(err.kind, ApplyErrorKind::Truncated, "len {len}");
    }
    // The host path rejects it in the container parser already.
    assert!(matches!(
        apply(&old, &patch[..patch.len() - 1]),
        Err(DeltaError::Header(_))
    ));
}

#[test]
fn trailing_bytes_are_refused() {
    let old = fixture("fw-v1.bin");
    let new = fixture("fw-v2.bin");
    let mut patch = create(&old, &new, &|_, _| {}).unwrap();
    patch.push(0);
    let mut target = RecordingSlot::new(new.len() + 256);
    let err = device_apply(&old, &patch, &mut target).unwrap_err();
    assert_eq!(err.kind, ApplyErrorKind::TrailingBytes);
}

#[test]
fn endless_data_cannot_exceed_result_size() {
    // A patch whose records produce more than its header declares: shrink the declared size.
    let old = rng_bytes(11, 5_000);
    let new = edit(&old, 12, 3_000);
    let patch = create(&old, &new, &|_, _| {}).unwrap();
    for declared in [0, 1, 255, 256, 257, 4_000, new.len() - 1] {
        let mut bad = patch.clone();
        bad[52..56].copy_from_slice(&u32::try_from(declared).unwrap().to_le_bytes());
        let mut target = RecordingSlot::new(new.len() + 512);
        let err = device_apply(&old, &bad, &mut target).unwrap_err();
        assert!(
            matches!(err.kind, ApplyErrorKind::ResultOverrun | ApplyErrorKind::TrailingBytes),
            "declared {declared}: {err:?}"
        );
        assert!(
            target.max_end <= declared,
            "declared {declared}, wrote to {}",
            target.max_end
        );
    }
    // And a random payload with a huge declared result ends (quickly) in an error.
    let mut hostile = patch[..HEADER_LEN].to_vec();
    hostile[52..56].copy_from_slice(&u32::MAX.to_le_bytes());
    let payload = rng_bytes(13, 4096);
    hostile[88..92].copy_from_slice(&4096u32.to_le_bytes());
    hostile.extend_from_slice(&payload);
    hostile[HEADER_LEN] = 0;
    let mut target = RecordingSlot::new(1 << 20);
    assert!(device_apply(&old, &hostile, &mut target).is_err());
}

#[test]
fn power_fail_at_every_write_is_restartable() {
    let old = rng_bytes(21, 3_000);
    let new = edit(&old, 22, 1_500);
    let patch = create(&old, &new, &|_, _| {}).unwrap();
    let mut clean = RecordingSlot::new(new.len() + 256);
    device_apply(&old, &patch, &mut clean).unwrap();
    let total_ops = clean.ops;
    assert!(
        total_ops >= 10,
        "too few flash operations to be a useful test: {total_ops}"
    );
    for n in 0..total_ops {
        let mut target = RecordingSlot::new(new.len() + 256);
        target.fail_after = Some(n);
        let err = device_apply(&old, &patch, &mut target).unwrap_err();
        assert_eq!(err.kind, ApplyErrorKind::FlashWrite, "cut after {n} operations");
        // Power returns: start over on the half-written slot.
        target.fail_after = None;
        device_apply(&old, &patch, &mut target).unwrap();
        assert_eq!(&target.slot.bytes[..new.len()], &new[..], "cut after {n} operations");
    }
}

#[test]
fn patch_container_round_trips() {
    let old = fixture("fw-v1.bin");
    let new = fixture("fw-v2.bin");
    let patch = create(&old, &new, &|_, _| {}).unwrap();
    let view = PatchView::parse(&patch).unwrap();
    assert_eq!(manifest::delta::encode_patch(&view.header, view.payload), patch);
    assert_eq!(usize::try_from(view.header.result_size).unwrap(), new.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn apply_create_is_identity(a in proptest::collection::vec(any::<u8>(), 0..2_000),
                                seed: u64, edits in 0usize..50) {
        let b = edit(&a, seed, edits);
        let patch = create(&a, &b, &|_, _| {}).unwrap();
        prop_assert_eq!(apply(&a, &patch).unwrap(), b);
    }

    #[test]
    fn hostile_payload_never_panics(payload in proptest::collection::vec(any::<u8>(), 5..600),
                                    result_size in 0u32..100_000) {
        let old = rng_bytes(31, 1_000);
        let template = create(&old, &old, &|_, _| {}).unwrap();
        let mut patch = template[..HEADER_LEN].to_vec();
        patch[52..56].copy_from_slice(&result_size.to_le_bytes());
        patch[88..92].copy_from_slice(&u32::try_from(payload.len()).unwrap().to_le_bytes());
        patch.extend_from_slice(&payload);
        let mut target = RecordingSlot::new(100_000 + 256);
        let _ = device_apply(&old, &patch, &mut target);
        prop_assert!(target.max_end <= usize::try_from(result_size).unwrap());
    }
}

fn sample(name: &str) -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/third-party/imgtool-2.5.0-samples/"
    );
    std::fs::read(format!("{path}{name}")).unwrap_or_else(|e| panic!("{path}{name}: {e}"))
}

fn sample_key_spki() -> Vec<u8> {
    use base64::Engine as _;
    let pem = String::from_utf8(sample("ed25519-pub.pem")).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).unwrap()
}

fn apply_verified(old: &[u8], patch: &[u8], target: &mut RecordingSlot) -> Result<u32, device::ApplyError> {
    let spki = sample_key_spki();
    let key = device_verifier::TrustedKey::from_spki(&spki).unwrap();
    let policy = device_verifier::ImagePolicy {
        trusted_keys: &[key],
        security_counter_floor: None,
    };
    let mut source = patch;
    let header = device::read_header(&mut source)?;
    let mut page = [0u8; 512];
    let verified = device::apply_and_verify(
        &header,
        ApplyIo {
            base: &mut SliceFlash::new(old),
            target,
            patch: &mut source,
            ram: &mut ApplyRam::new(),
            page: &mut page,
        },
        &policy,
    )?;
    Ok(verified.image_len())
}

#[test]
fn signed_image_update_verifies_after_apply() {
    let old = sample("signed-ed25519-basic.bin");
    let new = sample("signed-ed25519-seccnt42.bin");
    let patch = create(&old, &new, &|_, _| {}).unwrap();
    let mut target = RecordingSlot::new(new.len().div_ceil(512) * 512);
    let image_len = apply_verified(&old, &patch, &mut target).unwrap();
    assert!(usize::try_from(image_len).unwrap() <= new.len());
    assert_eq!(&target.slot.bytes[..new.len()], &new[..]);
}

#[test]
fn tamper_unsigned_result_is_not_reported_as_success() {
    // The patch is intact and its result digest matches, but the result is not a signed image:
    // apply_and_verify must still refuse it.
    let old = sample("signed-ed25519-basic.bin");
    let new = sample("unsigned-hashonly.bin");
    let patch = create(&old, &new, &|_, _| {}).unwrap();
    let mut target = RecordingSlot::new(new.len().div_ceil(512) * 512);
    let err = apply_verified(&old, &patch, &mut target).unwrap_err();
    assert!(matches!(err.kind, ApplyErrorKind::Verify(_)), "{err:?}");
}

#[test]
fn progress_reaches_total_and_never_goes_back() {
    let old = rng_bytes(51, 300_000);
    let new = edit(&old, 52, 200);
    let seen = std::cell::RefCell::new(Vec::new());
    create(&old, &new, &|done, total| seen.borrow_mut().push((done, total))).unwrap();
    let seen = seen.into_inner();
    let total = u64::try_from(new.len()).unwrap();
    assert!(seen.len() >= 3, "{seen:?}");
    assert!(seen.iter().all(|&(d, t)| t == total && d <= t));
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0));
    assert_eq!(seen.last(), Some(&(total, total)));
}
