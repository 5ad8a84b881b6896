//! The server process: its database, `ota-server init`, the devices registered before it starts,
//! and what `/proc` says about it while it runs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ota_server::config::{Config, OfferMode};
use ota_server::domain::auth::Role;

use crate::common::{self, VENDOR};
use crate::{device_id, epoch_ms, Settings, CLASS, PROGRESS_CLASS, REF_CLASS};

/// The database of the run: `OTA_BENCH_DB` or SQLite in the server's directory.
#[derive(Debug)]
pub struct Db {
    pub url: String,
    /// `sqlite`, `postgres`, ...: the URL's scheme.
    pub backend: String,
    /// The PostgreSQL URL without a schema and the fresh schema the run made (dropped at the end).
    pg_schema: Option<(String, String)>,
}

impl Db {
    pub fn from_env(srv: &Path) -> Self {
        let (url, pg_schema) = match std::env::var("OTA_BENCH_DB") {
            Ok(url) if url.starts_with("postgres") && !url.contains("schema=") => {
                let schema = format!("rollout_bench_{}_{}", std::process::id(), epoch_ms());
                let sep = if url.contains('?') { '&' } else { '?' };
                (format!("{url}{sep}schema={schema}"), Some((url, schema)))
            }
            Ok(url) => (url, None),
            Err(_) => (format!("sqlite://{}", srv.join("data/ota.db").display()), None),
        };
        let backend = url.split(':').next().unwrap_or("?").to_owned();
        Self {
            url,
            backend,
            pg_schema,
        }
    }

    /// Drops the PostgreSQL schema the run made, if any.
    pub async fn drop_schema(&self) {
        use sqlx::Connection as _;
        let Some((url, schema)) = &self.pg_schema else { return };
        if let Ok(mut c) = sqlx::PgConnection::connect(url).await {
            let _ = sqlx::raw_sql(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                .execute(&mut c)
                .await;
        }
    }
}

/// `ota-server init` of the three classes in `srv`, then the bench's settings in its config;
/// the config's path.
pub fn init(bin: &Path, dir: &Path, srv: &Path, db: &str) -> PathBuf {
    let out = Command::new(bin)
        .arg("init")
        .arg("--dir")
        .arg(srv)
        .arg("--image-key")
        .arg(common::image_public_key())
        .arg("--manifest-key")
        .arg(common::write_manifest_public_key(dir))
        .arg("--class")
        .arg(format!("{CLASS}@{VENDOR}"))
        .arg("--class")
        .arg(format!("{REF_CLASS}@{VENDOR}"))
        .arg("--class")
        .arg(format!("{PROGRESS_CLASS}@{VENDOR}"))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ota-server init failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config_path = srv.join("ota-server.toml");
    let mut config: Config = toml::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config.database_url = db.to_owned();
    config.dev_insecure_http = true;
    config.offer_mode = OfferMode::Rollout;
    config.limits.checkin_burst = 1_000_000;
    config.limits.checkin_per_second = 1_000_000.0;
    std::fs::write(&config_path, toml::to_string_pretty(&config).unwrap()).unwrap();
    config_path
}

/// Devices and an admin token, straight into the store (the server is not running yet); the
/// token and the seconds it took.
pub async fn register(db: &str, settings: &Settings) -> (String, f64) {
    let t = Instant::now();
    let store = ota_server::store::open(db).await.unwrap();
    for (class, n) in [
        (CLASS, settings.devices),
        (REF_CLASS, settings.devices),
        (PROGRESS_CLASS, settings.progress_devices),
    ] {
        let ids: Vec<String> = (0..n).map(|i| device_id(class, i)).collect();
        store.register_devices(&ids, class, 0).await.unwrap();
    }
    let token = ota_server::init::create_token(store.as_ref(), "bench", Role::Admin)
        .await
        .unwrap();
    let registered = store.count_devices().await.unwrap();
    store.close().await;
    let register_secs = t.elapsed().as_secs_f64();
    println!("registered {registered} devices in {register_secs:.2} s");
    (token, register_secs)
}

/// The `ota-server` binary: `OTA_BENCH_SERVER_BIN`, or the one cargo built for this bench.
pub fn server_binary() -> PathBuf {
    if let Ok(p) = std::env::var("OTA_BENCH_SERVER_BIN") {
        return p.into();
    }
    // Cargo builds the package's binaries for its benches (same profile as this bench).
    let built = PathBuf::from(env!("CARGO_BIN_EXE_ota-server"));
    if built.exists() {
        return built;
    }
    eprintln!(
        "{} is missing; running cargo build --release --bin ota-server",
        built.display()
    );
    let ok = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-p", "ota-server", "--bin", "ota-server"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok && built.exists(),
        "no ota-server binary at {}: build it with `cargo build --release -p ota-server` \
         (same CARGO_TARGET_DIR) or set OTA_BENCH_SERVER_BIN",
        built.display()
    );
    built
}

/// The running `ota-server serve` process.
pub struct Server {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    log: PathBuf,
    clk_tck: f64,
    /// Highest VmHWM seen before any reset.
    peak_kib: u64,
    pub hwm_reset_works: bool,
}

impl Server {
    pub fn spawn(bin: &Path, config: &Path, log: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let out = std::fs::File::create(log).unwrap();
        let child = Command::new(bin)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env("OTA_LISTEN", addr.to_string())
            .env("OTA_DEV_INSECURE_HTTP", "1")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let pid = child.id();
        Self {
            child,
            pid,
            addr,
            log: log.to_owned(),
            clk_tck: clk_tck(),
            peak_kib: 0,
            hwm_reset_works: false,
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    pub async fn wait_ready(&mut self, client: &reqwest::Client) {
        let url = format!("http://{}/api/v1/openapi.json", self.addr);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("ota-server exited early ({status}); its log:\n{}", self.log_tail());
            }
            if let Ok(r) = client.get(&url).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "ota-server not ready after 60 s; its log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// utime + stime, seconds.
    pub fn cpu_secs(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap();
        // Fields after the parenthesised command name start at field 3 (state).
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = f[11].parse().unwrap();
        let stime: f64 = f[12].parse().unwrap();
        (utime + stime) / self.clk_tck
    }

    pub fn status_kib(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Peak RSS since the last reset, KiB.
    pub fn hwm_kib(&mut self) -> u64 {
        let hwm = self.status_kib("VmHWM:");
        self.peak_kib = self.peak_kib.max(hwm);
        hwm
    }

    /// Peak RSS over the whole run (the highest of every window), MiB.
    pub fn whole_peak_mib(&mut self) -> f64 {
        self.hwm_kib();
        self.peak_kib as f64 / 1024.0
    }

    /// Starts a new peak-RSS window ("5" → clear_refs resets VmHWM to the current RSS).
    pub fn reset_hwm(&mut self) {
        self.hwm_kib();
        self.hwm_reset_works = std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").is_ok();
    }

    /// SIGTERM (graceful: pending check-ins flushed, database closed), SIGKILL after 30 s.
    pub fn stop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 if that fails).
fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}
