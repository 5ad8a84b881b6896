//! `signer delta create|apply` file handling: atomic writes, no silent overwrite.

use signer::delta::cli::{run_apply, run_create};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/third-party/delta-pair")).join(name)
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
