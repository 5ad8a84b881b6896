//! A complete, real deployment on one machine: development CA and keys, `ota-server` on SQLite
//! over mutual TLS (in this process, on a real TCP port) — or several replicas on PostgreSQL and
//! S3 behind a round-robin TCP front ([`Deployment`]) — the typed admin client
//! (`ota_protocol::client`) speaking the HTTP API, and fleets of simulated devices (`fleet_sim`)
//! with their own certificates.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use fleet_sim::{BootFailScope, FleetCa, FleetOptions, Provisioning};
use ota_protocol::client::{AdminClient, ReleaseUpload};
use ota_protocol::rollouts::{FleetView, NewRollout, RolloutAction, RolloutView};
use ota_server::config::{Config, DeviceClass, Limits, OfferMode, TlsConfig, TrustConfig};
use ota_server::domain::auth::Role;
use ota_server::init::{write_new, DevCa};
use signer::release::ReleaseBundle;

use crate::firmware::{self, DevKeys};

pub const VENDOR: &str = "example.com";

/// Marks a directory as the demo's own scratch space (so only such a directory is ever wiped).
const MARKER: &str = ".ota-demo";

/// Where the server's state lives and how many replicas serve it.
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    /// Replicas (0 or 1: one server, no front).
    pub replicas: usize,
    /// `None`: SQLite in the demo's directory.
    pub database_url: Option<String>,
    /// `None`: the local artifact directory.
    pub artifacts_url: Option<String>,
}

impl Deployment {
    /// Several replicas need a shared database and a shared artifact store.
    pub fn check(&self) -> Result<()> {
        if self.replicas <= 1 {
            return Ok(());
        }
        if !self.database_url.as_deref().is_some_and(|u| u.starts_with("postgres")) {
            bail!(
                "--replicas {} needs a database every replica shares: --database postgres://...\n\
                 hint: scripts/cluster starts a three-replica demo on the local PostgreSQL and an S3 test server",
                self.replicas
            );
        }
        if !self
            .artifacts_url
            .as_deref()
            .is_some_and(|u| u.starts_with("s3://") || u.starts_with("file://"))
        {
            bail!(
                "--replicas {} needs an artifact store every replica shares: --artifacts s3://bucket/prefix\n\
                 hint: the S3 endpoint and credentials come from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...",
                self.replicas
            );
        }
        Ok(())
    }
}

pub struct World {
    pub dir: PathBuf,
    pub keys: DevKeys,
    /// The signing keys and the fleet CA were kept from an earlier run (not generated now).
    pub keys_kept: bool,
    /// The fleet CA's certificate file (what a browser imports to trust the dashboard).
    pub ca_pem: PathBuf,
    pub ca: DevCa,
    pub config: Config,
    /// The first replica (the only one by default).
    pub server: Option<ota_server::RunningServer>,
    /// Further replicas (`--replicas N`), each with its own configuration (listen, data dir).
    pub others: Vec<(Config, Option<ota_server::RunningServer>)>,
    /// The round-robin front before several replicas.
    pub front: Option<crate::front::Front>,
    /// Where devices and operators connect: the server, or the front before the replicas.
    pub addr: SocketAddr,
    admin: AdminClient,
    /// Unauthenticated requests over the server's TLS (`/metrics`).
    http: reqwest::Client,
    /// Read-only token for the dashboard link.
    pub viewer_token: String,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("dir", &self.dir)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// What a new run keeps of an earlier one in the same directory (unless `--force`): the
/// development signing keys with the audit log of what they signed (append-only, like every
/// signing audit log), the fleet CA (a browser told to trust it keeps trusting it) and the
/// server's key, each with its public half or certificate. Private keys are mode 0600.
pub const KEPT: [&str; 9] = [
    "image-key.pem",
    "image-key.pub.pem",
    "manifest-key.pem",
    "manifest-key.pub.pem",
    firmware::AUDIT_LOG,
    "tls/fleet-ca.key",
    "tls/fleet-ca.pem",
    "tls/server.key",
    "tls/server.pem",
];

/// Removes a file, symlink or directory tree.
fn remove(path: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(path).with_context(|| format!("{}", path.display()))?;
    if meta.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
    .with_context(|| format!("removing {}", path.display()))
}

/// Readies `dir` for a run. A previous demo run's directory (it holds the marker) is emptied
/// except for its keys ([`KEPT`]), which the new run reuses — or entirely with `force`, so that
/// new keys and a new fleet CA are made; any other non-empty directory is refused.
pub fn prepare_dir(dir: &Path, force: bool) -> Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)?.next().is_none();
        if !empty {
            if !dir.join(MARKER).exists() {
                bail!(
                    "{} exists and is not a previous demo run; choose another --dir or remove it",
                    dir.display()
                );
            }
            if force {
                std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
            } else {
                clear_except_keys(dir)?;
            }
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "scratch directory of ota-demo: emptied on its next run except for the development keys, \
         their signing audit log and the fleet CA (ota-demo --force replaces those too)\n",
    )?;
    Ok(())
}

