//! Admin roles and bearer tokens (stored as SHA-256 of the token; tokens are 256-bit random).

use base64::Engine as _;
use rand_core::{OsRng, RngCore as _};

use super::Sha256;

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
