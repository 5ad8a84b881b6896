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

/// Write-through cache of device rows, for a store that is the database's only writer
/// (SQLite: one server process per file). Disabled for PostgreSQL, where another replica may
/// revoke a device and every request must see it.
#[derive(Debug)]
pub struct DeviceCache {
    enabled: bool,
    /// The map and an epoch bumped by every invalidation: a row read before an invalidation
    /// must not be cached after it (it might say "active" for a device just revoked).
    map: Mutex<(u64, HashMap<String, crate::domain::Device>)>,
}

impl DeviceCache {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            map: Mutex::new((0, HashMap::new())),
        }
    }

    /// The epoch to pass to [`DeviceCache::put`]; take it before reading the row.
    pub fn epoch(&self) -> u64 {
        self.map.lock().map(|m| m.0).unwrap_or(u64::MAX)
    }

    pub fn get(&self, id: &str) -> Option<crate::domain::Device> {
        if !self.enabled {
            return None;
        }
        self.map.lock().ok()?.1.get(id).cloned()
    }

    /// Caches a row read at `epoch`, unless something was invalidated since.
    pub fn put(&self, epoch: u64, device: &crate::domain::Device) {
        if !self.enabled {
            return;
        }
        if let Ok(mut guard) = self.map.lock() {
            let (current, map) = &mut *guard;
            if *current != epoch {
                return;
            }
            if map.len() >= MAX_DEVICES {
                map.clear();
            }
            map.insert(device.id.clone(), device.clone());
        }
    }

    pub fn forget(&self, id: &str) {
        if self.enabled {
            if let Ok(mut guard) = self.map.lock() {
                guard.0 = guard.0.wrapping_add(1);
                guard.1.remove(id);
            }
        }
    }

    /// Mirrors a committed check-in (same effect as the UPDATE).
    pub fn apply_checkin(&self, c: &super::CheckinRecord) {
        if !self.enabled {
            return;
        }
        if let Ok(mut guard) = self.map.lock() {
            if let Some(d) = guard.1.get_mut(&c.id) {
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
    fn disabled_cache_holds_nothing() {
        let cache = DeviceCache::new(false);
        cache.put(cache.epoch(), &device(DeviceState::Active));
        assert_eq!(cache.get("d"), None);
    }
}
