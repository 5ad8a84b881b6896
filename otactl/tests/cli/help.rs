//! The command line documents itself: `--version`, a description and help text for every
//! option, and examples in every subcommand's `--help`, within 100 columns (as `signer`).

use clap::CommandFactory as _;

use super::harness::run;

fn walk(path: Vec<String>, cmd: &clap::Command, out: &mut Vec<(Vec<String>, clap::Command)>) {
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let mut sub_path = path.clone();
        sub_path.push(sub.get_name().to_owned());
        walk(sub_path, sub, out);
    }
    out.push((path, cmd.clone()));
}

fn otactl() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_otactl"))
}

#[test]
fn every_option_has_help_and_every_command_has_examples() {
    cli_conventions::assert_documented(otactl::cli::Cli::command());
    let mut root = otactl::cli::Cli::command();
    root.build();
    let mut all = Vec::new();
    walk(Vec::new(), &root, &mut all);
    // The real binary prints them.
    for (path, _) in &all {
        let out = run(otactl().args(path), &["--help"]).ok();
        assert!(
            out.stdout.contains("Examples:"),
            "otactl {} --help: {out:?}",
            path.join(" ")
        );
    }
}

#[test]
fn version_and_token_help_show_the_token_lifecycle() {
    let out = run(&mut otactl(), &["--version"]).ok();
    assert_eq!(out.stdout.trim(), format!("otactl {}", env!("CARGO_PKG_VERSION")));
    let out = run(&mut otactl(), &["token", "--help"]).ok();
    assert!(
        out.stdout.contains("otactl token revoke 7") && out.stdout.contains("expire after 90 days"),
        "{out:?}"
    );
    // A usage error: clap's message, exit 2, nothing on stdout.
    let out = run(&mut otactl(), &["rollout", "frobnicate"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
}
