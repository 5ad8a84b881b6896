//! Group commit for device-record events: many check-ins' and reports' events share one
//! transaction, and each caller is answered only once the batch holding its event is stored
//! (durable before the device hears anything back). The events are applied by the store to
//! the stored records under lock ([`crate::store::Store::apply_record_events`]).

use std::time::Duration;

use crate::domain::rollout::RecordEvent;
use crate::domain::Millis;
use crate::store::write_behind::{Limits, WriteBehind};
use crate::store::{RecordChange, SharedStore, StoreError};

/// Most events committed per transaction.
const MAX_BATCH: usize = 1024;
/// Events handed over but not yet stored before senders wait.
const MAX_PENDING: usize = 8 * MAX_BATCH;
/// Longest an event waits when nobody waits for it (callers that wait flush at once).
const FLUSH_INTERVAL: Duration = Duration::from_millis(10);

/// Hands events to the background writer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventWriter {
    inner: WriteBehind<RecordChange>,
}

impl EventWriter {
    pub fn spawn(store: SharedStore) -> Self {
        let limits = Limits {
            max_batch: MAX_BATCH,
            max_pending: MAX_PENDING,
            flush_interval: FLUSH_INTERVAL,
            name: "rollout event writer",
            failed: "rollout record write",
        };
        // No coalescing: every event is applied, in order.
        let key = |_: &RecordChange| None::<()>;
        let inner = WriteBehind::spawn(limits, key, move |batch| {
            let store = store.clone();
            async move {
                let result = store.apply_record_events(&batch).await;
                if let Err(e) = &result {
                    tracing::error!(error = %e, events = batch.len(), "rollout record write failed");
                }
                result
            }
        });
        Self { inner }
    }

    /// Stores the events of one device (in order); returns once they are committed.
    pub async fn store(&self, device: &str, events: &[(i64, RecordEvent)], now: Millis) -> Result<(), StoreError> {
        for (id, event) in events {
            self.inner
                .record_durable((*id, device.to_owned(), event.clone(), now))
                .await?;
        }
        Ok(())
    }

    /// Stores everything handed over before this call.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush().await
    }
}
