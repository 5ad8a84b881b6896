//! The stage decision, in-process (the server process has stopped): the engine over N device
//! records, and `RolloutService` loading from the store and ticking.

use std::time::Instant;

use ota_protocol::rollouts::RolloutView;
use ota_server::domain::rollout::{
    cohort_point, DeviceRecord, DeviceStage, Rollout, RolloutAction, RolloutPlan, BASIS_POINTS,
};
use ota_server::service::rollouts::{RolloutService, COHORT_REFRESH_MS};
use serde_json::{json, Value};

use crate::{device_id, epoch_ms, CLASS};

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

/// Median of `v` (sorted here).
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The engine's timings (medians).
#[derive(Debug)]
pub struct Engine {
    pub records: usize,
    pub counts_us: f64,
    /// `evaluate` without the clone of the engine it needs.
    pub eval_ns: f64,
    /// `decide_offer`, per device.
    pub decide_ns: f64,
    /// Cohort hashing of every device.
    pub cohort_ms: f64,
}

/// A record of every device of `ids`, offered v1 in its cohort's stage (at most the third):
/// one in ten downloading, one in ten installing, the others committed.
fn records(engine: &Rollout, salt: &[u8; 16], ids: &[String], v1_digest: &str) -> Vec<DeviceRecord> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| {
            let point = cohort_point(salt, id);
            let stage_index = engine.plan.stages.iter().position(|s| point < s.fraction_bp).unwrap();
            let mut r = DeviceRecord::offered(id, stage_index.min(2), Some(v1_digest.to_owned()), 0);
            r.stage = match i % 10 {
                0 => DeviceStage::Downloading,
                1 => DeviceStage::Installing,
                _ => DeviceStage::Committed,
            };
            r
        })
        .collect()
}

/// The engine over `devices` device records: counts (O(N)) and the gates (O(stages)).
pub fn engine(devices: usize, v1_digest: &str) -> Engine {
    let salt = *b"bench-rollout-01";
    let mut engine = Rollout::new(RolloutPlan::canary_by_share(0), salt).unwrap();
    engine.act(RolloutAction::Start, 0).unwrap();
    engine.stage = 2;
    let ids: Vec<String> = (0..devices).map(|i| device_id(CLASS, i)).collect();
    let records = records(&engine, &salt, &ids, v1_digest);
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
    let (decide_ms, _, _) = time_median(11, 1e3, || {
        for id in &ids {
            std::hint::black_box(engine.decide_offer(id, None, 0));
        }
    });
    let (cohort_ms, _, _) = time_median(11, 1e3, || {
        for id in &ids {
            std::hint::black_box(cohort_point(&salt, id));
        }
    });
    assert!(engine.plan.stages.last().unwrap().fraction_bp == BASIS_POINTS);
    Engine {
        records: devices,
        counts_us,
        eval_ns: (eval_ns - clone_ns).max(0.0),
        decide_ns: decide_ms * 1e6 / devices as f64,
        cohort_ms,
    }
}

impl Engine {
    pub fn json(&self) -> Value {
        json!({
            "records": self.records,
            "counts_us": self.counts_us,
            "evaluate_ns": self.eval_ns,
            "decide_offer_ns": self.decide_ns,
            "cohort_hash_all_ms": self.cohort_ms,
        })
    }
}

/// The service's timings and what it loaded.
#[derive(Debug)]
pub struct Service {
    pub open_ms: f64,
    pub load_ms: f64,
    /// `tick` with a cohort recount, every run, sorted.
    pub tick_ms: Vec<f64>,
    pub tick_median: f64,
    pub tick_cached_us: f64,
    /// Rows of `store.class_devices` and its median time.
    pub scanned: usize,
    pub scan_median: f64,
    pub rollouts: usize,
    pub running: usize,
    pub loaded_records: u32,
    /// The first stage's cohort of the rollout class, as the recount found it.
    pub cohort_counted: u32,
}

/// The service: load (restart cost: every rollout's device records), then `tick` with the
/// rollout of the N-device class still running (its devices still on v1), recounting the cohort
/// every time (the clock moves on by COHORT_REFRESH_MS per call).
pub async fn service(db: &str, tick_iters: usize) -> Service {
    let t = Instant::now();
    let store = ota_server::store::open(db).await.unwrap();
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
    let tick_median = median(&mut tick_ms);
    let mut cached_us = Vec::new();
    for _ in 0..101 {
        let t = Instant::now();
        service.tick(now).await.unwrap();
        cached_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let mut scan_ms = Vec::new();
    let mut scanned = 0;
    for _ in 0..tick_iters.min(7) {
        let t = Instant::now();
        scanned = store.class_devices(CLASS).await.unwrap().len();
        scan_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let views: Vec<RolloutView> = service
        .statuses()
        .await
        .unwrap()
        .iter()
        .map(RolloutView::from)
        .collect();
    store.close().await;
    Service {
        open_ms,
        load_ms,
        tick_ms,
        tick_median,
        tick_cached_us: median(&mut cached_us),
        scanned,
        scan_median: median(&mut scan_ms),
        rollouts: views.len(),
        running: views.iter().filter(|v| v.state == "running").count(),
        loaded_records: views
            .iter()
            .flat_map(|v| v.stages.iter())
            .map(|s| s.counts.offered)
            .sum(),
        cohort_counted: views
            .iter()
            .find(|v| v.release.class == CLASS)
            .and_then(|v| v.stages.first())
            .and_then(|s| s.cohort)
            .unwrap_or(0),
    }
}

impl Service {
    pub fn tick_min(&self) -> f64 {
        self.tick_ms[0]
    }

    pub fn tick_max(&self) -> f64 {
        self.tick_ms[self.tick_ms.len() - 1]
    }

    pub fn json(&self) -> Value {
        json!({
            "load_ms": self.load_ms,
            "load_device_records": self.loaded_records,
            "tick_recount_ms_median": self.tick_median,
            "tick_recount_ms_min": self.tick_min(),
            "tick_recount_ms_max": self.tick_max(),
            "class_devices_ms": self.scan_median,
            "tick_no_recount_us": self.tick_cached_us,
        })
    }
}
