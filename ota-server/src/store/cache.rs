//! The newest release per class, cached for a short time: every check-in needs it, and it
//! changes only on ingest. Ingest on this replica invalidates at once; other replicas (sharing a
//! PostgreSQL database) see a new release within [`LATEST_TTL_MS`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Result, Store};
use crate::domain::{Millis, Release};

/// How long a cached answer is used.
pub const LATEST_TTL_MS: Millis = 1_000;

type Entry = (Millis, Option<Arc<Release>>);

#[derive(Debug, Default)]
pub struct LatestReleases {
    map: Mutex<HashMap<String, Entry>>,
}

impl LatestReleases {
    pub async fn get(&self, store: &dyn Store, class: &str, now: Millis) -> Result<Option<Arc<Release>>> {
        if let Ok(map) = self.map.lock() {
            if let Some((at, release)) = map.get(class) {
                if now.saturating_sub(*at) < LATEST_TTL_MS && now >= *at {
                    return Ok(release.clone());
                }
            }
        }
        let release = store.latest_release(class).await?.map(Arc::new);
        if let Ok(mut map) = self.map.lock() {
            map.insert(class.to_owned(), (now, release.clone()));
        }
        Ok(release)
    }

    pub fn invalidate(&self) {
        if let Ok(mut map) = self.map.lock() {
            map.clear();
        }
    }
}

/// Entries kept before the device cache is emptied (≈ 300 B each).
const MAX_DEVICES: usize = 2_000_000;

/// Device changes held for a subscriber that is behind (it then re-checks its device anyway).
const STATE_CHANGES_BUFFERED: usize = 256;

/// Ids forgotten while the cache is complete, before it stops claiming to be.
const MAX_UNKNOWN: usize = 1_000_000;

fn wall_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX))
}

/// What the cache knows of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Hit(Box<crate::domain::Device>),
    /// No such device: the cache holds every row of the table (SQLite, preloaded).
    Absent,
    /// Read the row.
    Unknown,
}

#[derive(Debug, Default)]
struct Entries {
    /// Bumped by every invalidation: a row read before an invalidation must not be cached
    /// after it (it might say "active" for a device just revoked).
    epoch: u64,
    rows: HashMap<String, crate::domain::Device>,
    /// Every row of the table is in `rows`, except the ids in `unknown` (forgotten since, to be
    /// read again): a miss then means "no such device", with no read.
    complete: bool,
    unknown: std::collections::HashSet<String>,
}

impl Entries {
    fn forget(&mut self, id: &str) {
        self.epoch = self.epoch.wrapping_add(1);
        self.rows.remove(id);
        self.mark_unknown(id);
    }

    fn mark_unknown(&mut self, id: &str) {
        if self.complete {
            if self.unknown.len() >= MAX_UNKNOWN {
                self.complete = false;
                self.unknown.clear();
            } else {
                self.unknown.insert(id.to_owned());
            }
        }
    }
}

/// Cache of device rows, so a device request reads no row (revocation is checked against it).
///
/// SQLite: write-through, always valid (the process is the database file's only writer), and
/// preloaded at open, so a miss is an answer too (first contact of a device reads nothing).
/// PostgreSQL: valid only under a *lease* that the replica's change feed keeps extending while
/// its listener is connected and its heartbeat is stored (`store/feed.rs`): every replica drops
/// a revoked device before the revoking call returns, and a replica that cannot hear or be heard
/// stops using its cache before the others stop waiting for it.
#[derive(Debug)]
pub struct DeviceCache {
    enabled: bool,
    /// Wall-clock ms until which entries may be used (`i64::MAX`: always).
    lease_until: std::sync::atomic::AtomicI64,
    /// Bumped by every [`DeviceCache::clear`] (a replica warms its cache again after one).
    generation: std::sync::atomic::AtomicU64,
    entries: Mutex<Entries>,
    /// Ids of devices whose state may have changed (a revocation on this replica, or any
    /// device change another replica announced): open connections of the device re-check it.
    state_changes: tokio::sync::broadcast::Sender<String>,
}

