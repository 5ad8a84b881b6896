//! Staged-rollout benchmark (a bench binary, not a timed test): N simulated devices checking in
//! against one `ota-server` process with a rollout running.
//!
//! `cargo bench -p ota-server --bench rollout [-- --json]` — environment knobs:
//! * `OTA_BENCH_DEVICES` devices per class (default 100000);
//! * `OTA_BENCH_CONCURRENCY` client connections (default 32);
//! * `OTA_BENCH_DB` database URL (default: SQLite in a temp dir; a PostgreSQL URL gets a fresh
//!   `schema=`, dropped at the end);
//! * `OTA_BENCH_PROGRESS_DEVICES` devices of the rollout-progress phase (default: all, 100000);
//! * `OTA_BENCH_PROGRESS_SECS` time limit of the rollout-progress phase (default 180);
//! * `OTA_BENCH_TICK_ITERS` iterations of the in-process `RolloutService::tick` timing (default 15);
//! * `OTA_BENCH_JSON=1` (or `--json`): also print one JSON object;
//! * `OTA_BENCH_SERVER_BIN`: the `ota-server` binary (default: the one cargo built for this bench).
//!
//! The server runs as a separate process (`ota-server serve`, plain HTTP with
//! `dev_insecure_http`, device id from `X-Device-Id`), so its CPU time (utime + stime from
//! `/proc/<pid>/stat`) and peak RSS (`VmHWM`, reset per phase through `/proc/<pid>/clear_refs`)
//! are the server's alone. Two device classes of N devices each are registered: `sensor-v2` gets
//! a rollout (1% → 10% → 50% → 100%, automatic, no soak), `gateway-v1` gets none and is the
//! reference — its check-ins take the same path (same process, same caches, same write-behind)
//! except for the rollout decision. Passes are interleaved (reference, rollout, then rollout,
//! reference) so drift and noise from a shared machine hit both alike; the ratios are what to
//! read.
//!
//! Phases: (1) first-contact pass of each class (the check-in writes the running image; the
//! rollout's 1% cohort gets new offers, i.e. device records are created), (2) a second,
//! steady-state pass of each class, (3) rollout progress, on a third class (`meter-v1`,
//! `OTA_BENCH_PROGRESS_DEVICES`) whose rollout is created when the phase starts: each round,
//! every device not yet updated checks in; offered devices report downloading → downloaded →
//! verified → installing → rebooted → committed and check in again with v2, until the rollout
//! completes (every report is a store write, batched: the status event through the check-in
//! writer, the device record through the rollout writer). Then, in-process: the engine's stage
//! decision over N device records and `RolloutService::tick`, which recounts the stage's cohort
//! from the store.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::pkcs8::EncodePublicKey as _;
use manifest::image::{ImageVersion, TrailerLayout};
use ota_protocol::client::{AdminClient, ReleaseUpload};
use ota_protocol::device::{CheckinRequest, CheckinResponse, StatusReport};
use ota_protocol::rollouts::{NewRollout, PlanInput, RolloutState, RolloutView, StageInput, TimelineKind};
use ota_server::config::{Config, OfferMode};
use ota_server::domain::auth::Role;
use ota_server::domain::rollout::{
    cohort_point, DeviceRecord, DeviceStage, Rollout, RolloutAction, RolloutPlan, BASIS_POINTS,
};
use ota_server::domain::Sha256;
use ota_server::rollouts::{RolloutService, COHORT_REFRESH_MS};
use serde_json::{json, Value};
use signer::image::{sign_image, SignSettings};
use signer::release::{build_release, CoseSigner, DeltaRef, ReleaseInput};

