//! Persistence: one [`Store`] trait, SQLite ([`sqlite`]) and PostgreSQL ([`postgres`]).
//! This module tree is the only place SQL lives.

pub mod batch;
pub mod cache;
pub mod feed;
mod migrate;
pub mod postgres;
mod queries;
pub mod sqlite;
pub mod write_behind;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use ota_protocol::ErrorCode;

use crate::domain::auth::{Role, TokenRecord};
use crate::domain::certificates::{DeviceCertificate, EnrollmentGrant};
use crate::domain::ingest::VerifiedBundle;
use crate::domain::offer::Running;
use crate::domain::registration::{RegistrationEntry, RegistrationList};
use crate::domain::rollout::{DeviceRecord, DeviceStage, RecordEvent, Rollout};
use crate::domain::{Device, DeviceState, Millis, Release, Sha256};

/// A store failure. `Conflict` is a client-visible state conflict; the rest are internal.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("conflict: {0}")]
    Conflict(ErrorCode),
    #[error("database: {0}")]
    Backend(#[from] sqlx::Error),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// One check-in to record.
#[derive(Debug, Clone)]
pub struct CheckinRecord {
    pub id: String,
    pub class: Option<String>,
    pub running: Running,
    pub now: Millis,
}

/// One status report or lifecycle event of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceEvent {
    pub at_ms: Millis,
    pub status: String,
    pub release_id: Option<i64>,
    pub reason: Option<String>,
}

/// Who did what, when, with which result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at_ms: Millis,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub result: String,
}

/// A stored rollout: the engine's state plus what it rolls out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutRow {
    pub id: i64,
    /// Bumped by every stored change of `rollout` (compare and set: [`Store::update_rollout`]).
    pub version: i64,
    pub release_id: i64,
    pub name: String,
    pub rollout: Rollout,
    pub created_ms: Millis,
    pub updated_ms: Millis,
}

/// What [`Store::reserve_offer`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The record is stored: the device may be told.
    Stored,
    /// The rollout's version is no longer the one the decision was made on.
    Stale,
    /// The rollout has `max_in_flight` devices between offer and outcome.
    Full,
    /// The device already has a record (another replica offered it first).
    Exists(DeviceRecord),
}

/// One device-record event for [`Store::apply_record_events`]: rollout, device, event, when.
pub type RecordChange = (i64, String, RecordEvent, Millis);

/// What the rollout engine needs to know about a device of a class to size cohorts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassDevice {
    pub id: String,
    pub state: DeviceState,
    pub running_sequence: Option<u64>,
    pub tags: Vec<String>,
}

/// How many devices of a class run one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionCount {
    pub class: Option<String>,
    pub version: Option<String>,
    pub sequence: Option<u64>,
    pub digest: Option<Sha256>,
    pub devices: u64,
}

