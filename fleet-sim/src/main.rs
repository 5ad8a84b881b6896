//! `fleet-sim`: N virtual devices against a running `ota-server` (see `--help`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use fleet_sim::{FaultRates, FleetCa, FleetOptions, ServerConfig};

const EXAMPLES: &str = "\
Examples:
  # a server made by `ota-server init --dir srv ...`, serving; 200 devices on v1 (sequence 1):
  fleet-sim --config srv/ota-server.toml --devices 200 \\
      --image fixtures/images/fw-v1.signed.bin --image-version 1.0.0 --sequence 1

  # with faults: 5% fail to boot, 2% get a corrupt download, 10% lose the connection
  # mid-download, 64 KiB/s links, JSON summary:
  fleet-sim --config srv/ota-server.toml --devices 500 --image fw-v1.signed.bin --sequence 1 \\
      --boot-fail 5 --corrupt 2 --drop 10 --link-bps 65536 --json

  # a bad release: 30% of devices cannot boot version 3.0.0 (every other release boots), and
  # devices keep polling for 10 minutes, as a fleet does during a staged rollout:
  fleet-sim --config srv/ota-server.toml --devices 1000 --image fw-v1.signed.bin --sequence 1 \\
      --boot-fail 30 --boot-fail-version 3.0.0 --keep-polling --deadline 600

  # three replicas of one server (same config, OTA_LISTEN 8443/8444/8445): every request goes
  # to one of them at random
  fleet-sim --config srv/ota-server.toml --devices 300 --image fw-v1.signed.bin --sequence 1 \\
      --replica 127.0.0.1:8443 --replica 127.0.0.1:8444 --replica 127.0.0.1:8445

  # without a config file (server elsewhere):
  fleet-sim --server https://ota.example:8443 --server-ca fleet-ca.pem --ca-key fleet-ca.key \\
      --manifest-key manifest.pub.pem --image-key image.pub.pem \\
      --class sensor-v2 --vendor-domain example.com --devices 50 --image fw-v1.signed.bin

Devices stop when a check-in offers nothing (or they gave up on a release after --max-attempts
failed attempts); --keep-polling keeps them polling until --deadline.

End states: committed (updated, now runs the newest release), up_to_date (ran it all along),
held_back (the server has something newer but offered nothing: the summary gives its reason per
device group, e.g. rollout_paused, not_in_cohort, held_out), rolled_back, failed, deadline,
unreachable. The summary goes to stdout (--json: one JSON document, nothing else); progress
goes to stderr.";

