//! `otactl device list|show|revoke|decommission|export|tag|class|certificates|revoke-certificate|enrollment-token`.

use ota_protocol::admin::{
    DeviceClassAssignment, DeviceQuery, DeviceState, DeviceTags, DeviceView, NewEnrollmentToken,
};

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
  otactl device enrollment-token dev-0003 --class sensor-v2
  otactl device certificates dev-0003
  otactl device revoke-certificate dev-0003 5A3F09C1...

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
    /// Retire a device: factory_reset at its next check-in, then revoked; history kept (admin).
    #[command(after_help = "\
Examples:
  otactl device decommission dev-0001
  otactl device decommission dev-0001 --immediate     # a device that will never call again
  otactl device export dev-0001 > dev-0001.json        # keep its history first

By default the device's next check-in is answered with the command factory_reset (erase
credentials, keys and data), and the device is decommissioned and its certificates revoked as
that answer goes out; until then it is listed with pending_command. --immediate decommissions
and revokes at once.")]
    Decommission(DecommissionArgs),
    /// Print everything the server holds of a device as one JSON document (admin).
    #[command(after_help = "\
Examples:
  otactl device export dev-0001 > dev-0001.json
  otactl device export dev-0001 | jq '.events | length'

The device row, every event kept, its certificates and the audit records about it.")]
    Export(IdArg),
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
    /// List a device's certificates: issued by the enrolment CA, or revoked by serial (viewer).
    #[command(after_help = "\
Examples:
  otactl device certificates dev-0003
  otactl device certificates dev-0003 --json | jq -r '.[] | select(.revoked_ms == null) | .serial'")]
    Certificates(IdArg),
    /// Revoke one certificate of a device by serial; its other certificates keep working (admin).
    #[command(after_help = "\
Examples:
  otactl device revoke-certificate dev-0003 5A3F09C1D2E4F60718293A4B5C6D7E8F
  serial=$(openssl x509 -in dev.pem -noout -serial | cut -d= -f2)
  otactl device revoke-certificate dev-0003 \"$serial\"

Requests made with that certificate are refused (403 certificate_revoked) and its open
connections close at once; the CRL (GET /crl) lists it if the enrolment CA issued it.")]
    RevokeCertificate(SerialArgs),
    /// Create a one-time EST enrolment token for a device; printed once (admin).
    #[command(after_help = "\
Examples:
  otactl device enrollment-token dev-0003 --class sensor-v2
  TOKEN=$(otactl device enrollment-token dev-0003 --class sensor-v2 --expires-in 3600)

The device enrols once with it: it POSTs a base64 PKCS#10 request to
/.well-known/est/simpleenroll with 'Authorization: Bearer <token>' and gets its certificate
(RFC 7030). Only the token is printed on stdout.")]
    EnrollmentToken(TokenArgs),
}

#[derive(Debug, clap::Args)]
struct DecommissionArgs {
    /// Device id (`otactl device list`).
    #[arg(value_name = "ID")]
    id: String,
    /// Decommission and revoke now instead of at the device's next check-in.
    #[arg(long)]
    immediate: bool,
}

#[derive(Debug, clap::Args)]
struct SerialArgs {
    /// Device id.
    #[arg(value_name = "ID")]
    id: String,
    /// The certificate's serial in hex, either case (`openssl x509 -noout -serial`).
    #[arg(value_name = "SERIAL")]
    serial: String,
}

#[derive(Debug, clap::Args)]
struct TokenArgs {
    /// The device id the certificate will name.
    #[arg(value_name = "ID")]
    id: String,
    /// The class the certificate will name (its OU); unset: the device's class.
    #[arg(long, value_name = "CLASS")]
    class: Option<String>,
    /// Seconds until the token expires (default one day, at most 30 days).
    #[arg(long, value_name = "SECONDS")]
    expires_in: Option<u64>,
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
        Sub::Certificates(a) => return certificates(ctx, &client, &a.id).await,
        Sub::RevokeCertificate(a) => {
            let cert = client.revoke_certificate(&a.id, &a.serial).await?;
            if ctx.json {
                return output::json(&cert);
            }
            output::line(&format!(
                "certificate {} of device {} revoked",
                cert.serial, cert.device_id
            ));
            return Ok(());
        }
        Sub::EnrollmentToken(a) => {
            let created = client
                .create_enrollment_token(&NewEnrollmentToken {
                    device_id: a.id,
                    class: a.class,
                    expires_in_seconds: a.expires_in,
                })
                .await?;
            if ctx.json {
                return output::json(&created);
            }
            output::note(&format!(
                "one-time enrolment token for {} (expires {}); shown once:",
                created.device_id,
                output::time(created.expires_ms)
            ));
            output::line(&created.token);
            return Ok(());
        }
        Sub::Revoke(a) => ("revoked", client.revoke_device(&a.id).await?),
        Sub::Decommission(a) => {
            let device = client.decommission_device(&a.id, a.immediate).await?;
            let verb = if device.pending_command.is_some() {
                "will be decommissioned at its next check-in (factory_reset)"
            } else {
                "decommissioned"
            };
            (verb, device)
        }
        Sub::Export(a) => return output::json(&client.export_device(&a.id).await?),
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

async fn certificates(ctx: &Context, client: &ota_protocol::client::AdminClient, id: &str) -> Result<()> {
    let certs = client.device_certificates(id).await?;
    output::list(
        ctx.json,
        &certs,
        "no certificates recorded (the enrolment CA issued none, none was revoked by serial)",
        &["SERIAL", "ISSUED", "NOT AFTER", "REVOKED", "FINGERPRINT"],
        |c| {
            vec![
                c.serial.clone(),
                c.issued_ms.map_or_else(|| "elsewhere".into(), output::time),
                c.not_after_ms.map_or_else(|| "-".into(), output::time),
                c.revoked_ms.map_or_else(|| "-".into(), output::time),
                c.fingerprint.as_deref().map_or_else(|| "-".into(), output::short),
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
