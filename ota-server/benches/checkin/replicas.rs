//! Backends and replica counts, side by side in one run: check-ins on SQLite (one process) and
//! on PostgreSQL with one, two and three replicas sharing one schema (each replica a full server
//! in this process: its own pool, device cache, rollout cache and change feed), every request
//! sent to the next replica in turn. Each configuration is measured right after the trivial
//! handler, and reported as a ratio to it:
//!
//! * first contact — devices registered before the replicas started, never seen by any of them
//!   (what a replica's cache holds then is what it loaded at start);
//! * repeat — the same devices again (what a fleet polling all day does);
//! * new device — devices nobody registered: their first check-in registers them.
//!
//! Then the time from an operator's pause on one replica to the moment an already-offered device
//! is refused on each of the others (plain HTTP, offer_mode = rollout, a small release).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ota_protocol::client::AdminClient;
use ota_protocol::device::{CheckinRequest, CheckinResponse};
use ota_protocol::rollouts::{NewRollout, PlanInput, RolloutAction, StageInput};
use ota_server::config::OfferMode;
use ota_server::domain::auth::Role;
use ota_server::init::DevCa;

use super::{load, print, start_with, Stats, CLASS};
use crate::common::{self, plain_clients};

/// One configuration's result.
struct Row {
    name: String,
    new: Stats,
    new_ref: f64,
    first: Stats,
    first_ref: f64,
    repeat: Stats,
    repeat_ref: f64,
}

/// A fresh PostgreSQL schema for this run on `base` (dropped by [`drop_schema`]).
fn pg_url(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}schema={schema}")
}