/// Runs virtual devices against an ota-server: mutual TLS with per-device certificates issued
/// from the development fleet CA, two flash slots each, and device-verifier on every download.
#[derive(Debug, Parser)]
#[command(name = "fleet-sim", version, after_help = EXAMPLES)]
struct Args {
    /// ota-server.toml written by `ota-server init`: server address, CA, trusted keys, class.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Server base URL (default: https://localhost:<port of the config's listen address>).
    #[arg(long)]
    server: Option<String>,
    /// Address of one replica of the server, repeatable: each request of each device goes to
    /// one of them at random (a refused connection to another); the TLS name stays the
    /// --server (or config) host.
    #[arg(long = "replica", value_name = "ADDR")]
    replicas: Vec<SocketAddr>,
    /// CA certificate that issued the server certificate (default: the config's device CA).
    #[arg(long)]
    server_ca: Option<PathBuf>,
    /// Fleet CA private key to issue device certificates (default: tls/fleet-ca.key beside the config).
    #[arg(long)]
    ca_key: Option<PathBuf>,
    /// Trusted SUIT manifest key (PEM), repeatable (default: the config's manifest keys).
    #[arg(long)]
    manifest_key: Vec<PathBuf>,
    /// Trusted MCUboot image key (PEM), repeatable (default: the config's image keys).
    #[arg(long)]
    image_key: Vec<PathBuf>,
    /// Device class (default: the config's first class).
    #[arg(long)]
    class: Option<String>,
    /// Vendor domain of the class (default: from the config).
    #[arg(long)]
    vendor_domain: Option<String>,
    /// Number of devices.
    #[arg(long, default_value_t = 10)]
    devices: usize,
    /// Device id prefix (ids are <prefix><5-digit index>).
    #[arg(long, default_value = "sim-")]
    id_prefix: String,
    /// Signed image every device runs at start.
    #[arg(long)]
    image: PathBuf,
    /// Version string of that image.
    #[arg(long, default_value = "1.0.0")]
    image_version: String,
    /// Committed SUIT sequence number at start.
    #[arg(long, default_value_t = 0)]
    sequence: u64,
    /// Percent of devices whose new image fails to boot (they report rolled-back).
    #[arg(long, default_value_t = 0.0)]
    boot_fail: f64,
    /// Only releases with this version fail to boot on --boot-fail devices (repeatable);
    /// default: every new release.
    #[arg(long)]
    boot_fail_version: Vec<String>,
    /// Percent of devices whose first download is corrupted (one byte flipped).
    #[arg(long, default_value_t = 0.0)]
    corrupt: f64,
    /// Percent of devices whose downloads are cut mid-transfer (resumed with Range).
    #[arg(long, default_value_t = 0.0)]
    drop: f64,
    /// Percent of devices whose first re-enrolment request is broken (refused; tried again).
    #[arg(long, default_value_t = 0.0)]
    reenroll_fail: f64,
    /// Validity of the devices' first certificates, in days (unset: far ahead). Inside the
    /// server's renew_before_days, devices re-enrol over EST and switch certificates.
    #[arg(long, value_name = "DAYS")]
    certificate_days: Option<u32>,
    /// Link speed cap per device, bytes/s.
    #[arg(long)]
    link_bps: Option<u64>,
    /// Clock skew in seconds (recorded; the device API carries no device timestamps).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    clock_skew: i64,
    /// Poll interval, milliseconds.
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
    /// Random extra delay per poll (and at start), up to this many milliseconds.
    #[arg(long, default_value_t = 250)]
    jitter_ms: u64,
    /// Failed attempts at one release before a device gives up on it.
    #[arg(long, default_value_t = 3)]
    max_attempts: u32,
    /// Keep polling until the deadline instead of stopping when idle.
    #[arg(long)]
    keep_polling: bool,
    /// Stop all devices after this many seconds.
    #[arg(long, default_value_t = 300)]
    deadline: u64,
    /// Flash slot size in bytes.
    #[arg(long, default_value_t = 256 * 1024)]
    slot_size: usize,
    /// Seed for faults and jitter.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the summary as one JSON document on stdout (progress stays on stderr).
    #[arg(long)]
    json: bool,
    /// With --json: include every device's report.
    #[arg(long)]
    per_device: bool,
}

