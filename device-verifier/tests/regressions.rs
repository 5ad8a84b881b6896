//! Replays the fuzz corpora and every recorded fuzz finding (`fuzz/regressions/`) in the normal
//! test suite: the same invariants as `device_verifier::fuzzing::image_verify` and
//! `manifest::fuzzing::{image_parse, image_roundtrip}`, without nightly or libFuzzer.
//! Security property: `endless_data` / `truncated` inputs never panic and never verify.

use device_verifier::{verify_image, ImagePolicy, SliceFlash, TrustedKey, VerifyErrorKind};
use manifest::image::{encode::reencode, ImageView};
use std::path::{Path, PathBuf};

/// DER SPKI of the imgtool 2.5.0 sample key (test-only), as in `fuzzing.rs`.
const TEST_KEY_SPKI: [u8; 44] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00, 0x3a, 0x09, 0x91, 0xca, 0xbc, 0xa5, 0xc6,
    0x63, 0x8a, 0x44, 0x12, 0x7e, 0xe0, 0x81, 0x9a, 0xec, 0x2f, 0x91, 0x38, 0xbf, 0xc0, 0x2c, 0x92, 0x82, 0xeb, 0x7d,
    0x8a, 0xca, 0xcc, 0x8f, 0x71, 0xe9,
];

fn inputs() -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut dirs = vec![root.join("regressions")];
    for target in [
        "image_parse",
        "image_roundtrip",
        "image_verify",
        "image_verify_resigned",
    ] {
        dirs.push(root.join("corpus").join(target));
    }
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            out.push((path, bytes));
        }
    }
    out
}

fn check(path: &Path, data: &[u8]) -> Option<bool> {
    // manifest: round trip for accepted inputs.
    if let Ok(view) = ImageView::parse(data) {
        assert_eq!(reencode(&view).unwrap(), data, "{}: reencode", path.display());
    }
    let key = TrustedKey::from_spki(&TEST_KEY_SPKI).unwrap();
    let mut outcome = None;
    for buf_len in [13usize, 64, 4096] {
        let mut buf = vec![0u8; buf_len];
        let policy = ImagePolicy {
            trusted_keys: &[key],
            security_counter_floor: None,
        };
        match verify_image(&mut SliceFlash::new(data), &policy, &mut buf) {
            Err(e) if e.kind == VerifyErrorKind::BufferTooSmall => {}
            result => {
                let ok = result.is_ok();
                if let Some(previous) = outcome {
                    assert_eq!(previous, ok, "{}: outcome depends on buffer size", path.display());
                }
                outcome = Some(ok);
                if let Ok(verified) = result {
                    let view = ImageView::parse(data).expect("verified image parses");
                    assert_eq!(verified.image_len() as usize, view.image_len(), "{}", path.display());
                }
            }
        }
    }
    outcome
}

#[test]
fn endless_data_fuzz_corpus_and_regressions_replay() {
    let inputs = inputs();
    assert!(inputs.len() >= 5, "fuzz corpora missing: {}", inputs.len());
    let verified = inputs
        .iter()
        .filter(|(path, data)| check(path, data) == Some(true))
        .count();
    // The seed corpus holds imgtool-signed images: some of them must verify.
    assert!(verified >= 1, "no corpus image verified");
}

#[test]
fn truncated_corpus_images_never_verify() {
    let key = TrustedKey::from_spki(&TEST_KEY_SPKI).unwrap();
    for (path, data) in inputs() {
        let Ok(view) = ImageView::parse(&data) else { continue };
        // Every proper prefix of the image itself (header .. end of the unprotected TLVs).
        for cut in 0..view.image_len() {
            let mut buf = [0u8; 64];
            let policy = ImagePolicy {
                trusted_keys: &[key],
                security_counter_floor: None,
            };
            let result = verify_image(&mut SliceFlash::new(&data[..cut]), &policy, &mut buf);
            assert!(result.is_err(), "{}: truncated at {cut} verified", path.display());
        }
    }
}
