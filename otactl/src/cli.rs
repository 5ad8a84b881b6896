//! Command line: one module per subcommand, each with examples in its `--help`.

mod audit;
mod config;
mod device;
mod fleet;
mod registration;
mod release;
mod rollout;
mod token;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use ota_protocol::client::AdminClient;

use crate::config::{Overrides, Settings};
use crate::error::{Error, Result};

const AFTER_HELP: &str = "\
Examples:
  otactl config init --url https://localhost:8443 --ca srv/tls/fleet-ca.pem --token-file admin.token
  otactl release upload release-1.1.0
  otactl rollout create --release 1 --stages 1,10,50,100 --soak 1h --approval-last
  otactl rollout status 1 --watch
  otactl rollout pause 1
  otactl device list --state active
  otactl audit --limit 20

Settings: flags, then the environment (OTACTL_URL, OTACTL_CA, OTACTL_TOKEN_FILE, OTACTL_TOKEN),
then the config file (--config, else $XDG_CONFIG_HOME/otactl/config.toml or
~/.config/otactl/config.toml). The token is never taken from the command line; a file holding it
must be readable by its owner only (chmod 600).

Output: text for people (tables for lists) on stdout, notes on stderr; --json prints exactly one
JSON document on stdout instead.

Exit status: 0 success, 1 the server refused the request (its stable code is shown, e.g.
`error: rollout_exists: ...`), 2 usage, configuration or transport error.";

#[derive(Debug, Parser)]
#[command(
    name = "otactl",
    version,
    about = "Operate an ota-server: releases, rollouts, devices, tokens, the fleet and the audit log",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Config file [default: $XDG_CONFIG_HOME/otactl/config.toml, else ~/.config/otactl/config.toml].
    #[arg(long, value_name = "FILE", global = true, help_heading = "Global options")]
    pub config: Option<PathBuf>,
    /// Server base URL, e.g. https://localhost:8443 [env: OTACTL_URL].
    #[arg(long, value_name = "URL", global = true, help_heading = "Global options")]
    pub url: Option<String>,
    /// PEM file of the CA that issued the server's certificate [env: OTACTL_CA].
    #[arg(long, value_name = "FILE", global = true, help_heading = "Global options")]
    pub ca: Option<PathBuf>,
    /// File holding the bearer token, mode 0600 [env: OTACTL_TOKEN_FILE; or OTACTL_TOKEN holds the token].
    #[arg(
        long = "token-file",
        value_name = "FILE",
        global = true,
        help_heading = "Global options"
    )]
    pub token_file: Option<PathBuf>,
    /// Print exactly one JSON document on stdout instead of text.
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write or show otactl's configuration (server URL, CA certificate, token file).
    Config(config::Args),
    /// Upload signed releases and look at the stored ones.
    Release(release::Args),
    /// Create, watch and steer staged rollouts.
    Rollout(rollout::Args),
    /// List, inspect, tag, classify, revoke and decommission devices.
    Device(device::Args),
    /// Make API tokens.
    Token(token::Args),
    /// Who may register on first contact: the allow and deny lists (admin).
    Registration(registration::Args),
    /// What the active devices run, per class and version.
    Fleet(fleet::Args),
    /// The audit log: every mutating admin call, refused ones included (admin).
    Audit(audit::Args),
}

/// What every command gets: the settings in effect and the output mode.
#[derive(Debug)]
pub struct Context {
    pub overrides: Overrides,
    pub json: bool,
}

impl Context {
    /// The admin client from flags, environment and config file.
    pub fn client(&self) -> Result<AdminClient> {
        Settings::resolve(&self.overrides)?.client()
    }
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let ctx = Context {
        overrides: Overrides {
            config: cli.config,
            url: cli.url,
            ca: cli.ca,
            token_file: cli.token_file,
        },
        json: cli.json,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the async runtime", &e))?;
    runtime.block_on(async {
        match cli.command {
            Command::Config(args) => config::run(&ctx, args),
            Command::Release(args) => release::run(&ctx, args).await,
            Command::Rollout(args) => rollout::run(&ctx, args).await,
            Command::Device(args) => device::run(&ctx, args).await,
            Command::Token(args) => token::run(&ctx, args).await,
            Command::Registration(args) => registration::run(&ctx, args).await,
            Command::Fleet(args) => fleet::run(&ctx, args).await,
            Command::Audit(args) => audit::run(&ctx, args).await,
        }
    })
}

/// A comma-separated list value (`--tags a,b`): trimmed, empty items dropped.
pub(crate) fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