fn pct(v: f64) -> f64 {
    (v / 100.0).clamp(0.0, 1.0)
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = Args::parse();
    let config = a
        .config
        .as_deref()
        .map(ServerConfig::load)
        .transpose()
        .context("loading --config")?;
    let config_dir = a.config.as_deref().and_then(|p| p.parent()).map(PathBuf::from);
    let pick = |flag: &Option<PathBuf>, from_config: Option<PathBuf>, what: &str| -> Result<PathBuf> {
        flag.clone()
            .or(from_config)
            .with_context(|| format!("{what}: give it or --config"))
    };
    let tls = config.as_ref().and_then(|c| c.tls.clone());
    let server_ca = pick(
        &a.server_ca,
        tls.and_then(|t| t.device_ca.first().cloned()),
        "--server-ca",
    )?;
    let ca_key = pick(&a.ca_key, config_dir.map(|d| d.join("tls/fleet-ca.key")), "--ca-key")?;
    let mut connect_addr = None;
    let server_url = match (&a.server, &config) {
        (Some(s), _) => s.clone(),
        (None, Some(c)) => {
            let ip = match c.listen.ip() {
                ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                ip => ip,
            };
            connect_addr = Some(SocketAddr::new(ip, c.listen.port()));
            format!("https://localhost:{}", c.listen.port())
        }
        (None, None) => anyhow::bail!("--server: give it or --config"),
    };
    let keys = |flag: &[PathBuf], from_config: Option<Vec<PathBuf>>| -> Result<Vec<Vec<u8>>> {
        let paths = if flag.is_empty() {
            from_config.unwrap_or_default()
        } else {
            flag.to_vec()
        };
        anyhow::ensure!(
            !paths.is_empty(),
            "no trusted keys: give --manifest-key/--image-key or --config"
        );
        paths.iter().map(|p| fleet_sim::read_spki_pem(p)).collect()
    };
    let manifest_keys = keys(&a.manifest_key, config.as_ref().map(|c| c.trust.manifest_keys.clone()))?;
    let image_keys = keys(&a.image_key, config.as_ref().map(|c| c.trust.image_keys.clone()))?;
    let first_class = config.as_ref().and_then(|c| c.classes.first().cloned());
    let class = a
        .class
        .clone()
        .or_else(|| first_class.as_ref().map(|c| c.name.clone()))
        .context("--class")?;
    let vendor = a
        .vendor_domain
        .clone()
        .or_else(|| config.as_ref()?.vendor_domain(&class).map(str::to_owned))
        .context("--vendor-domain")?;

    let ca =
        FleetCa::from_key_pem(&std::fs::read_to_string(&ca_key).with_context(|| format!("{}", ca_key.display()))?)?;
    let image = std::fs::read(&a.image).with_context(|| format!("{}", a.image.display()))?;
    let opts = FleetOptions {
        server_url,
        connect_addr,
        replicas: a.replicas.clone(),
        server_ca_pem: std::fs::read_to_string(&server_ca).with_context(|| format!("{}", server_ca.display()))?,
        poll_interval: Duration::from_millis(a.poll_ms),
        jitter: Duration::from_millis(a.jitter_ms),
        link_bytes_per_s: a.link_bps,
        clock_skew_s: a.clock_skew,
        slot_size: a.slot_size,
        max_attempts: a.max_attempts,
        until_idle: !a.keep_polling,
        boot_fail_scope: if a.boot_fail_version.is_empty() {
            fleet_sim::BootFailScope::Every
        } else {
            fleet_sim::BootFailScope::Versions(a.boot_fail_version.clone())
        },
        stop: None,
        deadline: Duration::from_secs(a.deadline),
        certificate_days: a.certificate_days,
    };
    let provisioning = fleet_sim::provisioning(&class, &vendor, manifest_keys, image_keys);
    let rates = FaultRates {
        boot_fail: pct(a.boot_fail),
        corrupt: pct(a.corrupt),
        drop: pct(a.drop),
        reenroll_fail: pct(a.reenroll_fail),
    };
    let specs = fleet_sim::fleet(
        &a.id_prefix,
        a.devices,
        &class,
        &provisioning,
        &image,
        &a.image_version,
        a.sequence,
        rates,
        a.seed,
    );
    eprintln!(
        "fleet-sim: {} device(s) of class {class} on {} (sequence {}) against {}; {}",
        specs.len(),
        a.image_version,
        a.sequence,
        opts.server_url,
        if opts.until_idle {
            format!("each stops when offered nothing (at most {} s)", a.deadline)
        } else {
            format!("polling until the deadline ({} s)", a.deadline)
        }
    );
    let summary = fleet_sim::run(&ca, &opts, specs).await?;
    eprintln!(
        "fleet-sim: {} device(s) finished in {:.1} s",
        summary.devices, summary.wall_time_s
    );
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary.to_json(a.per_device))?);
    } else {
        print!("{}", summary.to_text());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn every_option_has_help_and_every_command_has_examples() {
        cli_conventions::assert_documented(super::Args::command());
    }
}