fn clear_except_keys(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == MARKER || KEPT.contains(&name.as_str()) {
            continue;
        }
        if name == "tls" && entry.file_type()?.is_dir() {
            for inner in std::fs::read_dir(entry.path())? {
                let inner = inner?;
                let rel = format!("tls/{}", inner.file_name().to_string_lossy());
                if !KEPT.contains(&rel.as_str()) {
                    remove(&inner.path())?;
                }
            }
            continue;
        }
        remove(&entry.path())?;
    }
    Ok(())
}

/// The fleet CA in `tls`: kept from an earlier run (its key, and its certificate file as it
/// was, so a browser that trusts it keeps trusting it) or generated. Returns whether it was kept.
fn load_or_generate_ca(tls: &Path) -> Result<(DevCa, bool)> {
    let (key, cert) = (tls.join("fleet-ca.key"), tls.join("fleet-ca.pem"));
    if key.exists() {
        firmware::keep_private(&key)?;
        let ca = DevCa::load(&std::fs::read_to_string(&key).with_context(|| format!("{}", key.display()))?)?;
        if !cert.exists() {
            write_new(&cert, &ca.cert_pem(), false)?;
        }
        return Ok((ca, true));
    }
    let ca = DevCa::generate()?;
    if cert.exists() {
        // A certificate without its key is of no use: replaced (it is public).
        std::fs::remove_file(&cert).with_context(|| format!("removing {}", cert.display()))?;
    }
    write_new(&cert, &ca.cert_pem(), false)?;
    write_new(&key, &ca.key_pem(), true)?;
    Ok((ca, false))
}

/// The server's key and certificate in `tls`: kept if the fleet CA was (it issued them), else
/// issued now. A server key left from another CA is refused rather than replaced.
fn load_or_issue_server(tls: &Path, ca: &DevCa, ca_kept: bool) -> Result<()> {
    let (key, cert) = (tls.join("server.key"), tls.join("server.pem"));
    if ca_kept && key.exists() && cert.exists() {
        return firmware::keep_private(&key);
    }
    if key.exists() {
        bail!(
            "{} exists but its certificate or its fleet CA is gone; rerun with --force to make new keys",
            key.display()
        );
    }
    let issued = ca.issue_server(&["localhost"])?;
    if cert.exists() {
        std::fs::remove_file(&cert).with_context(|| format!("removing {}", cert.display()))?;
    }
    write_new(&cert, &issued.cert_pem, false)?;
    write_new(&key, &issued.key_pem, true)
}

impl World {
    /// Uses the keys and CA in `dir` (kept by [`prepare_dir`] from an earlier run) or
    /// generates them, and starts the server on `listen` (port 0 = any free port) for `classes`.
    pub async fn create(dir: &Path, listen: SocketAddr, classes: &[&str]) -> Result<Self> {
        Self::deploy(dir, listen, classes, &Deployment::default()).await
    }

