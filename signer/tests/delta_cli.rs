//! `signer delta create|apply` file handling: atomic writes, no silent overwrite.

use signer::delta::cli::{run_apply, run_create};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/third-party/delta-pair"
    ))
    .join(name)
}

#[test]
fn create_then_apply_reproduces_new() {
    let dir = tempfile::tempdir().unwrap();
    let patch = dir.path().join("v1-v2.patch");
    let out = dir.path().join("v2.bin");
    run_create(&fixture("fw-v1.bin"), &fixture("fw-v2.bin"), &patch, false).unwrap();
    run_apply(&fixture("fw-v1.bin"), &patch, &out, false).unwrap();
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(fixture("fw-v2.bin")).unwrap()
    );
    // Only the two outputs: no temporary files left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn existing_output_is_refused_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let patch = dir.path().join("p");
    std::fs::write(&patch, b"keep me").unwrap();
    let err = run_create(&fixture("fw-v1.bin"), &fixture("fw-v2.bin"), &patch, false).unwrap_err();
    assert!(err.to_string().contains("exists"), "{err}");
    assert_eq!(std::fs::read(&patch).unwrap(), b"keep me");
    run_create(&fixture("fw-v1.bin"), &fixture("fw-v2.bin"), &patch, true).unwrap();
    assert_ne!(std::fs::read(&patch).unwrap(), b"keep me");
}

#[test]
fn wrong_base_apply_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let patch = dir.path().join("p");
    let out = dir.path().join("out");
    run_create(&fixture("fw-v1.bin"), &fixture("fw-v2.bin"), &patch, false).unwrap();
    let err = run_apply(&fixture("fw-v2.bin"), &patch, &out, false).unwrap_err();
    assert!(format!("{err:#}").contains("base image does not match"), "{err:#}");
    assert!(!out.exists());
}

fn signer_bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_signer"))
}

/// `signer delta create|apply` say what they wrote (stderr), and with `--json` stdout is
/// exactly one JSON document.
#[test]
fn delta_commands_say_what_they_did() {
    let dir = tempfile::tempdir().unwrap();
    let patch = dir.path().join("v1-v2.patch");
    let rebuilt = dir.path().join("v2.bin");
    let new_len = std::fs::metadata(fixture("fw-v2.bin")).unwrap().len();

    let out = signer_bin()
        .args(["delta", "create", "--from"])
        .arg(fixture("fw-v1.bin"))
        .arg("--to")
        .arg(fixture("fw-v2.bin"))
        .arg("-o")
        .arg(&patch)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(out.stdout.is_empty(), "human output goes to stderr");
    let patch_len = std::fs::metadata(&patch).unwrap().len();
    assert!(
        err.contains(&format!("wrote {} ({patch_len} bytes, ", patch.display()))
            && err.contains("% of the new image) from "),
        "{err}"
    );

    let out = signer_bin()
        .args(["delta", "apply", "--json", "--from"])
        .arg(fixture("fw-v1.bin"))
        .arg(&patch)
        .arg("-o")
        .arg(&rebuilt)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(std::fs::read(&rebuilt).unwrap()));
    assert_eq!(json["size"], new_len);
    assert_eq!(json["sha256"], sha.as_str());
    assert!(
        err.contains(&format!("wrote {} ({new_len} bytes, sha256 {sha})", rebuilt.display())),
        "{err}"
    );

    // --json on create: one document with the patch's size and share of the new image.
    let forced = signer_bin()
        .args(["delta", "create", "--json", "--force", "--from"])
        .arg(fixture("fw-v1.bin"))
        .arg("--to")
        .arg(fixture("fw-v2.bin"))
        .arg("-o")
        .arg(&patch)
        .output()
        .unwrap();
    assert_eq!(forced.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&forced.stdout).expect("stdout is one JSON document");
    assert_eq!(json["patch_size"], patch_len);
    assert_eq!(json["to_size"], new_len);
    assert!(json["percent_of_new"].as_f64().unwrap() < 100.0);

    // Refused without --force: exit 2, error + hint, the old output untouched.
    let before = std::fs::read(&rebuilt).unwrap();
    let out = signer_bin()
        .args(["delta", "apply", "--from"])
        .arg(fixture("fw-v1.bin"))
        .arg(&patch)
        .arg("-o")
        .arg(&rebuilt)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("error:") && err.contains("hint:") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read(&rebuilt).unwrap(), before);
}
