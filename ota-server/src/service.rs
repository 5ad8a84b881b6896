//! Services: the server's workflows over [`domain`](crate::domain), [`store`](crate::store) and
//! [`artifacts`](crate::artifacts). They know nothing of HTTP; they return typed errors that
//! `http/error.rs` maps to status codes and stable error codes.

pub mod checkin;
pub mod devices;
pub mod downloads;
pub mod enrollment;
pub mod ingest;
pub mod registration;
pub mod rollouts;

use crate::domain::auth::Role;
use crate::domain::SharedClock;
use crate::store::{AuditRecord, SharedStore};

/// Who asks for an operator action: the audit actor and the token's role.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Token name and id, never the secret.
    pub actor: String,
    pub role: Role,
}

impl Caller {
    /// `Err(needed)` unless the caller's role includes `needed`.
    pub fn require(&self, needed: Role) -> Result<(), Role> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(needed)
        }
    }
}

/// Appends an audit record; a failure to audit is logged loudly (the action already happened).
pub async fn audit(store: &SharedStore, clock: &SharedClock, actor: &str, action: &str, target: &str, result: &str) {
    let record = AuditRecord {
        at_ms: clock.now_ms(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        result: result.to_owned(),
    };
    if let Err(e) = store.append_audit(&record).await {
        tracing::error!(error = %e, action, target, "audit write failed");
    }
    tracing::info!(actor, action, target, result, "audit");
}
