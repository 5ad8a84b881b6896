//! Pure policy: no I/O, no SQL; the clock is injected.

pub mod auth;
pub mod ingest;
pub mod offer;
pub mod status;

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

/// A verified, stored release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub id: i64,
    pub class_name: String,
    pub class_id: String,
    pub sequence: u64,
    pub version: String,
    pub envelope_digest: Sha256,
    pub envelope_size: u64,
    pub image_digest: Sha256,
    pub image_size: u64,
    pub patches: Vec<Patch>,
    pub created_ms: Millis,
    pub uploaded_by: String,
}
