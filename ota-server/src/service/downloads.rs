//! Serving an artifact to a device (threat model: "Device and admin API"):
//!
//! * **Evidence for commits.** Before bytes are sent, the store records how far into the
//!   artifact the device has been served ([`Store::record_download`]), in steps of
//!   [`EVIDENCE_STEP`] or an eighth of the artifact. A commit counts only once the whole image
//!   (or a patch to it) was served ([`super::rollouts`]); since the record comes first, a
//!   crash never loses the evidence of bytes a device already has.
//! * **A per-device cap** on concurrent downloads ([`DownloadSlots`], per replica).
//! * **Revocation cuts the stream**: a revocation closes the device's connections at once
//!   (`serve.rs`); as a second line, should that signal be missed, the device's state is
//!   looked up again every [`REVOCATION_CHECK`] while it reads, and a revoked or
//!   decommissioned device's stream ends with an error. A peer that stops reading altogether is cut by the connection's write
//!   timeout (`download_idle_timeout_s`, in `serve.rs`).

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;

use crate::artifacts::ByteStream;
use crate::domain::{DeviceState, Sha256, SharedClock};
use crate::metrics::Metrics;
use crate::store::SharedStore;

/// The served prefix is recorded at least this far ahead of what was sent.
pub const EVIDENCE_STEP: u64 = 1024 * 1024;

/// How often a streaming download re-reads its device's state.
pub const REVOCATION_CHECK: Duration = Duration::from_millis(250);

/// How many downloads each device has streaming on this replica.
#[derive(Debug)]
pub struct DownloadSlots {
    per_device: usize,
    held: Mutex<HashMap<String, usize>>,
}

impl DownloadSlots {
    pub fn new(per_device: u32) -> Arc<Self> {
        Arc::new(Self {
            per_device: usize::try_from(per_device.max(1)).unwrap_or(usize::MAX),
            held: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more download of `device`, or `None` at the cap. Freed on drop.
    pub fn take(self: &Arc<Self>, device: &str) -> Option<DownloadSlot> {
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = held.entry(device.to_owned()).or_insert(0);
        if *n >= self.per_device {
            return None;
        }
        *n += 1;
        Some(DownloadSlot {
            slots: self.clone(),
            device: device.to_owned(),
        })
    }

    /// Downloads streaming now on this replica.
    pub fn streaming(&self) -> usize {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .sum()
    }
}

/// One device's download in progress; gives its slot back when dropped.
#[derive(Debug)]
pub struct DownloadSlot {
    slots: Arc<DownloadSlots>,
    device: String,
}

impl Drop for DownloadSlot {
    fn drop(&mut self) {
        let mut held = self
            .slots
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.device) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.device);
            }
        }
    }
}

/// Bytes `start..end` of the `size`-byte artifact `digest`, going to `device_id`.
#[derive(Debug)]
pub struct Download {
    pub device_id: String,
    pub digest: Sha256,
    pub size: u64,
    pub start: u64,
    pub end: u64,
}

struct Streaming {
    inner: ByteStream,
    store: SharedStore,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    download: Download,
    /// Next byte to send.
    pos: u64,
    /// Bytes up to here are recorded as served.
    recorded: u64,
    last_check: Instant,
    finished: bool,
    _slot: DownloadSlot,
}

impl Download {
    /// `inner` (the stored bytes of the range) as sent to the device: the evidence recorded
    /// ahead of the bytes, and the stream cut once the device is no longer active.
    pub fn stream(
        self,
        inner: ByteStream,
        slot: DownloadSlot,
        store: SharedStore,
        clock: SharedClock,
        metrics: Arc<Metrics>,
    ) -> ByteStream {
        let state = Streaming {
            inner,
            store,
            clock,
            metrics,
            pos: self.start,
            recorded: self.start,
            download: self,
            last_check: Instant::now(),
            finished: false,
            _slot: slot,
        };
        Box::pin(futures_util::stream::unfold(state, |mut s| async move {
            if s.finished {
                return None;
            }
            match s.next_chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), s)),
                Ok(None) => None,
                Err(e) => {
                    s.finished = true;
                    Some((Err(e), s))
                }
            }
        }))
    }
}

impl Streaming {
    async fn next_chunk(&mut self) -> io::Result<Option<bytes::Bytes>> {
        let Some(chunk) = self.inner.next().await.transpose()? else {
            self.metrics.inc("ota_downloads_total", &[("result", "complete")]);
            return Ok(None);
        };
        if self.last_check.elapsed() >= REVOCATION_CHECK {
            self.last_check = Instant::now();
            self.still_active().await?;
        }
        let chunk_end = self.pos.saturating_add(chunk.len() as u64);
        if chunk_end > self.recorded {
            let d = &self.download;
            let step = EVIDENCE_STEP.max(d.size / 8);
            let mark = chunk_end.max(self.pos.saturating_add(step)).min(d.end);
            self.store
                .record_download(&d.device_id, &d.digest, d.size, d.start, mark, self.clock.now_ms())
                .await
                .map_err(|e| {
                    tracing::warn!(device = %d.device_id, error = %e, "recording download evidence failed: stream cut");
                    io::Error::other("download evidence could not be stored")
                })?;
            self.recorded = mark;
        }
        self.pos = chunk_end;
        Ok(Some(chunk))
    }

    /// Revocation takes effect on a stream already running (threat model: "revoked mid-download").
    async fn still_active(&mut self) -> io::Result<()> {
        let id = &self.download.device_id;
        match self.store.device(id).await {
            Ok(Some(d)) if d.state == DeviceState::Active => return Ok(()),
            Ok(_) => {}
            // The store is unreachable: no revocation can have been stored meanwhile either.
            Err(e) => {
                tracing::warn!(device = %id, error = %e, "device state not re-read during a download");
                return Ok(());
            }
        }
        self.metrics.inc("ota_downloads_total", &[("result", "cut_revoked")]);
        tracing::info!(device = %id, "download cut: the device is no longer active");
        Err(io::Error::new(io::ErrorKind::PermissionDenied, "device revoked"))
    }
}
