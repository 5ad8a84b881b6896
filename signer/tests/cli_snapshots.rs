//! Snapshots of the signer's command line: every subcommand's `--help`, and the most common
//! failures with their `error:` / `hint:` lines and exit status (1 verification failed,
//! 2 usage or operational error). The cases are `tests/cmd/*.toml`, each with the exact
//! `.stdout` and `.stderr` it must print (trycmd; `.in/` is a case's starting directory and
//! `.out/` what it must hold afterwards).
//!
//! After an intended change to the CLI's text, rewrite the snapshots and review the diff:
//!
//!     TRYCMD=overwrite cargo test -p signer --test cli_snapshots
//!
//! The runs see no terminal, so clap wraps help at `COLUMNS` (pinned to 100 here); the audit
//! log, `HOME` and `XDG_STATE_HOME` point into a temporary directory, never the developer's.

use std::path::PathBuf;

#[test]
fn cli_snapshots() {
    let home = tempfile::tempdir().expect("temporary HOME");
    let path = |p: PathBuf| p.to_str().expect("UTF-8 temp path").to_owned();
    let cases = trycmd::TestCases::new();
    cases
        .register_bin("signer", PathBuf::from(env!("CARGO_BIN_EXE_signer")))
        .default_bin_name("signer")
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        .env("CLICOLOR_FORCE", "0")
        .env("HOME", path(home.path().to_path_buf()))
        .env("XDG_STATE_HOME", path(home.path().join("state")))
        .env("SIGNER_AUDIT_LOG", path(home.path().join("audit.jsonl")))
        .case("tests/cmd/*.toml");
    // Run now, while the temporary HOME exists.
    cases.run();
}