    /// As [`World::create`], with the server deployed as `deployment` says: several replicas
    /// listen on free ports behind a front on `listen`.
    pub async fn deploy(dir: &Path, listen: SocketAddr, classes: &[&str], deployment: &Deployment) -> Result<Self> {
        deployment.check()?;
        let (keys, keys_kept) = DevKeys::load_or_generate(dir)?;
        let tls = dir.join("tls");
        std::fs::create_dir_all(&tls)?;
        let (ca, ca_kept) = load_or_generate_ca(&tls)?;
        load_or_issue_server(&tls, &ca, ca_kept)?;
        let config = Config {
            listen,
            database_url: deployment
                .database_url
                .clone()
                .unwrap_or_else(|| format!("sqlite://{}", dir.join("data/ota.db").display())),
            data_dir: dir.join("data"),
            dev_insecure_http: false,
            log_format: "text".into(),
            tls: Some(TlsConfig {
                cert: tls.join("server.pem"),
                key: tls.join("server.key"),
                device_ca: vec![tls.join("fleet-ca.pem")],
            }),
            trust: TrustConfig {
                image_keys: vec![keys.image_pub.clone()],
                manifest_keys: vec![keys.manifest_pub.clone()],
                manifest_threshold: 1,
            },
            classes: classes
                .iter()
                .map(|c| DeviceClass {
                    name: (*c).into(),
                    vendor_domain: VENDOR.into(),
                    registration: Default::default(),
                })
                .collect(),
            limits: Limits {
                // Simulated devices poll every second or faster.
                checkin_burst: 100,
                checkin_per_second: 100.0,
                ..Limits::default()
            },
            artifacts_url: deployment.artifacts_url.clone(),
            offer_mode: OfferMode::Rollout,
            metrics_auth: Default::default(),
            enrollment: None,
        };
        if deployment.replicas > 1 {
            return Self::cluster(dir, listen, config, deployment.replicas, keys, keys_kept && ca_kept, ca).await;
        }
        let server = match ota_server::start(config.clone()).await {
            Ok(s) => s,
            // The preferred port is taken: any free port will do for a demo.
            Err(_) if listen.port() != 0 => {
                let mut c = config.clone();
                c.listen = SocketAddr::new(listen.ip(), 0);
                ota_server::start(c).await?
            }
            Err(e) => return Err(e),
        };
        let addr = server.addr;
        let mut config = config;
        config.listen = addr;
        std::fs::write(dir.join("ota-server.toml"), toml_of(&config)?)?;
        Self::connect(
            dir,
            keys,
            keys_kept && ca_kept,
            ca,
            config,
            server,
            Vec::new(),
            None,
            addr,
        )
        .await
    }

    /// `replicas` servers on `config`'s database and artifact store, each on a free port with
    /// its own data directory (uploads are staged there), behind a front on `listen`.
    async fn cluster(
        dir: &Path,
        listen: SocketAddr,
        config: Config,
        replicas: usize,
        keys: DevKeys,
        keys_kept: bool,
        ca: DevCa,
    ) -> Result<Self> {
        let mut started = Vec::with_capacity(replicas);
        for i in 0..replicas {
            let mut c = config.clone();
            c.listen = SocketAddr::new(listen.ip(), 0);
            c.data_dir = dir.join(format!("data/replica-{i}"));
            let server = ota_server::start(c.clone())
                .await
                .with_context(|| format!("starting replica {i}"))?;
            // Restarts keep the port the front sends to.
            c.listen = server.addr;
            started.push((c, server));
        }
        let backends: Vec<SocketAddr> = started.iter().map(|(c, _)| c.listen).collect();
        let front = match crate::front::Front::start(listen, backends.clone()).await {
            Ok(f) => f,
            // The preferred port is taken: any free port will do for a demo.
            Err(_) if listen.port() != 0 => crate::front::Front::start(SocketAddr::new(listen.ip(), 0), backends)
                .await
                .context("starting the front")?,
            Err(e) => return Err(e).context("starting the front"),
        };
        let addr = front.addr;
        // What `fleet-sim --config` reads: the front's address, the shared database and store.
        let mut shown = config;
        shown.listen = addr;
        std::fs::write(dir.join("ota-server.toml"), toml_of(&shown)?)?;
        let mut started = started.into_iter();
        let (first_config, first) = started.next().context("no replica")?;
        let others = started.map(|(c, s)| (c, Some(s))).collect();
        Self::connect(dir, keys, keys_kept, ca, first_config, first, others, Some(front), addr).await
    }

