//! The PostgreSQL change feed between replicas: LISTEN/NOTIFY on one channel per schema, a
//! heartbeat per replica, and revocation acknowledged by every live replica.
//!
//! Why: every device request checks the device's state, and reading its row each time made
//! PostgreSQL 4–8× slower than SQLite. Replicas cache device rows ([`DeviceCache`]) and keep
//! the next-request guarantee of revocation this way:
//!
//! 1. A replica that changes a device's state notifies `device:<token>:<id>` after the commit
//!    and waits until every *live* replica (heartbeat younger than [`LIVE_MS`]) has answered
//!    `ack:<token>:<replica>`, or [`ACK_TIMEOUT`] passed (logged). A replica answers only after
//!    dropping the device from its cache, so when the admin call returns, no live replica
//!    serves the revoked device from memory.
//! 2. A replica uses its cache only under a lease ([`LEASE_MS`] < [`LIVE_MS`]) that is
//!    extended after each stored heartbeat while its listener is connected. A replica whose
//!    listener dropped (it may have missed a notification) or whose heartbeat cannot be stored
//!    (the others stop waiting for it after [`LIVE_MS`]) ends its lease and reads rows from the
//!    database until both work again. (Wall clocks of the replicas are assumed within a second
//!    of each other.)
//!
//! Other changes (`rollout:<id>`) are forwarded to subscribers without acknowledgement: the
//! rollout service also reconciles with the store on its own timer.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand_core::{OsRng, RngCore as _};
use sqlx::postgres::{PgListener, PgPool};

use super::cache::DeviceCache;
use super::Result;
use crate::domain::Millis;

/// A replica whose heartbeat is older than this is not waited for.
pub const LIVE_MS: Millis = 5_000;
/// How long a stored heartbeat lets a replica use its cache.
pub const LEASE_MS: Millis = 3_000;
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Longest a revocation waits for the acknowledgements.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(3);
/// NOTIFY payloads are limited to 8000 bytes; ours are far shorter.
const MAX_PAYLOAD: usize = 7_000;

fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX))
}

/// One replica's end of the feed.
#[derive(Debug)]
pub struct PgFeed {
    pool: PgPool,
    channel: String,
    replica: String,
    devices: Arc<DeviceCache>,
    /// Acknowledgements received, per pending token.
    pending: Mutex<HashMap<u64, HashSet<String>>>,
    acked: tokio::sync::Notify,
    closed: AtomicBool,
    /// The listener is connected (the lease may be extended).
    listening: AtomicBool,
    stop: tokio::sync::Notify,
    /// Rollout ids other replicas announced (the rollout service's subscription).
    changes: tokio::sync::broadcast::Sender<String>,
    /// Revocations that returned before every live replica answered (tests, metrics).
    pub unacknowledged: std::sync::atomic::AtomicU64,
}

impl PgFeed {
    /// Starts the listener and the heartbeat. `schema` names the channel, so stores on other
    /// schemas of the same database (tests) do not hear each other.
    pub async fn start(pool: PgPool, schema: Option<&str>, devices: Arc<DeviceCache>) -> Result<Arc<Self>> {
        let feed = Arc::new(Self {
            pool,
            channel: format!("ota_changes_{}", schema.unwrap_or("public")),
            replica: format!("{:016x}", OsRng.next_u64()),
            devices,
            pending: Mutex::new(HashMap::new()),
            acked: tokio::sync::Notify::new(),
            closed: AtomicBool::new(false),
            listening: AtomicBool::new(false),
            stop: tokio::sync::Notify::new(),
            changes: tokio::sync::broadcast::channel(1024).0,
            unacknowledged: std::sync::atomic::AtomicU64::new(0),
        });
        tokio::spawn(feed.clone().listen());
        tokio::spawn(feed.clone().heartbeat());
        Ok(feed)
    }

    /// This replica's id (its row in `replicas`).
    pub fn replica(&self) -> &str {
        &self.replica
    }

