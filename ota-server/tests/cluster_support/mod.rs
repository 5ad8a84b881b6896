//! A cluster for the multi-replica tests: real `ota-server serve` processes sharing one
//! PostgreSQL schema and one S3 bucket (moto's server, `.ci/s3-up.sh`), killed with SIGKILL
//! and restarted at will.

// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fleet_sim::{FleetCa, FleetOptions, Provisioning};
use ota_protocol::client::{AdminClient, ReleaseUpload};
use ota_server::config::{Config, DeviceClass, Limits, OfferMode, TlsConfig, TrustConfig};
use ota_server::domain::auth::Role;
use ota_server::init::DevCa;
use signer::release::sign::KeyCoseSigner;
use signer::release::{build_release, CoseSigner, ReleaseInput};

pub const VENDOR: &str = "example.com";
pub const CLASS: &str = "sensor-v2";

pub fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

pub fn v1() -> Vec<u8> {
    std::fs::read(repo("fixtures/images/fw-v1.signed.bin")).unwrap()
}

pub fn v2() -> Vec<u8> {
    std::fs::read(repo("fixtures/images/fw-v2.signed.bin")).unwrap()
}

/// The S3-compatible test server (`.ci/s3-up.sh`; `OTA_TEST_S3_ENDPOINT` overrides it).
pub fn s3_endpoint() -> String {
    std::env::var("OTA_TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:9573".into())
}

/// The `AWS_*` environment a replica reads its S3 endpoint and credentials from (moto accepts
/// any credentials; they are never in the configuration file).
pub fn s3_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", s3_endpoint()),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test-only".into()),
        ("AWS_SECRET_ACCESS_KEY", "test-only".into()),
    ]
}

/// Creates a fresh bucket on the test server; returns its name.
pub async fn create_bucket() -> String {
    use rand_core::RngCore as _;
    let name = format!("ota-test-{:016x}", rand_core::OsRng.next_u64());
    let r = reqwest::Client::new()
        .put(format!("{}/{name}", s3_endpoint()))
        .send()
        .await
        .expect("the S3 test server must be reachable (OTA_TEST_S3_ENDPOINT; .ci/s3-up.sh)");
    assert!(r.status().is_success(), "creating bucket {name}: {}", r.status());
    name
}