impl DeviceCache {
    /// An always-valid cache (`enabled`) or none.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            lease_until: std::sync::atomic::AtomicI64::new(Millis::MAX),
            generation: std::sync::atomic::AtomicU64::new(0),
            entries: Mutex::new(Entries::default()),
            state_changes: tokio::sync::broadcast::channel(STATE_CHANGES_BUFFERED).0,
        }
    }

    /// A cache that holds nothing until [`DeviceCache::extend_lease`].
    pub fn leased() -> Self {
        Self {
            enabled: true,
            lease_until: std::sync::atomic::AtomicI64::new(0),
            generation: std::sync::atomic::AtomicU64::new(0),
            entries: Mutex::new(Entries::default()),
            state_changes: tokio::sync::broadcast::channel(STATE_CHANGES_BUFFERED).0,
        }
    }

    /// Entries may be used now (enabled, and under a lease).
    pub fn usable(&self) -> bool {
        self.enabled && wall_ms() < self.lease_until.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Entries may be used until `until` (wall-clock ms).
    pub fn extend_lease(&self, until: Millis) {
        self.lease_until.store(until, std::sync::atomic::Ordering::Release);
    }

    /// Ends the lease and forgets everything (notifications may have been missed).
    pub fn end_lease(&self) {
        self.lease_until.store(0, std::sync::atomic::Ordering::Release);
        self.clear();
    }

    /// How many times the cache was cleared.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Forgets every entry (and that the cache was complete).
    pub fn clear(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        if let Ok(mut e) = self.entries.lock() {
            e.epoch = e.epoch.wrapping_add(1);
            e.rows.clear();
            e.complete = false;
            e.unknown.clear();
        }
    }

    /// The epoch to pass to [`DeviceCache::put`]; take it before reading the row.
    pub fn epoch(&self) -> u64 {
        self.entries.lock().map(|e| e.epoch).unwrap_or(u64::MAX)
    }

    pub fn get(&self, id: &str) -> Option<crate::domain::Device> {
        match self.lookup(id) {
            Lookup::Hit(d) => Some(*d),
            Lookup::Absent | Lookup::Unknown => None,
        }
    }

    pub fn lookup(&self, id: &str) -> Lookup {
        if !self.usable() {
            return Lookup::Unknown;
        }
        let Ok(e) = self.entries.lock() else {
            return Lookup::Unknown;
        };
        match e.rows.get(id) {
            Some(d) => Lookup::Hit(Box::new(d.clone())),
            None if e.complete && !e.unknown.contains(id) => Lookup::Absent,
            None => Lookup::Unknown,
        }
    }

    /// Whether a miss means "no such device" (see [`DeviceCache::mark_complete`]).
    pub fn is_complete(&self) -> bool {
        self.usable() && self.entries.lock().is_ok_and(|e| e.complete)
    }

    /// Every row of the table was `put` since `epoch` (the caller read them all, as the only
    /// writer): from now on a miss is an answer. Refused if anything was invalidated meanwhile.
    pub fn mark_complete(&self, epoch: u64) -> bool {
        let Ok(mut e) = self.entries.lock() else {
            return false;
        };
        if !self.enabled || e.epoch != epoch || e.rows.len() >= MAX_DEVICES {
            return false;
        }
        e.complete = true;
        e.unknown.clear();
        true
    }

    /// Caches a row read at `epoch`, unless something was invalidated since (then, if the
    /// cache is complete, the row is read again next time).
    pub fn put(&self, epoch: u64, device: &crate::domain::Device) {
        if !self.usable() {
            return;
        }
        if let Ok(mut e) = self.entries.lock() {
            if e.epoch != epoch {
                e.mark_unknown(&device.id);
                return;
            }
            if e.rows.len() >= MAX_DEVICES {
                e.rows.clear();
                e.complete = false;
                e.unknown.clear();
            }
            e.unknown.remove(&device.id);
            e.rows.insert(device.id.clone(), device.clone());
        }
    }

    pub fn forget(&self, id: &str) {
        if self.enabled {
            if let Ok(mut e) = self.entries.lock() {
                e.forget(id);
            }
        }
    }

    /// After a committed change of `id`'s state: forgets the row and tells the subscribers.
    pub fn state_changed(&self, id: &str) {
        self.forget(id);
        // No subscriber (no open connection) is not an error.
        let _ = self.state_changes.send(id.to_owned());
    }

    /// Ids passed to [`DeviceCache::state_changed`] from now on.
    pub fn subscribe_state_changes(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.state_changes.subscribe()
    }

    /// Mirrors a committed check-in (same effect as the UPDATE).
    pub fn apply_checkin(&self, c: &super::CheckinRecord) {
        if !self.enabled {
            return;
        }
        if let Ok(mut e) = self.entries.lock() {
            if let Some(d) = e.rows.get_mut(&c.id) {
                d.last_seen_ms = c.now;
                d.running_digest = Some(c.running.digest);
                d.running_version = c.running.version.clone();
                d.running_sequence = Some(c.running.sequence);
                if d.class.is_none() {
                    d.class = c.class.clone();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Device, DeviceState};

    fn device(state: DeviceState) -> Device {
        Device {
            id: "d".into(),
            class: None,
            state,
            registered_ms: 0,
            last_seen_ms: 0,
            running_digest: None,
            running_version: None,
            running_sequence: None,
            last_status: None,
            tags: vec![],
            revoked_serials: vec![],
            current_serial: None,
            pending_command: None,
        }
    }

    #[test]
    fn stale_read_is_not_cached_after_revocation() {
        let cache = DeviceCache::new(true);
        let epoch = cache.epoch();
        // A revocation lands between the reader's SELECT and its put.
        cache.forget("d");
        cache.put(epoch, &device(DeviceState::Active));
        assert_eq!(cache.get("d"), None);
        cache.put(cache.epoch(), &device(DeviceState::Revoked));
        assert_eq!(cache.get("d").unwrap().state, DeviceState::Revoked);
    }

    #[test]
    fn leased_cache_holds_nothing_without_a_lease() {
        let cache = DeviceCache::leased();
        cache.put(cache.epoch(), &device(DeviceState::Active));
        assert_eq!(cache.get("d"), None);
        cache.extend_lease(wall_ms() + 60_000);
        cache.put(cache.epoch(), &device(DeviceState::Active));
        assert!(cache.get("d").is_some());
        // The lease ends (listener lost): nothing is served, and nothing survives a new lease.
        cache.end_lease();
        assert_eq!(cache.get("d"), None);
        cache.extend_lease(wall_ms() + 60_000);
        assert_eq!(cache.get("d"), None);
    }

    /// A complete (preloaded) cache answers a miss as "no such device", except for a device
    /// forgotten since (changed in the database: read it again) or one whose read raced an
    /// invalidation.
    #[test]
    fn complete_cache_answers_misses_but_rereads_what_changed() {
        let cache = DeviceCache::new(true);
        let epoch = cache.epoch();
        cache.put(epoch, &device(DeviceState::Active));
        assert!(cache.mark_complete(epoch));
        assert_eq!(cache.lookup("other"), Lookup::Absent);
        assert!(matches!(cache.lookup("d"), Lookup::Hit(_)));
        // Revoked in the database: the next lookup reads the row.
        cache.forget("d");
        assert_eq!(cache.lookup("d"), Lookup::Unknown);
        cache.put(cache.epoch(), &device(DeviceState::Revoked));
        assert_eq!(cache.get("d").unwrap().state, DeviceState::Revoked);
        // A read that raced an invalidation is not cached, and not taken for "absent" either.
        let stale = cache.epoch();
        cache.forget("x");
        let mut racing = device(DeviceState::Active);
        racing.id = "new".into();
        cache.put(stale, &racing);
        assert_eq!(cache.lookup("new"), Lookup::Unknown);
        // Cleared (a lost listener, PostgreSQL): no longer complete.
        cache.clear();
        assert_eq!(cache.lookup("other"), Lookup::Unknown);
        // Preloading that raced an invalidation is not complete.
        let epoch = cache.epoch();
        cache.forget("y");
        assert!(!cache.mark_complete(epoch));
    }

    #[test]
    fn disabled_cache_holds_nothing() {
        let cache = DeviceCache::new(false);
        cache.put(cache.epoch(), &device(DeviceState::Active));
        assert_eq!(cache.get("d"), None);
    }
}
