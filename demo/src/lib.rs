//! `ota-demo`: the product's main job on one machine, end to end, on development defaults —
//! keys and CA generated, v1 → v2 → v3 signed with deltas, `ota-server` on SQLite over mutual
//! TLS, a simulated fleet running `device-verifier` on every download, and two staged
//! rollouts (a good one to 100%, a bad one paused by its canary).
//!
//! With `--replicas N` the server is N replicas sharing PostgreSQL and an S3 bucket behind a
//! round-robin TCP front ([`front`]), as a multi-replica deployment runs.
//!
//! [`world`] is also the end-to-end rollout test's world (`demo/tests/rollout_e2e.rs`).
//! This crate holds private keys; `ota-server` never does.

pub mod firmware;
pub mod front;
pub mod scenario;
pub mod world;
