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

fn is_auto(arg: &clap::Arg) -> bool {
    matches!(
        arg.get_action(),
        clap::ArgAction::Help | clap::ArgAction::HelpShort | clap::ArgAction::HelpLong | clap::ArgAction::Version
    )
}

#[test]
fn cli_definition_is_well_formed() {
    signer::cli::Cli::command().debug_assert();
}

#[test]
fn every_option_has_help_and_every_command_has_examples() {
    let mut missing = Vec::new();
    for (path, cmd) in commands() {
        let name = format!("signer {}", path.join(" "));
        for arg in cmd.get_arguments().filter(|a| !is_auto(a)) {
            let help = arg
                .get_help()
                .or(arg.get_long_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            if help.trim().is_empty() {
                missing.push(format!("{name}: {} has no help", arg.get_id()));
            }
        }
        let after = [cmd.get_after_help(), cmd.get_after_long_help()]
            .into_iter()
            .flatten()
            .map(|h| h.to_string())
            .collect::<String>();
        if !after.contains("Example") {
            missing.push(format!("{name}: --help shows no example"));
        }
        // clap wraps help at 100 columns when it cannot see a terminal: an example longer than
        // that would be broken mid-command.
        for line in after.lines().filter(|l| l.chars().count() > 100) {
            missing.push(format!("{name}: --help line longer than 100 columns: {line}"));
        }
        if cmd.get_about().is_none() && !path.is_empty() {
            missing.push(format!("{name}: no description"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
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
