//! `otactl token create`. Listing and revoking tokens are not here: the admin API has no
//! endpoints for them yet (ota-server/README.md, "API").

use ota_protocol::admin::{NewToken, Role};

use super::Context;
use crate::error::Result;
use crate::output;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  otactl token create --name ci-upload --role release-manager > ci.token
  otactl token create --name dashboard --role viewer > viewer.token

Roles: viewer (reads everything but the audit log) < release-manager (also uploads releases, runs
rollouts, tags devices) < admin (also revokes devices, makes tokens, reads the audit log).

Not available yet: `token list` and `token revoke` -- the server's admin API has no endpoints for
them. To take a token out of use today, stop the server and delete its row from the `tokens`
table.")]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Make a token; prints the secret once on stdout, nothing else (admin).
    #[command(after_help = "\
Examples:
  (umask 077; otactl token create --name ci-upload --role release-manager > ci.token)
  otactl token create --name ops --role admin --json | jq -r .token

The server keeps only the token's SHA-256: the secret cannot be shown again. Keep it in a file
only you can read (otactl refuses token files readable by group or others). The audit log names
the token's actions token:<name>.")]
    Create(CreateArgs),
}

#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// A name for the token (1-64 characters); the audit log names its actions by it.
    #[arg(long, value_name = "NAME")]
    name: String,
    /// What the token may do.
    #[arg(long, value_name = "ROLE", value_parser = ["viewer", "release-manager", "admin"])]
    role: String,
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let Sub::Create(a) = args.command;
    let request = NewToken {
        name: a.name,
        role: Role::from(a.role.as_str()),
    };
    let created = ctx.client()?.create_token(&request).await?;
    if ctx.json {
        output::json(&created)?;
    } else {
        output::line(&created.token);
    }
    output::note(&format!(
        "otactl: made token {} {:?} with role {} (shown once: only its hash is stored)",
        created.id, created.name, created.role
    ));
    Ok(())
}