/// Keys of the objects in `bucket` (ListObjectsV2; moto answers unsigned requests).
pub async fn bucket_keys(bucket: &str) -> Vec<String> {
    let body = reqwest::get(format!("{}/{bucket}?list-type=2", s3_endpoint()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.split("<Key>")
        .skip(1)
        .filter_map(|s| s.split("</Key>").next())
        .map(str::to_owned)
        .collect()
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

pub struct Cluster {
    dir: tempfile::TempDir,
    /// The S3 bucket every replica keeps artifacts in.
    pub bucket: String,
    config: PathBuf,
    pub addrs: Vec<SocketAddr>,
    replicas: Vec<Option<Child>>,
    pub ca: DevCa,
    pub fleet_ca: FleetCa,
    token: String,
}

impl Cluster {
    /// Writes the shared configuration (PostgreSQL schema, S3 bucket) and starts `replicas`
    /// servers.
    pub async fn start(replicas: usize) -> Self {
        use rand_core::RngCore as _;
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        let bucket = create_bucket().await;
        let ca = DevCa::generate().unwrap();
        let cert = ca.issue_server(&["localhost"]).unwrap();
        std::fs::write(p("ca.pem"), ca.cert_pem()).unwrap();
        std::fs::write(p("server.pem"), &cert.cert_pem).unwrap();
        std::fs::write(p("server.key"), &cert.key_pem).unwrap();
        let pg = std::env::var("OTA_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let database_url = format!("{pg}?schema=cluster_{:016x}", rand_core::OsRng.next_u64());
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: database_url.clone(),
            data_dir: p("data"),
            dev_insecure_http: false,
            log_format: "text".into(),
            tls: Some(TlsConfig {
                cert: p("server.pem"),
                key: p("server.key"),
                device_ca: vec![p("ca.pem")],
            }),
            trust: TrustConfig {
                image_keys: vec![repo("fixtures/keys/test-only-ed25519-a.pub.pem")],
                manifest_keys: vec![repo("fixtures/keys/test-only-ed25519-b.pub.pem")],
                manifest_threshold: 1,
            },
            classes: vec![DeviceClass {
                name: CLASS.into(),
                vendor_domain: VENDOR.into(),
                registration: Default::default(),
            }],
            limits: Limits {
                checkin_burst: 1_000,
                checkin_per_second: 1_000.0,
                ..Limits::default()
            },
            // Shared by every replica.
            artifacts_url: Some(format!("s3://{bucket}/artifacts")),
            offer_mode: OfferMode::Rollout,
            metrics_auth: Default::default(),
            enrollment: None,
        };
        let config_path = p("ota-server.toml");
        std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
        // The admin token, straight into the shared database (as `ota-server token` does).
        let store = ota_server::store::open(&database_url)
            .await
            .expect("PostgreSQL must be reachable (OTA_TEST_PG_URL; .ci/postgres-up.sh)");
        let token = ota_server::init::create_token(store.as_ref(), "cluster-admin", Role::Admin)
            .await
            .unwrap();
        store.close().await;
        let fleet_ca = FleetCa::from_key_pem(&ca.key_pem()).unwrap();
        let mut cluster = Self {
            dir,
            bucket,
            config: config_path,
            addrs: Vec::new(),
            replicas: Vec::new(),
            ca,
            fleet_ca,
            token,
        };
        for _ in 0..replicas {
            cluster.add_replica().await;
        }
        cluster
    }

    fn path(&self, n: &str) -> PathBuf {
        self.dir.path().join(n)
    }

    /// Replica `i`'s own data directory (`OTA_DATA_DIR`).
    pub fn replica_dir(&self, i: usize) -> PathBuf {
        self.path(&format!("replica-{i}"))
    }

    /// The configuration every replica reads.
    pub fn config_path(&self) -> PathBuf {
        self.config.clone()
    }

    fn spawn(&self, i: usize) -> Child {
        let data = self.replica_dir(i);
        std::fs::create_dir_all(&data).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.join("server.log"))
            .unwrap();
        Command::new(env!("CARGO_BIN_EXE_ota-server"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("OTA_LISTEN", self.addrs[i].to_string())
            .env("OTA_DATA_DIR", &data)
            .env("RUST_LOG", "warn")
            .envs(s3_env())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    async fn wait_ready(&self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(self.addrs[i]).await.is_err() {
            assert!(Instant::now() < deadline, "replica {i} did not start: {}", self.log(i));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts one more replica (after the others: a late one); returns its index.
    pub async fn add_replica(&mut self) -> usize {
        let i = self.addrs.len();
        self.addrs.push(free_addr());
        let child = self.spawn(i);
        self.replicas.push(Some(child));
        self.wait_ready(i).await;
        i
    }

    /// SIGKILL: no flush, no goodbye.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.replicas[i].take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Starts a killed replica again on its address.
    pub async fn restart(&mut self, i: usize) {
        assert!(self.replicas[i].is_none());
        let child = self.spawn(i);
        self.replicas[i] = Some(child);
        self.wait_ready(i).await;
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.path(&format!("replica-{i}/server.log"))).unwrap_or_default()
    }

    pub fn admin(&self, i: usize) -> AdminClient {
        AdminClient::builder(format!("https://localhost:{}", self.addrs[i].port()))
            .ca_pem(self.ca.cert_pem())
            .resolve("localhost", self.addrs[i])
            .token(self.token.clone())
            .build()
            .unwrap()
    }

    /// Check-ins replica `i` answered so far (its `/metrics`, every result).
    pub async fn checkins_served(&self, i: usize) -> u64 {
        let text = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca.cert_pem().as_bytes()).unwrap())
            .resolve("localhost", self.addrs[i])
            .build()
            .unwrap()
            .get(format!("https://localhost:{}/metrics", self.addrs[i].port()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| l.starts_with("ota_checkins_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    /// Signs v2 (sequence 2) with the test-only manifest key and uploads it through replica `i`.
    pub async fn upload_v2(&self, i: usize) -> i64 {
        let key = signer::keys::load_file_key(&repo("fixtures/keys/test-only-ed25519-b.pem")).unwrap();
        let cose = KeyCoseSigner::new(&key).unwrap();
        let bundle = build_release(
            ReleaseInput {
                image: v2(),
                image_name: "firmware.bin".into(),
                image_uri: None,
                sequence: 2,
                vendor_domain: VENDOR.into(),
                class_name: CLASS.into(),
                version: "2.0.0".into(),
                notes: "cluster test".into(),
                deltas: vec![],
            },
            &[&cose as &dyn CoseSigner],
        )
        .unwrap();
        let upload = ReleaseUpload::new(bundle.envelope, bundle.image_name, bundle.image);
        self.admin(i).upload_release(&upload).await.expect("release upload").id
    }

    /// Devices talking to `replicas` (every request to one at random).
    pub fn fleet_options(&self, replicas: &[usize]) -> FleetOptions {
        FleetOptions {
            server_url: format!("https://localhost:{}", self.addrs[0].port()),
            replicas: replicas.iter().map(|&i| self.addrs[i]).collect(),
            server_ca_pem: self.ca.cert_pem(),
            poll_interval: Duration::from_millis(150),
            jitter: Duration::from_millis(100),
            slot_size: 0x20000,
            max_attempts: 1,
            until_idle: false,
            deadline: Duration::from_secs(40),
            ..FleetOptions::default()
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.replicas.len() {
            self.kill(i);
        }
    }
}

pub fn provisioning() -> Provisioning {
    let spki = |f: &str| fleet_sim::read_spki_pem(&repo(f)).unwrap();
    fleet_sim::provisioning(
        CLASS,
        VENDOR,
        vec![spki("fixtures/keys/test-only-ed25519-b.pub.pem")],
        vec![spki("fixtures/keys/test-only-ed25519-a.pub.pem")],
    )
}

/// A device of the class on v1 (sequence 1), talking only to replica `addr`.
pub fn device_link(cluster: &Cluster, id: &str, replica: usize) -> fleet_sim::net::Link {
    let issued = cluster.fleet_ca.issue_device(id, Some(CLASS)).unwrap();
    fleet_sim::net::Link::new(&cluster.fleet_options(&[replica]), &issued).unwrap()
}
