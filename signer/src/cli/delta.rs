//! `signer delta create|apply`: patches between signed images (see docs/FORMATS.md).

use std::path::PathBuf;

use crate::delta::{cli as lib, DeltaError};
use crate::failure::Failure;

const EXAMPLES: &str = "\
Examples:
  signer delta create --from app-1.0.signed.bin --to app-1.1.signed.bin -o 1.0-to-1.1.patch
  signer delta apply --from app-1.0.signed.bin 1.0-to-1.1.patch -o app-1.1.rebuilt.bin

`apply` runs the same streaming decoder the device runs: it checks the base image's digest
before producing anything and the result's digest at the end (exit 1 if either is wrong).";

#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Make a patch that turns OLD into NEW (progress bar on a terminal).
    Create {
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        to: PathBuf,
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
    },
    /// Rebuild NEW from OLD and a patch.
    Apply {
        #[arg(long)]
        from: PathBuf,
        patch: PathBuf,
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
        #[arg(long)]
        force: bool,
    },
}

/// A bad patch or wrong base is "invalid input" (exit 1); I/O and usage problems exit 2.
fn failure(error: anyhow::Error) -> Failure {
    let message = format!("{error:#}");
    if error.chain().any(|e| e.downcast_ref::<DeltaError>().is_some()) {
        Failure::invalid(message)
            .hint("is the patch made for this base image? `signer dumpinfo` shows each image's version")
    } else if message.contains("exists") {
        Failure::operational(message).hint("choose another output path, or pass --force to replace it")
    } else {
        Failure::operational(message)
    }
}

pub fn run(args: &Args) -> Result<(), Failure> {
    match &args.command {
        Sub::Create { from, to, out, force } => lib::run_create(from, to, out, *force).map_err(failure),
        Sub::Apply {
            from,
            patch,
            out,
            force,
        } => lib::run_apply(from, patch, out, *force).map_err(failure),
    }
}
