//! Write-behind for rollout device records, so the rollout lock is never held across a database
//! write on the hot path (offers and status reports).
//!
//! Records are handed over while the lock is held, so the writer sees each device's changes in
//! order; it coalesces per (rollout, device) — the last state wins — and commits one
//! transaction per rollout per flush. Transitions (pause, promotion, completion, operator
//! actions) are rare: they [`RecordWriter::flush`] first and then store the rollout's state
//! synchronously, so a stored transition never runs ahead of the records that caused it.
//!
//! Durability: graceful shutdown flushes ([`RolloutService::flush`](super::RolloutService::flush));
//! a crash loses at most the records of the last flush interval. Counts are derived from stored
//! records on start, so a lost record is a device counted one step behind (its next report or
//! check-in moves it on), never a device counted twice.

use std::time::Duration;

use crate::domain::rollout::DeviceRecord;
use crate::domain::Millis;
use crate::store::write_behind::{Limits, WriteBehind};
use crate::store::{SharedStore, StoreError};

/// Most records committed per flush.
const MAX_BATCH: usize = 2048;
/// Records handed over but not yet written before senders wait.
const MAX_PENDING: usize = 8 * MAX_BATCH;
/// Longest a record waits to be written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(10);

/// A device record of a rollout, and when it changed.
type Item = (i64, DeviceRecord, Millis);

/// Hands device records to the background writer ([`WriteBehind`], coalesced per
/// (rollout, device)). Cheap to clone.
#[derive(Debug, Clone)]
pub struct RecordWriter {
    inner: WriteBehind<Item>,
}

impl RecordWriter {
    pub fn spawn(store: SharedStore) -> Self {
        let limits = Limits {
            max_batch: MAX_BATCH,
            max_pending: MAX_PENDING,
            flush_interval: FLUSH_INTERVAL,
            name: "rollout record writer",
            failed: "rollout record write",
        };
        let key = |(rollout, record, _): &Item| Some((*rollout, record.device_id.clone()));
        let inner = WriteBehind::spawn(limits, key, move |batch| write(store.clone(), batch));
        Self { inner }
    }

    /// Queues a record of `rollout` (returns once the writer has it, not when it is stored).
    pub async fn record(&self, rollout: i64, record: DeviceRecord, now: Millis) -> Result<(), StoreError> {
        self.inner.record((rollout, record, now)).await
    }

    /// Stores every record queued before this call.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush().await
    }
}

/// One transaction per rollout.
async fn write(store: SharedStore, batch: Vec<Item>) -> Result<(), StoreError> {
    let mut by_rollout: Vec<(i64, Vec<&DeviceRecord>, Millis)> = Vec::new();
    for (rollout, record, at) in &batch {
        match by_rollout.iter_mut().find(|(id, _, _)| id == rollout) {
            Some((_, records, now)) => {
                records.push(record);
                *now = (*now).max(*at);
            }
            None => by_rollout.push((*rollout, vec![record], *at)),
        }
    }
    let mut result = Ok(());
    for (rollout, records, now) in by_rollout {
        if let Err(e) = store.save_rollout(rollout, None, &records, now).await {
            // Devices report again (and check in with what they run); the next change of
            // each of these devices rewrites its row.
            tracing::error!(error = %e, rollout, records = records.len(), "rollout record write failed");
            result = Err(e);
        }
    }
    result
}
