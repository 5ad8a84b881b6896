//! `signer release`, `release verify`, `release inspect` through the binary: exit codes,
//! the anti-rollback state file, and no silent overwrite.

mod common;

use common::*;

fn keys(name: &str) -> std::path::PathBuf {
    repo().join("fixtures/keys").join(name)
}

fn cut(dir: &std::path::Path, sequence: &str, out: &str) -> std::process::Output {
    run(signer()
        .args(["release", "-k"])
        .arg(keys("test-only-ed25519-b.pem"))
        .arg("--image")
        .arg(repo().join("fixtures/images/fw-v1.signed.bin"))
        .args([
            "--sequence",
            sequence,
            "--vendor",
            "example.com",
            "--class",
            "sensor-v1",
            "--version",
            "1.0.0",
        ])
        .args(["--notes", "first release", "-o"])
        .arg(dir.join(out))
        .arg("--state-file")
        .arg(dir.join("state.json")))
}

#[test]
fn cut_verify_inspect_and_rollback_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let out = cut(dir.path(), "5", "rel");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let envelope = dir.path().join("rel/release.suit");
    // Verified as a device would, with the image bound to it.
    ok(signer()
        .args(["release", "verify", "-k"])
        .arg(keys("test-only-ed25519-b.pub.pem"))
        .args(["--vendor", "example.com", "--class", "sensor-v1", "--image"])
        .arg(dir.path().join("rel/fw-v1.signed.bin"))
        .arg("--image-key")
        .arg(keys("test-only-ed25519-a.pub.pem"))
        .arg(&envelope));
    // untrusted_key: exit 1.
    let out = run(signer()
        .args(["release", "verify", "-k"])
        .arg(keys("test-only-ed25519-a.pub.pem"))
        .arg(&envelope));
    assert_eq!(out.status.code(), Some(1));
    // wrong_class: exit 1.
    let out = run(signer()
        .args(["release", "verify", "-k"])
        .arg(keys("test-only-ed25519-b.pub.pem"))
        .args(["--vendor", "example.com", "--class", "sensor-v2"])
        .arg(&envelope));
    assert_eq!(out.status.code(), Some(1));
    // rollback: the same sequence again is refused (exit 2) and writes nothing.
    let out = cut(dir.path(), "5", "rel2");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not above"));
    assert!(!dir.path().join("rel2/release.suit").exists());
    // No silent overwrite of an existing bundle.
    let out = cut(dir.path(), "6", "rel");
    assert_eq!(out.status.code(), Some(2));
    // inspect --json for machines.
    let json: serde_json::Value =
        serde_json::from_slice(&ok(signer().args(["release", "inspect", "--json"]).arg(&envelope))).unwrap();
    assert_eq!(json["manifest"]["sequence"], 5, "{json}");
    assert_eq!(
        json["authenticated"], false,
        "inspect does not claim to have checked signatures"
    );
}

#[test]
fn release_with_delta_from_binds_a_patch_that_rebuilds_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = repo().join("fixtures/images/fw-v1.signed.bin");
    let v2 = repo().join("fixtures/images/fw-v2.signed.bin");
    let out = run(signer()
        .args(["release", "-k"])
        .arg(keys("test-only-ed25519-b.pem"))
        .arg("--image")
        .arg(&v2)
        .arg("--delta-from")
        .arg(&v1)
        .args([
            "--sequence",
            "2",
            "--vendor",
            "example.com",
            "--class",
            "sensor-v1",
            "--version",
            "1.1.0",
            "-o",
        ])
        .arg(dir.path().join("rel"))
        .arg("--state-file")
        .arg(dir.path().join("state.json")));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&ok(signer()
        .args(["release", "inspect", "--json"])
        .arg(dir.path().join("rel/release.suit"))))
    .unwrap();
    let deltas = json["manifest"]["deltas"].as_array().unwrap();
    assert_eq!(deltas.len(), 1, "{json}");
    let patch_name = deltas[0]["uri"]
        .as_str()
        .or(deltas[0]["patch_uri"].as_str())
        .unwrap()
        .to_string();
    let patch = dir.path().join("rel").join(&patch_name);
    assert!(read(&patch).len() < 2_000, "patch for the fixture pair should be small");
    // The patch rebuilds v2 from v1 byte for byte, through the device decoder.
    let rebuilt = dir.path().join("rebuilt.bin");
    ok(signer()
        .args(["delta", "apply", "--from"])
        .arg(&v1)
        .arg(&patch)
        .arg("-o")
        .arg(&rebuilt));
    assert_eq!(read(&rebuilt), read(&v2));
    // wrong base: applying onto v2 is refused (exit 1) and writes nothing.
    let out = run(signer()
        .args(["delta", "apply", "--from"])
        .arg(&v2)
        .arg(&patch)
        .arg("-o")
        .arg(dir.path().join("bad.bin")));
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.path().join("bad.bin").exists());
}

/// The signer signed sequence numbers ≥ 2^63 that the server then refused with an undocumented
/// code. Both now stop at 2^63 − 1 (`manifest::suit::MAX_SEQUENCE`, docs/FORMATS.md).
#[test]
fn sequence_above_2_pow_63_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = cut(dir.path(), "9223372036854775808", "rel");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error:") && err.contains("9223372036854775807") && err.contains("hint:"),
        "{err}"
    );
    assert!(!dir.path().join("rel/release.suit").exists());
    let out = cut(dir.path(), "9223372036854775807", "rel");
    assert!(
        out.status.success(),
        "the highest allowed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
