//! `signer delta create|apply`: patches between signed images (see docs/FORMATS.md).
//! Each prints one line saying what it wrote on stderr; with `--json`, stdout is one JSON
//! document (README.md, "Signing firmware").

use std::path::PathBuf;

use crate::delta::cli as lib;
use crate::error::Error;

const EXAMPLES: &str = "\
Examples:
  signer delta create --from app-1.0.signed.bin --to app-1.1.signed.bin -o 1.0-to-1.1.patch
  signer delta apply --from app-1.0.signed.bin 1.0-to-1.1.patch -o app-1.1.rebuilt.bin

`apply` runs the same streaming decoder the device runs: it checks the base image's digest
before producing anything and the result's digest at the end (exit 1 if either is wrong).";

const CREATE_EXAMPLES: &str = "\
Examples:
  signer delta create --from app-1.0.signed.bin --to app-1.1.signed.bin -o 1.0-to-1.1.patch
  signer delta create --json --from app-1.0.bin --to app-1.1.bin -o 1.0-1.1.patch | jq .patch_size

The patch is applied with the device's decoder before it is written, so a patch that would not
reproduce NEW is never written. Prints `wrote PATCH (N bytes, X% of the new image) ...` on stderr.";

const APPLY_EXAMPLES: &str = "\
Examples:
  signer delta apply --from app-1.0.signed.bin 1.0-to-1.1.patch -o app-1.1.rebuilt.bin
  signer delta apply --json --from app-1.0.bin 1.0-to-1.1.patch -o app-1.1.bin | jq .sha256

Runs the device's streaming decoder: the base image's digest is checked before anything is
produced and the result's digest at the end (exit 1 if either is wrong, and nothing is written).";

#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Make a patch that turns OLD into NEW (progress bar on a terminal).
    #[command(after_help = CREATE_EXAMPLES)]
    Create {
        /// The image devices run now (OLD): the patch's base.
        #[arg(long, value_name = "OLD")]
        from: PathBuf,
        /// The image the patch produces (NEW).
        #[arg(long, value_name = "NEW")]
        to: PathBuf,
        /// Where to write the patch.
        #[arg(short = 'o', long = "out", value_name = "PATCH")]
        out: PathBuf,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
        /// Print what was written as JSON on stdout (the summary line still goes to stderr).
        #[arg(long)]
        json: bool,
    },
    /// Rebuild NEW from OLD and a patch.
    #[command(after_help = APPLY_EXAMPLES)]
    Apply {
        /// The base image (OLD) the patch was made from.
        #[arg(long, value_name = "OLD")]
        from: PathBuf,
        /// The patch file (from `signer delta create`).
        #[arg(value_name = "PATCH")]
        patch: PathBuf,
        /// Where to write the rebuilt image (NEW).
        #[arg(short = 'o', long = "out", value_name = "NEW")]
        out: PathBuf,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
        /// Print what was written as JSON on stdout (the summary line still goes to stderr).
        #[arg(long)]
        json: bool,
    },
}

/// The human line on stderr; with `--json`, the summary on stdout.
fn report(human: &str, json: Option<serde_json::Value>) {
    eprintln!("{human}");
    if let Some(value) = json {
        super::print_json(&value);
    }
}

fn to_json(summary: &impl serde::Serialize, json: bool) -> Option<serde_json::Value> {
    json.then(|| serde_json::to_value(summary).unwrap_or(serde_json::Value::Null))
}

pub fn run(args: &Args) -> Result<(), Error> {
    match &args.command {
        Sub::Create {
            from,
            to,
            out,
            force,
            json,
        } => {
            let summary = lib::run_create(from, to, out, *force)?;
            let value = to_json(&summary, *json).map(|mut v| {
                v["percent_of_new"] = serde_json::json!((summary.percent_of_new() * 10.0).round() / 10.0);
                v
            });
            report(&summary.human(), value);
        }
        Sub::Apply {
            from,
            patch,
            out,
            force,
            json,
        } => {
            let summary = lib::run_apply(from, patch, out, *force)?;
            report(&summary.human(), to_json(&summary, *json));
        }
    }
    Ok(())
}