/// The class with a rollout.
const CLASS: &str = "sensor-v2";
/// The reference class: same server, same device count, no rollout.
const REF_CLASS: &str = "gateway-v1";
/// The class of the rollout-progress phase.
const PROGRESS_CLASS: &str = "meter-v1";
const VENDOR: &str = "example.com";
/// Stage fractions of the plan, in percent.
const STAGES: [f64; 4] = [1.0, 10.0, 50.0, 100.0];
/// What an offered device reports, in order.
fn reports(release: i64) -> [StatusReport; 6] {
    let release_id = Some(release);
    [
        StatusReport::Downloading { release_id },
        StatusReport::Downloaded { release_id },
        StatusReport::Verified { release_id },
        StatusReport::Installing { release_id },
        StatusReport::Rebooted { release_id },
        StatusReport::Committed { release_id },
    ]
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn epoch_ms() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

fn device_id(class: &str, i: usize) -> String {
    let prefix = match class {
        CLASS => "s",
        REF_CLASS => "g",
        _ => "m",
    };
    format!("{prefix}-{i:06}")
}

// ---------------------------------------------------------------------------------------------
// The server process and what /proc says about it.

struct Server {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    log: PathBuf,
    clk_tck: f64,
    /// Highest VmHWM seen before any reset.
    peak_kib: u64,
    hwm_reset_works: bool,
}

impl Server {
    fn spawn(bin: &Path, config: &Path, log: &Path) -> Self {
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
        let clk_tck = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0);
        let pid = child.id();
        Self {
            child,
            pid,
            addr,
            log: log.to_owned(),
            clk_tck,
            peak_kib: 0,
            hwm_reset_works: false,
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    async fn wait_ready(&mut self, client: &reqwest::Client) {
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
    fn cpu_secs(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap();
        // Fields after the parenthesised command name start at field 3 (state).
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = f[11].parse().unwrap();
        let stime: f64 = f[12].parse().unwrap();
        (utime + stime) / self.clk_tck
    }

    fn status_kib(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Peak RSS since the last reset, KiB.
    fn hwm_kib(&mut self) -> u64 {
        let hwm = self.status_kib("VmHWM:");
        self.peak_kib = self.peak_kib.max(hwm);
        hwm
    }

    /// Starts a new peak-RSS window ("5" → clear_refs resets VmHWM to the current RSS).
    fn reset_hwm(&mut self) {
        self.hwm_kib();
        self.hwm_reset_works = std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").is_ok();
    }

    /// SIGTERM (graceful: pending check-ins flushed, database closed), SIGKILL after 30 s.
    fn stop(&mut self) {
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

fn server_binary() -> PathBuf {
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

// ---------------------------------------------------------------------------------------------
// Releases.

fn signed_image(len: usize, version: u8, counter: u32) -> Vec<u8> {
    let key = signer::keys::load_file_key(&repo("fixtures/keys/test-only-ed25519-a.pem")).unwrap();
    let mut payload: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31)).collect();
    // v2 differs from v1 in a few places, so the delta is small but real.
    for i in (0..len).step_by(4096) {
        payload[i] = payload[i].wrapping_add(version);
    }
    let settings = SignSettings::new(ImageVersion::default(), u32::try_from(len + 0x10000).unwrap())
        .pad_header(true)
        .security_counter(Some(counter))
        .trailer(TrailerLayout::for_align(8, None));
    sign_image(&payload, &settings, &key).unwrap().bytes
}

/// Signs v2 (sequence 2, with a delta from v1) for `class` and uploads it; returns the release id.
async fn upload_v2(admin: &AdminClient, class: &str, v1: &[u8], v2: &[u8]) -> i64 {
    let mkey = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    let patch = signer::delta::create(v1, v2, &|_, _| {}).unwrap();
    let bundle = build_release(
        ReleaseInput {
            image: v2.to_vec(),
            image_name: "fw.bin".into(),
            image_uri: None,
            sequence: 2,
            vendor_domain: VENDOR.into(),
            class_name: class.into(),
            version: "2.0.0".into(),
            notes: String::new(),
            deltas: vec![DeltaRef {
                format: manifest::suit::DeltaFormat::FWSIGN_V1.0,
                precursor_image: v1.to_vec(),
                patch,
                file_name: "v1-to-v2.patch".into(),
            }],
        },
        &[&mkey as &dyn CoseSigner],
    )
    .unwrap();
    let mut upload = ReleaseUpload::new(bundle.envelope, bundle.image_name, bundle.image);
    for (name, patch) in bundle.patches {
        upload = upload.with_patch(name, patch);
    }
    admin.upload_release(&upload).await.expect("release upload").id
}

// ---------------------------------------------------------------------------------------------
// Load.

/// What one worker saw.
#[derive(Debug, Default)]
struct Rec {
    checkins: Vec<Duration>,
    reports: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
    offers: usize,
    offers_with_patch: usize,
}

impl Rec {
    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what);
        }
    }

    fn merge(&mut self, o: Rec) {
        self.checkins.extend(o.checkins);
        self.reports.extend(o.reports);
        self.errors += o.errors;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
        self.offers += o.offers;
        self.offers_with_patch += o.offers_with_patch;
    }
}

/// Request bodies, serialised once.
#[derive(Debug)]
struct Bodies {
    v1: bytes::Bytes,
    v2: bytes::Bytes,
}

#[derive(Debug)]
struct Ctx {
    checkin_url: String,
    status_url: String,
    bodies: Bodies,
}

/// One check-in; the offered release id, if any.
async fn checkin(ctx: &Ctx, client: &reqwest::Client, id: &str, body: &bytes::Bytes, rec: &mut Rec) -> Option<i64> {
    let t = Instant::now();
    let r = client
        .post(&ctx.checkin_url)
        .header("x-device-id", id)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await;
    let r = match r {
        Ok(r) => r,
        Err(e) => {
            rec.error(format!("check-in {id}: {e}"));
            return None;
        }
    };
    let status = r.status();
    let bytes = r.bytes().await.unwrap_or_default();
    rec.checkins.push(t.elapsed());
    if !status.is_success() {
        rec.error(format!("check-in {id}: {status} {}", String::from_utf8_lossy(&bytes)));
        return None;
    }
    let update = match serde_json::from_slice::<CheckinResponse>(&bytes) {
        Ok(r) => r.update?,
        Err(e) => {
            rec.error(format!("check-in {id}: {e}"));
            return None;
        }
    };
    rec.offers += 1;
    if update.patch.is_some() {
        rec.offers_with_patch += 1;
    }
    Some(update.release_id)
}

async fn report(ctx: &Ctx, client: &reqwest::Client, id: &str, report: &StatusReport, rec: &mut Rec) {
    let status = report.name();
    let body = serde_json::to_vec(report).unwrap_or_default();
    let t = Instant::now();
    let r = client
        .post(&ctx.status_url)
        .header("x-device-id", id)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    match r {
        Ok(r) => {
            let code = r.status();
            let _ = r.bytes().await;
            rec.reports.push(t.elapsed());
            if !code.is_success() {
                rec.error(format!("status {status} of {id}: {code}"));
            }
        }
        Err(e) => rec.error(format!("status {status} of {id}: {e}")),
    }
}

fn clients(n: usize) -> Vec<reqwest::Client> {
    (0..n)
        .map(|_| reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap())
        .collect()
}

/// Runs `work(ctx, client, item, rec)` for every item on `concurrency` connections.
async fn pool<W, Fut>(ctx: Arc<Ctx>, conns: &[reqwest::Client], items: Arc<Vec<usize>>, work: W) -> (Rec, Duration)
where
    W: Fn(Arc<Ctx>, reqwest::Client, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Rec> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for client in conns {
        let client = client.clone();
        let (ctx, items, next, work) = (ctx.clone(), items.clone(), next.clone(), work.clone());
        tasks.push(tokio::spawn(async move {
            let mut all = Rec::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&item) = items.get(i) else { break };
                all.merge(work(ctx.clone(), client.clone(), item).await);
            }
            all
        }));
    }
    let mut rec = Rec::default();
    for t in tasks {
        rec.merge(t.await.unwrap());
    }
    (rec, start.elapsed())
}

