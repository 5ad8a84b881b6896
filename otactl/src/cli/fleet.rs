//! `otactl fleet`: what the active devices run, per class and image.

use super::Context;
use crate::error::Result;
use crate::output::{self, Table};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  otactl fleet
  otactl fleet --json | jq '.classes[] | {class, versions: [.versions[] | {version, devices}]}'

Counts active devices only (revoked and decommissioned ones are left out), by the image they last
reported running.")]
pub struct Args {}

pub async fn run(ctx: &Context, _args: Args) -> Result<()> {
    let fleet = ctx.client()?.fleet().await?;
    if ctx.json {
        return output::json(&fleet);
    }
    if fleet.classes.is_empty() {
        output::line("no active devices");
        return Ok(());
    }
    let mut t = Table::new(&["CLASS", "VERSION", "SEQUENCE", "IMAGE SHA-256", "DEVICES"]);
    for class in &fleet.classes {
        for v in &class.versions {
            t.row(vec![
                output::opt(class.class.as_deref()),
                output::opt(v.version.as_deref()),
                output::opt(v.sequence),
                v.digest.as_deref().map_or_else(|| "-".into(), output::short),
                v.devices.to_string(),
            ]);
        }
    }
    t.print();
    output::line(&format!("{} active devices", fleet.devices));
    Ok(())
}
