//! `ota-demo` (see `--help`).

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use ota_demo::scenario::{self, DemoOptions, CLASS};
use ota_demo::world::{prepare_dir, Deployment, World};

const EXAMPLES: &str = "\
Examples:
  # the demo (README's first command runs this): 1,000 devices, then serve the dashboard
  ota-demo
  # smaller and faster, exit when done, summary as JSON (stdout holds only the JSON document)
  ota-demo --devices 200 --exit --json > demo.json
  # start over with new development keys and a new fleet CA
  ota-demo --force
  # three replicas on PostgreSQL and S3 behind a round-robin TCP front (scripts/cluster sets
  # up the S3 test server and the AWS_* environment, and runs this)
  ota-demo --replicas 3 --database 'postgres://postgres@127.0.0.1/test?schema=ota_demo' \\
      --artifacts s3://ota-demo/artifacts --exit

Everything is written under --dir: development keys, the signing audit log audit.jsonl (one
record per image or manifest signature, written before the signed output exists), the fleet CA,
ota-server.toml, the SQLite database and artifacts. The next run replaces all of it except the
keys with their audit log and the fleet CA (private keys mode 0600), which it reuses (so a
browser told to trust the CA keeps trusting it); --force makes new ones. Keys made here are
for development only. Progress goes to stderr; the summary (or, with --json, one JSON document)
to stdout.";

/// Runs the whole pipeline on one machine: signs releases, serves them from a real ota-server
/// (SQLite, mutual TLS), and rolls them out in stages to a simulated fleet.
#[derive(Debug, Parser)]
#[command(name = "ota-demo", version, after_help = EXAMPLES)]
struct Args {
    /// Scratch directory (a previous run's is emptied except for its keys; anything else is refused).
    #[arg(long, default_value = "demo-out/rollout")]
    dir: PathBuf,
    /// Replace the development keys and fleet CA kept in --dir by a previous run.
    #[arg(long)]
    force: bool,
    /// Simulated devices.
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    /// Server address (falls back to a free port if taken); with --replicas, the front's.
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Replicas of the server, behind a round-robin TCP front (more than 1 needs --database
    /// postgres://... and --artifacts s3://...).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    replicas: u16,
    /// Database every replica shares (default: SQLite in --dir). Its schema should be empty:
    /// the demo's releases start at sequence 1.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Artifact store every replica shares: s3://bucket/prefix (endpoint and credentials from
    /// AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY; default: files in --dir).
    #[arg(long, value_name = "URL")]
    artifacts: Option<String>,
    /// Percent of devices that cannot boot the bad release.
    #[arg(long, default_value_t = 30.0)]
    bad_boot_fail: f64,
    /// Device poll interval in milliseconds (plus up to half of it as jitter).
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// Soak time per stage in milliseconds.
    #[arg(long, default_value_t = 2000)]
    soak_ms: i64,
    /// Most devices updating at once.
    #[arg(long, default_value_t = 50)]
    max_in_flight: u32,
    /// Exit after the summary instead of serving the dashboard until Ctrl-C.
    #[arg(long)]
    exit: bool,
    /// Print the summary as one JSON document on stdout (progress stays on stderr).
    #[arg(long)]
    json: bool,
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    // Logs go to stderr, plain (no colour codes) unless stderr is a terminal.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
    if let Err(e) = run(args).await {
        eprintln!("error: {e:#}");
        eprintln!("hint: rerun with RUST_LOG=info for the server's log");
        std::process::exit(1);
    }
}

async fn run(a: Args) -> Result<()> {
    prepare_dir(&a.dir, a.force)?;
    // Absolute paths in the written ota-server.toml, so `ota-server serve --config` works from anywhere.
    let dir = std::fs::canonicalize(&a.dir).with_context(|| format!("{}", a.dir.display()))?;
    let deployment = Deployment {
        replicas: usize::from(a.replicas),
        database_url: a.database.clone(),
        artifacts_url: a.artifacts.clone(),
    };
    let mut world = World::deploy(&dir, a.listen, &[CLASS], &deployment).await?;
    if world.replica_count() > 1 {
        eprintln!(
            "== {} ota-server replicas (PostgreSQL, {}, mutual TLS) behind a round-robin front on https://localhost:{}; files in {}",
            world.replica_count(),
            a.artifacts.as_deref().unwrap_or("local artifacts"),
            world.addr.port(),
            a.dir.display()
        );
    } else {
        eprintln!(
            "== ota-server on https://localhost:{} ({}, mutual TLS); files in {}",
            world.addr.port(),
            if a.database.is_some() { "PostgreSQL" } else { "SQLite" },
            a.dir.display()
        );
    }
    eprintln!(
        "   development keys and fleet CA (private keys mode 0600): {}",
        if world.keys_kept {
            "kept from the previous run in this directory; --force makes new ones"
        } else {
            "generated"
        }
    );
    eprintln!(
        "   every signature is recorded in the signing audit log: {}",
        world.keys.audit_log.display()
    );
    let opts = DemoOptions {
        devices: a.devices,
        bad_boot_fail: (a.bad_boot_fail / 100.0).clamp(0.0, 1.0),
        poll: Duration::from_millis(a.poll_ms.max(50)),
        soak_ms: a.soak_ms,
        max_in_flight: a.max_in_flight,
        ..DemoOptions::default()
    };
    let outcome = scenario::run(&world, &repo_root(), &opts, true)
        .await
        .context("demo run")?;
    let dashboard = world.dashboard_url();
    let trust = ota_server::init::browser_trust_hint(&world.ca_pem, &world.url("/dashboard"));
    if a.json {
        let v = serde_json::json!({
            "good_rollout": outcome.good,
            "bad_rollout": outcome.bad,
            "fleet": outcome.fleet,
            "devices": outcome.devices.to_json(false),
            "elapsed_s": outcome.elapsed.as_secs_f64(),
            "dashboard": dashboard,
            "fleet_ca": world.ca_pem,
            "audit_log": world.keys.audit_log,
            "dir": dir,
            "checkins_per_replica": world.checkins_per_replica(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        eprintln!("dashboard: {dashboard}");
        eprint!("{trust}");
    } else {
        println!("== summary");
        print!("{}", scenario::summary_text(&outcome, &dashboard));
        if world.replica_count() > 1 {
            let served: Vec<String> = world.checkins_per_replica().iter().map(u64::to_string).collect();
            println!("check-ins answered per replica: {}", served.join(" / "));
        }
        print!("{trust}");
    }
    if !a.exit {
        eprintln!("serving the dashboard; Ctrl-C to stop (or run with --exit)");
        tokio::signal::ctrl_c().await?;
    }
    if world.replica_count() == 1 {
        eprintln!(
            "the server's state is kept: `ota-server serve --config {}` serves it again (same dashboard URL)",
            dir.join("ota-server.toml").display()
        );
    }
    world.shutdown().await;
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