#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    async fn device(&self, id: &str) -> Result<Option<Device>>;
    /// Just-in-time registration: inserts an active device if unknown; returns the record.
    async fn register_device(&self, id: &str, class: Option<&str>, now: Millis) -> Result<Device>;
    /// Bulk registration (provisioning, benchmarks). Existing ids are left unchanged.
    async fn register_devices(&self, ids: &[String], class: &str, now: Millis) -> Result<()>;
    /// Stores what each device says it runs, its class if it had none, and `last_seen`, in one
    /// transaction (see [`batch::CheckinWriter`]).
    async fn record_checkins(&self, batch: &[CheckinRecord]) -> Result<()>;
    /// An operator's class assignment: sets the class, registering the device if new.
    async fn set_device_class(&self, id: &str, class: &str, now: Millis) -> Result<()>;
    /// Replaces the device's tags (valid, sorted, deduplicated by the caller). False if unknown.
    async fn set_device_tags(&self, id: &str, tags: &[String]) -> Result<bool>;
    /// Returns false if the device is unknown.
    async fn set_device_state(&self, id: &str, state: DeviceState) -> Result<bool>;
    async fn list_devices(&self, limit: i64, after: Option<&str>) -> Result<Vec<Device>>;
    async fn count_devices(&self) -> Result<i64>;
    async fn record_event(&self, id: &str, event: &DeviceEvent) -> Result<()>;
    /// Many events (of many devices) in one transaction, in order; each device's `last_status`
    /// becomes its last event's (see [`batch::CheckinWriter::record_event`]).
    async fn record_events(&self, events: &[(String, DeviceEvent)]) -> Result<()>;
    async fn device_events(&self, id: &str, limit: i64) -> Result<Vec<DeviceEvent>>;
    /// Deletes status history older than `before_ms` and all but the newest `keep_per_device`
    /// events of each device; returns how many rows went.
    async fn prune_device_events(&self, keep_per_device: i64, before_ms: Millis) -> Result<u64>;

    /// Highest sequence number stored for the class (0 if none).
    async fn max_sequence(&self, class_id: &str) -> Result<u64>;
    /// Stores a verified release atomically; `Conflict(ErrorCode::SEQUENCE_NOT_ABOVE_PREVIOUS)`
    /// unless its sequence is above every stored release of the class.
    async fn insert_release(&self, release: &VerifiedBundle, uploaded_by: &str, now: Millis) -> Result<Release>;
    async fn latest_release(&self, class_name: &str) -> Result<Option<Release>>;
    async fn release(&self, id: i64) -> Result<Option<Release>>;
    async fn list_releases(&self) -> Result<Vec<Release>>;
    /// Whether a release (of `class`, or of any class for `None`) references this artifact:
    /// a device downloads only the artifacts of its class's releases.
    async fn artifact_known(&self, digest: &Sha256, class: Option<&str>) -> Result<bool>;

    /// Creates a rollout (its engine state serialised beside it, version 0); returns its id.
    /// Download evidence: the server is about to send bytes `start..end` of a `size`-byte
    /// artifact to a device (stored before they are sent; see migration 0007).
    async fn record_download(
        &self,
        device_id: &str,
        digest: &Sha256,
        size: u64,
        start: u64,
        end: u64,
        now: Millis,
    ) -> Result<()>;
    /// Whether the device was served all of the release's image or of one of its patches.
    async fn fetched_release(&self, device_id: &str, release_id: i64) -> Result<bool>;
    /// Drops download evidence untouched since `before_ms`; returns how many rows went.
    async fn prune_downloads(&self, before_ms: Millis) -> Result<u64>;
    /// Registration lists (issue 16): adds entries (existing ids kept); returns how many were new.
    async fn add_registration_entries(&self, list: RegistrationList, entries: &[RegistrationEntry]) -> Result<u64>;
    async fn remove_registration_entry(&self, list: RegistrationList, device_id: &str) -> Result<bool>;
    async fn registration_entry(&self, list: RegistrationList, device_id: &str) -> Result<Option<RegistrationEntry>>;

    /// Records a certificate the issuing CA issued.
    async fn insert_certificate(&self, c: &DeviceCertificate) -> Result<()>;
    /// One certificate of a device, by serial.
    async fn device_certificate(&self, device_id: &str, serial: &str) -> Result<Option<DeviceCertificate>>;
    /// A device's certificates, newest first.
    async fn device_certificates(&self, device_id: &str, limit: i64) -> Result<Vec<DeviceCertificate>>;
    /// Revokes one serial of a device (recorded if the server never saw it), or all of its
    /// certificates; the device row lists what is revoked, and every
    /// replica drops the row before this returns. Returns how many were newly revoked.
    async fn revoke_certificates(
        &self,
        device_id: &str,
        serial: Option<&str>,
        reason: &str,
        now: Millis,
    ) -> Result<u64>;
    /// A request with a certificate that is not the device's current one: a re-enrolled
    /// certificate's first use makes it current and revokes the one it replaced from
    /// `now + grace_ms` on (the rotation's grace window). Returns whether the row changed.
    async fn certificate_used(&self, device_id: &str, serial: &str, now: Millis, grace_ms: Millis) -> Result<bool>;
    /// Issued certificates still in use that expire in `(now, until]`.
    async fn count_expiring_certificates(&self, now: Millis, until: Millis) -> Result<i64>;
    /// The CRL's entries: issued here, revoked by `now`, not expired at `now`.
    async fn revoked_issued_certificates(&self, now: Millis) -> Result<Vec<DeviceCertificate>>;
    async fn insert_enrollment_token(
        &self,
        token_hash: &str,
        grant: &EnrollmentGrant,
        created_ms: Millis,
        expires_ms: Millis,
        created_by: &str,
    ) -> Result<()>;
    /// Uses an enrolment token once; `None` if unknown, used or expired.
    async fn consume_enrollment_token(&self, token_hash: &str, now: Millis) -> Result<Option<EnrollmentGrant>>;
    /// A page in device-id order, after `after`.
    async fn list_registration_entries(
        &self,
        list: RegistrationList,
        limit: i64,
        after: Option<&str>,
    ) -> Result<Vec<RegistrationEntry>>;
    async fn insert_rollout(&self, release_id: i64, name: &str, rollout: &Rollout, now: Millis) -> Result<i64>;
    async fn list_rollouts(&self) -> Result<Vec<RolloutRow>>;
    async fn rollout(&self, id: i64) -> Result<Option<RolloutRow>>;
    /// `(id, version)` of every rollout: what a replica compares its cache with.
    async fn rollout_versions(&self) -> Result<Vec<(i64, i64)>>;
    /// Stores `rollout` if the stored version is still `expected` (and bumps it); false if
    /// another change came first.
    async fn update_rollout(&self, id: i64, expected: i64, rollout: &Rollout, now: Millis) -> Result<bool>;
    async fn rollout_devices(&self, rollout_id: i64) -> Result<Vec<DeviceRecord>>;
    /// Records per (stage index, stage), and how many of them have `penalty_after` failures
    /// or more: what every count is derived from.
    async fn rollout_counts(&self, rollout_id: i64, penalty_after: u32) -> Result<Vec<(usize, DeviceStage, u32, u32)>>;
    /// One device's records in these rollouts.
    async fn device_records(&self, device_id: &str, rollout_ids: &[i64]) -> Result<Vec<(i64, DeviceRecord)>>;
    /// A new offer, in one transaction: the rollout must still be at `version`, hold fewer
    /// than `max_in_flight` devices in flight, and the device no record yet.
    async fn reserve_offer(
        &self,
        rollout_id: i64,
        version: i64,
        record: &DeviceRecord,
        max_in_flight: u32,
    ) -> Result<Reservation>;
    /// Applies the events, in order, to the stored records (locked for the transaction);
    /// missing records are left alone.
    async fn apply_record_events(&self, events: &[RecordChange]) -> Result<()>;
    /// Devices of the rollout in flight with no change since `before` (the stall timer).
    /// Devices that claimed success without evidence (see [`Store::fetched_release`]), with
    /// how many such claims each made; at most `limit`, most recent first.
    async fn suspicious_devices(&self, rollout_id: i64, limit: i64) -> Result<Vec<(String, u32)>>;
    async fn stalled_devices(&self, rollout_id: i64, before: Millis) -> Result<Vec<String>>;
    /// Every device of a class (ids, state, committed sequence), for cohort sizes.
    async fn class_devices(&self, class: &str) -> Result<Vec<ClassDevice>>;
    /// Active devices grouped by class and running image.
    async fn fleet_versions(&self) -> Result<Vec<VersionCount>>;

    /// Stores a token by its hash; `expires_ms` `None` never expires.
    async fn insert_token(
        &self,
        name: &str,
        role: Role,
        hash: &Sha256,
        now: Millis,
        expires_ms: Option<Millis>,
    ) -> Result<TokenRecord>;
    async fn token_by_hash(&self, hash: &Sha256) -> Result<Option<TokenRecord>>;
    async fn list_tokens(&self) -> Result<Vec<TokenRecord>>;
    /// Marks the token revoked at `now` (kept, for the audit trail); `None` if there is none.
    async fn revoke_token(&self, id: i64, now: Millis) -> Result<Option<TokenRecord>>;
    /// Records the token's last accepted use.
    async fn touch_token(&self, id: i64, now: Millis) -> Result<()>;
    async fn count_tokens(&self) -> Result<i64>;

    async fn append_audit(&self, record: &AuditRecord) -> Result<()>;
    /// The audit records of `target` and of what lies under it (`target/...`), newest first.
    async fn audit_for(&self, target: &str, limit: i64) -> Result<Vec<AuditRecord>>;
    /// Decommissions an active device with a pending `factory_reset`, once (`false`: already
    /// done, or none pending); every replica drops the row before this returns.
    async fn claim_factory_reset(&self, id: &str) -> Result<bool>;
    /// Leaves a command for the device's next check-in (`None` clears it).
    async fn set_pending_command(&self, id: &str, command: Option<&str>) -> Result<bool>;
    async fn audit_log(&self, limit: i64) -> Result<Vec<AuditRecord>>;

    /// Tells the other replicas a rollout changed (PostgreSQL: NOTIFY; SQLite: nothing to tell).
    async fn announce_rollout(&self, id: i64) -> Result<()>;
    /// Rollout ids other replicas announced (`"resync"`: some may have been missed); `None` for
    /// a single-process store.
    fn rollout_changes(&self) -> Option<tokio::sync::broadcast::Receiver<String>>;
    /// Ids of devices whose state may have changed, on this replica or (PostgreSQL) another:
    /// what the connections of a device listen to, to close once it is revoked.
    fn device_state_changes(&self) -> tokio::sync::broadcast::Receiver<String>;

    async fn close(&self);
}

pub type SharedStore = Arc<dyn Store>;

/// Opens (creating and migrating) the store named by `url`: `sqlite://…` or `postgres://…`.
pub async fn open(url: &str) -> anyhow::Result<SharedStore> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::open(url).await?))
    } else {
        anyhow::bail!("database_url must start with sqlite:// or postgres://")
    }
}

pub(crate) fn to_i64(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Conflict(ErrorCode::VALUE_OUT_OF_RANGE))
}

pub(crate) fn to_u64(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative value {v}")))
}

pub(crate) fn digest(s: &str) -> Result<Sha256> {
    Sha256::parse_hex(s).ok_or_else(|| StoreError::Corrupt("bad digest".into()))
}
