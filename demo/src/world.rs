//! A complete, real deployment on one machine: development CA and keys, `ota-server` on SQLite
//! over mutual TLS (in this process, on a real TCP port), an admin client speaking the HTTP API,
//! and fleets of simulated devices (`ota_server::sim`) with their own certificates.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ota_server::config::{Config, DeviceClass, Limits, OfferMode, TlsConfig, TrustConfig};
use ota_server::domain::auth::Role;
use ota_server::init::{write_new, DevCa};
use ota_server::sim::{self, BootFailScope, FleetOptions, Provisioning};
use serde_json::Value;
use signer::release::ReleaseBundle;

use crate::firmware::{self, DevKeys};

pub const VENDOR: &str = "example.com";

/// Marks a directory as the demo's own scratch space (so only such a directory is ever wiped).
const MARKER: &str = ".ota-demo";

pub struct World {
    pub dir: PathBuf,
    pub keys: DevKeys,
    pub ca: DevCa,
    pub config: Config,
    pub server: Option<ota_server::RunningServer>,
    pub addr: SocketAddr,
    admin: reqwest::Client,
    admin_token: String,
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

/// Empties `dir` if it is a previous demo run's (it holds the marker); refuses any other
/// non-empty directory.
pub fn prepare_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)?.next().is_none();
        if !empty {
            if !dir.join(MARKER).exists() {
                bail!(
                    "{} exists and is not a previous demo run; choose another --dir or remove it",
                    dir.display()
                );
            }
            std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "scratch directory of ota-demo; deleted on its next run\n",
    )?;
    Ok(())
}

impl World {
    /// Generates keys and a CA in `dir` (see [`prepare_dir`]) and starts the server on `listen`
    /// (port 0 = any free port) for `classes`.
    pub async fn create(dir: &Path, listen: SocketAddr, classes: &[&str]) -> Result<Self> {
        let keys = DevKeys::generate(dir)?;
        let ca = DevCa::generate()?;
        let cert = ca.issue_server(&["localhost"])?;
        let tls = dir.join("tls");
        std::fs::create_dir_all(&tls)?;
        std::fs::write(tls.join("fleet-ca.pem"), ca.cert_pem())?;
        std::fs::write(tls.join("server.pem"), &cert.cert_pem)?;
        write_new(&tls.join("server.key"), &cert.key_pem, true)?;
        write_new(&tls.join("fleet-ca.key"), &ca.key_pem(), true)?;
        let config = Config {
            listen,
            database_url: format!("sqlite://{}", dir.join("data/ota.db").display()),
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
                })
                .collect(),
            limits: Limits {
                // Simulated devices poll every second or faster.
                checkin_burst: 100,
                checkin_per_second: 100.0,
                ..Limits::default()
            },
            artifacts_url: None,
            offer_mode: OfferMode::Rollout,
        };
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
        let admin_token = ota_server::init::create_token(server.store.as_ref(), "demo-admin", Role::Admin).await?;
        let viewer_token =
            ota_server::init::create_token(server.store.as_ref(), "demo-dashboard", Role::Viewer).await?;
        let admin = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(ca.cert_pem().as_bytes())?)
            .resolve("localhost", addr)
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            dir: dir.to_path_buf(),
            keys,
            ca,
            config,
            server: Some(server),
            addr,
            admin,
            admin_token,
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
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        self.server = Some(ota_server::start(self.config.clone()).await?);
        Ok(())
    }

    pub fn server(&self) -> &ota_server::RunningServer {
        self.server.as_ref().expect("server running")
    }

    async fn json(&self, req: reqwest::RequestBuilder, what: &str) -> Result<Value> {
        let r = req
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .with_context(|| what.to_owned())?;
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{what}: HTTP {status}: {body}");
        }
        if body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&body).with_context(|| format!("{what}: response is not JSON"))
    }

    /// Uploads a release bundle (the server re-verifies it as a device would); returns its id.
    pub async fn upload(&self, bundle: &ReleaseBundle) -> Result<i64> {
        use reqwest::multipart::{Form, Part};
        let mut form = Form::new()
            .part(
                "envelope",
                Part::bytes(bundle.envelope.clone()).file_name("release.suit"),
            )
            .part("image", Part::bytes(bundle.image.clone()).file_name("firmware.bin"))
            .part(
                "summary",
                Part::bytes(serde_json::to_vec(&bundle.summary)?).file_name("release.json"),
            );
        for (name, p) in &bundle.patches {
            form = form.part("patch", Part::bytes(p.clone()).file_name(name.clone()));
        }
        let v = self
            .json(
                self.admin.post(self.url("/api/v1/admin/releases")).multipart(form),
                "uploading a release",
            )
            .await?;
        v["id"].as_i64().context("upload response without an id")
    }

    pub async fn create_rollout(&self, body: Value) -> Result<Value> {
        self.json(
            self.admin.post(self.url("/api/v1/admin/rollouts")).json(&body),
            "creating a rollout",
        )
        .await
    }

    pub async fn rollout(&self, id: i64) -> Result<Value> {
        self.json(
            self.admin.get(self.url(&format!("/api/v1/admin/rollouts/{id}"))),
            "reading a rollout",
        )
        .await
    }

    pub async fn act(&self, id: i64, action: &str) -> Result<Value> {
        self.json(
            self.admin
                .post(self.url(&format!("/api/v1/admin/rollouts/{id}/{action}"))),
            "rollout action",
        )
        .await
    }

    /// An unauthenticated GET over the server's TLS (e.g. `/metrics`), as text.
    pub async fn get_text(&self, path: &str) -> Result<String> {
        let r = self
            .admin
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

    pub async fn fleet_versions(&self) -> Result<Value> {
        self.json(self.admin.get(self.url("/api/v1/admin/fleet")), "reading the fleet")
            .await
    }

    pub async fn revoke(&self, device_id: &str) -> Result<()> {
        self.json(
            self.admin
                .post(self.url(&format!("/api/v1/admin/devices/{device_id}/revoke"))),
            "revoking a device",
        )
        .await
        .map(drop)
    }

    /// What devices of `class` are provisioned to trust.
    pub fn provisioning(&self, class: &str) -> Result<Provisioning> {
        Ok(sim::provisioning(
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