// ---------------------------------------------------------------------------------------------
// Results.

fn pct(v: &mut [Duration], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable();
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1e3
}

#[derive(Debug, Clone)]
struct Phase {
    name: String,
    checkins: usize,
    reports: usize,
    secs: f64,
    /// Check-ins (and reports) per second.
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    report_p50_ms: f64,
    report_p99_ms: f64,
    cpu_s: f64,
    /// Server CPU milliseconds per check-in-or-report, ×1000 = CPU-seconds per 1,000 requests.
    cpu_s_per_1k: f64,
    peak_rss_mib: f64,
    /// RSS at the end of the phase: anonymous (heap) and file-backed (SQLite's mmap).
    rss_anon_mib: f64,
    rss_file_mib: f64,
    offers: usize,
    errors: usize,
}

impl Phase {
    fn new(name: &str, mut rec: Rec, elapsed: Duration, cpu_s: f64, hwm_kib: u64, anon_file_kib: (u64, u64)) -> Self {
        let requests = rec.checkins.len() + rec.reports.len();
        if let Some(e) = &rec.first_error {
            eprintln!("  {name}: {} errors, first: {e}", rec.errors);
        }
        Self {
            name: name.into(),
            checkins: rec.checkins.len(),
            reports: rec.reports.len(),
            secs: elapsed.as_secs_f64(),
            rps: requests as f64 / elapsed.as_secs_f64(),
            p50_ms: pct(&mut rec.checkins, 0.50),
            p99_ms: pct(&mut rec.checkins, 0.99),
            report_p50_ms: pct(&mut rec.reports, 0.50),
            report_p99_ms: pct(&mut rec.reports, 0.99),
            cpu_s,
            cpu_s_per_1k: cpu_s / (requests.max(1) as f64 / 1000.0),
            peak_rss_mib: hwm_kib as f64 / 1024.0,
            rss_anon_mib: anon_file_kib.0 as f64 / 1024.0,
            rss_file_mib: anon_file_kib.1 as f64 / 1024.0,
            offers: rec.offers,
            errors: rec.errors,
        }
    }

    fn print(&self) {
        println!(
            "{:<40} {:>8} chk {:>7} rep {:>7.2} s {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>7.2} ms  \
             CPU {:>6.2} s ({:.3} s/1k)  peak RSS {:>6.1} MiB (end: anon {:.0}, file {:.0})  offers {}  errors {}",
            self.name,
            self.checkins,
            self.reports,
            self.secs,
            self.rps,
            self.p50_ms,
            self.p99_ms,
            self.cpu_s,
            self.cpu_s_per_1k,
            self.peak_rss_mib,
            self.rss_anon_mib,
            self.rss_file_mib,
            self.offers,
            self.errors
        );
    }

