//! Quick bench binary (not a timed test): envelope size of a typical release and the time the
//! device verifier takes to verify it (`verify_envelope`: COSE signature(s), digest, decode,
//! identity and rollback checks). Run with `cargo run --release -p signer --example release_bench`.

use std::hint::black_box;
use std::time::Instant;

use device_verifier::{verify_envelope, ManifestPolicy, RollbackStore, SequenceCommit, StoreError, TrustedKey};
use signer::release::{build_release, class_ids, CoseSigner, DeltaRef, ReleaseInput};

struct Zero;
impl RollbackStore for Zero {
    fn sequence(&self) -> u64 {
        0
    }
    fn commit(&mut self, _: SequenceCommit) -> Result<(), StoreError> {
        Err(StoreError)
    }
}

fn sample(name: &str) -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/third-party/imgtool-2.5.0-samples");
    std::fs::read(dir.join(name)).expect("imgtool samples")
}

fn input(deltas: usize) -> ReleaseInput {
    ReleaseInput {
        image: sample("signed-ed25519-seccnt42.bin"),
        image_name: "app-1.4.2.bin".into(),
        image_uri: None,
        sequence: 42,
        vendor_domain: "example.com".into(),
        class_name: "sensor-v2".into(),
        version: "1.4.2".into(),
        notes: "Fixes sensor drift at low temperature.".into(),
        deltas: (0..deltas)
            .map(|i| DeltaRef {
                format: 1,
                precursor_image: sample("signed-ed25519-basic.bin"),
                patch: vec![i as u8; 1400],
                file_name: format!("from-1.4.{i}.patch"),
            })
            .collect(),
    }
}

fn bench(label: &str, signers: &[&dyn CoseSigner], deltas: usize, threshold: usize) {
    let bundle = build_release(input(deltas), signers).expect("build");
    let spkis: Vec<Vec<u8>> = signers.iter().map(|s| s.public_spki()).collect();
    let keys: Vec<TrustedKey<'_>> = spkis.iter().map(|s| TrustedKey::from_spki(s).unwrap()).collect();
    let ids = class_ids("example.com", "sensor-v2");
    let mut policy = ManifestPolicy::new(&keys, ids.vendor_id, ids.class_id);
    policy.threshold = threshold;
    let env = &bundle.envelope;
    verify_envelope(env, &policy, &Zero).expect("verifies");
    let iters = 2000u32;
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(verify_envelope(black_box(env), &policy, &Zero).unwrap().sequence());
        }
        best = best.min(start.elapsed().as_secs_f64() / f64::from(iters));
    }
    println!(
        "{label:<40} envelope {:>4} B   verify {:>7.1} µs (best of 5 x {iters})",
        env.len(),
        best * 1e6
    );
}

fn main() {
    let ed = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    let ed2 = ed25519_dalek::SigningKey::from_bytes(&[2; 32]);
    let p = p256::ecdsa::SigningKey::from_slice(&[3; 32]).unwrap();
    bench("typical: 1 x Ed25519, text, no delta", &[&ed], 0, 1);
    bench("1 x Ed25519, text, 1 delta", &[&ed], 1, 1);
    bench("2 x Ed25519 (2-of-2), text", &[&ed, &ed2], 0, 2);
    bench("1 x ESP256 (P-256), text", &[&p], 0, 1);
}
