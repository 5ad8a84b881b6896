//! Every signature the commands make is in the audit log before anything signed exists
//! (docs/ARCHITECTURE.md, trust model 1): one record per signature, naming what was signed and
//! the exact bytes written; no record, no output. Key-file counterparts of the token cases in
//! `hsm_softhsm.rs`.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn key(name: &str) -> PathBuf {
    repo().join("fixtures/keys").join(name)
}

fn records(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))
}

fn release(work: &Path, out: &str, sequence: &str, log: &Path) -> std::process::Output {
    run(signer()
        .args(["release", "-k"])
        .arg(key("test-only-ed25519-a.pem"))
        .arg("-k")
        .arg(key("test-only-ecdsa-p256.pem"))
        .arg("--image")
        .arg(repo().join("fixtures/images/fw-v1.signed.bin"))
        .args([
            "--sequence",
            sequence,
            "--vendor",
            "example.com",
            "--class",
            "sensor-v1",
        ])
        .args(["--version", "1.0.0", "-o"])
        .arg(work.join(out))
        .arg("--state-file")
        .arg(work.join("state.json"))
        .arg("--audit-log")
        .arg(log))
}

#[test]
fn every_signature_is_logged_with_what_it_signed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let out = dir.path().join("app.signed.bin");
    let json = ok(signer()
        .args(["sign", "--json", "-k"])
        .arg(key("test-only-ed25519-a.pem"))
        .args([
            "-v",
            "1.2.3+4",
            "-s",
            "auto",
            "-H",
            "0x40",
            "--pad-header",
            "-S",
            "0x1000",
        ])
        .arg("--audit-log")
        .arg(&log)
        .arg(repo().join("fixtures/images/payload-256.bin"))
        .arg(&out));
    let summary: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let entries = records(&log);
    assert_eq!(entries.len(), 1);
    let image = &entries[0];
    assert_eq!(image["command"], "sign");
    assert_eq!(image["output_sha256"], sha256(&read(&out)));
    // Ed25519 signs the image hash itself: the logged digest and message are that hash.
    assert_eq!(image["signed_digest"], summary["image_hash"]);
    let digest = hex::decode(summary["image_hash"].as_str().unwrap()).unwrap();
    assert_eq!(image["signed_message_sha256"], sha256(&digest));

    // Two manifest keys (k-of-n): two signatures, two records, before the bundle exists.
    let cut = release(dir.path(), "rel", "3", &log);
    assert_eq!(cut.status.code(), Some(0), "{}", String::from_utf8_lossy(&cut.stderr));
    let entries = records(&log);
    assert_eq!(entries.len(), 3, "{entries:?}");
    let algorithms: Vec<&str> = entries[1..].iter().map(|e| e["algorithm"].as_str().unwrap()).collect();
    assert_eq!(algorithms, ["ed25519", "ecdsa-p256"]);
    for entry in &entries[1..] {
        assert_eq!(entry["command"], "release");
        assert_eq!(entry["sequence"], 3);
        assert!(entry["signed_message_sha256"].as_str().is_some_and(|s| s.len() == 64));
    }

    // Commands that only read keys or images sign nothing and log nothing.
    ok(signer()
        .arg("verify")
        .arg("-k")
        .arg(key("test-only-ed25519-a.pub.pem"))
        .arg(&out));
    ok(signer().arg("getpub").arg("-k").arg(key("test-only-ed25519-a.pem")));
    ok(signer().arg("dumpinfo").arg(&out));
    assert_eq!(records(&log).len(), 3);
}

#[test]
fn no_record_means_no_bundle_and_no_sequence_recorded() {
    let dir = tempfile::tempdir().unwrap();
    // A directory cannot be appended to.
    let blocked = release(dir.path(), "rel", "4", dir.path());
    assert_eq!(blocked.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&blocked.stderr);
    assert!(stderr.contains("error: cannot open the audit log"), "{stderr}");
    assert!(
        stderr.contains("hint: signing stops when the audit log cannot be written"),
        "{stderr}"
    );
    assert!(!dir.path().join("rel").exists(), "bundle written without a record");
    assert!(
        !dir.path().join("state.json").exists(),
        "sequence recorded for a release that was not made"
    );
    // With the log writable the same sequence can still be cut.
    let log = dir.path().join("audit.jsonl");
    let cut = release(dir.path(), "rel", "4", &log);
    assert_eq!(cut.status.code(), Some(0), "{}", String::from_utf8_lossy(&cut.stderr));
    assert_eq!(records(&log).len(), 2);
}
