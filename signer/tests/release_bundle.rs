//! `signer release` library: bundles, the sequence state file, verify and inspect.

use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::EncodePublicKey as _;
use signer::release::cli::{release, release_inspect, release_verify, ReleaseArgs, VerifyArgs};
use signer::release::{build_release, report, CoseSigner, ReleaseInput};

fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/third-party/imgtool-2.5.0-samples")
}

fn manifest_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[3; 32])
}

fn write_pub(dir: &Path, name: &str, key: &ed25519_dalek::SigningKey) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        key.verifying_key().to_public_key_pem(Default::default()).unwrap(),
    )
    .unwrap();
    path
}

fn args(dir: &Path, out: &str, sequence: u64) -> ReleaseArgs {
    ReleaseArgs {
        image: samples().join("signed-ed25519-basic.bin"),
        out_dir: dir.join(out),
        sequence,
        vendor_domain: "example.com".into(),
        class_name: "sensor-v2".into(),
        version: "1.0.0".into(),
        notes: "first".into(),
        image_uri: None,
        deltas: vec![],
        delta_from: vec![],
        state_file: dir.join("state.json"),
        force: false,
        dry_run: false,
    }
}

#[test]
fn bundle_is_written_atomically_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let key = manifest_key();
    let mut log = Vec::new();
    release(&args(dir.path(), "r1", 1), &[&key as &dyn CoseSigner], &mut log).unwrap();
    let out = dir.path().join("r1");
    for f in ["release.suit", "signed-ed25519-basic.bin", "release.json"] {
        assert!(out.join(f).exists(), "{f}");
    }
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("release.json")).unwrap()).unwrap();
    assert_eq!(summary["sequence"], 1);
    assert_eq!(summary["install_uri"], "signed-ed25519-basic.bin");
    assert_eq!(summary["signatures"][0]["alg"], "Ed25519");
    let before = std::fs::read(out.join("release.suit")).unwrap();

    // Same output directory again (forced past the state check): refused, nothing replaced.
    let again = ReleaseArgs {
        force: true,
        ..args(dir.path(), "r1", 1)
    };
    let err = release(&again, &[&key as &dyn CoseSigner], &mut log).unwrap_err();
    assert!(format!("{err:#}").contains("refusing to overwrite"), "{err:#}");
    assert_eq!(std::fs::read(out.join("release.suit")).unwrap(), before);
}

#[test]
fn state_file_refuses_lower_and_equal_sequence_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let key = manifest_key();
    let signers = [&key as &dyn CoseSigner];
    let mut log = Vec::new();
    release(&args(dir.path(), "r5", 5), &signers, &mut log).unwrap();
    for (out, seq) in [("r5b", 5), ("r4", 4)] {
        let err = release(&args(dir.path(), out, seq), &signers, &mut log).unwrap_err();
        assert!(format!("{err:#}").contains("not above 5"), "{err:#}");
        assert!(!dir.path().join(out).exists());
    }
    release(
        &ReleaseArgs {
            force: true,
            ..args(dir.path(), "r4", 4)
        },
        &signers,
        &mut log,
    )
    .unwrap();
    // The record keeps the maximum.
    let err = release(&args(dir.path(), "r5c", 5), &signers, &mut log).unwrap_err();
    assert!(format!("{err:#}").contains("not above 5"), "{err:#}");
    // Dry run prints the plan and signs nothing.
    let mut plan = Vec::new();
    release(
        &ReleaseArgs {
            dry_run: true,
            ..args(dir.path(), "r6", 6)
        },
        &signers,
        &mut plan,
    )
    .unwrap();
    let plan = String::from_utf8(plan).unwrap();
    assert!(plan.contains("plan:") && plan.contains("sequence   6"), "{plan}");
    assert!(!dir.path().join("r6").exists());
}

#[test]
fn verify_and_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let key = manifest_key();
    let mut log = Vec::new();
    release(&args(dir.path(), "r1", 1), &[&key as &dyn CoseSigner], &mut log).unwrap();
    let envelope = dir.path().join("r1/release.suit");
    let good = write_pub(dir.path(), "good.pem", &key);
    let other = write_pub(
        dir.path(),
        "other.pem",
        &ed25519_dalek::SigningKey::from_bytes(&[4; 32]),
    );
    let image_key = samples().join("ed25519-pub.pem");
    let base = VerifyArgs {
        envelope: envelope.clone(),
        keys: vec![good.clone()],
        threshold: 1,
        vendor_domain: Some("example.com".into()),
        class_name: Some("sensor-v2".into()),
        image: Some(dir.path().join("r1/signed-ed25519-basic.bin")),
        image_keys: vec![image_key.clone()],
        json: true,
    };
    let report = release_verify(&base, &mut log).unwrap().unwrap();
    assert!(report.verified && report.identity_checked && report.image_bound == Some(true));
    assert_eq!(report.manifest.version.as_deref(), Some("1.0.0"));

    let failures = [
        VerifyArgs {
            keys: vec![other],
            ..base.clone()
        },
        VerifyArgs {
            class_name: Some("sensor-v3".into()),
            ..base.clone()
        },
        VerifyArgs {
            image: Some(samples().join("signed-ed25519-seccnt42.bin")),
            ..base.clone()
        },
        VerifyArgs {
            threshold: 2,
            ..base.clone()
        },
    ];
    for (i, args) in failures.iter().enumerate() {
        assert!(release_verify(args, &mut log).unwrap().is_err(), "case {i} verified");
    }

    let mut out = Vec::new();
    release_inspect(&envelope, true, &mut out).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(json["authenticated"], false);
    assert_eq!(json["manifest"]["sequence"], 1);
    assert_eq!(json["manifest"]["notes"], "first");
    let mut human = Vec::new();
    release_inspect(&envelope, false, &mut human).unwrap();
    assert!(String::from_utf8(human).unwrap().contains("NOT checked"));
}

#[test]
fn padded_slot_images_are_cut_to_the_signed_part_and_sequence_zero_is_refused() {
    let key = manifest_key();
    let padded = std::fs::read(samples().join("signed-ed25519-padded-confirm-8k.bin")).unwrap();
    let input = ReleaseInput {
        image: padded.clone(),
        image_name: "app.bin".into(),
        image_uri: Some("https://fw.example.com/app.bin".into()),
        sequence: 1,
        vendor_domain: "example.com".into(),
        class_name: "c".into(),
        version: "1".into(),
        notes: String::new(),
        deltas: vec![],
    };
    let bundle = build_release(input.clone(), &[&key as &dyn CoseSigner]).unwrap();
    assert!(bundle.image.len() < padded.len());
    assert_eq!(bundle.image[..], padded[..bundle.image.len()]);
    let report = report::inspect(&bundle.envelope).unwrap();
    assert_eq!(
        report.manifest.install_uri.as_deref(),
        Some("https://fw.example.com/app.bin")
    );
    assert_eq!(report.manifest.image_size, bundle.image.len() as u64);

    let err = build_release(ReleaseInput { sequence: 0, ..input }, &[&key as &dyn CoseSigner]).unwrap_err();
    assert!(err.to_string().contains("sequence number 0"), "{err}");
}
