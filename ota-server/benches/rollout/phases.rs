//! The measured phases: what each one records, the idle server with a rollout running, the
//! warm-up, and the first-contact and steady passes of the rollout and reference classes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ota_protocol::client::AdminClient;
use ota_protocol::rollouts::{NewRollout, PlanInput, StageInput};
use ota_server::service::rollouts::COHORT_REFRESH_MS;
use serde_json::{json, Value};

use crate::clients::{checkin, pool, Ctx, Rec};
use crate::common::percentile;
use crate::server::Server;
use crate::{device_id, CLASS, REF_CLASS, STAGES};

/// One measured phase: the load, its latencies and the server's CPU and memory.
#[derive(Debug, Clone)]
pub struct Phase {
    pub name: String,
    pub checkins: usize,
    pub reports: usize,
    secs: f64,
    /// Check-ins (and reports) per second.
    pub rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    pub report_p50_ms: f64,
    pub report_p99_ms: f64,
    cpu_s: f64,
    /// Server CPU milliseconds per check-in-or-report, ×1000 = CPU-seconds per 1,000 requests.
    pub cpu_s_per_1k: f64,
    peak_rss_mib: f64,
    /// RSS at the end of the phase: anonymous (heap) and file-backed (SQLite's mmap).
    rss_anon_mib: f64,
    rss_file_mib: f64,
    offers: usize,
    errors: usize,
}

/// The `p` percentile of `v`, in milliseconds.
fn ms(v: &mut [Duration], p: f64) -> f64 {
    percentile(v, p).as_secs_f64() * 1e3
}

impl Phase {
    /// What `server` did since `cpu0` while the clients saw `rec` over `elapsed`.
    fn new(name: &str, mut rec: Rec, elapsed: Duration, server: &mut Server, cpu0: f64) -> Self {
        let anon_kib = server.status_kib("RssAnon:");
        let file_kib = server.status_kib("RssFile:");
        let cpu_s = server.cpu_secs() - cpu0;
        let hwm_kib = server.hwm_kib();
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
            p50_ms: ms(&mut rec.checkins, 0.50),
            p99_ms: ms(&mut rec.checkins, 0.99),
            report_p50_ms: ms(&mut rec.reports, 0.50),
            report_p99_ms: ms(&mut rec.reports, 0.99),
            cpu_s,
            cpu_s_per_1k: cpu_s / (requests.max(1) as f64 / 1000.0),
            peak_rss_mib: hwm_kib as f64 / 1024.0,
            rss_anon_mib: anon_kib as f64 / 1024.0,
            rss_file_mib: file_kib as f64 / 1024.0,
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

    /// Its row of the summary table.
    pub fn print_row(&self) {
        println!(
            "{:<44} {:>8} {:>8} {:>9.0} {:>8.2} {:>8.2} {:>10.3} {:>9.1} {:>9} {:>7}",
            self.name,
            self.checkins,
            self.reports,
            self.rps,
            self.p50_ms,
            self.p99_ms,
            self.cpu_s_per_1k,
            self.peak_rss_mib,
            format!("{:.0}/{:.0}", self.rss_anon_mib, self.rss_file_mib),
            self.errors
        );
    }

    pub fn json(&self) -> Value {
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

/// The phases measured so far, in order.
#[derive(Debug, Default)]
pub struct Recorder {
    pub phases: Vec<Phase>,
}

impl Recorder {
    /// Ends a phase (see [`Phase::new`]): prints it and keeps it.
    pub fn measure(&mut self, server: &mut Server, name: &str, rec: Rec, elapsed: Duration, cpu0: f64) -> Phase {
        let p = Phase::new(name, rec, elapsed, server, cpu0);
        p.print();
        self.phases.push(p.clone());
        p
    }
}

/// Creates and starts a rollout of `release` through the stages of [`STAGES`] (no soak, every
/// device of a stage committed before the next); its id.
pub async fn create_rollout(admin: &AdminClient, release: i64) -> i64 {
    let stages = STAGES
        .iter()
        .map(|p| StageInput {
            soak_ms: Some(0),
            min_committed_percent: Some(100.0),
            ..StageInput::percent(*p)
        })
        .collect();
    let rollout = NewRollout {
        plan: PlanInput {
            stages: Some(stages),
            max_in_flight: Some(10_000_000),
            ..PlanInput::default()
        },
        start: Some(true),
        ..NewRollout::of(release)
    };
    admin.create_rollout(&rollout).await.expect("rollout").id
}

/// Background cost of a running rollout with no traffic (the timer recounts the cohort every
/// COHORT_REFRESH_MS): server CPU seconds per second.
pub async fn idle_cpu(server: &Server) -> f64 {
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
    idle_cpu_per_s
}

/// One check-in of every device of `class` in `items` (v1).
async fn pass(
    ctx: &Arc<Ctx>,
    conns: &[reqwest::Client],
    items: Arc<Vec<usize>>,
    class: &'static str,
) -> (Rec, Duration) {
    pool(ctx.clone(), conns, items, move |ctx, client, i| async move {
        let mut rec = Rec::default();
        checkin(&ctx, &client, &device_id(class, i), &ctx.bodies.v1, &mut rec).await;
        rec
    })
    .await
}

/// Warm-up: a few thousand check-ins of other devices (connections, allocator, caches).
pub async fn warm_up(ctx: &Arc<Ctx>, conns: &[reqwest::Client], devices: usize) {
    let warm: Arc<Vec<usize>> = Arc::new((0..devices.min(2_000)).collect());
    let _ = pass(ctx, conns, warm.clone(), REF_CLASS).await;
    let _ = pass(ctx, conns, warm, CLASS).await;
}

/// The passes by (round, with rollout): round 1 first contact, round 2 steady.
pub type Passes = BTreeMap<(u8, bool), Phase>;

/// Two passes of every device of each class: reference, rollout, then rollout, reference
/// (drift over the run hits both alike).
pub async fn passes(
    recorder: &mut Recorder,
    server: &mut Server,
    ctx: &Arc<Ctx>,
    conns: &[reqwest::Client],
    devices: usize,
) -> Passes {
    let all: Arc<Vec<usize>> = Arc::new((0..devices).collect());
    let mut passes = Passes::new();
    for round in 1..=2u8 {
        let order = if round == 1 { [false, true] } else { [true, false] };
        for rollout in order {
            let (class, what) = if rollout {
                (CLASS, "rollout")
            } else {
                (REF_CLASS, "reference (no rollout)")
            };
            server.reset_hwm();
            let cpu0 = server.cpu_secs();
            let (rec, elapsed) = pass(ctx, conns, all.clone(), class).await;
            let label = if round == 1 { "first contact" } else { "steady" };
            let name = format!("[{round}] {what}, {label}");
            passes.insert((round, rollout), recorder.measure(server, &name, rec, elapsed, cpu0));
        }
    }
    passes
}
