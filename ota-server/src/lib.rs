//! `ota-server`: distributes signed releases to devices. It never signs and holds no private key.
//!
//! Layers (docs/ARCHITECTURE.md, "Inside ota-server"):
//! * [`http`] extracts and authenticates, calls [`service`] and [`domain`], maps results to JSON /
//!   stable error codes (and builds the API's views);
//! * [`service`] owns workflows (release ingest, device check-in and status reports, operator
//!   actions on devices, audited there; [`service::rollouts`], the engine in [`domain::rollout`]
//!   wired to the store and to device traffic) and returns typed errors;
//! * [`domain`] is policy without I/O (ingest checks, offer decision, rollout engine, roles) with
//!   the clock injected; ingest reads the image through an injected `FlashRead`;
//! * [`store`] is the only place SQL lives: one [`store::Store`] trait, SQLite and PostgreSQL;
//! * [`artifacts`] holds images, patches and envelopes content-addressed by SHA-256.

pub mod artifacts;
pub mod ca;
pub mod config;
pub mod domain;
pub mod http;
pub mod init;
pub mod metrics;
pub mod serve;
pub mod service;
pub mod store;
pub mod tls;

pub use config::Config;
pub use serve::{start, RunningServer};