    /// Tokens, the admin client and the plain TLS client, once the server (or front) is up.
    #[allow(clippy::too_many_arguments)]
    async fn connect(
        dir: &Path,
        keys: DevKeys,
        keys_kept: bool,
        ca: DevCa,
        config: Config,
        server: ota_server::RunningServer,
        others: Vec<(Config, Option<ota_server::RunningServer>)>,
        front: Option<crate::front::Front>,
        addr: SocketAddr,
    ) -> Result<Self> {
        let tls = dir.join("tls");
        let admin_token = ota_server::init::create_token(server.store.as_ref(), "demo-admin", Role::Admin).await?;
        let viewer_token =
            ota_server::init::create_token(server.store.as_ref(), "demo-dashboard", Role::Viewer).await?;
        let admin = AdminClient::builder(format!("https://localhost:{}", addr.port()))
            .ca_pem(ca.cert_pem())
            .resolve("localhost", addr)
            .token(admin_token)
            .timeout(Duration::from_secs(30))
            .build()?;
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(ca.cert_pem().as_bytes())?)
            .resolve("localhost", addr)
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            dir: dir.to_path_buf(),
            keys,
            keys_kept,
            ca_pem: tls.join("fleet-ca.pem"),
            ca,
            config,
            server: Some(server),
            others,
            front,
            addr,
            admin,
            http,
            viewer_token,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// The dashboard with a read-only token in the fragment (never sent to the server).
    pub fn dashboard_url(&self) -> String {
        format!("{}#token={}", self.url("/dashboard"), self.viewer_token)
    }

    /// Graceful shutdown (requests drain, pending writes flush), then a fresh start on the same
    /// port and database: what a deploy or a crash-free restart does.
    pub async fn restart(&mut self) -> Result<()> {
        self.shutdown().await;
        self.server = Some(ota_server::start(self.config.clone()).await?);
        for (config, server) in &mut self.others {
            *server = Some(ota_server::start(config.clone()).await?);
        }
        Ok(())
    }

    /// Graceful shutdown of every replica (the front stays; it has nowhere to send to).
    pub async fn shutdown(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        for (_, server) in &mut self.others {
            if let Some(s) = server.take() {
                s.shutdown().await;
            }
        }
    }

    /// Check-ins each replica answered so far (first replica first).
    pub fn checkins_per_replica(&self) -> Vec<u64> {
        std::iter::once(self.server.as_ref())
            .chain(self.others.iter().map(|(_, s)| s.as_ref()))
            .map(|s| s.map_or(0, |s| s.metrics.total("ota_checkins_total")))
            .collect()
    }

    /// Replicas serving (1 unless deployed with several).
    pub fn replica_count(&self) -> usize {
        1 + self.others.len()
    }

    pub fn server(&self) -> &ota_server::RunningServer {
        self.server.as_ref().expect("server running")
    }

    /// The admin API client (admin token).
    pub fn admin(&self) -> &AdminClient {
        &self.admin
    }

    /// Uploads a release bundle (the server re-verifies it as a device would); returns its id.
    pub async fn upload(&self, bundle: &ReleaseBundle) -> Result<i64> {
        let mut upload = ReleaseUpload::new(bundle.envelope.clone(), bundle.image_name.clone(), bundle.image.clone())
            .with_summary(serde_json::to_vec(&bundle.summary)?);
        for (name, patch) in &bundle.patches {
            upload = upload.with_patch(name.clone(), patch.clone());
        }
        let release = self
            .admin
            .upload_release(&upload)
            .await
            .context("uploading a release")?;
        Ok(release.id)
    }

