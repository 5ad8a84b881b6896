//! Startup, the accept loop (rustls + hyper), and graceful shutdown.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::SubjectPublicKeyInfoDer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::artifacts::{self, LocalFs};
use crate::config::Config;
use crate::domain::ingest::{ClassRef, SuitVerifier};
use crate::domain::offer::{LatestRelease, OfferPolicy};
use crate::domain::{Millis, SharedClock, SystemClock};
use crate::http::auth::ConnInfo;
use crate::http::ratelimit::RateLimiter;
use crate::http::{router, AppState};
use crate::metrics::Metrics;
use crate::service::rollouts::RolloutService;
use crate::store::batch::CheckinWriter;
use crate::store::cache::LatestReleases;
use crate::store::{self, SharedStore};
use crate::tls::{identity_from_cert, server_config};

/// How long in-flight requests (downloads) get to finish after shutdown is asked for.
const DRAIN: Duration = Duration::from_secs(30);
/// Time allowed for a request head to arrive (idle keep-alive connections included).
const HEADER_TIMEOUT: Duration = Duration::from_secs(60);
/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A started server.
#[derive(Debug)]
pub struct RunningServer {
    pub addr: SocketAddr,
    pub store: SharedStore,
    /// The rollouts as this server holds them (tests compare them across a restart).
    pub rollouts: std::sync::Arc<RolloutService>,
    /// What `/metrics` renders (the demo shows each replica's share of the check-ins).
    pub metrics: Arc<Metrics>,
    /// Pending write-behind check-ins; flushed before the store closes.
    checkins: CheckinWriter,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests finish (up to 30 s), closes the store.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.shutdown_when_stopped().await;
    }

    /// Waits until a [`RunningServer::stopper`] fires and the drain finishes, then closes the store.
    pub async fn shutdown_when_stopped(self) {
        let _ = self.task.await;
        // Every request has finished: commit the check-ins still written behind.
        if let Err(e) = self.checkins.flush().await {
            tracing::error!(error = %e, "flushing pending check-ins at shutdown failed");
        }
        if let Err(e) = self.rollouts.flush().await {
            tracing::error!(error = %e, "flushing pending rollout records at shutdown failed");
        }
        self.store.close().await;
    }

    /// A sender that triggers graceful shutdown (e.g. from a signal handler).
    pub fn stopper(&self) -> watch::Sender<bool> {
        self.stop.clone()
    }
}

fn read_spki_pem(path: &std::path::Path) -> Result<Vec<u8>> {
    let der = SubjectPublicKeyInfoDer::from_pem_file(path).with_context(|| format!("public key {}", path.display()))?;
    anyhow::ensure!(
        device_verifier::TrustedKey::from_spki(der.as_ref()).is_some(),
        "{}: not an Ed25519 or P-256 public key",
        path.display()
    );
    Ok(der.as_ref().to_vec())
}

/// Builds the verifier from the configured trusted keys and classes.
pub fn verifier(config: &Config) -> Result<SuitVerifier> {
    let image_keys = config
        .trust
        .image_keys
        .iter()
        .map(|p| read_spki_pem(p))
        .collect::<Result<Vec<_>>>()?;
    let manifest_keys = config
        .trust
        .manifest_keys
        .iter()
        .map(|p| read_spki_pem(p))
        .collect::<Result<Vec<_>>>()?;
    anyhow::ensure!(!image_keys.is_empty(), "trust.image_keys is empty");
    anyhow::ensure!(!manifest_keys.is_empty(), "trust.manifest_keys is empty");
    Ok(SuitVerifier {
        image_keys,
        manifest_keys,
        threshold: config.trust.manifest_threshold.max(1),
        classes: classes(config),
    })
}

fn classes(config: &Config) -> Vec<ClassRef> {
    config
        .classes
        .iter()
        .map(|c| ClassRef::derive(&c.name, &c.vendor_domain))
        .collect()
}

/// Starts with the system clock and the default offer policy.
pub async fn start(config: Config) -> Result<RunningServer> {
    start_with(config, Arc::new(SystemClock), Arc::new(LatestRelease)).await
}

