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
//!
//! The modules: `server` (the server process, its setup and what `/proc` says about it),
//! `clients` (the device client pool), `phases` (the measured passes), `progress` (phase 3),
//! `decision` (the in-process stage decision), `report` (the summary and the JSON object);
//! `common` is shared with the check-in bench.

#[path = "../common/mod.rs"]
mod common;

mod clients;
mod decision;
mod phases;
mod progress;
mod report;
mod server;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ota_protocol::client::AdminClient;
use ota_server::domain::Sha256;

use clients::Ctx;
use common::env_num;
use server::{Db, Server};

/// The class with a rollout.
const CLASS: &str = "sensor-v2";
/// The reference class: same server, same device count, no rollout.
const REF_CLASS: &str = "gateway-v1";
/// The class of the rollout-progress phase.
const PROGRESS_CLASS: &str = "meter-v1";
/// Stage fractions of the plan, in percent.
const STAGES: [f64; 4] = [1.0, 10.0, 50.0, 100.0];

/// The environment knobs and `--json`.
#[derive(Debug)]
struct Settings {
    devices: usize,
    concurrency: usize,
    progress_devices: usize,
    progress_limit: Duration,
    tick_iters: usize,
    json: bool,
}

impl Settings {
    fn from_env() -> Self {
        let devices = env_num("OTA_BENCH_DEVICES", 100_000);
        Self {
            devices,
            concurrency: env_num("OTA_BENCH_CONCURRENCY", 32),
            progress_devices: env_num("OTA_BENCH_PROGRESS_DEVICES", devices).min(devices),
            progress_limit: Duration::from_secs(env_num("OTA_BENCH_PROGRESS_SECS", 180) as u64),
            tick_iters: env_num("OTA_BENCH_TICK_ITERS", 15).max(1),
            json: std::env::args().any(|a| a == "--json")
                || std::env::var("OTA_BENCH_JSON").is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes")),
        }
    }
}

fn device_id(class: &str, i: usize) -> String {
    let prefix = match class {
        CLASS => "s",
        REF_CLASS => "g",
        _ => "m",
    };
    format!("{prefix}-{i:06}")
}

fn epoch_ms() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

/// v1 and v2 of every class's firmware (v2 with a delta from v1).
struct Firmware {
    v1: Vec<u8>,
    v2: Vec<u8>,
}

impl Firmware {
    fn new() -> Self {
        Self {
            v1: common::signed_image(256 * 1024, 1, 1),
            v2: common::signed_image(256 * 1024, 2, 2),
        }
    }

    /// Signs v2 (sequence 2, with a delta from v1) for `class` and uploads it; the release id.
    async fn upload_v2(&self, admin: &AdminClient, class: &str) -> i64 {
        let mut input = common::release_input(class, 2, "2.0.0", self.v2.clone());
        input.deltas = vec![signer::release::DeltaRef {
            format: manifest::suit::DeltaFormat::FWSIGN_V1.0,
            precursor_image: self.v1.clone(),
            patch: signer::delta::create(&self.v1, &self.v2, &|_, _| {}).unwrap(),
            file_name: "v1-to-v2.patch".into(),
        }];
        let upload = common::release_upload(input);
        admin.upload_release(&upload).await.expect("release upload").id
    }
}

/// The server of the run, started, and how to reach it.
struct Started {
    db: Db,
    server: Server,
    base: String,
    admin: AdminClient,
    register_secs: f64,
}

/// `ota-server init` in `dir`, the devices and an admin token registered, then the server
/// started.
async fn start(settings: &Settings, dir: &Path) -> Started {
    let srv = dir.join("srv");
    let db = Db::from_env(&srv);
    let bin = server::server_binary();
    println!(
        "ota-server rollout benchmark: {} devices per class ({CLASS}: rollout, {REF_CLASS}: reference), \
         {} for rollout progress ({PROGRESS_CLASS}), {} connections, db {}, server {}",
        settings.devices,
        settings.progress_devices,
        settings.concurrency,
        db.backend,
        bin.display()
    );
    let config_path = server::init(&bin, dir, &srv, &db.url);
    let (token, register_secs) = server::register(&db.url, settings).await;
    let mut server = Server::spawn(&bin, &config_path, &dir.join("server.log"));
    server.wait_ready(&reqwest::Client::new()).await;
    let base = format!("http://{}", server.addr);
    let admin = AdminClient::builder(base.clone()).token(token).build().unwrap();
    println!("server pid {} on {}", server.pid, server.addr);
    Started {
        db,
        server,
        base,
        admin,
        register_secs,
    }
}

async fn run() {
    let settings = Settings::from_env();
    let total = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let Started {
        db,
        mut server,
        base,
        admin,
        register_secs,
    } = start(&settings, dir.path()).await;

    // v2 (with a delta from v1) for every class; a rollout of the sensor release only.
    let firmware = Firmware::new();
    let v1_digest = Sha256::of(&firmware.v1).hex();
    let v2_digest = Sha256::of(&firmware.v2).hex();
    let release = firmware.upload_v2(&admin, CLASS).await;
    let _ref_release = firmware.upload_v2(&admin, REF_CLASS).await;
    let progress_release = firmware.upload_v2(&admin, PROGRESS_CLASS).await;
    phases::create_rollout(&admin, release).await;
    let idle_cpu_per_s = phases::idle_cpu(&server).await;

    let ctx = Arc::new(Ctx::new(&base, &v1_digest, &v2_digest));
    let conns = common::plain_clients(settings.concurrency);
    let mut recorder = phases::Recorder::default();
    phases::warm_up(&ctx, &conns, settings.devices).await;
    let passes = phases::passes(&mut recorder, &mut server, &ctx, &conns, settings.devices).await;
    let run = progress::Run {
        ctx: &ctx,
        conns: &conns,
        admin: &admin,
        settings: &settings,
    };
    let progress = run.measure(&mut recorder, &mut server, progress_release).await;

    let whole_peak_mib = server.whole_peak_mib();
    let hwm_reset = server.hwm_reset_works;
    server.stop();

    let engine = decision::engine(settings.devices, &v1_digest);
    let service = decision::service(&db.url, settings.tick_iters).await;
    db.drop_schema().await;

    let report = report::Report {
        settings: &settings,
        backend: &db.backend,
        register_secs,
        idle_cpu_per_s,
        phases: &recorder.phases,
        passes: &passes,
        whole_peak_mib,
        hwm_reset,
        progress: &progress,
        engine: &engine,
        service: &service,
    };
    report.print(total);
    if settings.json {
        println!("{}", serde_json::to_string_pretty(&report.json()).unwrap());
    }
}
