//! Check-in and download benchmark (a bench binary, not a timed test).
//!
//! `cargo bench -p ota-server --bench checkin` — environment knobs:
//! * `OTA_BENCH_DEVICES` registered devices (default 100000);
//! * `OTA_BENCH_REQUESTS` check-ins per measurement (default 20000);
//! * `OTA_BENCH_CONCURRENCY` client connections (default 32);
//! * `OTA_BENCH_DB` database URL (default: SQLite in a temp dir);
//! * `OTA_BENCH_PG` PostgreSQL for the replica comparison (default the local `test` database).
//!
//! Reports, from one run on one machine: check-in req/s and p50/p99 against the trivial axum
//! handler (both plain HTTP on loopback, same accept loop and client), check-ins over mutual TLS,
//! 16 MiB image download throughput (TLS and plain), then ([`replicas`]) first-contact and
//! repeat check-ins on SQLite and on PostgreSQL with one, two and three replicas
//! (`OTA_BENCH_PG`, default the local test database), and how long a pause takes to stop offers
//! on every replica.
//!
//! `common/mod.rs` (shared with the rollout bench) has the knobs, the keys, the signed image and
//! its release bundle, the plain-HTTP clients and the percentiles.

#[path = "../common/mod.rs"]
mod common;
mod replicas;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ota_protocol::client::AdminClient;
use ota_protocol::device::{CheckinRequest, CheckinResponse};
use ota_server::config::{Config, DeviceClass, Limits, TlsConfig, TrustConfig};
use ota_server::domain::auth::Role;
use ota_server::init::DevCa;

use common::{env_num, plain_clients, VENDOR};

const CLASS: &str = "sensor-v2";

#[derive(Debug)]
struct Stats {
    rps: f64,
    p50: Duration,
    p99: Duration,
    errors: usize,
}

/// `concurrency` connections, `total` requests; `make` builds request `i` on a client.
async fn load<F>(clients: Vec<reqwest::Client>, total: usize, make: F) -> Stats
where
    F: Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for client in clients {
        let make = make.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                match make(&client, i).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => errors += 1,
                }
                lat.push(t.elapsed());
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::with_capacity(total);
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed();
    Stats {
        rps: all.len() as f64 / elapsed.as_secs_f64(),
        p50: common::percentile(&mut all, 0.50),
        p99: common::percentile(&mut all, 0.99),
        errors,
    }
}

async fn start(dir: &std::path::Path, ca: &DevCa, db: &str, insecure: bool) -> ota_server::RunningServer {
    start_with(dir, ca, db, insecure, ota_server::config::OfferMode::Latest, None).await
}

/// A server on `db` with its files in `dir` (plain HTTP with device ids in `X-Device-Id` if
/// `insecure`, else mutual TLS).
async fn start_with(
    dir: &std::path::Path,
    ca: &DevCa,
    db: &str,
    insecure: bool,
    offer_mode: ota_server::config::OfferMode,
    artifacts_url: Option<String>,
) -> ota_server::RunningServer {
    std::fs::create_dir_all(dir).unwrap();
    let manifest_key = common::write_manifest_public_key(dir);
    let server = ca.issue_server(&["localhost"]).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.cert_pem()).unwrap();
    std::fs::write(dir.join("s.pem"), server.cert_pem).unwrap();
    std::fs::write(dir.join("s.key"), server.key_pem).unwrap();
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: db.to_owned(),
        data_dir: dir.join("data"),
        dev_insecure_http: insecure,
        log_format: "text".into(),
        tls: Some(TlsConfig {
            cert: dir.join("s.pem"),
            key: dir.join("s.key"),
            device_ca: vec![dir.join("ca.pem")],
        }),
        trust: TrustConfig {
            image_keys: vec![common::image_public_key()],
            manifest_keys: vec![manifest_key],
            manifest_threshold: 1,
        },
        classes: vec![DeviceClass {
            name: CLASS.into(),
            vendor_domain: VENDOR.into(),
            registration: Default::default(),
        }],
        limits: Limits {
            checkin_burst: 1_000_000,
            checkin_per_second: 1_000_000.0,
            ..Limits::default()
        },
        artifacts_url,
        offer_mode,
        metrics_auth: Default::default(),
        enrollment: None,
    };
    ota_server::start(config).await.unwrap()
}