    fn json(&self) -> Value {
        json!({
            "name": self.name, "checkins": self.checkins, "reports": self.reports, "secs": self.secs,
            "requests_per_s": self.rps, "checkin_p50_ms": self.p50_ms, "checkin_p99_ms": self.p99_ms,
            "report_p50_ms": self.report_p50_ms, "report_p99_ms": self.report_p99_ms,
            "server_cpu_s": self.cpu_s, "server_cpu_s_per_1k_requests": self.cpu_s_per_1k,
            "server_peak_rss_mib": self.peak_rss_mib, "server_rss_anon_mib_end": self.rss_anon_mib,
            "server_rss_file_mib_end": self.rss_file_mib, "offers": self.offers, "errors": self.errors,
        })
    }
}

/// Median, min and max of `f()` over `iters` runs, in the unit `scale` converts seconds to.
fn time_median(iters: usize, scale: f64, mut f: impl FnMut()) -> (f64, f64, f64) {
    let mut v: Vec<f64> = (0..iters)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * scale
        })
        .collect();
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

#[allow(clippy::too_many_lines)]
async fn run() {
    let devices = env_num("OTA_BENCH_DEVICES", 100_000);
    let concurrency = env_num("OTA_BENCH_CONCURRENCY", 32);
    let progress_devices = env_num("OTA_BENCH_PROGRESS_DEVICES", devices).min(devices);
    let progress_limit = Duration::from_secs(env_num("OTA_BENCH_PROGRESS_SECS", 180) as u64);
    let tick_iters = env_num("OTA_BENCH_TICK_ITERS", 15).max(1);
    let want_json = std::env::args().any(|a| a == "--json")
        || std::env::var("OTA_BENCH_JSON").is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes"));
    let total = Instant::now();

    let dir = tempfile::tempdir().unwrap();
    let srv = dir.path().join("srv");
    let (db, pg_schema) = match std::env::var("OTA_BENCH_DB") {
        Ok(url) if url.starts_with("postgres") && !url.contains("schema=") => {
            let schema = format!("rollout_bench_{}_{}", std::process::id(), epoch_ms());
            let sep = if url.contains('?') { '&' } else { '?' };
            (format!("{url}{sep}schema={schema}"), Some((url, schema)))
        }
        Ok(url) => (url, None),
        Err(_) => (format!("sqlite://{}", srv.join("data/ota.db").display()), None),
    };
    let backend = db.split(':').next().unwrap_or("?").to_owned();
    let bin = server_binary();
    println!(
        "ota-server rollout benchmark: {devices} devices per class ({CLASS}: rollout, {REF_CLASS}: reference), \
         {progress_devices} for rollout progress ({PROGRESS_CLASS}), {concurrency} connections, db {backend}, server {}",
        bin.display()
    );

    // `ota-server init`, then the bench's settings in its config.
    let mkey = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    std::fs::write(
        dir.path().join("m.pem"),
        mkey.verifying_key().to_public_key_pem(Default::default()).unwrap(),
    )
    .unwrap();
    let out = Command::new(&bin)
        .arg("init")
        .arg("--dir")
        .arg(&srv)
        .arg("--image-key")
        .arg(repo("fixtures/keys/test-only-ed25519-a.pub.pem"))
        .arg("--manifest-key")
        .arg(dir.path().join("m.pem"))
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
    config.database_url.clone_from(&db);
    config.dev_insecure_http = true;
    config.offer_mode = OfferMode::Rollout;
    config.limits.checkin_burst = 1_000_000;
    config.limits.checkin_per_second = 1_000_000.0;
    std::fs::write(&config_path, toml::to_string_pretty(&config).unwrap()).unwrap();

    // Devices and an admin token, straight into the store (the server is not running yet).
    let t = Instant::now();
    let store = ota_server::store::open(&db).await.unwrap();
    for (class, n) in [
        (CLASS, devices),
        (REF_CLASS, devices),
        (PROGRESS_CLASS, progress_devices),
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

    let mut server = Server::spawn(&bin, &config_path, &dir.path().join("server.log"));
    server.wait_ready(&reqwest::Client::new()).await;
    let base = format!("http://{}", server.addr);
    let admin = AdminClient::builder(base.clone()).token(token).build().unwrap();
    println!("server pid {} on {}", server.pid, server.addr);

    // v2 (with a delta from v1) for both classes; a rollout of the sensor release only.
    let v1 = signed_image(256 * 1024, 1, 1);
    let v2 = signed_image(256 * 1024, 2, 2);
    let v1_digest = Sha256::of(&v1).hex();
    let v2_digest = Sha256::of(&v2).hex();
    let release = upload_v2(&admin, CLASS, &v1, &v2).await;
    let _ref_release = upload_v2(&admin, REF_CLASS, &v1, &v2).await;
    let progress_release = upload_v2(&admin, PROGRESS_CLASS, &v1, &v2).await;
    let create_rollout = |release: i64| {
        let rollout = NewRollout {
            plan: PlanInput {
                stages: Some(
                    STAGES
                        .iter()
                        .map(|p| StageInput {
                            soak_ms: Some(0),
                            min_committed_percent: Some(100.0),
                            ..StageInput::percent(*p)
                        })
                        .collect(),
                ),
                max_in_flight: Some(10_000_000),
                ..PlanInput::default()
            },
            start: Some(true),
            ..NewRollout::of(release)
        };
        let admin = admin.clone();
        async move { admin.create_rollout(&rollout).await.expect("rollout").id }
    };
    create_rollout(release).await;
    let view = |admin: &AdminClient, id: i64| {
        let admin = admin.clone();
        async move { admin.rollout(id).await.expect("rollout view") }
    };

    // Background cost of a running rollout with no traffic (the timer recounts the cohort
    // every COHORT_REFRESH_MS).
    let idle_window = Duration::from_millis(2 * u64::try_from(COHORT_REFRESH_MS).unwrap() + 500);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let c0 = server.cpu_secs();
    tokio::time::sleep(idle_window).await;
    let idle_cpu_per_s = (server.cpu_secs() - c0) / idle_window.as_secs_f64();
    println!(
        "server idle with the rollout running: {:.1} ms CPU per second (cohort recount every {} ms)",
        idle_cpu_per_s * 1e3,
        COHORT_REFRESH_MS
    );

    let ctx = Arc::new(Ctx {
        checkin_url: format!("{base}/api/v1/device/checkin"),
        status_url: format!("{base}/api/v1/device/status"),
        bodies: Bodies {
            v1: serde_json::to_vec(&CheckinRequest::new(v1_digest.clone(), Some("1.0.0".into()), 1))
                .unwrap()
                .into(),
            v2: serde_json::to_vec(&CheckinRequest::new(v2_digest.clone(), Some("2.0.0".into()), 2))
                .unwrap()
                .into(),
        },
    });
    let conns = clients(concurrency);
    let all: Arc<Vec<usize>> = Arc::new((0..devices).collect());

    // One check-in of every device of `class` (v1).
    let pass = |class: &'static str| {
        move |ctx: Arc<Ctx>, client: reqwest::Client, i: usize| async move {
            let mut rec = Rec::default();
            checkin(&ctx, &client, &device_id(class, i), &ctx.bodies.v1, &mut rec).await;
            rec
        }
    };
    // Warm-up: a few thousand check-ins of other devices (connections, allocator, caches).
    let warm: Arc<Vec<usize>> = Arc::new((0..devices.min(2_000)).collect());
    let _ = pool(ctx.clone(), &conns, warm.clone(), pass(REF_CLASS)).await;
    let _ = pool(ctx.clone(), &conns, warm, pass(CLASS)).await;

    let mut phases: Vec<Phase> = Vec::new();
    let mut measure = |server: &mut Server, name: &str, rec: Rec, elapsed: Duration, cpu0: f64| {
        let anon_file = (server.status_kib("RssAnon:"), server.status_kib("RssFile:"));
        let p = Phase::new(
            name,
            rec,
            elapsed,
            server.cpu_secs() - cpu0,
            server.hwm_kib(),
            anon_file,
        );
        p.print();
        phases.push(p.clone());
        p
    };
    let mut passes: BTreeMap<(u8, bool), Phase> = BTreeMap::new();
    for round in 1..=2u8 {
        // Reference, rollout, rollout, reference: drift over the run hits both alike.
        let order = if round == 1 { [false, true] } else { [true, false] };
        for rollout in order {
            let (class, what) = if rollout {
                (CLASS, "rollout")
            } else {
                (REF_CLASS, "reference (no rollout)")
            };
            server.reset_hwm();
            let cpu0 = server.cpu_secs();
            let (rec, elapsed) = pool(ctx.clone(), &conns, all.clone(), pass(class)).await;
            let label = if round == 1 { "first contact" } else { "steady" };
            let p = measure(&mut server, &format!("[{round}] {what}, {label}"), rec, elapsed, cpu0);
            passes.insert((round, rollout), p);
        }
    }

    // Rollout progress: rounds of check-ins of every device not yet updated; offered devices
    // report their way to "committed", then check in with v2 (what runs after the reboot).
    let done: Arc<Vec<AtomicBool>> = Arc::new((0..progress_devices).map(|_| AtomicBool::new(false)).collect());
    server.reset_hwm();
    let cpu0 = server.cpu_secs();
    let progress_start = Instant::now();
    let progress_start_ms = epoch_ms();
    let rollout_id = create_rollout(progress_release).await;
    let mut progress = Rec::default();
    let mut rounds = 0;
    let mut final_view: RolloutView;
    loop {
        final_view = view(&admin, rollout_id).await;
        if final_view.state != RolloutState::RUNNING || progress_start.elapsed() > progress_limit {
            break;
        }
        let stage = final_view.current_stage;
        let pending: Arc<Vec<usize>> = Arc::new(
            (0..progress_devices)
                .filter(|&i| !done[i].load(Ordering::Relaxed))
                .collect(),
        );
        let done2 = done.clone();
        let (rec, _) = pool(ctx.clone(), &conns, pending, move |ctx, client, i| {
            let done = done2.clone();
            async move {
                let mut rec = Rec::default();
                let id = device_id(PROGRESS_CLASS, i);
                if let Some(release) = checkin(&ctx, &client, &id, &ctx.bodies.v1, &mut rec).await {
                    for r in &reports(release) {
                        report(&ctx, &client, &id, r, &mut rec).await;
                    }
                    checkin(&ctx, &client, &id, &ctx.bodies.v2, &mut rec).await;
                    done[i].store(true, Ordering::Relaxed);
                }
                rec
            }
        })
        .await;
        progress.merge(rec);
        rounds += 1;
        // The next round once the stage moved on (devices poll again later in reality); after
        // 5 s without a change, the pending devices check in again anyway.
        let wait = Instant::now();
        loop {
            let v = view(&admin, rollout_id).await;
            if v.current_stage != stage
                || v.state != RolloutState::RUNNING
                || wait.elapsed() > Duration::from_secs(5)
                || progress_start.elapsed() > progress_limit
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let progress_elapsed = progress_start.elapsed();
    let progress_phase = measure(
        &mut server,
        &format!("[3] rollout progress, {progress_devices} dev."),
        progress,
        progress_elapsed,
        cpu0,
    );
    let state = final_view.state.to_string();
    let mut milestones: Vec<(String, f64, String)> = Vec::new();
    for t in &final_view.timeline {
        let at = t.at_ms;
        if at < progress_start_ms {
            continue;
        }
        // A promotion's entry carries the stage it promoted to.
        let stage = t.stage;
        let what = if t.kind == TimelineKind::PROMOTED {
            format!("stage {} ({}%)", stage + 1, STAGES.get(stage).copied().unwrap_or(0.0))
        } else {
            t.kind.to_string()
        };
        let message = t.message.clone();
        milestones.push((what, (at - progress_start_ms) as f64 / 1e3, message));
    }
    let committed: u64 = final_view.stages.iter().map(|s| u64::from(s.counts.committed)).sum();
    println!(
        "rollout {state} after {:.1} s, {rounds} rounds: {} check-ins + {} reports, {committed} devices committed",
        progress_elapsed.as_secs_f64(),
        progress_phase.checkins,
        progress_phase.reports
    );
    for (what, secs, message) in &milestones {
        println!("  {what:<16} at {secs:>7.2} s  ({message})");
    }
    for s in &final_view.stages {
        println!(
            "  stage {} ({:>5}%): cohort {:>6}, offered {:>6}, committed {:>6}, failed {}",
            s.index + 1,
            s.percent,
            s.cohort.map_or("-".to_owned(), |c| c.to_string()),
            s.counts.offered,
            s.counts.committed,
            s.counts.failed
        );
    }
    println!(
        "  status reports: p50 {:.2} ms, p99 {:.2} ms",
        progress_phase.report_p50_ms, progress_phase.report_p99_ms
    );
    // Every report and new offer is a store write under the service lock: they do not overlap,
    // so the time grows linearly with the devices.
    let extrapolated_s = progress_elapsed.as_secs_f64() * devices as f64 / progress_devices.max(1) as f64;
    if progress_devices < devices {
        println!("  {devices} devices at this rate: ~{extrapolated_s:.0} s (linear extrapolation)");
    }
    let reached_full = milestones
        .iter()
        .find(|(w, _, _)| w.contains("100%"))
        .map(|(_, s, _)| *s);
    let completed_at = milestones.iter().find(|(w, _, _)| w == "completed").map(|(_, s, _)| *s);

    let whole_peak_mib = {
        server.hwm_kib();
        server.peak_kib as f64 / 1024.0
    };
    let hwm_reset = server.hwm_reset_works;
    server.stop();

    // ------------------------------------------------------------------------------------------
    // Stage decisions, in-process.

    // The engine over N device records: counts (O(N)) and the gates (O(stages)).
    let salt = *b"bench-rollout-01";
    let mut engine = Rollout::new(RolloutPlan::canary_by_share(0), salt).unwrap();
    engine.act(RolloutAction::Start, 0).unwrap();
    engine.stage = 2;
    let ids: Vec<String> = (0..devices).map(|i| device_id(CLASS, i)).collect();
    let records: Vec<DeviceRecord> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let point = cohort_point(&salt, id);
            let stage_index = engine.plan.stages.iter().position(|s| point < s.fraction_bp).unwrap();
            let mut r = DeviceRecord::offered(id, stage_index.min(2), Some(v1_digest.clone()), 0);
            r.stage = match i % 10 {
                0 => DeviceStage::Downloading,
                1 => DeviceStage::Installing,
                _ => DeviceStage::Committed,
            };
            r
        })
        .collect();
    let cohort = u32::try_from(devices).unwrap();
    let counts = engine.counts(&records);
    let (counts_us, _, _) = time_median(51, 1e6, || {
        std::hint::black_box(engine.counts(std::hint::black_box(&records)));
    });
    let eval_iters = 10_001;
    let (eval_ns, _, _) = time_median(eval_iters, 1e9, || {
        let mut r = engine.clone();
        std::hint::black_box(r.evaluate(std::hint::black_box(&counts), cohort, 1));
    });
    let (clone_ns, _, _) = time_median(eval_iters, 1e9, || {
        std::hint::black_box(engine.clone());
    });
    let eval_ns = (eval_ns - clone_ns).max(0.0);
    let (decide_ms, _, _) = time_median(11, 1e3, || {
        for id in &ids {
            std::hint::black_box(engine.decide_offer(id, None, 0));
        }
    });
    let decide_ns = decide_ms * 1e6 / devices as f64;
    let (cohort_ms, _, _) = time_median(11, 1e3, || {
        for id in &ids {
            std::hint::black_box(cohort_point(&salt, id));
        }
    });
    assert!(engine.plan.stages.last().unwrap().fraction_bp == BASIS_POINTS);

    // The service: load (restart cost: every rollout's device records), then `tick` with the
    // rollout of the N-device class still running (its devices still on v1), recounting the
    // cohort every time (the clock moves on by COHORT_REFRESH_MS per call).
    let t = Instant::now();
    let store = ota_server::store::open(&db).await.unwrap();
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let service = RolloutService::load(store.clone()).await.unwrap();
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut now = epoch_ms();
    let mut tick_ms = Vec::new();
    for _ in 0..tick_iters {
        now += COHORT_REFRESH_MS;
        let t = Instant::now();
        service.tick(now).await.unwrap();
        tick_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    tick_ms.sort_by(f64::total_cmp);
    let tick_median = tick_ms[tick_ms.len() / 2];
    let mut cached_us = Vec::new();
    for _ in 0..101 {
        let t = Instant::now();
        service.tick(now).await.unwrap();
        cached_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    cached_us.sort_by(f64::total_cmp);
    let tick_cached_us = cached_us[cached_us.len() / 2];
    let mut scan_ms = Vec::new();
    let mut scanned = 0;
    for _ in 0..tick_iters.min(7) {
        let t = Instant::now();
        scanned = store.class_devices(CLASS).await.unwrap().len();
        scan_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    scan_ms.sort_by(f64::total_cmp);
    let scan_median = scan_ms[scan_ms.len() / 2];
    let views = service.views().await;
    let running = views.iter().filter(|v| v.state == "running").count();
    let loaded_records: u32 = views
        .iter()
        .flat_map(|v| v.stages.iter())
        .map(|s| s.counts.offered)
        .sum();
    let cohort_counted = views
        .iter()
        .find(|v| v.release.class == CLASS)
        .and_then(|v| v.stages.first())
        .and_then(|s| s.cohort)
        .unwrap_or(0);
    store.close().await;
    if let Some((url, schema)) = &pg_schema {
        use sqlx::Connection as _;
        if let Ok(mut c) = sqlx::PgConnection::connect(url).await {
            let _ = sqlx::raw_sql(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                .execute(&mut c)
                .await;
        }
    }

    // ------------------------------------------------------------------------------------------
    // Summary.

    let ratio = |round: u8| {
        let r = &passes[&(round, true)];
        let b = &passes[&(round, false)];
        (r.rps / b.rps, r.cpu_s_per_1k / b.cpu_s_per_1k)
    };
    let (rps1, cpu1) = ratio(1);
    let (rps2, cpu2) = ratio(2);
    println!();
    println!("== summary: {devices} devices per class, {concurrency} connections, {backend} ==");
    println!(
        "{:<44} {:>8} {:>8} {:>9} {:>8} {:>8} {:>10} {:>9} {:>9} {:>7}",
        "phase", "chk-ins", "reports", "req/s", "p50 ms", "p99 ms", "CPU s/1k", "peak MiB", "anon/file", "errors"
    );
    for p in &phases {
        println!(
            "{:<44} {:>8} {:>8} {:>9.0} {:>8.2} {:>8.2} {:>10.3} {:>9.1} {:>9} {:>7}",
            p.name,
            p.checkins,
            p.reports,
            p.rps,
            p.p50_ms,
            p.p99_ms,
            p.cpu_s_per_1k,
            p.peak_rss_mib,
            format!("{:.0}/{:.0}", p.rss_anon_mib, p.rss_file_mib),
            p.errors
        );
    }
    println!(
        "server peak RSS over the whole run: {whole_peak_mib:.1} MiB{}",
        if hwm_reset {
            " (per-phase peaks: VmHWM reset through clear_refs before each phase)"
        } else {
            " (clear_refs refused: per-phase peaks are running maxima)"
        }
    );
    println!("ratios, rollout ÷ reference (same run, same server):");
    println!("  check-ins/s        first contact {rps1:.3}   steady {rps2:.3}");
    println!("  CPU per check-in   first contact {cpu1:.3}   steady {cpu2:.3}");
    println!(
        "rollout of {progress_devices} devices to 100%: {} ({} check-ins + {} reports, {rounds} rounds); completed: {}",
        reached_full.map_or("not reached".into(), |s| format!("stage 100% at {s:.2} s")),
        progress_phase.checkins,
        progress_phase.reports,
        completed_at.map_or(format!("no (state {state})"), |s| format!("at {s:.2} s")),
    );
    println!("stage decision, engine over {devices} device records (in-process, median):");
    println!("  Rollout::counts          {counts_us:>10.1} µs");
    println!("  Rollout::evaluate        {eval_ns:>10.1} ns   (gates over the counts)");
    println!("  decide_offer             {decide_ns:>10.1} ns per device ({cohort_ms:.1} ms of cohort hashing per {devices})");
    println!("stage decision, RolloutService ({devices} devices of the class, {backend}):");
    println!(
        "  store open {open_ms:.1} ms; RolloutService::load ({} rollouts, {loaded_records} device records) {load_ms:.1} ms",
        views.len()
    );
    println!(
        "  tick with cohort recount {tick_median:>9.1} ms median (min {:.1}, max {:.1}, {tick_iters} runs; 1% cohort {cohort_counted}){}",
        tick_ms[0],
        tick_ms[tick_ms.len() - 1],
        if running > 1 {
            format!(" [{running} rollouts running: each recounted]")
        } else {
            String::new()
        }
    );
    println!(
        "    of which store.class_devices ({scanned} rows) {scan_median:.1} ms, cohort hashing ~{cohort_ms:.1} ms"
    );
    println!("  tick without recount     {tick_cached_us:>9.1} µs median");
    println!("total bench time {:.1} s", total.elapsed().as_secs_f64());

    if want_json {
        let out = json!({
            "devices_per_class": devices,
            "concurrency": concurrency,
            "backend": backend,
            "register_secs": register_secs,
            "idle_server_cpu_ms_per_s": idle_cpu_per_s * 1e3,
            "phases": phases.iter().map(Phase::json).collect::<Vec<_>>(),
            "server_peak_rss_mib": whole_peak_mib,
            "ratios": {
                "first_contact": {"checkins_per_s": rps1, "cpu_per_checkin": cpu1},
                "steady": {"checkins_per_s": rps2, "cpu_per_checkin": cpu2},
            },
            "progress": {
                "state": state,
                "devices": progress_devices,
                "secs": progress_elapsed.as_secs_f64(),
                "extrapolated_secs_for_devices_per_class": extrapolated_s,
                "rounds": rounds,
                "checkins": progress_phase.checkins,
                "reports": progress_phase.reports,
                "committed": committed,
                "reached_100_percent_s": reached_full,
                "completed_s": completed_at,
                "milestones": milestones.iter().map(|(w, s, m)| json!({"what": w, "s": s, "message": m})).collect::<Vec<_>>(),
            },
            "engine": {
                "records": devices,
                "counts_us": counts_us,
                "evaluate_ns": eval_ns,
                "decide_offer_ns": decide_ns,
                "cohort_hash_all_ms": cohort_ms,
            },
            "service": {
                "load_ms": load_ms,
                "load_device_records": loaded_records,
                "tick_recount_ms_median": tick_median,
                "tick_recount_ms_min": tick_ms[0],
                "tick_recount_ms_max": tick_ms[tick_ms.len() - 1],
                "class_devices_ms": scan_median,
                "tick_no_recount_us": tick_cached_us,
            },
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap());
    }
}
