//! Shared helpers for the signer's integration tests: the binary under test, the imgtool
//! oracle from the project virtualenv, and the third-party fixtures (fixtures/third-party).
#![allow(dead_code)]

pub mod softhsm;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn fixtures() -> PathBuf {
    repo().join("fixtures/third-party")
}

pub fn samples() -> PathBuf {
    fixtures().join("imgtool-2.5.0-samples")
}

/// The signer binary. Its audit log goes to the test target dir, not the developer's home
/// (tests that check the log pass --audit-log or set SIGNER_AUDIT_LOG themselves).
pub fn signer() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signer"));
    cmd.env(
        "SIGNER_AUDIT_LOG",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("signer-tests-audit.jsonl"),
    );
    cmd
}

/// The project virtualenv's Python tool `name`. Missing tools fail the test: run `.ci/setup`.
pub fn venv_tool(name: &str) -> PathBuf {
    let path = repo().join(".venv/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `.ci/setup` to create the virtualenv with imgtool==2.5.0",
        path.display()
    );
    path
}

pub fn imgtool() -> Command {
    Command::new(venv_tool("imgtool"))
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs and requires success, returning stdout.
pub fn ok(cmd: &mut Command) -> Vec<u8> {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Converts an Intel HEX file to its flat binary with the imgtool venv's `intelhex`.
pub fn hex_to_bin(hex: &Path, bin: &Path) {
    ok(Command::new(venv_tool("python")).args([
        "-c",
        "import sys; from intelhex import IntelHex; IntelHex(sys.argv[1]).tobinfile(sys.argv[2])",
        hex.to_str().unwrap(),
        bin.to_str().unwrap(),
    ]));
}

/// Writes `bin` as Intel HEX at `base` with the imgtool venv's `intelhex`.
pub fn bin_to_hex(bin: &Path, base: u32, hex: &Path) {
    ok(Command::new(venv_tool("python")).args([
        "-c",
        "import sys; from intelhex import IntelHex; ih = IntelHex(); ih.loadbin(sys.argv[1], offset=int(sys.argv[2])); ih.tofile(sys.argv[3], 'hex')",
        bin.to_str().unwrap(),
        &base.to_string(),
        hex.to_str().unwrap(),
    ]));
}
