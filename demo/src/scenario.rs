//! The demo's story: a good release rolls out 1% → 10% → 50% → 100% of a simulated fleet; a
//! bad one (it fails to boot on a share of devices) pauses itself in the canary stage.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fleet_sim::{BootFailScope, FaultRates, Summary};
use ota_protocol::rollouts::{
    CountsView, FleetView, NewRollout, PlanInput, RolloutState, RolloutView, StageInput, StageView,
};

use crate::firmware::{self, ReleaseSpec};
use crate::world::{World, VENDOR};

pub const CLASS: &str = "sensor-v2";
pub const BAD_VERSION: &str = "3.0.0";

/// Knobs of a demo run.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub devices: usize,
    /// Share of devices (0..=1) that cannot boot the bad release.
    pub bad_boot_fail: f64,
    pub poll: Duration,
    pub soak_ms: i64,
    pub max_in_flight: u32,
    /// Longest wait for one rollout to finish (or pause).
    pub timeout: Duration,
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            devices: 1_000,
            bad_boot_fail: 0.30,
            poll: Duration::from_millis(1_000),
            soak_ms: 2_000,
            max_in_flight: 50,
            timeout: Duration::from_secs(300),
            seed: 2026,
        }
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct DemoOutcome {
    pub good: RolloutView,
    pub bad: RolloutView,
    pub fleet: FleetView,
    pub devices: Summary,
    pub elapsed: Duration,
}

/// The plan both rollouts use: 1% → 10% → 50% → 100%, automatic promotion once every device of
/// the stage's cohort committed (every simulated device is online; the API's default is 95%)
/// and the stage soaked; the canary pauses at its first failure.
pub fn plan(opts: &DemoOptions) -> PlanInput {
    let stage = |percent: f64, max_failures: u32| StageInput {
        soak_ms: Some(opts.soak_ms),
        max_failures: Some(max_failures),
        min_committed_percent: Some(100.0),
        max_failure_rate_percent: Some(5.0),
        rate_min_samples: Some(20),
        ..StageInput::percent(percent)
    };
    PlanInput {
        stages: Some(vec![stage(1.0, 1), stage(10.0, 5), stage(50.0, 5), stage(100.0, 5)]),
        max_in_flight: Some(opts.max_in_flight),
        penalty_after_failures: Some(2),
        ..PlanInput::default()
    }
}

/// The demo's rollout of `release_id` with `plan`: started at once, cohorts fixed by
/// [`COHORT_SALT`].
pub fn rollout(release_id: i64, plan: PlanInput) -> NewRollout {
    NewRollout {
        plan,
        start: Some(true),
        cohort_salt: Some(COHORT_SALT.into()),
        ..NewRollout::of(release_id)
    }
}

/// The demo's fixed cohort salt: the same devices form the canary in every run, so the story
/// (and the end-to-end test) is reproducible with the simulator's fixed fault seed.
pub const COHORT_SALT: &str = "0d3e0c0a11ab1e5a17ca11ed00c0ffee";

