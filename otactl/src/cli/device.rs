//! `otactl device list|show|revoke|decommission|tag|class`.

use ota_protocol::admin::{DeviceClassAssignment, DeviceQuery, DeviceState, DeviceTags, DeviceView};

use super::{split_list, Context};
use crate::error::Result;
use crate::output::{self, Table};

/// Devices per request when listing (the API's largest page).
const PAGE: i64 = 1000;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  otactl device list --class sensor-v2 --state active
  otactl device show dev-0001
  otactl device tag dev-0001 --tags beta,lab
  otactl device class dev-0002 sensor-v2
  otactl device revoke dev-0001

A device registers at its first check-in (mutual TLS with a certificate from the fleet CA); its id
is the certificate's URI SAN urn:fwsign:device:<id>, else its subject CN.")]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// List registered devices, ordered by id (viewer).
    #[command(after_help = "\
Examples:
  otactl device list
  otactl device list --class sensor-v2 --state active
  otactl device list --state revoked --json | jq -r '.[].id'

The server has no filters: otactl pages through every device and filters by --class and --state
itself.")]
    List(ListArgs),
    /// Show a device and its newest events (viewer).
    #[command(
        after_help = "Examples:\n  otactl device show dev-0001\n  otactl device show dev-0001 --json | jq .events"
    )]
    Show(IdArg),
    /// Refuse the device from its next request on, open connections included (admin).
    #[command(after_help = "\
Examples:
  otactl device revoke dev-0001

The device's certificate stays valid for TLS, but every device request is refused (403
device_revoked) until it is decommissioned; nothing else in the fleet changes.")]
    Revoke(IdArg),
    /// Revoke and retire a device; its history is kept (admin).
    #[command(after_help = "Examples:\n  otactl device decommission dev-0001")]
    Decommission(IdArg),
    /// Replace a device's tags (groups a rollout can target with --tags) (release-manager).
    #[command(after_help = "\
Examples:
  otactl device tag dev-0001 --tags beta,lab
  otactl device tag dev-0001 --tags ''        # removes every tag")]
    Tag(TagArgs),
    /// Assign a device's class, registering it if new (release-manager).
    #[command(after_help = "\
Examples:
  otactl device class dev-0001 sensor-v2

A device's class comes from its certificate's subject OU, or from this command for certificates
without one; a device never chooses its class. The class must be one the server is configured
for (422 unknown_device_class otherwise).")]
    Class(ClassArgs),
}

#[derive(Debug, clap::Args)]
struct ClassArgs {
    /// Device id (registered if new).
    #[arg(value_name = "ID")]
    id: String,
    /// A class of the server's configuration (`[[classes]]`).
    #[arg(value_name = "CLASS")]
    class: String,
}

#[derive(Debug, clap::Args)]
struct IdArg {
    /// Device id (`otactl device list`).
    #[arg(value_name = "ID")]
    id: String,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Only devices of this class.
    #[arg(long, value_name = "CLASS")]
    class: Option<String>,
    /// Only devices in this state.
    #[arg(long, value_name = "STATE", value_parser = ["active", "revoked", "decommissioned"])]
    state: Option<String>,
}

#[derive(Debug, clap::Args)]
struct TagArgs {
    /// Device id (`otactl device list`).
    #[arg(value_name = "ID")]
    id: String,
    /// The device's new tags, comma-separated (each 1-32 of a-z 0-9 . _ -; '' for none).
    #[arg(long, value_name = "TAGS", required = true)]
    tags: String,
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let client = ctx.client()?;
    let (verb, device) = match args.command {
        Sub::List(a) => return list(ctx, &client, &a).await,
        Sub::Show(a) => return show(ctx, &client, &a.id).await,
        Sub::Revoke(a) => ("revoked", client.revoke_device(&a.id).await?),
        Sub::Decommission(a) => ("decommissioned", client.decommission_device(&a.id).await?),
        Sub::Tag(a) => {
            let tags = DeviceTags {
                tags: split_list(&a.tags),
            };
            ("tagged", client.set_device_tags(&a.id, &tags).await?)
        }
        Sub::Class(a) => {
            let class = DeviceClassAssignment { class: a.class };
            ("assigned a class", client.set_device_class(&a.id, &class).await?)
        }
    };
    if ctx.json {
        return output::json(&device);
    }
    output::line(&format!(
        "device {} {verb}: class {}, state {}, tags [{}]",
        device.id,
        device.class.as_deref().unwrap_or("-"),
        device.state,
        device.tags.join(",")
    ));
    Ok(())
}

async fn list(ctx: &Context, client: &ota_protocol::client::AdminClient, args: &ListArgs) -> Result<()> {
    let state = args.state.as_deref().map(DeviceState::from);
    let mut devices: Vec<DeviceView> = Vec::new();
    let mut after = None;
    loop {
        let page = client
            .devices(&DeviceQuery {
                after: after.take(),
                limit: Some(PAGE),
            })
            .await?;
        let full = i64::try_from(page.len()).is_ok_and(|n| n >= PAGE);
        after = page.last().map(|d| d.id.clone());
        devices.extend(page.into_iter().filter(|d| {
            args.class.as_ref().is_none_or(|c| d.class.as_ref() == Some(c))
                && state.as_ref().is_none_or(|s| d.state == *s)
        }));
        if !full || after.is_none() {
            break;
        }
    }
    output::list(
        ctx.json,
        &devices,
        "no devices",
        &[
            "ID",
            "CLASS",
            "STATE",
            "VERSION",
            "SEQUENCE",
            "LAST STATUS",
            "LAST SEEN",
            "TAGS",
        ],
        |d| {
            vec![
                d.id.clone(),
                output::opt(d.class.as_deref()),
                d.state.to_string(),
                output::opt(d.running_version.as_deref()),
                output::opt(d.running_sequence),
                output::opt(d.last_status.as_deref()),
                output::time(d.last_seen_ms),
                d.tags.join(","),
            ]
        },
    )
}

async fn show(ctx: &Context, client: &ota_protocol::client::AdminClient, id: &str) -> Result<()> {
    let detail = client.device(id).await?;
    if ctx.json {
        return output::json(&detail);
    }
    let d = &detail.device;
    let mut t = Table::new(&["device", &d.id]);
    for (k, v) in [
        ("class", output::opt(d.class.as_deref())),
        ("state", d.state.to_string()),
        (
            "running",
            format!(
                "{} (sequence {}) sha256:{}",
                output::opt(d.running_version.as_deref()),
                output::opt(d.running_sequence),
                output::opt(d.running_sha256.as_deref())
            ),
        ),
        ("last status", output::opt(d.last_status.as_deref())),
        ("last seen", output::time(d.last_seen_ms)),
        ("registered", output::time(d.registered_ms)),
        ("tags", d.tags.join(",")),
    ] {
        t.row(vec![k.into(), v]);
    }
    t.print();
    if detail.events.is_empty() {
        return Ok(());
    }
    output::line("\nevents (newest first):");
    let mut e = Table::new(&["AT", "STATUS", "RELEASE", "REASON"]);
    for ev in &detail.events {
        e.row(vec![
            output::time(ev.at_ms),
            ev.status.clone(),
            output::opt(ev.release_id),
            output::opt(ev.reason.as_deref()),
        ]);
    }
    e.print();
    Ok(())
}
