//! `ota-server`: distributes signed releases to devices. It never signs and holds no private key.
//!
//! Layers (DESIGN.md house style):
//! * [`http`] extracts and authenticates, calls [`domain`], maps results to JSON / stable error codes;
//! * [`domain`] is pure policy (ingest checks, offer decision, roles) with the clock injected;
//! * [`store`] is the only place SQL lives: one [`store::Store`] trait, SQLite and PostgreSQL;
//! * [`artifacts`] holds images, patches and envelopes content-addressed by SHA-256.

pub mod artifacts;
pub mod config;
pub mod domain;
pub mod http;
pub mod init;
pub mod metrics;
pub mod rollouts;
pub mod serve;
pub mod sim;
pub mod store;
pub mod tls;

pub use config::Config;
pub use serve::{start, RunningServer};
