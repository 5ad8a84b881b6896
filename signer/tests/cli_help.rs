//! The signer's command line documents itself: every option has a description, every
//! subcommand's `--help` shows examples, and `--version` works (README: "Every command has
//! `--help` with examples").

mod common;

use clap::CommandFactory as _;
use common::*;

/// `(path, command)` for the root and every subcommand, clap's own `help` excluded.
fn walk(path: Vec<String>, cmd: &clap::Command, out: &mut Vec<(Vec<String>, clap::Command)>) {
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let mut sub_path = path.clone();
        sub_path.push(sub.get_name().to_owned());
        walk(sub_path, sub, out);
    }
    out.push((path, cmd.clone()));
}

fn commands() -> Vec<(Vec<String>, clap::Command)> {
    let mut cmd = signer::cli::Cli::command();
    cmd.build();
    let mut all = Vec::new();
    walk(Vec::new(), &cmd, &mut all);
    all
}

#[test]
fn every_option_has_help_and_every_command_has_examples() {
    cli_conventions::assert_documented(signer::cli::Cli::command());
}

/// The real binary prints the examples for every subcommand (`--help` and `-h`).
#[test]
fn help_of_every_subcommand_has_examples() {
    for (path, _) in commands() {
        for flag in ["--help", "-h"] {
            let out = run(signer().args(&path).arg(flag));
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(0), "{path:?} {flag}");
            assert!(
                text.contains("Example"),
                "signer {path:?} {flag} shows no example:\n{text}"
            );
        }
    }
}

#[test]
fn version_is_printed() {
    let out = ok(signer().arg("--version"));
    let text = String::from_utf8_lossy(&out);
    assert_eq!(text.trim(), format!("signer {}", env!("CARGO_PKG_VERSION")));
    // `-v` stays `sign`'s image version, as in imgtool.
    let out = run(signer().args(["sign", "--help"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("-v, --version <VERSION>"));
}
