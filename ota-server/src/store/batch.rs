//! Write-behind for check-ins: a check-in's "last seen / running image" update is handed to a
//! background writer and the device gets its answer without waiting for the database. The writer
//! coalesces per device (the last report wins) and commits one transaction per flush: when
//! [`MAX_BATCH`] rows are pending or the flush interval (`limits.checkin_flush_ms`) has passed
//! since the oldest pending row, whichever comes first.
//!
//! Durability (README "Check-in durability"):
//! * a check-in that sets the device's class for the first time waits for its commit
//!   ([`CheckinWriter::record_durable`]) — the class decides what the device is offered;
//! * [`CheckinWriter::flush`] commits everything handed over so far; graceful shutdown calls it
//!   before closing the store, and admin device reads call it (read-your-writes on this replica);
//! * a crash loses at most the pending rows: normally one flush interval of check-ins, never more
//!   than the channel capacity ([`MAX_PENDING`]; handlers wait when it is full).
//!
//! Revocation is unaffected: check-in writes never touch `state`, and every request still reads
//! the device's state from the store (PostgreSQL) or its write-through cache (SQLite).

use std::time::Duration;

use super::write_behind::{Limits, WriteBehind};
use super::{CheckinRecord, DeviceEvent, Result, SharedStore};

/// Most check-ins committed in one transaction.
pub const MAX_BATCH: usize = 1024;
/// Check-ins handed over but not yet written, before handlers wait for the writer.
pub const MAX_PENDING: usize = 8 * MAX_BATCH;

#[derive(Debug)]
enum Item {
    Checkin(CheckinRecord),
    /// A device's status report, for its history.
    Event(String, DeviceEvent),
}

/// Hands check-ins to a background writer ([`WriteBehind`]). Cheap to clone.
#[derive(Debug, Clone)]
pub struct CheckinWriter {
    inner: WriteBehind<Item>,
}

impl CheckinWriter {
    /// Spawns the writer task on the current runtime; it ends when every sender is dropped
    /// (after writing what it holds). `flush_interval`: longest a check-in waits to be written.
    pub fn spawn(store: SharedStore, flush_interval: Duration) -> Self {
        let limits = Limits {
            max_batch: MAX_BATCH,
            max_pending: MAX_PENDING,
            flush_interval,
            name: "check-in writer",
            failed: "batched check-in write",
        };
        // Not coalesced here: `record_checkins` keeps the last report of each device.
        let inner = WriteBehind::spawn(limits, |_: &Item| None::<()>, move |batch| write(store.clone(), batch));
        Self { inner }
    }

    /// Records one check-in write-behind: returns once the writer has it (not yet committed).
    pub async fn record(&self, record: CheckinRecord) -> Result<()> {
        self.inner.record(Item::Checkin(record)).await
    }

    /// Records one check-in and resolves once it is committed.
    pub async fn record_durable(&self, record: CheckinRecord) -> Result<()> {
        self.inner.record_durable(Item::Checkin(record)).await
    }

    /// Records a status report in the device's history, write-behind like check-ins (events of
    /// one device are written in the order given).
    pub async fn record_event(&self, device_id: &str, event: DeviceEvent) -> Result<()> {
        self.inner.record(Item::Event(device_id.to_owned(), event)).await
    }

    /// Commits every check-in and event recorded before this call.
    pub async fn flush(&self) -> Result<()> {
        self.inner.flush().await
    }
}

async fn write(store: SharedStore, batch: Vec<Item>) -> Result<()> {
    let mut rows = Vec::with_capacity(batch.len());
    let mut events = Vec::new();
    for item in batch {
        match item {
            Item::Checkin(r) => rows.push(r),
            Item::Event(id, e) => events.push((id, e)),
        }
    }
    let mut result = if rows.is_empty() {
        Ok(())
    } else {
        store.record_checkins(&rows).await
    };
    if let Err(e) = &result {
        // Write-behind: the devices already have their answers; they report again at their
        // next check-in, which rewrites the same row.
        tracing::error!(error = %e, rows = rows.len(), "check-in write failed; rows dropped");
    }
    if !events.is_empty() {
        if let Err(e) = store.record_events(&events).await {
            tracing::error!(error = %e, events = events.len(), "status event write failed; events dropped");
            result = Err(e);
        }
    }
    result
}
