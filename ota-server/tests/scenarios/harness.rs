//! A real server on a loopback port with real TLS, driven by reqwest with client certificates.

use std::net::SocketAddr;
use std::path::PathBuf;

use ota_protocol::admin::{NewToken, Role as WireRole};
use ota_protocol::client::{AdminClient, ClientError};
use ota_protocol::device::CheckinRequest;
use ota_protocol::ErrorBody;
use ota_server::config::{Config, DeviceClass, Limits, TlsConfig, TrustConfig};
use ota_server::domain::auth::Role;
use ota_server::init::DevCa;
use ota_server::RunningServer;
use serde::Serialize;
use serde_json::Value;

use super::bundles::{self, Upload};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// SQLite, with artifacts through the `object_store` crate (LocalFileSystem).
    SqliteObjectStore,
}

/// PostgreSQL for tests: `OTA_TEST_PG_URL` or the machines' default. Unreachable → the test fails.
pub fn pg_base_url() -> String {
    std::env::var("OTA_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn unique_suffix() -> String {
    use rand_core::RngCore as _;
    format!("{:016x}", rand_core::OsRng.next_u64())
}

/// One server under test, with its directory, CA and an admin token.
#[derive(Debug)]
pub struct Env {
    _dir: tempfile::TempDir,
    pub ca: DevCa,
    pub config: Config,
    pub server: Option<RunningServer>,
    pub admin_token: String,
    pg_schema: Option<String>,
}

impl Env {
    pub async fn new(backend: Backend) -> Self {
        Self::with_limits(backend, Limits::default()).await
    }

    pub async fn with_limits(backend: Backend, limits: Limits) -> Self {
        Self::configured(backend, |c| c.limits = limits).await
    }

    /// Offers decided by staged rollouts (`offer_mode = "rollout"`).
    pub async fn with_rollouts(backend: Backend) -> Self {
        Self::configured(backend, |c| c.offer_mode = ota_server::config::OfferMode::Rollout).await
    }

    /// With EST enrolment by an issuing CA under the fleet CA (`issuing-ca.pem` beside `ca.pem`).
    pub async fn with_enrollment(backend: Backend) -> Self {
        Self::with_enrollment_as(backend, |_| {}).await
    }

    /// With enrolment, its settings changed by `edit`.
    pub async fn with_enrollment_as(
        backend: Backend,
        edit: impl FnOnce(&mut ota_server::config::EnrollmentConfig),
    ) -> Self {
        Self::configured(backend, |c| {
            let base = c.data_dir.parent().unwrap().to_path_buf();
            let mut e = ota_server::config::EnrollmentConfig {
                ca_cert: base.join("issuing-ca.pem"),
                ca_key: base.join("issuing-ca.key"),
                certificate_days: 90,
                renew_before_days: 30,
                crl_next_update_s: 600,
                rotation_grace_s: 86_400,
            };
            edit(&mut e);
            c.enrollment = Some(e);
        })
        .await
    }

    /// The directory holding `ca.pem`, `issuing-ca.pem` and the data directory.
    pub fn dir(&self) -> PathBuf {
        self._dir.path().to_path_buf()
    }

    /// The scenarios' configuration, changed by `edit` before the server starts.
    pub async fn configured(backend: Backend, edit: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| dir.path().join(name);
        let ca = DevCa::generate().unwrap();
        let server_cert = ca.issue_server(&["localhost"]).unwrap();
        std::fs::write(p("ca.pem"), ca.cert_pem()).unwrap();
        // The enrolment CA under the fleet CA, used when a scenario turns enrolment on.
        let issuing = ca.issue_device_ca().unwrap();
        std::fs::write(p("issuing-ca.pem"), &issuing.cert_pem).unwrap();
        std::fs::write(p("issuing-ca.key"), &issuing.key_pem).unwrap();
        std::fs::write(p("server.pem"), &server_cert.cert_pem).unwrap();
        std::fs::write(p("server.key"), &server_cert.key_pem).unwrap();
        std::fs::write(p("manifest.pub.pem"), bundles::manifest_pub_pem()).unwrap();
        let (database_url, pg_schema) = match backend {
            Backend::Sqlite | Backend::SqliteObjectStore => (format!("sqlite://{}", p("data/ota.db").display()), None),
            Backend::Postgres => {
                let schema = format!("test_{}", unique_suffix());
                (format!("{}?schema={schema}", pg_base_url()), Some(schema))
            }
        };
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url,
            data_dir: p("data"),
            dev_insecure_http: false,
            log_format: "text".into(),
            tls: Some(TlsConfig {
                cert: p("server.pem"),
                key: p("server.key"),
                device_ca: vec![p("ca.pem")],
            }),
            trust: TrustConfig {
                image_keys: vec![bundles::image_pub_pem_path()],
                manifest_keys: vec![p("manifest.pub.pem")],
                manifest_threshold: 1,
            },
            classes: vec![
                DeviceClass {
                    name: bundles::CLASS.into(),
                    vendor_domain: bundles::VENDOR.into(),
                    registration: Default::default(),
                },
                DeviceClass {
                    name: "gateway".into(),
                    vendor_domain: bundles::VENDOR.into(),
                    registration: Default::default(),
                },
            ],
            limits: Limits::default(),
            artifacts_url: (backend == Backend::SqliteObjectStore)
                .then(|| format!("file://{}", p("objects").display())),
            // Most scenarios test ingest, identity and downloads: offers without a rollout.
            offer_mode: ota_server::config::OfferMode::Latest,
            metrics_auth: Default::default(),
            enrollment: None,
        };
        let mut config = config;
        edit(&mut config);
        let server = ota_server::start(config.clone()).await.expect("server starts");
        let admin_token = ota_server::init::create_token(server.store.as_ref(), "test-admin", Role::Admin)
            .await
            .unwrap();
        config.listen = server.addr;
        Self {
            _dir: dir,
            ca,
            config,
            server: Some(server),
            admin_token,
            pg_schema,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.as_ref().unwrap().addr
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr().port())
    }

    pub fn data_dir(&self) -> PathBuf {
        self.config.data_dir.clone()
    }

    /// Stops the server (gracefully) and starts it again on the same port and database.
    pub async fn restart(&mut self) {
        self.server.take().unwrap().shutdown().await;
        self.server = Some(ota_server::start(self.config.clone()).await.expect("server restarts"));
    }

    fn builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca.cert_pem().as_bytes()).unwrap())
            .resolve("localhost", self.addr())
    }

    /// A client without a certificate (admins, or an unauthenticated device).
    /// The `/metrics` text, as an unauthenticated scraper sees it.
    pub async fn metrics(&self) -> String {
        self.metrics_via(&self.anon()).await
    }

    /// [`Env::metrics`] through `client`: a loop that polls for a line reuses one connection
    /// instead of timing a TLS handshake per look.
    pub async fn metrics_via(&self, client: &reqwest::Client) -> String {
        client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub fn anon(&self) -> reqwest::Client {
        self.builder().build().unwrap()
    }

    /// A device presenting a certificate from the fleet CA.
    pub fn device(&self, id: &str, class: Option<&str>) -> reqwest::Client {
        let issued = self.ca.issue_device(id, class).unwrap();
        self.client_with(&issued)
    }

    pub fn client_with(&self, issued: &ota_server::init::Issued) -> reqwest::Client {
        let pem = format!("{}{}", issued.cert_pem, issued.key_pem);
        self.builder()
            .identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap())
            .build()
            .unwrap()
    }

    /// The typed admin client, as the test admin.
    pub fn client(&self) -> AdminClient {
        AdminClient::builder(self.url(""))
            .ca_pem(self.ca.cert_pem())
            .resolve("localhost", self.addr())
            .token(&self.admin_token)
            .build()
            .unwrap()
    }

    /// Uploads through the admin client: (201, the release) or (status, the error body).
    pub async fn upload_as(&self, token: &str, upload: &Upload) -> (u16, Value) {
        answer(
            self.client()
                .with_token(token)
                .upload_release(&upload.to_release_upload())
                .await,
            201,
        )
    }

    pub async fn upload(&self, upload: &Upload) -> (u16, Value) {
        self.upload_as(&self.admin_token, upload).await
    }

    /// An admin call with a typed body (`body(&NewRollout { .. })`) or none; the answer as JSON.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.admin_as(&self.admin_token, method, path, body).await
    }

    pub async fn admin_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.anon().request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn token(&self, role: &str) -> String {
        let token = NewToken {
            name: role.into(),
            role: WireRole::from(role),
            expires_in_seconds: None,
        };
        self.client().create_token(&token).await.unwrap().token
    }

    /// Shuts down and, for PostgreSQL, drops the test schema.
    pub async fn finish(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        if let Some(schema) = self.pg_schema.take() {
            drop_schema(&schema).await;
        }
    }
}

