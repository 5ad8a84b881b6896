//! Services: the server's workflows over [`domain`](crate::domain), [`store`](crate::store) and
//! [`artifacts`](crate::artifacts). They know nothing of HTTP; they return typed errors that
//! `http/error.rs` maps to status codes and stable error codes.

pub mod checkin;
pub mod ingest;
