//! Phase 3, rollout progress: a rollout of the progress class created when the phase starts,
//! driven to completion by rounds of check-ins of every device not yet updated; offered devices
//! download the image and report their way to "committed", then check in with v2 (what runs
//! after the reboot).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ota_protocol::client::AdminClient;
use ota_protocol::device::StatusReport;
use ota_protocol::rollouts::{RolloutState, RolloutView, TimelineKind};
use serde_json::{json, Value};

use crate::clients::{checkin, download, pool, report, Ctx, Rec};
use crate::phases::{create_rollout, Phase, Recorder};
use crate::server::Server;
use crate::{device_id, epoch_ms, Settings, PROGRESS_CLASS, STAGES};

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

/// What the phase needs.
pub struct Run<'a> {
    pub ctx: &'a Arc<Ctx>,
    pub conns: &'a [reqwest::Client],
    pub admin: &'a AdminClient,
    pub settings: &'a Settings,
}

/// How the rollout went.
#[derive(Debug)]
pub struct Progress {
    pub phase: Phase,
    pub elapsed: Duration,
    pub rounds: usize,
    pub state: String,
    pub committed: u64,
    /// What happened (a stage reached, completion) and when, seconds into the phase.
    pub milestones: Vec<(String, f64, String)>,
    pub extrapolated_s: f64,
}

impl Run<'_> {
    /// Runs the phase on the rollout of `release`, measures it and prints it.
    pub async fn measure(&self, recorder: &mut Recorder, server: &mut Server, release: i64) -> Progress {
        server.reset_hwm();
        let cpu0 = server.cpu_secs();
        let start = Instant::now();
        let start_ms = epoch_ms();
        let rollout_id = create_rollout(self.admin, release).await;
        let (rec, rounds, view) = self.drive(rollout_id, start).await;
        let elapsed = start.elapsed();
        let name = format!("[3] rollout progress, {} dev.", self.settings.progress_devices);
        let phase = recorder.measure(server, &name, rec, elapsed, cpu0);
        let devices = self.settings.devices as f64;
        let progress = Progress {
            phase,
            elapsed,
            rounds,
            state: view.state.to_string(),
            committed: view.stages.iter().map(|s| u64::from(s.counts.committed)).sum(),
            milestones: milestones(&view, start_ms),
            // Every report and new offer is a store write under the service lock: they do not
            // overlap, so the time grows linearly with the devices.
            extrapolated_s: elapsed.as_secs_f64() * devices / self.settings.progress_devices.max(1) as f64,
        };
        progress.print(&view, self.settings);
        progress
    }

    /// Rounds until the rollout is no longer running or the time is up: what the devices saw,
    /// the rounds and the rollout's last view.
    async fn drive(&self, rollout_id: i64, start: Instant) -> (Rec, usize, RolloutView) {
        let limit = self.settings.progress_limit;
        let done: Arc<Vec<AtomicBool>> = Arc::new(
            (0..self.settings.progress_devices)
                .map(|_| AtomicBool::new(false))
                .collect(),
        );
        let mut progress = Rec::default();
        let mut rounds = 0;
        loop {
            let view = self.view(rollout_id).await;
            if view.state != RolloutState::RUNNING || start.elapsed() > limit {
                return (progress, rounds, view);
            }
            progress.merge(self.round(&done).await);
            rounds += 1;
            self.wait_for_stage(rollout_id, view.current_stage, start).await;
        }
    }

    /// One round: every device not yet done checks in; an offered one reports its way to
    /// "committed" and checks in with v2.
    async fn round(&self, done: &Arc<Vec<AtomicBool>>) -> Rec {
        let pending: Arc<Vec<usize>> = Arc::new(
            (0..self.settings.progress_devices)
                .filter(|&i| !done[i].load(Ordering::Relaxed))
                .collect(),
        );
        let done = done.clone();
        let (rec, _) = pool(self.ctx.clone(), self.conns, pending, move |ctx, client, i| {
            let done = done.clone();
            async move {
                let mut rec = Rec::default();
                let id = device_id(PROGRESS_CLASS, i);
                if let Some((release, image)) = checkin(&ctx, &client, &id, &ctx.bodies.v1, &mut rec).await {
                    download(&ctx, &client, &id, &image, &mut rec).await;
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
        rec
    }

    /// The next round once the stage moved on (devices poll again later in reality); after 5 s
    /// without a change, the pending devices check in again anyway.
    async fn wait_for_stage(&self, rollout_id: i64, stage: usize, start: Instant) {
        let wait = Instant::now();
        loop {
            let v = self.view(rollout_id).await;
            if v.current_stage != stage
                || v.state != RolloutState::RUNNING
                || wait.elapsed() > Duration::from_secs(5)
                || start.elapsed() > self.settings.progress_limit
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn view(&self, id: i64) -> RolloutView {
        self.admin.rollout(id).await.expect("rollout view")
    }
}

/// The timeline entries since `start_ms`: what (a promotion's entry carries the stage it
/// promoted to), seconds into the phase, message.
fn milestones(view: &RolloutView, start_ms: i64) -> Vec<(String, f64, String)> {
    view.timeline
        .iter()
        .filter(|t| t.at_ms >= start_ms)
        .map(|t| {
            let what = if t.kind == TimelineKind::PROMOTED {
                format!(
                    "stage {} ({}%)",
                    t.stage + 1,
                    STAGES.get(t.stage).copied().unwrap_or(0.0)
                )
            } else {
                t.kind.to_string()
            };
            (what, (t.at_ms - start_ms) as f64 / 1e3, t.message.clone())
        })
        .collect()
}

impl Progress {
    fn print(&self, view: &RolloutView, settings: &Settings) {
        println!(
            "rollout {} after {:.1} s, {} rounds: {} check-ins + {} reports, {} devices committed",
            self.state,
            self.elapsed.as_secs_f64(),
            self.rounds,
            self.phase.checkins,
            self.phase.reports,
            self.committed
        );
        for (what, secs, message) in &self.milestones {
            println!("  {what:<16} at {secs:>7.2} s  ({message})");
        }
        for s in &view.stages {
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
            self.phase.report_p50_ms, self.phase.report_p99_ms
        );
        if settings.progress_devices < settings.devices {
            println!(
                "  {} devices at this rate: ~{:.0} s (linear extrapolation)",
                settings.devices, self.extrapolated_s
            );
        }
    }

    /// Seconds into the phase when the last stage (100%) was reached.
    pub fn reached_full(&self) -> Option<f64> {
        self.milestone(|w| w.contains("100%"))
    }

    /// Seconds into the phase when the rollout completed.
    pub fn completed_at(&self) -> Option<f64> {
        self.milestone(|w| w == "completed")
    }

    fn milestone(&self, which: impl Fn(&str) -> bool) -> Option<f64> {
        self.milestones.iter().find(|(w, _, _)| which(w)).map(|(_, s, _)| *s)
    }

    pub fn json(&self, settings: &Settings) -> Value {
        json!({
            "state": self.state,
            "devices": settings.progress_devices,
            "secs": self.elapsed.as_secs_f64(),
            "extrapolated_secs_for_devices_per_class": self.extrapolated_s,
            "rounds": self.rounds,
            "checkins": self.phase.checkins,
            "reports": self.phase.reports,
            "committed": self.committed,
            "reached_100_percent_s": self.reached_full(),
            "completed_s": self.completed_at(),
            "milestones": self.milestones.iter().map(|(w, s, m)| json!({"what": w, "s": s, "message": m})).collect::<Vec<_>>(),
        })
    }
}
