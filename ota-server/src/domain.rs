//! Policy without I/O: no network, no SQL, no files; the clock is injected, and ingest's image
//! check reads the staged image through an injected `device-verifier` `FlashRead`.

pub mod auth;
pub mod certificates;
pub mod ingest;
pub mod offer;
pub mod registration;
pub mod rollout;

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// The injected clock.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now_ms(&self) -> Millis;
}

/// Wall-clock time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

pub type SharedClock = Arc<dyn Clock>;

/// A SHA-256 digest (artifact address).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        Self(sha2::Sha256::digest(bytes).into())
    }

    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 lowercase or uppercase hex digits.
    pub fn parse_hex(s: &str) -> Option<Self> {
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({})", self.hex())
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

/// Lifecycle of a device record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceState {
    Active,
    Revoked,
    Decommissioned,
}

impl DeviceState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Revoked => "revoked",
            Self::Decommissioned => "decommissioned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "revoked" => Some(Self::Revoked),
            "decommissioned" => Some(Self::Decommissioned),
            _ => None,
        }
    }
}

/// A registered device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub class: Option<String>,
    pub state: DeviceState,
    pub registered_ms: Millis,
    pub last_seen_ms: Millis,
    pub running_digest: Option<Sha256>,
    pub running_version: Option<String>,
    pub running_sequence: Option<u64>,
    pub last_status: Option<String>,
    /// Groups a rollout can target (see [`valid_tag`]), sorted.
    pub tags: Vec<String>,
    /// Serials of the device's certificates that are revoked and not yet expired: a request
    /// made with one of them is refused like a revoked device's (`domain::certificates`).
    pub revoked_serials: Vec<certificates::SerialRevocation>,
    /// The newest certificate the device has used (its serial); a request with another one
    /// looks it up (a rotation's first use).
    pub current_serial: Option<String>,
    /// A command for the device's next check-in ([`FACTORY_RESET`]), if an operator left one.
    pub pending_command: Option<String>,
}

/// The command a decommissioning leaves for the device's next check-in: erase its credentials,
/// keys and data. The device is decommissioned (and its certificates revoked) once it was sent.
pub const FACTORY_RESET: &str = "factory_reset";

/// A device tag: 1–32 of `a-z 0-9 . _ -`.
pub fn valid_tag(tag: &str) -> bool {
    (1..=32).contains(&tag.len())
        && tag
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
}

/// Checks, sorts and deduplicates tags (at most 32, each [`valid_tag`]); `None` if invalid.
pub fn normalize_tags(mut tags: Vec<String>) -> Option<Vec<String>> {
    if tags.len() > 32 || !tags.iter().all(|t| valid_tag(t)) {
        return None;
    }
    tags.sort();
    tags.dedup();
    Some(tags)
}

/// What a client is told when [`normalize_tags`] refuses.
pub const TAGS_RULE: &str = "tags: at most 32, each 1-32 of a-z 0-9 . _ -";

/// Tags as stored: comma-separated.
pub fn parse_tags(stored: &str) -> Vec<String> {
    stored.split(',').filter(|t| !t.is_empty()).map(str::to_owned).collect()
}

/// A delta patch stored with a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    pub format: u64,
    pub base_digest: Sha256,
    pub base_size: u64,
    pub digest: Sha256,
    pub size: u64,
}

/// What verifying a release establishes (see [`ingest::VerifiedBundle`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFacts {
    pub class_name: String,
    pub class_id: String,
    pub sequence: u64,
    pub version: String,
    pub envelope_digest: Sha256,
    pub envelope_size: u64,
    pub image_digest: Sha256,
    pub image_size: u64,
    pub patches: Vec<Patch>,
}

/// A verified, stored release: its verified facts, and who stored it when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub id: i64,
    pub facts: ReleaseFacts,
    pub created_ms: Millis,
    pub uploaded_by: String,
}

/// `last_seen` is kept to this resolution: an unchanged check-in within it writes nothing.
pub const LAST_SEEN_RESOLUTION_MS: Millis = 30_000;

impl Device {
    /// The device's class: an operator's assignment, else the one its certificate names
    /// (`cert_class`). Never one the device chose (issue 15: class from certificate only).
    pub fn class_with<'a>(&'a self, cert_class: Option<&'a str>) -> Option<&'a str> {
        self.class.as_deref().or(cert_class)
    }

    /// Whether a check-in reporting `running` (and `class`) at `now` changes the stored record.
    pub fn checkin_changes(&self, running: &offer::Running, class: &str, now: Millis) -> bool {
        self.running_digest != Some(running.digest)
            || self.running_version != running.version
            || self.running_sequence != Some(running.sequence)
            || self.class.as_deref() != Some(class)
            || now.saturating_sub(self.last_seen_ms) >= LAST_SEEN_RESOLUTION_MS
    }
}

#[cfg(test)]
mod tests {
    use super::offer::Running;
    use super::*;

    #[test]
    fn unchanged_recent_checkin_writes_nothing() {
        let running = Running {
            digest: Sha256([1; 32]),
            version: Some("1".into()),
            sequence: 3,
        };
        let mut d = Device {
            id: "d".into(),
            class: Some("c".into()),
            state: DeviceState::Active,
            registered_ms: 0,
            last_seen_ms: 1_000,
            running_digest: Some(running.digest),
            running_version: running.version.clone(),
            running_sequence: Some(3),
            last_status: None,
            tags: vec![],
            revoked_serials: vec![],
            current_serial: None,
            pending_command: None,
        };
        assert!(!d.checkin_changes(&running, "c", 1_000 + LAST_SEEN_RESOLUTION_MS - 1));
        assert!(d.checkin_changes(&running, "c", 1_000 + LAST_SEEN_RESOLUTION_MS));
        assert!(d.checkin_changes(&running, "other", 1_001));
        d.running_sequence = Some(2);
        assert!(d.checkin_changes(&running, "c", 1_001));
    }
}