    pub async fn notify(&self, payload: &str) -> Result<()> {
        if payload.len() > MAX_PAYLOAD {
            return Ok(());
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&self.channel)
            .bind(payload)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// After a committed change of a device's state: every live replica drops the device from
    /// its cache before this returns (or [`ACK_TIMEOUT`] passed, logged).
    pub async fn device_changed(&self, id: &str) -> Result<()> {
        self.devices.forget(id);
        let token = OsRng.next_u64();
        if let Ok(mut p) = self.pending.lock() {
            p.insert(token, HashSet::new());
        }
        let result = self.await_acks(token, id).await;
        if let Ok(mut p) = self.pending.lock() {
            p.remove(&token);
        }
        result
    }

    async fn await_acks(&self, token: u64, id: &str) -> Result<()> {
        self.notify(&format!("device:{token}:{id}")).await?;
        let deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
        loop {
            let live: Vec<String> = sqlx::query_scalar("SELECT id FROM replicas WHERE heartbeat_ms > $1")
                .bind(now_ms() - LIVE_MS)
                .fetch_all(&self.pool)
                .await?;
            let missing: Vec<String> = {
                let p = self
                    .pending
                    .lock()
                    .map_err(|_| super::StoreError::Unavailable("feed lock".into()))?;
                let acked = p.get(&token).cloned().unwrap_or_default();
                live.into_iter().filter(|r| !acked.contains(r)).collect()
            };
            if missing.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                self.unacknowledged.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(device = %id, replicas = ?missing, "revocation not acknowledged by every replica in time");
                return Ok(());
            }
            // Woken by an acknowledgement, or look again shortly (a replica may have died).
            let _ = tokio::time::timeout(Duration::from_millis(20), self.acked.notified()).await;
        }
    }

    /// Rollout changes announced by any replica (ids as text); lagging receivers resync.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.changes.subscribe()
    }

    /// Stops the tasks and removes this replica's row.
    pub async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.stop.notify_waiters();
        self.devices.end_lease();
        let _ = sqlx::query("DELETE FROM replicas WHERE id = $1")
            .bind(&self.replica)
            .execute(&self.pool)
            .await;
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    async fn connect(&self) -> Option<PgListener> {
        let mut listener = PgListener::connect_with(&self.pool).await.ok()?;
        listener.listen(&self.channel).await.ok()?;
        Some(listener)
    }

    async fn listen(self: Arc<Self>) {
        while !self.is_closed() {
            let Some(mut listener) = self.connect().await else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            // Connected: anything cached before may have missed a notification.
            self.devices.clear();
            let _ = self.changes.send("resync".into());
            self.listening.store(true, Ordering::Release);
            loop {
                let next = tokio::select! {
                    n = listener.try_recv() => n,
                    () = self.stop.notified() => return,
                };
                match next {
                    Ok(Some(n)) => self.handle(n.payload()).await,
                    // The connection dropped (sqlx reconnects on the next call, but what was
                    // sent meanwhile is lost): no cache until a new listener is up.
                    Ok(None) | Err(_) => break,
                }
            }
            self.listening.store(false, Ordering::Release);
            self.devices.end_lease();
            tracing::warn!("change feed listener lost its connection; device cache off until it is back");
        }
    }

    async fn handle(&self, payload: &str) {
        let mut parts = payload.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("device"), Some(token), Some(id)) => {
                self.devices.state_changed(id);
                if let Err(e) = self.notify(&format!("ack:{token}:{}", self.replica)).await {
                    tracing::warn!(error = %e, "could not acknowledge a device change");
                }
            }
            (Some("ack"), Some(token), Some(replica)) => {
                if let (Ok(token), Ok(mut p)) = (token.parse::<u64>(), self.pending.lock()) {
                    if let Some(acks) = p.get_mut(&token) {
                        acks.insert(replica.to_owned());
                    }
                }
                self.acked.notify_waiters();
            }
            (Some("rollout"), Some(id), None) => {
                let _ = self.changes.send(id.to_owned());
            }
            _ => tracing::debug!(payload, "unknown change notification ignored"),
        }
    }

    async fn heartbeat(self: Arc<Self>) {
        let started = now_ms();
        while !self.is_closed() {
            let beat = now_ms();
            let stored = tokio::time::timeout(
                HEARTBEAT,
                sqlx::query(
                    "INSERT INTO replicas (id, heartbeat_ms, started_ms) VALUES ($1, $2, $3) \
                     ON CONFLICT (id) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms",
                )
                .bind(&self.replica)
                .bind(beat)
                .bind(started)
                .execute(&self.pool),
            )
            .await;
            if matches!(stored, Ok(Ok(_))) && self.listening.load(Ordering::Acquire) {
                self.devices.extend_lease(beat + LEASE_MS);
            }
            tokio::select! {
                () = tokio::time::sleep(HEARTBEAT) => {}
                () = self.stop.notified() => return,
            }
        }
    }
}