/// Polls a rollout until `done` holds (printing each change to stderr when `verbose`).
pub async fn wait_for(
    world: &World,
    id: i64,
    timeout: Duration,
    verbose: bool,
    done: impl Fn(&RolloutView) -> bool,
) -> Result<RolloutView> {
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let view = world.rollout(id).await?;
        let line = progress_line(&view);
        if verbose && line != last {
            eprintln!("  {line}");
        }
        last = line;
        if done(&view) {
            return Ok(view);
        }
        if start.elapsed() > timeout {
            bail!("rollout {id} did not get there within {timeout:?}; last status: {last}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One line per change of a rollout, with both meanings of its counts named (see the admin
/// API's `StageView`): `so far` is the current stage and every earlier one (what promotion
/// compares with the stage's cumulative cohort), `this stage` the devices first offered while
/// it was current (what its failure gates count), e.g.
/// `stage 2/4 (10%) running | so far: 97/100 committed (needs 95), 0 failed | this stage: 90 offered, 87 committed, 0 failed | 3 in flight`.
pub fn progress_line(view: &RolloutView) -> String {
    let Some(s) = view.current() else {
        return format!("{} (no stages)", view.state);
    };
    let (so_far, this) = (&s.cumulative, &s.counts);
    let cohort = s.cohort.map_or("?".to_owned(), |c| c.to_string());
    let needs = s.committed_needed.map_or(String::new(), |n| format!(" (needs {n})"));
    let mut line = format!(
        "stage {}/{} ({}%) {} | so far: {}/{cohort} committed{needs}, {} failed | this stage: {} offered, {} committed, {} failed | {} in flight",
        view.current_stage + 1,
        view.stages.len(),
        s.percent,
        view.state,
        so_far.committed,
        so_far.failures(),
        this.offered,
        this.committed,
        this.failures(),
        view.in_flight,
    );
    if let Some(reason) = &view.pause_reason {
        line.push_str(&format!(" — paused: {reason}"));
    }
    line
}

/// Runs the whole story on `world` (which serves `CLASS`). `repo` is the repository root
/// (firmware payloads come from its fixtures).
pub async fn run(world: &World, repo: &Path, opts: &DemoOptions, verbose: bool) -> Result<DemoOutcome> {
    let started = Instant::now();
    // Progress goes to stderr: stdout is for the summary (or the one JSON document).
    let say = |s: &str| {
        if verbose {
            eprintln!("{s}");
        }
    };
    say("== signing v1 (factory image), v2 and v3 with the development image key");
    let (p1, p2) = firmware::repo_payloads(repo)?;
    let v1 = world.keys.sign(&p1, 1, 0)?;
    let v2 = world.keys.sign(&p2, 2, 0)?;
    // The bad release: same code as v2 under a new version; the simulator makes it fail to boot
    // on a share of devices, as a boot-time regression on some hardware revisions would.
    let v3 = world.keys.sign(&p2, 3, 0)?;
    let release = |image: &[u8], version: &str, sequence: u64, base: &[u8]| {
        world.keys.cut_release(&ReleaseSpec {
            image,
            version,
            sequence,
            class: CLASS,
            vendor_domain: VENDOR,
            delta_from: vec![base],
        })
    };
    let good = release(&v2, "2.0.0", 2, &v1)?;
    let bad = release(&v3, BAD_VERSION, 3, &v2)?;
    say(&format!(
        "   v2: image {} B, delta from v1 {} B; v3: delta from v2 {} B",
        good.image.len(),
        good.patches.first().map_or(0, |p| p.1.len()),
        bad.patches.first().map_or(0, |p| p.1.len()),
    ));
    say("== uploading v2 (the server re-verifies it with the device's own verifier)");
    let good_id = world.upload(&good).await?;

    say(&format!(
        "== starting {} simulated devices on v1 (own certificate, two flash slots, device-verifier)",
        opts.devices
    ));
    let prov = world.provisioning(CLASS)?;
    let rates = FaultRates {
        boot_fail: opts.bad_boot_fail,
        ..FaultRates::default()
    };
    let specs = fleet_sim::fleet("dev-", opts.devices, CLASS, &prov, &v1, "1.0.0", 1, rates, opts.seed);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let fleet_opts = world.fleet_options(
        opts.poll,
        BootFailScope::Versions(vec![BAD_VERSION.to_owned()]),
        stopped,
    );
    let ca = world.fleet_ca()?;
    let fleet = tokio::spawn(async move { fleet_sim::run(&ca, &fleet_opts, specs).await });
    // Let every device check in once, so the cohorts are sized on the whole fleet.
    wait_for_checkins(world, opts.devices, opts.timeout).await?;

    say("== rollout of 2.0.0: 1% → 10% → 50% → 100%");
    let good_rollout = world.create_rollout(&rollout(good_id, plan(opts))).await?.id;
    let good_view = wait_for(world, good_rollout, opts.timeout, verbose, |v| {
        v.state == RolloutState::COMPLETED || v.state == RolloutState::PAUSED
    })
    .await?;
    if good_view.state != RolloutState::COMPLETED {
        bail!(
            "the good rollout paused: {}",
            good_view.pause_reason.as_deref().unwrap_or("?")
        );
    }

    say(&format!(
        "== uploading 3.0.0 and rolling it out; it fails to boot on {:.0}% of devices",
        opts.bad_boot_fail * 100.0
    ));
    let bad_id = world.upload(&bad).await?;
    let bad_rollout = world.create_rollout(&rollout(bad_id, plan(opts))).await?.id;
    let paused = wait_for(world, bad_rollout, opts.timeout, verbose, |v| {
        v.state == RolloutState::PAUSED || v.state == RolloutState::COMPLETED
    })
    .await?;
    if paused.state != RolloutState::PAUSED {
        bail!("the bad rollout was not paused");
    }
    // Devices already installing finish (a rollback is the bootloader's job); then it settles.
    let bad_view = wait_for(world, bad_rollout, opts.timeout, false, |v| v.in_flight == 0).await?;
    // Every device checks in once more, so its last answer is about the paused rollout.
    tokio::time::sleep(opts.poll * 2).await;

    let _ = stop.send(true);
    let devices = fleet.await.context("fleet task")??;
    let fleet_versions = world.fleet_versions().await?;
    Ok(DemoOutcome {
        good: world.rollout(good_rollout).await?,
        bad: bad_view,
        fleet: fleet_versions,
        devices,
        elapsed: started.elapsed(),
    })
}

/// Waits until `n` devices are registered with a class (they checked in at least once).
async fn wait_for_checkins(world: &World, n: usize, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        let seen = usize::try_from(world.fleet_versions().await?.devices).unwrap_or(usize::MAX);
        if seen >= n {
            return Ok(());
        }
        if start.elapsed() > timeout {
            bail!("only {seen} of {n} devices checked in within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What the counts in [`summary_text`] mean.
pub const COUNTS_LEGEND: &str = "counts are devices. \"this stage\": first offered the release while that \
stage was current; \"so far\": that stage and every earlier one. A stage's cohort is a cumulative \
share of the fleet (the 10% includes the 1%).";

/// A rollout's stages as a table with both meanings of its counts side by side.
pub fn rollout_table(v: &RolloutView) -> String {
    let mut s = format!("rollout {} \"{}\": {}", v.id, v.name, v.state);
    if let Some(r) = &v.pause_reason {
        s.push_str(&format!(" ({r})"));
    }
    s.push('\n');
    let group = |a: &str, b: &str, c: &str, d: &str| format!("{a:>8} {b:>9} {c:>6} {d:>11}");
    s.push_str(&format!(
        "  {:<5} {:>6}  {:<8} | {:^37} | {:^37}\n",
        "", "", "", "this stage", "so far"
    ));
    s.push_str(&format!(
        "  {:<5} {:>6}  {:<8} | {} | {}\n",
        "stage",
        "share",
        "status",
        group("offered", "committed", "failed", "rolled back"),
        group("offered", "committed", "failed", "rolled back"),
    ));
    let numbers = |c: &CountsView| {
        group(
            &c.offered.to_string(),
            &c.committed.to_string(),
            &c.failed.to_string(),
            &c.rolled_back.to_string(),
        )
    };
    for st in &v.stages {
        let StageView {
            index, percent, status, ..
        } = st;
        s.push_str(&format!(
            "  {:<5} {:>6}  {:<8} | {} | {}\n",
            index + 1,
            format!("{percent}%"),
            status.as_str(),
            numbers(&st.counts),
            numbers(&st.cumulative),
        ));
    }
    for t in &v.timeline {
        s.push_str(&format!("  · {}\n", t.message));
    }
    s
}

/// The closing summary.
pub fn summary_text(outcome: &DemoOutcome, dashboard: &str) -> String {
    let mut out = String::new();
    out.push_str(COUNTS_LEGEND);
    out.push('\n');
    out.push_str(&rollout_table(&outcome.good));
    out.push_str(&rollout_table(&outcome.bad));
    out.push_str("fleet now runs:\n");
    for class in &outcome.fleet.classes {
        for v in &class.versions {
            out.push_str(&format!(
                "  {} {:<8} {:>5} devices\n",
                class.class.as_deref().unwrap_or("?"),
                v.version.as_deref().unwrap_or("?"),
                v.devices
            ));
        }
    }
    let d = &outcome.devices;
    let states: Vec<String> = d
        .by_state
        .iter()
        .map(|(state, n)| format!("{n} {}", state.as_str()))
        .collect();
    out.push_str(&format!("simulated devices at the end: {}\n", states.join(", ")));
    for (reason, h) in &d.held_back {
        out.push_str(&format!("  held back, {reason}: {} devices", h.devices));
        if !h.ids.is_empty() {
            out.push_str(&format!(" ({})", h.ids.join(" ")));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "downloads: {} delta, {} full, {} bytes in all; every one verified on the device\n",
        d.downloads_delta, d.downloads_full, d.bytes
    ));
    out.push_str(&format!("finished in {:.1} s\n", outcome.elapsed.as_secs_f64()));
    out.push_str(&format!("dashboard: {dashboard}\n"));
    out
}
