//! `otactl audit`: the newest audit log entries.

use super::Context;
use crate::error::Result;
use crate::output;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  otactl audit
  otactl audit --limit 200
  otactl audit --json | jq -r '.[] | select(.result != \"ok\") | .action'

Every mutating admin call is logged with the caller (token:<name>), the action (release.upload,
rollout.pause, device.revoke, token.create, ...), its target and result (ok or error:<code>),
refused calls included. Reading it needs an admin token. The server returns at most its newest
500 entries.")]
pub struct Args {
    /// Show at most this many entries, newest first.
    #[arg(long, value_name = "N", default_value_t = 50)]
    limit: usize,
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let mut log = ctx.client()?.audit().await?;
    log.truncate(args.limit);
    output::list(
        ctx.json,
        &log,
        "the audit log is empty",
        &["AT", "ACTOR", "ACTION", "TARGET", "RESULT"],
        |e| {
            vec![
                output::time(e.at_ms),
                e.actor.clone(),
                e.action.clone(),
                e.target.clone(),
                e.result.clone(),
            ]
        },
    )
}