async fn drop_schema(base: &str, schema: &str) {
    use sqlx::Connection as _;
    if let Ok(mut c) = sqlx::PgConnection::connect(base).await {
        let _ = sqlx::raw_sql(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .execute(&mut c)
            .await;
    }
}

fn device(i: usize) -> String {
    format!("rep-{i:07}")
}

async fn trivial_rps(trivial: SocketAddr, concurrency: usize, requests: usize) -> f64 {
    let body = CheckinRequest::new("00".repeat(32), Some("0.9".into()), 0);
    load(plain_clients(concurrency), requests, move |c, _| {
        c.post(format!("http://{trivial}/hello")).json(&body)
    })
    .await
    .rps
}

/// Check-ins of devices `first..first + requests`, request `i` to replica `i % n`.
async fn checkins(addrs: &[SocketAddr], concurrency: usize, requests: usize, first: usize) -> Stats {
    let addrs = addrs.to_vec();
    let body = CheckinRequest::new("11".repeat(32), Some("1.0.0".into()), 1);
    load(plain_clients(concurrency), requests, move |c, i| {
        c.post(format!("http://{}/api/v1/device/checkin", addrs[i % addrs.len()]))
            .header("x-device-id", device(first + i))
            // What a certificate's OU says in production (new devices register with it).
            .header("x-device-class", CLASS)
            .json(&body)
    })
    .await
}

/// Starts `n` replicas on `db` (files under `dir/replica-<i>`, artifacts shared in `dir/shared`).
async fn replicas(
    dir: &std::path::Path,
    ca: &DevCa,
    db: &str,
    n: usize,
    mode: OfferMode,
) -> Vec<ota_server::RunningServer> {
    let shared = format!("file://{}", dir.join("shared").display());
    let mut servers = Vec::with_capacity(n);
    for i in 0..n {
        let replica = dir.join(format!("replica-{i}"));
        servers.push(start_with(&replica, ca, db, true, mode, Some(shared.clone())).await);
    }
    servers
}

pub async fn run(ca: &DevCa, devices: usize, requests: usize, concurrency: usize, trivial: SocketAddr) {
    let base = std::env::var("OTA_BENCH_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("checkin_bench_{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let configs: Vec<(String, String, usize)> = vec![
        (
            "SQLite, 1 process".into(),
            format!("sqlite://{}", dir.path().join("sqlite/ota.db").display()),
            1,
        ),
        ("PostgreSQL, 1 replica".into(), pg_url(&base, &schema), 1),
        ("PostgreSQL, 2 replicas".into(), pg_url(&base, &schema), 2),
        ("PostgreSQL, 3 replicas".into(), pg_url(&base, &schema), 3),
    ];
    // Every configuration's first contacts are devices no replica saw before; its new devices
    // come after every registered one.
    let needed = requests * configs.len();
    let registered = devices.max(needed);
    println!(
        "\nbackends and replicas: {registered} devices registered per database, {requests} requests per measurement, \
         {concurrency} connections, requests spread over the replicas in turn"
    );
    let mut rows = Vec::new();
    let mut registered_in = std::collections::HashSet::new();
    for (k, (name, db, n)) in configs.iter().enumerate() {
        // The fleet is registered before the replicas start, as after a deploy.
        if registered_in.insert(db.clone()) {
            let store = ota_server::store::open(db).await.unwrap();
            let ids: Vec<String> = (0..registered).map(device).collect();
            store.register_devices(&ids, CLASS, 0).await.unwrap();
            store.close().await;
        }
        let servers = replicas(&dir.path().join(format!("config-{k}")), ca, db, *n, OfferMode::Latest).await;
        // PostgreSQL replicas use (and warm) their device caches once their heartbeat is stored.
        tokio::time::sleep(Duration::from_millis(3_000)).await;
        let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
        let first_ref = trivial_rps(trivial, concurrency, requests).await;
        let first = checkins(&addrs, concurrency, requests, k * requests).await;
        let repeat_ref = trivial_rps(trivial, concurrency, requests).await;
        let repeat = checkins(&addrs, concurrency, requests, k * requests).await;
        // Devices nobody registered: each first check-in registers one (an INSERT).
        let new_ref = trivial_rps(trivial, concurrency, requests).await;
        let new = checkins(&addrs, concurrency, requests, registered + k * requests).await;
        print(&format!("{name}: first contact"), &first);
        print(&format!("{name}: repeat"), &repeat);
        print(&format!("{name}: new device, registered"), &new);
        rows.push(Row {
            name: name.clone(),
            new,
            new_ref,
            first,
            first_ref,
            repeat,
            repeat_ref,
        });
        for s in servers {
            s.shutdown().await;
        }
    }
    println!(
        "\n{:<24} {:>11} {:>7} {:>7} {:>12} {:>7} {:>7} {:>9} {:>7} {:>7}",
        "", "first req/s", "vs ref", "p99 ms", "repeat req/s", "vs ref", "p99 ms", "new req/s", "vs ref", "p99 ms"
    );
    let sqlite_repeat = rows[0].repeat.rps;
    for r in &rows {
        println!(
            "{:<24} {:>11.0} {:>6.0}% {:>7.2} {:>12.0} {:>6.0}% {:>7.2} {:>9.0} {:>6.0}% {:>7.2}   repeat vs SQLite {:.2}×",
            r.name,
            r.first.rps,
            100.0 * r.first.rps / r.first_ref,
            r.first.p99.as_secs_f64() * 1e3,
            r.repeat.rps,
            100.0 * r.repeat.rps / r.repeat_ref,
            r.repeat.p99.as_secs_f64() * 1e3,
            r.new.rps,
            100.0 * r.new.rps / r.new_ref,
            r.new.p99.as_secs_f64() * 1e3,
            r.repeat.rps / sqlite_repeat,
        );
    }
    pause_propagation(ca, &base, &schema, dir.path()).await;
    drop_schema(&base, &schema).await;
}

/// Offered devices on replicas B and C; a pause on A; how long until each is refused.
async fn pause_propagation(ca: &DevCa, base: &str, schema: &str, dir: &std::path::Path) {
    let schema = format!("{schema}_pause");
    let db = pg_url(base, &schema);
    let servers = replicas(&dir.join("pause"), ca, &db, 3, OfferMode::Rollout).await;
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    let token = ota_server::init::create_token(servers[0].store.as_ref(), "bench", Role::Admin)
        .await
        .unwrap();
    let admin = AdminClient::builder(format!("http://{}", addrs[0]))
        .token(token)
        .build()
        .unwrap();
    let image = common::signed_image(4096, 0, 1);
    let release = admin
        .upload_release(&common::release_upload(common::release_input(CLASS, 1, "1.0.0", image)))
        .await
        .unwrap()
        .id;
    let plan = PlanInput {
        stages: Some(vec![StageInput {
            soak_ms: Some(3_600_000),
            ..StageInput::percent(100.0)
        }]),
        max_in_flight: Some(1_000),
        ..PlanInput::default()
    };
    let rollout = admin
        .create_rollout(&NewRollout {
            plan,
            ..NewRollout::of(release)
        })
        .await
        .unwrap()
        .id;
    let client = reqwest::Client::new();
    let checkin = |addr: SocketAddr, id: String| {
        let client = client.clone();
        async move {
            let r = client
                .post(format!("http://{addr}/api/v1/device/checkin"))
                .header("x-device-id", id)
                .header("x-device-class", CLASS)
                .json(&CheckinRequest::new("22".repeat(32), Some("0.1".into()), 0))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body = r.text().await.unwrap();
            assert!(status.is_success(), "check-in: HTTP {status}: {body}");
            let r: CheckinResponse = serde_json::from_str(&body).unwrap();
            r.update.is_some()
        }
    };
    let mut took = Vec::new();
    for trial in 0..10 {
        // One device per other replica, offered the release there.
        let ids: Vec<(SocketAddr, String)> = addrs[1..].iter().map(|a| (*a, format!("pause-{trial}-{a}"))).collect();
        for (addr, id) in &ids {
            let mut tries = 0;
            while !checkin(*addr, id.clone()).await {
                tries += 1;
                assert!(tries < 2_000, "{id} was never offered the release on {addr}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let started = Instant::now();
        admin.rollout_action(rollout, &RolloutAction::PAUSE).await.unwrap();
        let mut worst = Duration::ZERO;
        for (addr, id) in &ids {
            while checkin(*addr, id.clone()).await {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "the pause never reached {addr}"
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            worst = worst.max(started.elapsed());
        }
        took.push(worst);
        admin.rollout_action(rollout, &RolloutAction::RESUME).await.unwrap();
    }
    let p50 = common::percentile(&mut took.clone(), 0.5);
    let max = took.iter().max().copied().unwrap_or_default();
    println!(
        "\npause on replica A until an offered device is refused on B and C (3 PostgreSQL replicas, 10 trials, \
         including the admin call): median {:.1} ms, max {:.1} ms",
        p50.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    for s in servers {
        s.shutdown().await;
    }
    drop_schema(base, &schema).await;
}
