//! `ota-server` binary: `init`, `serve`, `token`, `device-cert`.
//!
//! Streams (DESIGN.md, house style): stdout carries only what scripts capture — the token that
//! `init` and `token` print — and everything for humans (summaries, hints, logs) goes to stderr.
//! Failures print `error: ...` and, where it helps, `hint: ...`; exit 0 ok, 2 usage or
//! operational error (clap's usage errors exit 2 too).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ota_server::config::{Config, DeviceClass};
use ota_server::domain::auth::Role;
use ota_server::init::{DevCa, InitOptions};

const EXAMPLES: &str = "\
Examples:
  ota-server init --dir srv --image-key image.pub.pem --manifest-key manifest.pub.pem \\
      --class sensor-v2@example.com
  ota-server serve --config srv/ota-server.toml
  ota-server token --config srv/ota-server.toml --name dashboard --role viewer
  ota-server device-cert --dir srv --id dev-0001 --class sensor-v2 --out dev-0001

stdout carries only the tokens `init` and `token` print (TOKEN=$(ota-server token ...) works);
messages and logs go to stderr. Exit status: 0 success, 2 usage or operational error.";

const INIT_EXAMPLES: &str = "\
Examples:
  ota-server init --dir srv --image-key image.pub.pem --manifest-key manifest.pub.pem \\
      --class sensor-v2@example.com
  TOKEN=$(ota-server init --dir srv --listen 0.0.0.0:8443 --image-key image.pub.pem \\
      --manifest-key manifest.pub.pem --class sensor-v2@example.com)

Writes DIR/ota-server.toml, a development fleet CA and server certificate (tls/, private keys
mode 0600), copies of the trusted keys (keys/) and the SQLite database (data/). Nothing is
replaced: init refuses to run over an earlier one. The admin token is the only line on stdout
(shown once; only its hash is stored). What was written, and how to open the dashboard, goes
to stderr.";

const SERVE_EXAMPLES: &str = "\
Examples:
  ota-server serve --config srv/ota-server.toml
  OTA_LOG_FORMAT=json OTA_LISTEN=0.0.0.0:8443 ota-server serve --config /etc/ota/ota-server.toml

Logs go to stderr (RUST_LOG filters them; colours only on a terminal, never with NO_COLOR).
SIGINT or SIGTERM finishes in-flight requests, then stops.";

const TOKEN_EXAMPLES: &str = "\
Examples:
  ota-server token --config srv/ota-server.toml --name dashboard --role viewer
  TOKEN=$(ota-server token --config srv/ota-server.toml --name ci --role release-manager)

The token is the only line on stdout and is shown once (only its hash is stored).
Open the dashboard with a viewer token: https://localhost:PORT/dashboard#token=<token>.";

const DEVICE_CERT_EXAMPLES: &str = "\
Examples:
  ota-server device-cert --dir srv --id dev-0001 --class sensor-v2 --out dev-0001
  ota-server device-cert --dir srv --id dev-0001 --out certs/dev-0001 --force

Writes PREFIX.pem (the certificate) and PREFIX.key (its private key, mode 0600). Existing files
are never replaced without --force; with --force they are replaced atomically. Development only:
production device keys are generated on the device.";

#[derive(Debug, Parser)]
#[command(
    name = "ota-server",
    version,
    about = "Distributes offline-signed firmware releases to devices",
    after_help = EXAMPLES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a starter config, a development fleet CA + server certificate, and an admin token.
    #[command(after_help = INIT_EXAMPLES)]
    Init {
        /// Directory to write into (created if missing; must not hold an earlier init).
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
        /// Address the server will listen on (HTTPS with device mTLS), written to the config.
        #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// Trusted MCUboot image public key (PEM SPKI); repeatable.
        #[arg(long = "image-key", value_name = "PEM", required = true)]
        image_keys: Vec<PathBuf>,
        /// Trusted SUIT manifest public key (PEM SPKI); repeatable.
        #[arg(long = "manifest-key", value_name = "PEM", required = true)]
        manifest_keys: Vec<PathBuf>,
        /// Device class as NAME@VENDOR_DOMAIN (ids derived as `signer release` does); repeatable.
        #[arg(long = "class", value_name = "NAME@VENDOR_DOMAIN", value_parser = parse_class)]
        classes: Vec<DeviceClass>,
    },
    /// Run the server.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve {
        /// The configuration file (written by `ota-server init`); OTA_* variables override it.
        #[arg(long, value_name = "FILE", default_value = "ota-server.toml")]
        config: PathBuf,
    },
    /// Create an API token directly in the database (printed once, on stdout).
    #[command(after_help = TOKEN_EXAMPLES)]
    Token {
        /// The configuration file naming the database.
        #[arg(long, value_name = "FILE", default_value = "ota-server.toml")]
        config: PathBuf,
        /// A name for the token, shown in the token list and the audit trail.
        #[arg(long)]
        name: String,
        /// What the token may do: admin, release-manager (upload, rollouts) or viewer (read only).
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(["admin", "release-manager", "viewer"]))]
        role: String,
    },
    /// Issue a development device certificate from the dev CA written by `init`.
    #[command(after_help = DEVICE_CERT_EXAMPLES)]
    DeviceCert {
        /// The directory `ota-server init` wrote (the CA key is DIR/tls/fleet-ca.key).
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
        /// Device id: the certificate's CN and its urn:fwsign:device:ID URI SAN.
        #[arg(long)]
        id: String,
        /// Device class name, written as the certificate's OU.
        #[arg(long)]
        class: Option<String>,
        /// Output prefix: writes PREFIX.pem (certificate) and PREFIX.key (private key, mode 0600).
        #[arg(long, value_name = "PREFIX")]
        out: PathBuf,
        /// Replace existing PREFIX.pem / PREFIX.key (atomically; the key stays mode 0600).
        #[arg(long)]
        force: bool,
    },
}