async fn drop_schema(schema: &str) {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(&pg_base_url()).await.unwrap();
    sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(&mut conn)
        .await
        .unwrap();
}

impl Drop for Env {
    fn drop(&mut self) {
        // A failed test still drops its schema (from a thread: we may be inside a runtime).
        if let Some(schema) = self.pg_schema.take() {
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    rt.block_on(drop_schema(&schema));
                }
            })
            .join();
        }
    }
}

/// A typed request body for [`Env::admin`].
pub fn body(request: &impl Serialize) -> Option<Value> {
    Some(serde_json::to_value(request).unwrap())
}

/// A typed client's answer as (status, JSON): `ok` and the value, or the server's error body.
pub fn answer<T: Serialize>(r: Result<T, ClientError>, ok: u16) -> (u16, Value) {
    match r {
        Ok(v) => (ok, serde_json::to_value(v).unwrap()),
        Err(ClientError::Api { status, code, message }) => {
            (status, serde_json::to_value(ErrorBody::new(code, message)).unwrap())
        }
        Err(e) => panic!("no API answer: {e}"),
    }
}

/// POST JSON as a device.
pub async fn post_json(client: &reqwest::Client, url: &str, body: &impl Serialize) -> (u16, Value) {
    let r = client.post(url).json(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub fn checkin_body(digest_hex: &str, sequence: u64) -> CheckinRequest {
    CheckinRequest::new(digest_hex, Some("0.0.1".into()), sequence)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    ota_server::domain::Sha256::of(bytes).hex()
}

/// Files under the artifact store (excluding staging).
pub fn stored_artifacts(env: &Env) -> usize {
    let root = env.data_dir().join("artifacts/sha256");
    let mut n = 0;
    for d in std::fs::read_dir(root).unwrap().flatten() {
        n += std::fs::read_dir(d.path()).unwrap().count();
    }
    n
}

pub fn staging_files(env: &Env) -> usize {
    std::fs::read_dir(env.data_dir().join("artifacts/staging"))
        .unwrap()
        .count()
}
