//! `otactl`: the admin CLI of ota-server (see `otactl --help` and ota-server/README.md,
//! "Operating the server with otactl"). It speaks the admin API through the typed client
//! `ota_protocol::client::AdminClient` only. The library holds everything, so tests can check
//! the command-line definition; the binary is a thin shim.

#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod error;
pub mod output;

pub use error::{Error, ErrorKind, Result};
