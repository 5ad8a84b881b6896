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

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{CheckinRecord, DeviceEvent, Result, SharedStore, StoreError};

/// Most check-ins committed in one transaction.
pub const MAX_BATCH: usize = 1024;
/// Check-ins handed over but not yet written, before handlers wait for the writer.
pub const MAX_PENDING: usize = 8 * MAX_BATCH;

type Done = oneshot::Sender<std::result::Result<(), Arc<StoreError>>>;

#[derive(Debug)]
enum Msg {
    /// A check-in to write; `Some` = the caller waits for its commit.
    Record(CheckinRecord, Option<Done>),
    /// A device's status report, for its history.
    Event(String, DeviceEvent),
    /// Commit everything received before this message, then answer.
    Flush(Done),
}

/// Hands check-ins to a background writer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CheckinWriter {
    tx: mpsc::Sender<Msg>,
}

fn stopped() -> StoreError {
    StoreError::Unavailable("check-in writer stopped".into())
}

impl CheckinWriter {
    /// Spawns the writer task on the current runtime; it ends when every sender is dropped
    /// (after writing what it holds). `flush_interval`: longest a check-in waits to be written.
    pub fn spawn(store: SharedStore, flush_interval: Duration) -> Self {
        let (tx, rx) = mpsc::channel::<Msg>(MAX_PENDING);
        tokio::spawn(writer(store, rx, flush_interval));
        Self { tx }
    }

    /// Records one check-in write-behind: returns once the writer has it (not yet committed).
    pub async fn record(&self, record: CheckinRecord) -> Result<()> {
        self.tx.send(Msg::Record(record, None)).await.map_err(|_| stopped())
    }

    /// Records one check-in and resolves once it is committed.
    pub async fn record_durable(&self, record: CheckinRecord) -> Result<()> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Msg::Record(record, Some(done)))
            .await
            .map_err(|_| stopped())?;
        answer(wait).await
    }

    /// Records a status report in the device's history, write-behind like check-ins (events of
    /// one device are written in the order given).
    pub async fn record_event(&self, device_id: &str, event: DeviceEvent) -> Result<()> {
        self.tx
            .send(Msg::Event(device_id.to_owned(), event))
            .await
            .map_err(|_| stopped())
    }

    /// Commits every check-in and event recorded before this call.
    pub async fn flush(&self) -> Result<()> {
        let (done, wait) = oneshot::channel();
        self.tx.send(Msg::Flush(done)).await.map_err(|_| stopped())?;
        answer(wait).await
    }
}

async fn answer(wait: oneshot::Receiver<std::result::Result<(), Arc<StoreError>>>) -> Result<()> {
    match wait.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(StoreError::Unavailable(format!("batched check-in write: {e}"))),
        Err(_) => Err(stopped()),
    }
}

async fn writer(store: SharedStore, mut rx: mpsc::Receiver<Msg>, flush_interval: Duration) {
    let mut msgs = Vec::with_capacity(MAX_BATCH);
    let mut rows: Vec<CheckinRecord> = Vec::with_capacity(MAX_BATCH);
    let mut events: Vec<(String, DeviceEvent)> = Vec::new();
    let mut waiters: Vec<Done> = Vec::new();
    let mut open = true;
    while open {
        // Wait for the first message of a flush, then gather until the batch is full, someone
        // waits for a commit, or the interval has passed.
        if rx.recv_many(&mut msgs, MAX_BATCH).await == 0 {
            break;
        }
        let deadline = Instant::now() + flush_interval;
        loop {
            for msg in msgs.drain(..) {
                match msg {
                    Msg::Record(r, done) => {
                        rows.push(r);
                        waiters.extend(done);
                    }
                    Msg::Event(id, event) => events.push((id, event)),
                    Msg::Flush(done) => waiters.push(done),
                }
            }
            let queued = rows.len() + events.len();
            if queued >= MAX_BATCH || !waiters.is_empty() {
                break;
            }
            let room = MAX_BATCH - queued;
            tokio::select! {
                n = rx.recv_many(&mut msgs, room) => if n == 0 { open = false; break },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        let mut result = if rows.is_empty() {
            Ok(())
        } else {
            store.record_checkins(&rows).await.map_err(Arc::new)
        };
        if !events.is_empty() {
            if let Err(e) = store.record_events(&events).await {
                tracing::error!(error = %e, events = events.len(), "status event write failed; events dropped");
                result = Err(Arc::new(e));
            }
            events.clear();
        }
        if let Err(e) = &result {
            // Write-behind: the devices already have their answers; they report again at their
            // next check-in, which rewrites the same row.
            tracing::error!(error = %e, rows = rows.len(), "check-in write failed; rows dropped");
        }
        rows.clear();
        for done in waiters.drain(..) {
            let _ = done.send(result.clone());
        }
    }
}
