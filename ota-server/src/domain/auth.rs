//! Admin roles and bearer tokens (stored as SHA-256 of the token; tokens are 256-bit random).

use base64::Engine as _;
use rand_core::{OsRng, RngCore as _};

use super::{Millis, Sha256};

/// What an admin token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    ReleaseManager,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::ReleaseManager => "release-manager",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "release-manager" => Some(Self::ReleaseManager),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// Roles are ordered: admin ⊇ release-manager ⊇ viewer.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

/// A token as the store keeps it (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub hash: Sha256,
    pub created_ms: Millis,
    /// After this the token is refused (`None`: never expires).
    pub expires_ms: Option<Millis>,
    /// When an admin revoked it; refused from then on.
    pub revoked_ms: Option<Millis>,
    /// Last accepted request (updated at most once a minute).
    pub last_used_ms: Option<Millis>,
}

/// Why a presented token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    Revoked,
    Expired,
}

impl TokenRecord {
    /// Whether the token may be used at `now`.
    pub fn check(&self, now: Millis) -> Result<(), TokenRefusal> {
        if self.revoked_ms.is_some() {
            return Err(TokenRefusal::Revoked);
        }
        match self.expires_ms {
            Some(at) if now >= at => Err(TokenRefusal::Expired),
            _ => Ok(()),
        }
    }
}

/// Default lifetime of a token with a role below admin, when the creator names none: 90 days.
/// (Admin tokens never expire unless asked: losing the last one locks operators out.)
pub const DEFAULT_TOKEN_LIFETIME_MS: Millis = 90 * 24 * 3600 * 1000;

/// Longest lifetime a token may be given: 10 years.
pub const MAX_TOKEN_LIFETIME_S: u64 = 10 * 365 * 24 * 3600;

/// When a new token of `role` expires: `expires_in_s` from `now` if given, else the default.
pub fn token_expiry(role: Role, expires_in_s: Option<u64>, now: Millis) -> Option<Millis> {
    match expires_in_s {
        Some(s) => Some(now.saturating_add(Millis::try_from(s.saturating_mul(1000)).unwrap_or(Millis::MAX))),
        None if role == Role::Admin => None,
        None => Some(now.saturating_add(DEFAULT_TOKEN_LIFETIME_MS)),
    }
}

/// Prefix that makes leaked tokens easy to find with secret scanners.
pub const TOKEN_PREFIX: &str = "ota_";

/// A new random token (returned once to the caller) and its hash (stored).
pub fn new_token() -> (String, Sha256) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = hash_token(&token);
    (token, hash)
}

pub fn hash_token(token: &str) -> Sha256 {
    Sha256::of(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Admin.allows(Role::ReleaseManager));
        assert!(Role::ReleaseManager.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::ReleaseManager));
        assert!(!Role::ReleaseManager.allows(Role::Admin));
    }

    #[test]
    fn token_hash_is_not_the_token() {
        let (t, h) = new_token();
        assert!(t.starts_with(TOKEN_PREFIX));
        assert_eq!(hash_token(&t), h);
        assert!(!t.contains(&h.hex()));
    }
}
