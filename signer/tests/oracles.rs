//! Independent oracles in Python (the project venv, `.ci/setup`): pycose verifies our COSE_Sign1
//! signatures, zcbor validates our envelopes against `docs/suit-profile.cddl`.
//!
//! Without the venv these tests fail (run `.ci/setup`); they never pass by skipping.

use std::path::{Path, PathBuf};
use std::process::Command;

use ed25519_dalek::pkcs8::EncodePublicKey as _;
use signer::release::{build_release, CoseSigner, DeltaRef, ReleaseInput};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The venv's python with the oracle modules. Missing means the test fails (it never passes by
/// skipping): run `.ci/setup`.
fn python() -> PathBuf {
    let python = repo().join(".venv/bin/python");
    let ready = python.exists()
        && Command::new(&python)
            .args(["-c", "import cbor2, pycose, zcbor"])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ready,
        "{} with cbor2, pycose and zcbor is missing: run .ci/setup",
        python.display()
    );
    python
}

fn run(python: &Path, script: &str, args: &[&Path]) -> (bool, String) {
    let out = Command::new(python)
        .arg(repo().join("signer/tests/py").join(script))
        .args(args)
        .output()
        .expect("run python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("fixtures/third-party/imgtool-2.5.0-samples").join(name)).unwrap()
}

struct Release {
    dir: tempfile::TempDir,
    envelope: PathBuf,
    keys: Vec<PathBuf>,
}

/// A release signed by one Ed25519 and one P-256 key, with one delta patch.
fn release() -> Release {
    let ed = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let p256 = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
    let input = ReleaseInput {
        image: sample("signed-ed25519-seccnt42.bin"),
        image_name: "app-1.1.0.bin".into(),
        image_uri: None,
        sequence: 3,
        vendor_domain: "example.com".into(),
        class_name: "sensor-v2".into(),
        version: "1.1.0".into(),
        notes: "oracle test".into(),
        deltas: vec![DeltaRef {
            format: 1,
            precursor_image: sample("signed-ed25519-basic.bin"),
            patch: vec![0xab; 100],
            file_name: "from-1.0.0.patch".into(),
        }],
    };
    let signers: [&dyn CoseSigner; 2] = [&ed, &p256];
    let bundle = build_release(input, &signers).unwrap();
    let dir = tempfile::tempdir().unwrap();
    bundle.write_bundle(dir.path()).unwrap();
    let keys = vec![dir.path().join("ed.pem"), dir.path().join("p256.pem")];
    std::fs::write(
        &keys[0],
        ed.verifying_key().to_public_key_pem(Default::default()).unwrap(),
    )
    .unwrap();
    std::fs::write(
        &keys[1],
        p256.verifying_key().to_public_key_pem(Default::default()).unwrap(),
    )
    .unwrap();
    let envelope = dir.path().join("release.suit");
    Release { dir, envelope, keys }
}

#[test]
fn pycose_verifies_our_signatures() {
    let python = python();
    let r = release();
    let (ok, out) = run(&python, "cose_verify.py", &[&r.envelope, &r.keys[0], &r.keys[1]]);
    assert!(ok && out.contains("verified 2"), "{out}");

    // Not vacuous: one key missing, or one signature byte flipped, and pycose refuses.
    let (ok, out) = run(&python, "cose_verify.py", &[&r.envelope, &r.keys[0]]);
    assert!(!ok, "{out}");
    let mut bytes = std::fs::read(&r.envelope).unwrap();
    let sig_at = bytes.windows(2).position(|w| w == [0x58, 0x40]).unwrap() + 2;
    bytes[sig_at] ^= 1;
    let tampered = r.dir.path().join("tampered.suit");
    std::fs::write(&tampered, &bytes).unwrap();
    let (ok, out) = run(&python, "cose_verify.py", &[&tampered, &r.keys[0], &r.keys[1]]);
    assert!(!ok, "{out}");
}

#[test]
fn zcbor_validates_our_envelopes_against_the_profile_cddl() {
    let python = python();
    let r = release();
    let cddl = repo().join("docs/suit-profile.cddl");
    let rule = Path::new("SUIT_Envelope_Tagged");
    let (ok, out) = run(&python, "cddl_validate.py", &[&cddl, rule, &r.envelope]);
    assert!(ok, "{out}");

    // Not vacuous: the draft's example 3 (try-each) is outside the profile.
    let text =
        std::fs::read_to_string(repo().join("fixtures/third-party/suit-manifest-spec/examples/example3.txt")).unwrap();
    let hex_block = text
        .split("~~~")
        .map(str::trim)
        .filter(|b| !b.is_empty() && b.chars().all(|c| c.is_ascii_hexdigit() || c.is_whitespace()))
        .last()
        .unwrap();
    let outside = r.dir.path().join("example3.suit");
    std::fs::write(
        &outside,
        hex::decode(hex_block.split_whitespace().collect::<String>()).unwrap(),
    )
    .unwrap();
    let (ok, out) = run(&python, "cddl_validate.py", &[&cddl, rule, &outside]);
    assert!(!ok, "{out}");
}

#[test]
fn zcbor_validates_our_envelopes_against_the_drafts_own_cddl() {
    // The profile must stay a subset of the draft: check our output against the draft's CDDL too.
    let python = python();
    let r = release();
    let draft = repo().join("fixtures/third-party/suit-manifest-spec/draft-ietf-suit-manifest.cddl");
    let (ok, out) = run(&python, "draft_cddl_validate.py", &[&draft, &r.envelope]);
    assert!(ok, "{out}");

    // Not vacuous: manifest-version 2 is outside the draft (the signature is irrelevant here).
    let mut bytes = std::fs::read(&r.envelope).unwrap();
    let manifest_key = [0x03, 0x59]; // manifest: 3 => bstr with a 2-byte length
    let at = bytes
        .windows(2)
        .position(|w| w == manifest_key)
        .expect("manifest member")
        + 4;
    assert_eq!(
        &bytes[at..at + 3],
        &[0xa6, 0x01, 0x01],
        "manifest map starts with version 1"
    );
    bytes[at + 2] = 0x02;
    let bad = r.dir.path().join("version2.suit");
    std::fs::write(&bad, &bytes).unwrap();
    let (ok, out) = run(&python, "draft_cddl_validate.py", &[&draft, &bad]);
    assert!(!ok, "{out}");
}