/// Starts with an injected clock and offer policy (the rollout engine plugs in here).
pub async fn start_with(config: Config, clock: SharedClock, offer: Arc<dyn OfferPolicy>) -> Result<RunningServer> {
    let tls = match (&config.tls, config.dev_insecure_http) {
        (_, true) => {
            tracing::warn!("dev_insecure_http: plain HTTP, devices identified by X-Device-Id (development only)");
            None
        }
        (Some(tls), false) => Some(TlsAcceptor::from(server_config(
            tls,
            config.enrollment.as_ref().map(|e| e.ca_cert.as_path()),
        )?)),
        (None, false) => anyhow::bail!("[tls] is required unless dev_insecure_http = true"),
    };
    // The enrolment CA: loaded (and its key checked against its certificate) before anything
    // is opened, so a wrong path stops the start with a clear error.
    let issuing_ca = match &config.enrollment {
        Some(e) => Some(Arc::new({
            // Otherwise a renewed certificate would be due for renewal at once, forever.
            anyhow::ensure!(
                (1..=3650).contains(&e.certificate_days),
                "[enrollment] certificate_days must be 1 to 3650 (ten years), not {}",
                e.certificate_days
            );
            anyhow::ensure!(
                e.renew_before_days < e.certificate_days,
                "[enrollment] renew_before_days ({}) must be below certificate_days ({})",
                e.renew_before_days,
                e.certificate_days
            );
            crate::ca::IssuingCa::load(&e.ca_cert, &e.ca_key, e.certificate_days).context("[enrollment]")?
        })),
        None => None,
    };
    let store = store::open(&config.database_url)
        .await
        .context("opening the database")?;
    // Uploads are staged on this replica's disk, whatever store keeps the artifacts.
    let local_root = config.data_dir.join("artifacts");
    let staging_dir = LocalFs::open(&local_root).context("artifact directory")?.staging_dir();
    let artifacts = artifacts::open(config.artifacts_url.as_deref(), &local_root).await?;
    if config.artifacts_url.is_none() && store.backend() == "postgres" {
        tracing::warn!(
            dir = %local_root.display(),
            "artifacts are kept in this replica's own directory: other replicas on this database \
             cannot serve what it ingests (set artifacts_url = \"s3://bucket/prefix\" for several replicas)"
        );
    }
    let checkins = CheckinWriter::spawn(
        store.clone(),
        Duration::from_millis(config.limits.checkin_flush_ms.max(1)),
    );
    let rollouts = RolloutService::load(store.clone()).await.context("loading rollouts")?;
    let metrics = Arc::new(Metrics::default());
    let state = AppState {
        store: store.clone(),
        staging_dir,
        artifacts,
        verifier: Arc::new(verifier(&config)?),
        offer,
        offer_mode: config.offer_mode,
        rollouts: rollouts.clone(),
        clock: clock.clone(),
        metrics: metrics.clone(),
        limiter: Arc::new(RateLimiter::new(
            config.limits.checkin_burst,
            config.limits.checkin_per_second,
        )),
        report_limiter: Arc::new(RateLimiter::new(
            config.limits.report_burst,
            config.limits.report_per_second,
        )),
        // 20 at once, then one every 5 s: enough to see an attack, not enough to fill the log.
        auth_failure_audit: Arc::new(RateLimiter::new(20, 0.2)),
        metrics_auth: config.metrics_auth,
        classes: Arc::new(classes(&config)),
        registration: Arc::new(
            config
                .classes
                .iter()
                .map(|c| (c.name.clone(), c.registration))
                .collect(),
        ),
        limits: config.limits.clone(),
        dev_insecure_http: config.dev_insecure_http,
        download_slots: crate::service::downloads::DownloadSlots::new(config.limits.downloads_per_device),
        envelopes: Arc::new(Mutex::new(HashMap::new())),
        checkins: checkins.clone(),
        latest: Arc::new(LatestReleases::default()),
        issuing_ca,
        renew_before_ms: config
            .enrollment
            .as_ref()
            .map_or(0, |e| Millis::from(e.renew_before_days).saturating_mul(86_400_000)),
        crl_next_update_s: config.enrollment.as_ref().map_or(3600, |e| e.crl_next_update_s),
        rotation_grace_ms: config.enrollment.as_ref().map_or(0, |e| {
            Millis::try_from(e.rotation_grace_s)
                .unwrap_or(Millis::MAX)
                .saturating_mul(1000)
        }),
        crl_cache: Arc::default(),
    };
    // Artifacts a crash left without a release are removed in the background (their bytes are
    // never served: downloads need a release that references them).
    let ingest = state.ingest();
    let swept_at = clock.now_ms();
    tokio::spawn(async move {
        match ingest.sweep_orphans(swept_at).await {
            Ok(n) => tracing::info!(removed = n, "orphan artifact sweep done"),
            Err(e) => tracing::warn!(error = %e, "orphan artifact sweep failed"),
        }
    });
    let app = router(state);
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(history_pruner(
        store.clone(),
        config.limits.clone(),
        clock.clone(),
        metrics.clone(),
        stopped.clone(),
    ));
    tokio::spawn(rollout_timer(rollouts.clone(), clock.clone(), stopped.clone()));
    let write_timeout = Duration::from_secs(config.limits.download_idle_timeout_s.max(1));
    let connections = Connections {
        store: store.clone(),
        clock: clock.clone(),
        metrics: metrics.clone(),
        write_timeout,
    };
    let task = tokio::spawn(accept_loop(listener, tls, app, connections, stopped));
    tracing::info!(%addr, backend = store.backend(), "ota-server listening");
    Ok(RunningServer {
        addr,
        store,
        rollouts,
        metrics,
        checkins,
        stop,
        task,
    })
}