/// A failure shown as `error: ...` and `hint: ...` (exit 2).
#[derive(Debug)]
struct Failure {
    error: anyhow::Error,
    hint: Option<String>,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Self {
            error: error.into(),
            hint: None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "error: {:#}", self.error)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

/// `.hint(...)` on any fallible result: the error with a suggestion of what to do.
trait Hint<T> {
    fn hint(self, hint: impl Into<String>) -> Result<T, Failure>;
}

impl<T, E: Into<anyhow::Error>> Hint<T> for Result<T, E> {
    fn hint(self, hint: impl Into<String>) -> Result<T, Failure> {
        self.map_err(|e| Failure {
            error: e.into(),
            hint: Some(hint.into()),
        })
    }
}

fn fail(message: String, hint: impl Into<String>) -> Failure {
    Failure {
        error: anyhow::Error::msg(message),
        hint: Some(hint.into()),
    }
}

fn parse_class(text: &str) -> Result<DeviceClass, String> {
    match text.split_once('@') {
        Some((name, vendor)) if !name.is_empty() && !vendor.is_empty() => Ok(DeviceClass {
            name: name.into(),
            vendor_domain: vendor.into(),
            registration: Default::default(),
        }),
        _ => Err(format!(
            "{text:?} is not NAME@VENDOR_DOMAIN (for example sensor-v2@example.com)"
        )),
    }
}

/// Logs go to stderr, with colours only on a terminal and never with `NO_COLOR` set
/// (https://no-color.org: "present and not an empty string").
fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && !no_color;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
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

/// Loads a configuration, explaining the usual reasons it cannot be.
fn load_config(path: &Path) -> Result<Config, Failure> {
    if !path.exists() {
        return Err(fail(
            format!("{} does not exist", path.display()),
            "pass --config DIR/ota-server.toml, or write one with `ota-server init --dir DIR --image-key ... --manifest-key ...`",
        ));
    }
    Config::load(path).hint(format!(
        "fix {} (see what `ota-server init` writes) or the OTA_* environment overrides",
        path.display()
    ))
}

/// `PREFIX` + `.ext`, keeping any dots in the prefix (`dev.0001` -> `dev.0001.pem`).
fn with_suffix(prefix: &Path, ext: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".");
    name.push(ext);
    PathBuf::from(name)
}

async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Init {
            dir,
            listen,
            image_keys,
            manifest_keys,
            classes,
        } => init(dir, listen, image_keys, manifest_keys, classes).await,
        Command::Serve { config } => {
            let config_path = config;
            let config = load_config(&config_path)?;
            init_tracing(&config.log_format);
            let server = ota_server::start(config).await.hint(format!(
                "check {} (listen, tls, trust, database_url) and the OTA_* environment overrides",
                config_path.display()
            ))?;
            let stop = server.stopper();
            tokio::spawn(async move {
                shutdown_signal().await;
                tracing::info!("shutting down: finishing in-flight requests");
                let _ = stop.send(true);
            });
            server.shutdown_when_stopped().await;
            Ok(())
        }
        Command::Token { config, name, role } => {
            let config_path = config;
            let config = load_config(&config_path)?;
            // clap has checked the value against the same three names.
            let role = Role::parse(&role)
                .ok_or_else(|| fail(format!("unknown role {role:?}"), "use admin, release-manager or viewer"))?;
            let store = ota_server::store::open(&config.database_url).await.hint(format!(
                "is database_url in {} right, and the database reachable?",
                config_path.display()
            ))?;
            let token = ota_server::init::create_token(store.as_ref(), &name, role).await;
            store.close().await;
            let token = token.hint("the database refused the token; is it the one `ota-server init` created?")?;
            eprintln!(
                "created {} token {name:?} (shown once: only its hash is stored)",
                role.as_str()
            );
            println!("{token}");
            Ok(())
        }
        Command::DeviceCert {
            dir,
            id,
            class,
            out,
            force,
        } => device_cert(&dir, &id, class.as_deref(), &out, force),
    }
}

