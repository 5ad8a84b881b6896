//! `otactl token create|list|revoke`: admin tokens (admin role).

use std::time::Duration;

use ota_protocol::admin::{NewToken, Role, TokenView};

use super::Context;
use crate::error::Result;
use crate::output;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  (umask 077; otactl token create --name ci-upload --role release-manager > ci.token)
  otactl token create --name dashboard --role viewer --expires-in 30d > viewer.token
  otactl token list
  otactl token revoke 7

Roles: viewer (reads everything but the audit log) < release-manager (also uploads releases, runs
rollouts, tags devices) < admin (also revokes devices, makes and revokes tokens, reads the audit
log). Tokens below admin expire after 90 days unless --expires-in says otherwise.")]
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
  otactl token create --name ops --role admin --expires-in 12h --json | jq -r .token

The server keeps only the token's SHA-256: the secret cannot be shown again. Keep it in a file
only you can read (otactl refuses token files readable by group or others). The audit log names
the token's actions token:<name>#<id>.")]
    Create(CreateArgs),
    /// List every token: id, name, role, created, expires, revoked, last used (admin).
    #[command(after_help = "\
Examples:
  otactl token list
  otactl token list --json | jq '.[] | select(.revoked_ms == null) | .name'")]
    List,
    /// Revoke a token: its next request is refused with token_revoked (admin).
    #[command(after_help = "\
Examples:
  otactl token revoke 7

`otactl token list` shows the ids. A revoked token stays listed (and in the audit log).")]
    Revoke {
        /// The token's id.
        id: i64,
    },
}

#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// A name for the token (1-64 characters); the audit log names its actions by it.
    #[arg(long, value_name = "NAME")]
    name: String,
    /// What the token may do.
    #[arg(long, value_name = "ROLE", value_parser = ["viewer", "release-manager", "admin"])]
    role: String,
    /// Lifetime, for example 30d, 12h, 90m (default: 90 days below admin, none for admin).
    #[arg(long, value_name = "DURATION", value_parser = parse_lifetime)]
    expires_in: Option<Duration>,
}

fn parse_lifetime(text: &str) -> std::result::Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{e} (write it like 30d, 12h or 90m)"))?;
    if d.as_secs() == 0 {
        return Err("a lifetime of at least one second".into());
    }
    Ok(d)
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    match args.command {
        Sub::Create(a) => create(ctx, a).await,
        Sub::List => {
            let tokens = ctx.client()?.tokens().await?;
            output::list(
                ctx.json,
                &tokens,
                "no tokens",
                &["ID", "NAME", "ROLE", "CREATED", "EXPIRES", "REVOKED", "LAST USED"],
                |t| {
                    vec![
                        t.id.to_string(),
                        t.name.clone(),
                        t.role.to_string(),
                        output::time(t.created_ms),
                        t.expires_ms.map_or_else(|| "never".into(), output::time),
                        t.revoked_ms.map_or_else(|| "-".into(), output::time),
                        t.last_used_ms.map_or_else(|| "never".into(), output::time),
                    ]
                },
            )
        }
        Sub::Revoke { id } => {
            let t: TokenView = ctx.client()?.revoke_token(id).await?;
            if ctx.json {
                output::json(&t)?;
            } else {
                output::line(&format!("token {} {:?} revoked", t.id, t.name));
            }
            Ok(())
        }
    }
}

async fn create(ctx: &Context, a: CreateArgs) -> Result<()> {
    let request = NewToken {
        name: a.name,
        role: Role::from(a.role.as_str()),
        expires_in_seconds: a.expires_in.map(|d| d.as_secs()),
    };
    let created = ctx.client()?.create_token(&request).await?;
    if ctx.json {
        output::json(&created)?;
    } else {
        output::line(&created.token);
    }
    let expiry = created.expires_ms.map_or_else(
        || "never expires".to_owned(),
        |ms| format!("expires {}", output::time(ms)),
    );
    output::note(&format!(
        "otactl: made token {} {:?} with role {}, {expiry} (shown once: only its hash is stored)",
        created.id, created.name, created.role
    ));
    Ok(())
}
