//! `ota-server` binary: `init`, `serve`, `token`, `device-cert`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use ota_server::config::{Config, DeviceClass};
use ota_server::domain::auth::Role;
use ota_server::init::{DevCa, InitOptions};

#[derive(Debug, Parser)]
#[command(
    name = "ota-server",
    about = "Distributes offline-signed firmware releases to devices"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a starter config, a development fleet CA + server certificate, and an admin token.
    Init {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// Trusted MCUboot image public key (PEM SPKI); repeatable.
        #[arg(long = "image-key", required = true)]
        image_keys: Vec<PathBuf>,
        /// Trusted SUIT manifest public key (PEM SPKI); repeatable.
        #[arg(long = "manifest-key", required = true)]
        manifest_keys: Vec<PathBuf>,
        /// Device class as NAME@VENDOR_DOMAIN (ids derived as `signer release` does); repeatable.
        #[arg(long = "class")]
        classes: Vec<String>,
    },
    /// Run the server.
    Serve {
        #[arg(long, default_value = "ota-server.toml")]
        config: PathBuf,
    },
    /// Create an admin API token directly in the database (printed once).
    Token {
        #[arg(long, default_value = "ota-server.toml")]
        config: PathBuf,
        #[arg(long)]
        name: String,
        /// admin, release-manager or viewer
        #[arg(long)]
        role: String,
    },
    /// Issue a development device certificate from the dev CA written by `init`.
    DeviceCert {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        #[arg(long)]
        id: String,
        #[arg(long)]
        class: Option<String>,
        /// Output prefix: writes PREFIX.pem and PREFIX.key
        #[arg(long)]
        out: PathBuf,
    },
}

fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Init {
            dir,
            listen,
            image_keys,
            manifest_keys,
            classes,
        } => {
            init_tracing("text");
            let classes = classes
                .iter()
                .map(|c| {
                    let (name, vendor) = c.split_once('@').context("--class must be NAME@VENDOR_DOMAIN")?;
                    Ok(DeviceClass {
                        name: name.into(),
                        vendor_domain: vendor.into(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let token = ota_server::init::init(&InitOptions {
                dir: dir.clone(),
                listen,
                image_keys,
                manifest_keys,
                classes,
            })
            .await?;
            println!("wrote {}", dir.join("ota-server.toml").display());
            println!("admin token (shown once, store it now): {token}");
        }
        Command::Serve { config } => {
            let config = Config::load(&config)?;
            init_tracing(&config.log_format);
            let server = ota_server::start(config).await?;
            let stop = server.stopper();
            tokio::spawn(async move {
                shutdown_signal().await;
                tracing::info!("shutting down: finishing in-flight requests");
                let _ = stop.send(true);
            });
            server.shutdown_when_stopped().await;
        }
        Command::Token { config, name, role } => {
            let config = Config::load(&config)?;
            let role = Role::parse(&role).context("role must be admin, release-manager or viewer")?;
            let store = ota_server::store::open(&config.database_url).await?;
            let token = ota_server::init::create_token(store.as_ref(), &name, role).await?;
            store.close().await;
            println!("{token}");
        }
        Command::DeviceCert { dir, id, class, out } => {
            let key = std::fs::read_to_string(dir.join("tls/fleet-ca.key")).context("dev CA key")?;
            let issued = DevCa::load(&key)?.issue_device(&id, class.as_deref())?;
            std::fs::write(out.with_extension("pem"), issued.cert_pem)?;
            std::fs::write(out.with_extension("key"), issued.key_pem)?;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
