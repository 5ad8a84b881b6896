//! `ota-protocol`: the ota-server API as serde types, in one copy for everything that speaks it
//! — the server (`ota-server`), simulated and real devices (`fleet-sim`), the admin CLI, the
//! demo and the tests — so a change that breaks a peer is a compile error, not a silent drift.
//!
//! * [`device`] — the device API (mutual TLS): check-in, status reports, artifact links, and why
//!   nothing is offered ([`device::NoUpdateReason`]);
//! * [`admin`] — releases, devices, tokens, the audit log (bearer tokens with roles);
//! * [`rollouts`] — staged rollouts (create, plan, actions, the view with its counts) and the
//!   fleet view;
//! * [`error`] — the error body every endpoint answers with and its stable codes;
//! * `client` (feature `client`) — a typed admin client on reqwest with rustls.
//!
//! The wire format is the contract with devices in the field (ota-server/README.md, "API"):
//! field names and enum spellings never change. Requests refuse unknown fields; responses may
//! gain fields, which older peers ignore. Names a newer peer may add to (no-update reasons,
//! error codes, states) are [wire names](names): unknown values stay representable.
//!
//! Feature `utoipa` derives OpenAPI schemas for every type (the server's `/api/v1/openapi.json`).

#![forbid(unsafe_code)]

pub mod admin;
#[cfg(feature = "client")]
pub mod client;
pub mod device;
pub mod error;
pub mod names;
pub mod rollouts;

pub use error::{ErrorBody, ErrorCode, ErrorDetail};
