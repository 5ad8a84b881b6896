//! Group commit for check-ins: concurrent check-ins share one transaction. Each caller still
//! waits until its row is committed, so a check-in's answer is never ahead of the database.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{CheckinRecord, Result, SharedStore, StoreError};

/// Most check-ins committed in one transaction.
const MAX_BATCH: usize = 512;

type Job = (CheckinRecord, oneshot::Sender<std::result::Result<(), Arc<StoreError>>>);

/// Hands check-ins to a background writer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CheckinWriter {
    tx: mpsc::Sender<Job>,
}

impl CheckinWriter {
    /// Spawns the writer task on the current runtime; it ends when every sender is dropped.
    pub fn spawn(store: SharedStore) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(4 * MAX_BATCH);
        tokio::spawn(async move {
            let mut jobs = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
                let records: Vec<CheckinRecord> = jobs.iter().map(|(r, _)| r.clone()).collect();
                let result = store.record_checkins(&records).await.map_err(Arc::new);
                for (_, done) in jobs.drain(..) {
                    let _ = done.send(result.clone());
                }
            }
        });
        Self { tx }
    }

    /// Records one check-in; resolves once it is committed.
    pub async fn record(&self, record: CheckinRecord) -> Result<()> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send((record, done))
            .await
            .map_err(|_| StoreError::Unavailable("check-in writer stopped".into()))?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Unavailable(format!("batched check-in write: {e}"))),
            Err(_) => Err(StoreError::Unavailable("check-in writer stopped".into())),
        }
    }
}
