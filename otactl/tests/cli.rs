//! `otactl` as an operator meets it, against a real `ota-server` (TLS on 127.0.0.1, SQLite, set up
//! by `ota-server init`), with releases cut by the signer library and devices checking in over
//! mutual TLS. Every test runs the binary and reads its exit status, stdout and stderr.

#[path = "cli/harness.rs"]
mod harness;

#[path = "cli/config.rs"]
mod config;
#[path = "cli/devices.rs"]
mod devices;
#[path = "cli/help.rs"]
mod help;
#[path = "cli/releases.rs"]
mod releases;
#[path = "cli/rollouts.rs"]
mod rollouts;
#[path = "cli/tokens_and_audit.rs"]
mod tokens_and_audit;
