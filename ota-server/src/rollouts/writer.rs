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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::domain::rollout::DeviceRecord;
use crate::domain::Millis;
use crate::store::{SharedStore, StoreError};

/// Most records committed per flush.
const MAX_BATCH: usize = 2048;
/// Records handed over but not yet written before senders wait.
const MAX_PENDING: usize = 8 * MAX_BATCH;
/// Longest a record waits to be written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(10);

type Done = oneshot::Sender<Result<(), Arc<StoreError>>>;

#[derive(Debug)]
enum Msg {
    Record(i64, DeviceRecord, Millis),
    Flush(Done),
}

/// Hands device records to the background writer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RecordWriter {
    tx: mpsc::Sender<Msg>,
}

fn stopped() -> StoreError {
    StoreError::Unavailable("rollout record writer stopped".into())
}

impl RecordWriter {
    pub fn spawn(store: SharedStore) -> Self {
        let (tx, rx) = mpsc::channel(MAX_PENDING);
        tokio::spawn(writer(store, rx));
        Self { tx }
    }

    /// Queues a record of `rollout` (returns once the writer has it, not when it is stored).
    pub async fn record(&self, rollout: i64, record: DeviceRecord, now: Millis) -> Result<(), StoreError> {
        self.tx
            .send(Msg::Record(rollout, record, now))
            .await
            .map_err(|_| stopped())
    }

    /// Stores every record queued before this call.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx.send(Msg::Flush(done)).await.map_err(|_| stopped())?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Unavailable(format!("rollout record write: {e}"))),
            Err(_) => Err(stopped()),
        }
    }
}

async fn writer(store: SharedStore, mut rx: mpsc::Receiver<Msg>) {
    let mut msgs = Vec::with_capacity(MAX_BATCH);
    // Per rollout, per device: the latest record and when it changed.
    let mut pending: HashMap<i64, HashMap<String, (DeviceRecord, Millis)>> = HashMap::new();
    let mut waiters: Vec<Done> = Vec::new();
    let mut open = true;
    while open {
        if rx.recv_many(&mut msgs, MAX_BATCH).await == 0 {
            break;
        }
        let deadline = Instant::now() + FLUSH_INTERVAL;
        let mut count = 0usize;
        loop {
            for msg in msgs.drain(..) {
                match msg {
                    Msg::Record(rollout, record, now) => {
                        count += 1;
                        pending
                            .entry(rollout)
                            .or_default()
                            .insert(record.device_id.clone(), (record, now));
                    }
                    Msg::Flush(done) => waiters.push(done),
                }
            }
            if count >= MAX_BATCH || !waiters.is_empty() {
                break;
            }
            tokio::select! {
                n = rx.recv_many(&mut msgs, MAX_BATCH - count) => if n == 0 { open = false; break },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        let mut result = Ok(());
        for (rollout, records) in pending.drain() {
            let now = records.values().map(|(_, at)| *at).max().unwrap_or(0);
            let refs: Vec<&DeviceRecord> = records.values().map(|(r, _)| r).collect();
            if let Err(e) = store.save_rollout(rollout, None, &refs, now).await {
                // Devices report again (and check in with what they run); the next change of
                // each of these devices rewrites its row.
                tracing::error!(error = %e, rollout, records = refs.len(), "rollout record write failed");
                result = Err(Arc::new(e));
            }
        }
        for done in waiters.drain(..) {
            let _ = done.send(result.clone());
        }
    }
}