async fn init(
    dir: PathBuf,
    listen: SocketAddr,
    image_keys: Vec<PathBuf>,
    manifest_keys: Vec<PathBuf>,
    classes: Vec<DeviceClass>,
) -> Result<(), Failure> {
    let config = dir.join("ota-server.toml");
    if config.exists() {
        return Err(fail(
            format!("{} exists; init never replaces an installation", config.display()),
            format!(
                "choose another --dir, or run the existing one: ota-server serve --config {}",
                config.display()
            ),
        ));
    }
    init_tracing("text");
    let report = ota_server::init::init_with_report(&InitOptions {
        dir: dir.clone(),
        listen,
        image_keys,
        manifest_keys,
        classes,
    })
    .await
    .map_err(|error| {
        let message = format!("{error:#}");
        let hint = if message.contains("refusing to overwrite") {
            "init never replaces files: choose another --dir, or remove what an earlier init left there".to_owned()
        } else if message.contains("public key") || message.contains("reading") {
            "--image-key and --manifest-key take Ed25519 or P-256 public keys in PEM \
             (`signer getpub -k KEY -e pem -o KEY.pub.pem` makes one); nothing was written"
                .to_owned()
        } else {
            format!("check that {} is writable", dir.display())
        };
        Failure {
            error,
            hint: Some(hint),
        }
    })?;
    let width = report
        .written
        .iter()
        .map(|w| w.path.display().to_string().len())
        .max()
        .unwrap_or(0);
    eprintln!("wrote:");
    for w in &report.written {
        let secret = if w.secret { "; secret, mode 0600" } else { "" };
        eprintln!("  {:<width$}  {}{secret}", w.path.display().to_string(), w.what);
    }
    eprintln!();
    eprint!("{}", ota_server::init::next_steps(&report.config, listen));
    eprintln!();
    eprint!(
        "{}",
        ota_server::init::browser_trust_hint(&report.fleet_ca, &ota_server::init::dashboard_url(listen))
    );
    eprintln!();
    eprintln!("admin token (the only line on stdout; shown once, only its hash is stored: keep it now):");
    println!("{}", report.token);
    Ok(())
}

fn device_cert(dir: &Path, id: &str, class: Option<&str>, out: &Path, force: bool) -> Result<(), Failure> {
    let cert_path = with_suffix(out, "pem");
    let key_path = with_suffix(out, "key");
    if !force {
        if let Some(existing) = [&cert_path, &key_path].into_iter().find(|p| p.exists()) {
            return Err(fail(
                format!("{} already exists", existing.display()),
                "choose another --out, or pass --force to replace the certificate and key",
            ));
        }
    }
    let ca_key_path = dir.join("tls/fleet-ca.key");
    let ca_key = std::fs::read_to_string(&ca_key_path)
        .map_err(anyhow::Error::from)
        .map_err(|e| e.context(format!("reading the development CA key {}", ca_key_path.display())))
        .hint("--dir must be the directory `ota-server init` wrote (it holds tls/fleet-ca.key)")?;
    let ca = DevCa::load(&ca_key).hint(format!(
        "{} is not the CA key `ota-server init` writes",
        ca_key_path.display()
    ))?;
    let issued = ca
        .issue_device(id, class)
        .hint("the id becomes the URI urn:fwsign:device:ID: use ASCII letters, digits, '-', '.' and '_'")?;
    if force {
        ota_server::init::write_replace(&key_path, &issued.key_pem, true)?;
        ota_server::init::write_replace(&cert_path, &issued.cert_pem, false)?;
    } else {
        ota_server::init::write_new(&key_path, &issued.key_pem, true)
            .hint("choose another --out, or pass --force to replace it")?;
        if let Err(e) = ota_server::init::write_new(&cert_path, &issued.cert_pem, false) {
            // Keep the pair together: a key without its certificate is of no use.
            let _ = std::fs::remove_file(&key_path);
            return Err(e).hint("choose another --out, or pass --force to replace it");
        }
    }
    eprintln!(
        "wrote {} (device certificate for {id}{}) and {} (its private key, mode 0600)",
        cert_path.display(),
        class.map(|c| format!(", class {c}")).unwrap_or_default(),
        key_path.display()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn every_option_has_help_and_every_command_has_examples() {
        cli_conventions::assert_documented(super::Cli::command());
    }

    #[test]
    fn output_prefix_keeps_its_dots() {
        let p = super::with_suffix(std::path::Path::new("certs/dev.0001"), "key");
        assert_eq!(p, std::path::Path::new("certs/dev.0001.key"));
    }
}