async fn trivial_server() -> SocketAddr {
    let app = axum::Router::new().route(
        "/hello",
        axum::routing::post(|| async {
            axum::Json(CheckinResponse {
                update: None,
                no_update_reason: None,
                renew_certificate: false,
                command: None,
            })
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn print(name: &str, s: &Stats) {
    println!(
        "{name:<44} {:>9.0} req/s  p50 {:>7.3} ms  p99 {:>7.3} ms  errors {}",
        s.rps,
        s.p50.as_secs_f64() * 1e3,
        s.p99.as_secs_f64() * 1e3,
        s.errors
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let devices = env_num("OTA_BENCH_DEVICES", 100_000);
    let requests = env_num("OTA_BENCH_REQUESTS", 20_000);
    let concurrency = env_num("OTA_BENCH_CONCURRENCY", 32);
    let dir = tempfile::tempdir().unwrap();
    let db = std::env::var("OTA_BENCH_DB")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("data/ota.db").display()));
    let ca = DevCa::generate().unwrap();
    println!("ota-server check-in benchmark: {devices} devices, {requests} requests/measurement, {concurrency} connections, db {}",
        db.split(':').next().unwrap_or("?"));

    // Plain HTTP server (dev mode: device id from X-Device-Id) so check-ins spread over all devices.
    let plain = start(dir.path(), &ca, &db, true).await;
    let t = Instant::now();
    let ids: Vec<String> = (0..devices).map(|i| format!("bench-{i:06}")).collect();
    plain.store.register_devices(&ids, CLASS, 0).await.unwrap();
    println!(
        "registered {} devices in {:.2?} (count {})",
        devices,
        t.elapsed(),
        plain.store.count_devices().await.unwrap()
    );

    // A release, so check-ins of devices running something else get real offers.
    let image = common::signed_image(16 * 1024 * 1024, 0, 1);
    let upload = common::release_upload(common::release_input(CLASS, 1, "1.0.0", image.clone()));
    let token = ota_server::init::create_token(plain.store.as_ref(), "bench", Role::Admin)
        .await
        .unwrap();
    let admin = AdminClient::builder(format!("http://{}", plain.addr))
        .token(token)
        .build()
        .unwrap();
    let t = Instant::now();
    admin.upload_release(&upload).await.expect("release upload");
    println!("ingest of a 16 MiB release (verify + store): {:.2?}", t.elapsed());
    let image_sha = ota_server::domain::Sha256::of(&image).hex();
    let running = image_sha.clone();
    let plain_addr = plain.addr;

    let trivial = trivial_server().await;
    let body = CheckinRequest::new("00".repeat(32), Some("0.9".into()), 0);
    let current = CheckinRequest::new(running, Some("1.0.0".into()), 1);

    // Warm-up, then interleave the measurements so noise hits both alike.
    let n = devices;
    let _ = load(plain_clients(concurrency), requests / 10, move |c, _| {
        c.post(format!("http://{trivial}/hello"))
    })
    .await;
    for round in 0..2 {
        let b = body.clone();
        let s = load(plain_clients(concurrency), requests, move |c, _| {
            c.post(format!("http://{trivial}/hello")).json(&b)
        })
        .await;
        print(&format!("[{round}] trivial axum handler (plain HTTP)"), &s);
        let b = current.clone();
        let s = load(plain_clients(concurrency), requests, move |c, i| {
            c.post(format!("http://{plain_addr}/api/v1/device/checkin"))
                .header("x-device-id", format!("bench-{:06}", (i * 7919) % n))
                .json(&b)
        })
        .await;
        print(&format!("[{round}] check-in, no update (plain HTTP)"), &s);
        let b = body.clone();
        let s = load(plain_clients(concurrency), requests, move |c, i| {
            c.post(format!("http://{plain_addr}/api/v1/device/checkin"))
                .header("x-device-id", format!("bench-{:06}", (i * 7919) % n))
                .json(&b)
        })
        .await;
        print(&format!("[{round}] check-in, update offered (plain HTTP)"), &s);
    }

    // 16 MiB download throughput, plain.
    let url = format!("http://{plain_addr}/api/v1/device/artifacts/{image_sha}");
    let client = reqwest::Client::new();
    let t = Instant::now();
    let rounds = 8;
    for _ in 0..rounds {
        let r = client
            .get(&url)
            .header("x-device-id", "bench-000001")
            .send()
            .await
            .unwrap();
        assert_eq!(r.bytes().await.unwrap().len(), image.len());
    }
    let mib = (image.len() * rounds) as f64 / (1024.0 * 1024.0);
    println!(
        "16 MiB download (plain HTTP): {:.0} MiB/s over {rounds} downloads",
        mib / t.elapsed().as_secs_f64()
    );
    plain.shutdown().await;

    // The same database and artifacts behind mutual TLS: one certificate per connection.
    let tls = start(dir.path(), &ca, &db, false).await;
    let tls_addr = tls.addr;
    let ca_cert = reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap();
    let tls_clients: Vec<reqwest::Client> = (0..concurrency)
        .map(|i| {
            let issued = ca.issue_device(&format!("bench-{i:06}"), Some(CLASS)).unwrap();
            reqwest::Client::builder()
                .use_rustls_tls()
                .tls_built_in_root_certs(false)
                .add_root_certificate(ca_cert.clone())
                .identity(
                    reqwest::Identity::from_pem(format!("{}{}", issued.cert_pem, issued.key_pem).as_bytes()).unwrap(),
                )
                .resolve("localhost", tls_addr)
                .pool_max_idle_per_host(1)
                .build()
                .unwrap()
        })
        .collect();
    let port = tls_addr.port();
    let b = current.clone();
    let s = load(tls_clients.clone(), requests, move |c, _| {
        c.post(format!("https://localhost:{port}/api/v1/device/checkin"))
            .json(&b)
    })
    .await;
    print("check-in, no update (mTLS, keep-alive)", &s);
    let url = format!("https://localhost:{port}/api/v1/device/artifacts/{image_sha}");
    let t = Instant::now();
    for _ in 0..rounds {
        let r = tls_clients[0].get(&url).send().await.unwrap();
        assert_eq!(r.bytes().await.unwrap().len(), image.len());
    }
    println!(
        "16 MiB download (mTLS): {:.0} MiB/s over {rounds} downloads",
        mib / t.elapsed().as_secs_f64()
    );
    tls.shutdown().await;

    // Backends and replica counts side by side (each against the trivial handler just before it).
    replicas::run(&ca, devices, requests, concurrency, trivial).await;
}
