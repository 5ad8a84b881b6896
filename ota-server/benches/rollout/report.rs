//! The summary at the end of the run and the JSON object (`--json`).

use std::time::Instant;

use serde_json::{json, Value};

use crate::decision::{Engine, Service};
use crate::phases::{Passes, Phase};
use crate::progress::Progress;
use crate::Settings;

/// Everything the run measured.
pub struct Report<'a> {
    pub settings: &'a Settings,
    pub backend: &'a str,
    pub register_secs: f64,
    pub idle_cpu_per_s: f64,
    pub phases: &'a [Phase],
    pub passes: &'a Passes,
    pub whole_peak_mib: f64,
    /// Whether the per-phase peak RSS windows worked (`clear_refs`).
    pub hwm_reset: bool,
    pub progress: &'a Progress,
    pub engine: &'a Engine,
    pub service: &'a Service,
}

impl Report<'_> {
    /// Rollout ÷ reference in `round` (1: first contact, 2: steady): check-ins/s and CPU per
    /// check-in.
    fn ratio(&self, round: u8) -> (f64, f64) {
        let r = &self.passes[&(round, true)];
        let b = &self.passes[&(round, false)];
        (r.rps / b.rps, r.cpu_s_per_1k / b.cpu_s_per_1k)
    }

    /// Prints the summary; `total` is when the run started.
    pub fn print(&self, total: Instant) {
        let (devices, concurrency, backend) = (self.settings.devices, self.settings.concurrency, self.backend);
        println!();
        println!("== summary: {devices} devices per class, {concurrency} connections, {backend} ==");
        println!(
            "{:<44} {:>8} {:>8} {:>9} {:>8} {:>8} {:>10} {:>9} {:>9} {:>7}",
            "phase", "chk-ins", "reports", "req/s", "p50 ms", "p99 ms", "CPU s/1k", "peak MiB", "anon/file", "errors"
        );
        for p in self.phases {
            p.print_row();
        }
        println!(
            "server peak RSS over the whole run: {:.1} MiB{}",
            self.whole_peak_mib,
            if self.hwm_reset {
                " (per-phase peaks: VmHWM reset through clear_refs before each phase)"
            } else {
                " (clear_refs refused: per-phase peaks are running maxima)"
            }
        );
        self.print_ratios();
        self.print_progress();
        self.print_engine();
        self.print_service();
        println!("total bench time {:.1} s", total.elapsed().as_secs_f64());
    }

    fn print_ratios(&self) {
        let ((rps1, cpu1), (rps2, cpu2)) = (self.ratio(1), self.ratio(2));
        println!("ratios, rollout ÷ reference (same run, same server):");
        println!("  check-ins/s        first contact {rps1:.3}   steady {rps2:.3}");
        println!("  CPU per check-in   first contact {cpu1:.3}   steady {cpu2:.3}");
    }

    fn print_progress(&self) {
        let p = self.progress;
        println!(
            "rollout of {} devices to 100%: {} ({} check-ins + {} reports, {} rounds); completed: {}",
            self.settings.progress_devices,
            p.reached_full()
                .map_or("not reached".into(), |s| format!("stage 100% at {s:.2} s")),
            p.phase.checkins,
            p.phase.reports,
            p.rounds,
            p.completed_at()
                .map_or(format!("no (state {})", p.state), |s| format!("at {s:.2} s")),
        );
    }

    fn print_engine(&self) {
        let (e, devices) = (self.engine, self.settings.devices);
        println!("stage decision, engine over {devices} device records (in-process, median):");
        println!("  Rollout::counts          {:>10.1} µs", e.counts_us);
        println!(
            "  Rollout::evaluate        {:>10.1} ns   (gates over the counts)",
            e.eval_ns
        );
        println!(
            "  decide_offer             {:>10.1} ns per device ({:.1} ms of cohort hashing per {devices})",
            e.decide_ns, e.cohort_ms
        );
    }

    fn print_service(&self) {
        let (s, devices, tick_iters) = (self.service, self.settings.devices, self.settings.tick_iters);
        println!(
            "stage decision, RolloutService ({devices} devices of the class, {}):",
            self.backend
        );
        println!(
            "  store open {:.1} ms; RolloutService::load ({} rollouts, {} device records) {:.1} ms",
            s.open_ms, s.rollouts, s.loaded_records, s.load_ms
        );
        println!(
            "  tick with cohort recount {:>9.1} ms median (min {:.1}, max {:.1}, {tick_iters} runs; 1% cohort {}){}",
            s.tick_median,
            s.tick_min(),
            s.tick_max(),
            s.cohort_counted,
            if s.running > 1 {
                format!(" [{} rollouts running: each recounted]", s.running)
            } else {
                String::new()
            }
        );
        println!(
            "    of which store.class_devices ({} rows) {:.1} ms, cohort hashing ~{:.1} ms",
            s.scanned, s.scan_median, self.engine.cohort_ms
        );
        println!("  tick without recount     {:>9.1} µs median", s.tick_cached_us);
    }

    /// The JSON object of `--json` / `OTA_BENCH_JSON`.
    pub fn json(&self) -> Value {
        let ((rps1, cpu1), (rps2, cpu2)) = (self.ratio(1), self.ratio(2));
        json!({
            "devices_per_class": self.settings.devices,
            "concurrency": self.settings.concurrency,
            "backend": self.backend,
            "register_secs": self.register_secs,
            "idle_server_cpu_ms_per_s": self.idle_cpu_per_s * 1e3,
            "phases": self.phases.iter().map(Phase::json).collect::<Vec<_>>(),
            "server_peak_rss_mib": self.whole_peak_mib,
            "ratios": {
                "first_contact": {"checkins_per_s": rps1, "cpu_per_checkin": cpu1},
                "steady": {"checkins_per_s": rps2, "cpu_per_checkin": cpu2},
            },
            "progress": self.progress.json(self.settings),
            "engine": self.engine.json(),
            "service": self.service.json(),
        })
    }
}
