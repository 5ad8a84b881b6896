//! The rules every binary of this workspace keeps on its command line (README: "Every command
//! has `--help` with examples"), checked on its clap definition in one place. Used only from
//! the binaries' tests:
//!
//! ```
//! #[derive(clap::Parser)]
//! #[command(name = "demo", version, about = "Does one thing", after_help = "Examples:\n  demo --level 3")]
//! struct Cli {
//!     /// How much of it.
//!     #[arg(long)]
//!     level: u8,
//! }
//! use clap::CommandFactory as _;
//! cli_conventions::assert_documented(Cli::command());
//! ```

/// clap wraps help at 100 columns when it sees no terminal: a longer example line would be
/// broken in the middle of a command.
pub const MAX_HELP_WIDTH: usize = 100;

/// Every rule broken by `cmd` and its subcommands (clap's own `help` subcommand excluded), one
/// line each, prefixed with the command path. Empty when all hold:
/// * the definition passes clap's `debug_assert`;
/// * the root command has `--version`;
/// * every option and positional argument (but `--help`/`--version`) has help text;
/// * every subcommand has a one-line description;
/// * every command's `--help` ends with an "Examples:" (or "Example:") section, no line wider than
///   [`MAX_HELP_WIDTH`].
pub fn problems(cmd: clap::Command) -> Vec<String> {
    let mut cmd = cmd;
    cmd.build();
    let mut out = Vec::new();
    if cmd.get_version().is_none() {
        out.push(format!("{}: no --version", cmd.get_name()));
    }
    walk(cmd.get_name().to_owned(), &cmd, true, &mut out);
    out
}

/// Panics with every rule `cmd` breaks (see [`problems`]); runs clap's `debug_assert` first.
pub fn assert_documented(cmd: clap::Command) {
    cmd.clone().debug_assert();
    let found = problems(cmd);
    assert!(
        found.is_empty(),
        "the command line breaks the house rules:\n{}",
        found.join("\n")
    );
}

fn is_automatic(arg: &clap::Arg) -> bool {
    matches!(
        arg.get_action(),
        clap::ArgAction::Help | clap::ArgAction::HelpShort | clap::ArgAction::HelpLong | clap::ArgAction::Version
    )
}

fn walk(path: String, cmd: &clap::Command, root: bool, out: &mut Vec<String>) {
    for arg in cmd.get_arguments().filter(|a| !is_automatic(a)) {
        let help = arg
            .get_help()
            .or(arg.get_long_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        if help.trim().is_empty() {
            out.push(format!("{path}: {} has no help text", arg.get_id()));
        }
    }
    if !root && cmd.get_about().is_none() && cmd.get_long_about().is_none() {
        out.push(format!("{path}: no description"));
    }
    let after: String = [cmd.get_after_help(), cmd.get_after_long_help()]
        .into_iter()
        .flatten()
        .map(|h| h.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    if !after.contains("Example:") && !after.contains("Examples:") {
        out.push(format!("{path}: --help shows no \"Examples:\" section"));
    }
    for line in after.lines().filter(|l| l.chars().count() > MAX_HELP_WIDTH) {
        out.push(format!(
            "{path}: --help line wider than {MAX_HELP_WIDTH} columns: {line}"
        ));
    }
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        walk(format!("{path} {}", sub.get_name()), sub, false, out);
    }
}

#[cfg(test)]
mod tests {
    use clap::{Arg, Command};

    fn documented() -> Command {
        Command::new("tool")
            .version("1.0")
            .after_help("Examples:\n  tool run")
            .subcommand(
                Command::new("run")
                    .about("Runs")
                    .after_help("Examples:\n  tool run --fast")
                    .arg(
                        Arg::new("fast")
                            .long("fast")
                            .help("Quickly")
                            .action(clap::ArgAction::SetTrue),
                    ),
            )
    }

    #[test]
    fn a_documented_command_passes() {
        assert_eq!(super::problems(documented()), Vec::<String>::new());
    }

    #[test]
    fn each_missing_piece_is_named() {
        let bare = Command::new("tool").subcommand(
            Command::new("run")
                .after_help(format!("Examples:\n  {}", "x".repeat(120)))
                .arg(Arg::new("fast").long("fast").action(clap::ArgAction::SetTrue)),
        );
        let found = super::problems(bare).join("\n");
        for expected in [
            "tool: no --version",
            "tool: --help shows no \"Examples:\" section",
            "tool run: fast has no help text",
            "tool run: no description",
            "tool run: --help line wider than 100 columns",
        ] {
            assert!(found.contains(expected), "missing {expected:?} in:\n{found}");
        }
    }
}