/// How often rollout gates are re-evaluated without device traffic (soak time, new devices).
const ROLLOUT_TICK: Duration = Duration::from_millis(500);

/// Bounds the status history (issue 15, report flood): every `history_prune_ms`, deletes
/// events older than the retention period and all but each device's newest
/// `history_per_device`. Every replica may run it; the deletes are idempotent.
async fn history_pruner(
    store: SharedStore,
    limits: crate::config::Limits,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(Duration::from_millis(limits.history_prune_ms.max(10)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let retention_ms = crate::domain::Millis::from(limits.history_retention_days) * 24 * 3600 * 1000;
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            _ = every.tick() => {}
        }
        let before = clock.now_ms().saturating_sub(retention_ms);
        match store
            .prune_device_events(i64::from(limits.history_per_device), before)
            .await
        {
            Ok(0) => {}
            Ok(n) => {
                metrics.add("ota_history_pruned_total", &[], n);
                tracing::info!(deleted = n, "status history pruned");
            }
            Err(e) => tracing::warn!(error = %e, "pruning status history failed; retrying later"),
        }
        // Download evidence is kept as long as the history it backs.
        if let Err(e) = store.prune_downloads(before).await {
            tracing::warn!(error = %e, "pruning download evidence failed; retrying later");
        }
    }
}

async fn rollout_timer(
    rollouts: std::sync::Arc<RolloutService>,
    clock: SharedClock,
    mut stopped: watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(ROLLOUT_TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            _ = every.tick() => {}
        }
        if let Err(e) = rollouts.tick(clock.now_ms()).await {
            tracing::error!(error = %e, "rollout evaluation failed; retrying at the next tick");
        }
    }
}

/// What every connection task needs besides the router.
#[derive(Clone)]
struct Connections {
    store: SharedStore,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    write_timeout: Duration,
}

impl Connections {
    /// Returns once device `id` is known and no longer active (revoked, decommissioned), or the
    /// certificate `serial` it connected with is revoked: the
    /// caller then closes the device's connection, whatever it is doing, so a response already
    /// streaming stops at once (threat model: "revoked mid-download").
    async fn until_inactive(
        &self,
        id: &str,
        serial: Option<&str>,
        mut changes: tokio::sync::broadcast::Receiver<String>,
    ) {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match changes.recv().await {
                Ok(changed) if changed != id => continue,
                // Behind: some change of this device may have been missed, so re-check it.
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return std::future::pending().await,
            }
            match self.store.device(id).await {
                Ok(Some(d))
                    if d.state != crate::domain::DeviceState::Active
                        || serial.is_some_and(|s| {
                            crate::domain::certificates::serial_revoked(&d.revoked_serials, s, self.clock.now_ms())
                        }) =>
                {
                    return
                }
                Ok(_) => {}
                // Unreadable now: the per-request check and the download's own re-check remain.
                Err(e) => tracing::warn!(device = %id, error = %e, "device state not re-checked for its connection"),
            }
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: axum::Router,
    connections: Connections,
    mut stopped: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        // A peer that stops reading (a stalled download) leaves a write pending: after
        // `download_idle_timeout_s` without progress the write fails and the connection closes,
        // releasing its descriptor and buffers (threat model: "stalled reader").
        let mut tcp = tokio_io_timeout::TimeoutStream::new(tcp);
        tcp.set_write_timeout(Some(connections.write_timeout));
        let tcp = Box::pin(tcp);
        let app = app.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        let connections = connections.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            // Slow-loris guard: a request head must arrive within this time.
            builder.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
            match tls {
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let device = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .and_then(|c| identity_from_cert(c.as_ref()));
                    // Subscribed before the first request, so no revocation falls in between.
                    let changes = connections.store.device_state_changes();
                    let device_id = device.as_ref().map(|d| d.id.clone());
                    let serial = device
                        .as_ref()
                        .and_then(|d| d.certificate.as_ref())
                        .map(|c| c.serial.clone());
                    let info = ConnInfo { device };
                    let svc = app.map_request(move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(info.clone());
                        req
                    });
                    let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
                    let Some(id) = device_id else {
                        let _ = watcher.watch(conn).await;
                        return;
                    };
                    tokio::select! {
                        _ = watcher.watch(conn) => {}
                        () = connections.until_inactive(&id, serial.as_deref(), changes) => {
                            connections.metrics.inc("ota_device_connections_closed_total", &[("reason", "inactive")]);
                            tracing::info!(device = %id, %peer, "connection closed: the device is no longer active");
                        }
                    }
                }
                None => {
                    let conn = builder.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(app));
                    let _ = watcher.watch(conn).await;
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("graceful shutdown timed out; dropping remaining connections");
    }
}
