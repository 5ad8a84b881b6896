//! A write-behind batching writer, generic over the record, its coalescing key and the flush.
//!
//! Callers hand records to a background task and go on without waiting for the database. The
//! task gathers records until `max_batch` have arrived, someone waits for a commit, or
//! `flush_interval` has passed since the first of them, coalesces records with the same key (the
//! last one wins, in the first one's place; records without a key are all kept, in order), and
//! hands the batch to the flush function. When `max_pending` records are queued, senders wait.
//! [`WriteBehind::flush`] (and [`WriteBehind::record_durable`]) resolve once everything handed
//! over before them has been flushed.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{Result, StoreError};

/// Sizes and names of one writer.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most records per flush.
    pub max_batch: usize,
    /// Records handed over but not yet flushed, before senders wait.
    pub max_pending: usize,
    /// Longest a record waits to be flushed.
    pub flush_interval: Duration,
    /// In errors: "{name} stopped", "{failed}: {cause}".
    pub name: &'static str,
    pub failed: &'static str,
}

type Done = oneshot::Sender<std::result::Result<(), Arc<StoreError>>>;

#[derive(Debug)]
enum Msg<R> {
    /// A record to write; `Some` = the caller waits for its flush.
    Record(R, Option<Done>),
    /// Flush everything received before this message, then answer.
    Flush(Done),
}

/// The sending side. Cheap to clone.
#[derive(Debug)]
pub struct WriteBehind<R> {
    tx: mpsc::Sender<Msg<R>>,
    limits: Limits,
}

impl<R> Clone for WriteBehind<R> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            limits: self.limits,
        }
    }
}

impl<R: Send + 'static> WriteBehind<R> {
    /// Spawns the writer task on the current runtime; it ends when every sender is dropped
    /// (after flushing what it holds). `flush` gets each batch and logs its own failures.
    pub fn spawn<K, F, Fut>(limits: Limits, key: fn(&R) -> Option<K>, flush: F) -> Self
    where
        K: Hash + Eq + Send + 'static,
        F: FnMut(Vec<R>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(limits.max_pending);
        tokio::spawn(writer(rx, limits, key, flush));
        Self { tx, limits }
    }

    fn stopped(&self) -> StoreError {
        StoreError::Unavailable(format!("{} stopped", self.limits.name))
    }

    /// Hands one record over: returns once the writer has it (not yet written).
    pub async fn record(&self, record: R) -> Result<()> {
        self.tx
            .send(Msg::Record(record, None))
            .await
            .map_err(|_| self.stopped())
    }

    /// Hands one record over and resolves once its batch is written.
    pub async fn record_durable(&self, record: R) -> Result<()> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Msg::Record(record, Some(done)))
            .await
            .map_err(|_| self.stopped())?;
        self.answer(wait).await
    }

    /// Writes every record handed over before this call.
    pub async fn flush(&self) -> Result<()> {
        let (done, wait) = oneshot::channel();
        self.tx.send(Msg::Flush(done)).await.map_err(|_| self.stopped())?;
        self.answer(wait).await
    }

    async fn answer(&self, wait: oneshot::Receiver<std::result::Result<(), Arc<StoreError>>>) -> Result<()> {
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Unavailable(format!("{}: {e}", self.limits.failed))),
            Err(_) => Err(self.stopped()),
        }
    }
}

async fn writer<R, K, F, Fut>(mut rx: mpsc::Receiver<Msg<R>>, limits: Limits, key: fn(&R) -> Option<K>, mut flush: F)
where
    K: Hash + Eq,
    F: FnMut(Vec<R>) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut msgs = Vec::with_capacity(limits.max_batch);
    let mut batch: Vec<R> = Vec::with_capacity(limits.max_batch);
    let mut slots: HashMap<K, usize> = HashMap::new();
    let mut waiters: Vec<Done> = Vec::new();
    let mut open = true;
    while open {
        // Wait for the first message of a batch, then gather until it is full, someone waits
        // for a commit, or the interval has passed.
        if rx.recv_many(&mut msgs, limits.max_batch).await == 0 {
            break;
        }
        let deadline = Instant::now() + limits.flush_interval;
        let mut received = 0usize;
        loop {
            for msg in msgs.drain(..) {
                match msg {
                    Msg::Record(r, done) => {
                        received += 1;
                        waiters.extend(done);
                        match key(&r).map(|k| slots.entry(k)) {
                            Some(std::collections::hash_map::Entry::Occupied(slot)) => batch[*slot.get()] = r,
                            Some(std::collections::hash_map::Entry::Vacant(slot)) => {
                                slot.insert(batch.len());
                                batch.push(r);
                            }
                            None => batch.push(r),
                        }
                    }
                    Msg::Flush(done) => waiters.push(done),
                }
            }
            if received >= limits.max_batch || !waiters.is_empty() {
                break;
            }
            tokio::select! {
                n = rx.recv_many(&mut msgs, limits.max_batch - received) => if n == 0 { open = false; break },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        slots.clear();
        let result = if batch.is_empty() {
            Ok(())
        } else {
            flush(std::mem::take(&mut batch)).await.map_err(Arc::new)
        };
        for done in waiters.drain(..) {
            let _ = done.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn limits() -> Limits {
        Limits {
            max_batch: 4,
            max_pending: 16,
            flush_interval: Duration::from_secs(3600),
            name: "test writer",
            failed: "test write",
        }
    }

    #[tokio::test]
    async fn coalesces_by_key_and_keeps_unkeyed_records_in_order() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let w = WriteBehind::spawn(
            limits(),
            |r: &(Option<u8>, u8)| r.0,
            move |batch: Vec<(Option<u8>, u8)>| {
                sink.lock().unwrap().push(batch);
                async { Ok(()) }
            },
        );
        w.record((Some(1), 1)).await.unwrap();
        w.record((None, 2)).await.unwrap();
        w.record((Some(1), 3)).await.unwrap();
        w.flush().await.unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![vec![(Some(1), 3), (None, 2)]]);
    }

    #[tokio::test]
    async fn a_failed_flush_reaches_the_waiters() {
        let w = WriteBehind::spawn(
            limits(),
            |_: &u8| None::<u8>,
            |_| async { Err(StoreError::Unavailable("down".into())) },
        );
        let e = w.record_durable(1).await.unwrap_err();
        assert!(e.to_string().contains("test write: unavailable: down"), "{e}");
    }
}