    pub async fn create_rollout(&self, rollout: &NewRollout) -> Result<RolloutView> {
        self.admin.create_rollout(rollout).await.context("creating a rollout")
    }

    pub async fn rollout(&self, id: i64) -> Result<RolloutView> {
        self.admin.rollout(id).await.context("reading a rollout")
    }

    pub async fn act(&self, id: i64, action: &RolloutAction) -> Result<RolloutView> {
        self.admin
            .rollout_action(id, action)
            .await
            .with_context(|| format!("rollout {action}"))
    }

    /// An unauthenticated GET over the server's TLS (e.g. `/metrics`), as text.
    pub async fn get_text(&self, path: &str) -> Result<String> {
        let r = self
            .http
            .get(self.url(path))
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = r.status();
        let body = r.text().await?;
        if !status.is_success() {
            bail!("GET {path}: HTTP {status}: {body}");
        }
        Ok(body)
    }

    pub async fn fleet_versions(&self) -> Result<FleetView> {
        self.admin.fleet().await.context("reading the fleet")
    }

    pub async fn revoke(&self, device_id: &str) -> Result<()> {
        self.admin.revoke_device(device_id).await.context("revoking a device")?;
        Ok(())
    }

    /// The fleet CA as the simulator issues device certificates from it (its key).
    pub fn fleet_ca(&self) -> Result<FleetCa> {
        FleetCa::from_key_pem(&self.ca.key_pem())
    }

    /// What devices of `class` are provisioned to trust.
    pub fn provisioning(&self, class: &str) -> Result<Provisioning> {
        Ok(fleet_sim::provisioning(
            class,
            VENDOR,
            vec![self.keys.manifest_spki()?],
            vec![self.keys.image_spki()?],
        ))
    }

    /// Fleet options for this server: devices poll every `poll` (plus jitter) until `stop`.
    pub fn fleet_options(
        &self,
        poll: Duration,
        boot_fail_scope: BootFailScope,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> FleetOptions {
        FleetOptions {
            server_url: self.url(""),
            connect_addr: Some(self.addr),
            server_ca_pem: self.ca.cert_pem(),
            poll_interval: poll,
            jitter: poll / 2,
            slot_size: usize::try_from(firmware::SLOT_SIZE).unwrap_or(usize::MAX),
            max_attempts: 3,
            until_idle: false,
            deadline: Duration::from_secs(900),
            boot_fail_scope,
            stop: Some(stop),
            ..FleetOptions::default()
        }
    }
}

fn toml_of(config: &Config) -> Result<String> {
    Ok(format!(
        "# Written by ota-demo: the configuration its server runs with (`fleet-sim --config` reads it).\n{}",
        toml::to_string_pretty(config)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rerun empties the demo's directory except for its keys; `force` empties it entirely;
    /// a directory that is not the demo's is never touched.
    #[test]
    fn reruns_keep_the_keys_unless_forced() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        prepare_dir(&dir, false).unwrap();
        std::fs::create_dir_all(dir.join("tls")).unwrap();
        std::fs::create_dir_all(dir.join("data/artifacts")).unwrap();
        for f in KEPT.iter().chain(&["ota-server.toml", "data/ota.db", "tls/stale.pem"]) {
            std::fs::write(dir.join(f), f).unwrap();
        }
        prepare_dir(&dir, false).unwrap();
        for f in KEPT {
            assert_eq!(std::fs::read_to_string(dir.join(f)).unwrap(), f, "{f} was not kept");
        }
        for gone in ["ota-server.toml", "data", "tls/stale.pem"] {
            assert!(!dir.join(gone).exists(), "{gone} survived");
        }
        prepare_dir(&dir, true).unwrap();
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [MARKER], "--force leaves only the marker");

        let other = tmp.path().join("mine");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("notes.txt"), "keep").unwrap();
        assert!(prepare_dir(&other, true).is_err());
        assert!(other.join("notes.txt").exists());
    }
}
