//! Staged rollouts end to end against a real `ota-server` (SQLite, mutual TLS on a real port)
//! and a simulated fleet that runs `device-verifier` on every download:
//! * a good release reaches 100% of its class, committed, through deltas;
//! * a revoked device gets nothing, and devices of another class never see the release;
//! * a server restart mid-rollout changes no count (counts are derived from stored records);
//! * a bad release (fails to boot on 30% of devices) pauses itself in its canary stage, having
//!   reached no more devices than that stage's cohort plus the in-flight cap.

use std::path::PathBuf;
use std::time::Duration;

use fleet_sim::{BootFailScope, EndState, FaultRates};
use ota_demo::firmware::{self, ReleaseSpec};
use ota_demo::scenario::{plan, rollout, wait_for, DemoOptions, BAD_VERSION, CLASS};
use ota_demo::world::{World, VENDOR};
use ota_protocol::device::NoUpdateReason;
use ota_protocol::rollouts::{CountsView, PauseKind, RolloutAction, RolloutState, RolloutView};

const OTHER_CLASS: &str = "gateway";
const DEVICES: usize = 200;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn counts(view: &RolloutView) -> Vec<CountsView> {
    view.stages.iter().map(|s| s.counts).collect()
}

/// `field` of every stage's own counts, added up.
fn total(view: &RolloutView, field: impl Fn(&CountsView) -> u32) -> u64 {
    view.stages.iter().map(|s| u64::from(field(&s.counts))).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_rollouts_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut world = World::create(dir.path(), "127.0.0.1:0".parse().unwrap(), &[CLASS, OTHER_CLASS])
        .await
        .unwrap();
    let opts = DemoOptions {
        devices: DEVICES,
        poll: Duration::from_millis(200),
        soak_ms: 300,
        max_in_flight: 20,
        timeout: Duration::from_secs(180),
        ..DemoOptions::default()
    };

    // Firmware: v1 on the devices; v2 (good) and v3 (bad) released with deltas.
    let (p1, p2) = firmware::repo_payloads(&repo()).unwrap();
    let keys = &world.keys;
    let (v1, v2, v3) = (
        keys.sign(&p1, 1, 0).unwrap(),
        keys.sign(&p2, 2, 0).unwrap(),
        keys.sign(&p2, 3, 0).unwrap(),
    );
    let cut = |image: &[u8], version: &str, sequence: u64, base: &[u8]| {
        world
            .keys
            .cut_release(&ReleaseSpec {
                image,
                version,
                sequence,
                class: CLASS,
                vendor_domain: VENDOR,
                delta_from: vec![base],
            })
            .unwrap()
    };
    let (good_bundle, bad_bundle) = (cut(&v2, "2.0.0", 2, &v1), cut(&v3, BAD_VERSION, 3, &v2));
    let good_release = world.upload(&good_bundle).await.unwrap();
    // 200 devices: a 5% canary (about 10 devices) so that, with 30% failing, the canary sees a
    // failure; the salt and the fault seed are fixed, so the cohorts are the same every run.
    let mut plan = plan(&opts);
    if let Some(stages) = &mut plan.stages {
        stages[0].percent = 5.0;
    }
    let rollout = |release: i64| rollout(release, plan.clone());

    // The fleet: DEVICES of the class (30% cannot boot the bad release), 3 of another class.
    let rates = FaultRates {
        boot_fail: 0.30,
        ..FaultRates::default()
    };
    let prov = world.provisioning(CLASS).unwrap();
    let mut specs = fleet_sim::fleet("dev-", DEVICES, CLASS, &prov, &v1, "1.0.0", 1, rates, 11);
    let gw = world.provisioning(OTHER_CLASS).unwrap();
    specs.extend(fleet_sim::fleet(
        "gw-",
        3,
        OTHER_CLASS,
        &gw,
        &v1,
        "1.0.0",
        1,
        FaultRates::default(),
        12,
    ));
    let revoked = "dev-00007";
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let fleet_opts = world.fleet_options(opts.poll, BootFailScope::Versions(vec![BAD_VERSION.into()]), stopped);
    let ca = world.fleet_ca().unwrap();
    let fleet = tokio::spawn(async move { fleet_sim::run(&ca, &fleet_opts, specs).await });

    // Everyone checks in once; then one device is revoked (its certificate stays valid).
    let start = std::time::Instant::now();
    while world.fleet_versions().await.unwrap().devices < (DEVICES + 3) as u64 {
        assert!(start.elapsed() < Duration::from_secs(60), "devices did not check in");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    world.revoke(revoked).await.unwrap();

    // Good rollout, until its third stage (50%) is under way.
    let good = world.create_rollout(&rollout(good_release)).await.unwrap().id;
    wait_for(&world, good, opts.timeout, false, |v| v.current_stage >= 2)
        .await
        .unwrap();

    // Restart mid-rollout: pause, let devices in flight finish, restart, compare.
    world.act(good, &RolloutAction::PAUSE).await.unwrap();
    wait_for(&world, good, opts.timeout, false, |v| v.in_flight == 0)
        .await
        .unwrap();
    let before = world.rollout(good).await.unwrap();
    world.restart().await.unwrap();
    let after = world.rollout(good).await.unwrap();
    assert_eq!(counts(&before), counts(&after), "a restart changed counts");
    assert_eq!(before.state, after.state);
    assert_eq!(before.current_stage, after.current_stage);
    assert_eq!(before.timeline, after.timeline);
    assert!(total(&after, |c| c.committed) > 0);

    // The counts' two meanings: the last stage's cumulative counts are the rollout's totals,
    // and each stage's cumulative counts add its own to the earlier stage's.
    for view in [&before, &after] {
        let stages = &view.stages;
        assert_eq!(stages.last().unwrap().cumulative, view.totals, "{view:?}");
        for i in 1..stages.len() {
            let (earlier, this) = (&stages[i - 1].cumulative, &stages[i]);
            for f in [
                |c: &CountsView| c.offered,
                |c: &CountsView| c.committed,
                |c: &CountsView| c.failed,
                |c: &CountsView| c.rolled_back,
            ] {
                assert_eq!(f(&this.cumulative), f(earlier) + f(&this.counts), "{view:?}");
            }
        }
    }

    // Resume; the rollout completes with every reachable device committed exactly once.
    world.act(good, &RolloutAction::RESUME).await.unwrap();
    let done = wait_for(&world, good, opts.timeout, false, |v| {
        v.state == RolloutState::COMPLETED || v.state == RolloutState::PAUSED
    })
    .await
    .unwrap();
    assert_eq!(done.state, RolloutState::COMPLETED, "{done:?}");
    assert_eq!(total(&done, |c| c.committed), (DEVICES - 1) as u64, "{done:?}");
    assert_eq!(
        total(&done, |c| c.offered),
        (DEVICES - 1) as u64,
        "no device offered twice"
    );
    assert_eq!(u64::from(done.totals.committed), (DEVICES - 1) as u64, "{done:?}");
    assert_eq!(total(&done, |c| c.failed) + total(&done, |c| c.rolled_back), 0);

    // Bad rollout: pauses in the canary stage.
    let bad_release = world.upload(&bad_bundle).await.unwrap();
    let bad = world.create_rollout(&rollout(bad_release)).await.unwrap().id;
    let paused = wait_for(&world, bad, opts.timeout, false, |v| {
        v.state == RolloutState::PAUSED || v.state == RolloutState::COMPLETED
    })
    .await
    .unwrap();
    assert_eq!(paused.state, RolloutState::PAUSED, "{paused:?}");
    assert_eq!(paused.current_stage, 0, "{paused:?}");
    assert_eq!(paused.pause_kind, Some(PauseKind::FAILURE_COUNT));
    let reason = paused.pause_reason.clone().unwrap_or_default();
    assert!(reason.contains("stage 1"), "{paused:?}");
    // Devices installing when it paused finish; nobody new starts.
    let settled = wait_for(&world, bad, opts.timeout, false, |v| v.in_flight == 0)
        .await
        .unwrap();
    let canary_cohort = u64::from(settled.stages[0].cohort.unwrap_or(0));
    let affected = total(&settled, |c| c.offered);
    assert!(affected >= 1);
    assert!(
        affected <= canary_cohort + u64::from(opts.max_in_flight),
        "{affected} devices reached, canary {canary_cohort} + cap {}",
        opts.max_in_flight
    );
    assert!(total(&settled, |c| c.rolled_back) >= 1, "{settled:?}");
    eprintln!(
        "bad rollout: paused in stage 1 ({reason}), {affected} devices reached (canary cohort {canary_cohort}, cap {})",
        opts.max_in_flight
    );
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(
        total(&world.rollout(bad).await.unwrap(), |c| c.offered),
        affected,
        "a paused rollout kept offering"
    );

    // The same counts reach Prometheus.
    let metrics = world.get_text("/metrics").await.unwrap();
    assert!(
        metrics.contains(&format!("ota_rollout_state{{rollout=\"{bad}\",state=\"paused\"}} 1")),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "ota_rollout_devices{{rollout=\"{good}\",stage=\"4\",outcome=\"committed\"}} {}",
        counts(&done)[3].committed
    )));

    let _ = stop.send(true);
    let summary = fleet.await.unwrap().unwrap();
    let by_id = |id: &str| summary.reports.iter().find(|r| r.id == id).unwrap();
    let digest = fleet_sim::sha256_hex;

    // The revoked device was refused and still runs v1.
    let r = by_id(revoked);
    assert_eq!(r.digest, digest(&v1));
    assert_eq!(r.attempts, 0);
    // The other class never saw either release: it runs the newest there is for it.
    for i in 0..3 {
        let r = by_id(&format!("gw-{i:05}"));
        assert_eq!((r.attempts, r.digest.as_str()), (0, digest(&v1).as_str()), "{r:?}");
        assert_eq!(r.state, EndState::UpToDate, "{r:?}");
        assert_eq!(r.no_update_reason, Some(NoUpdateReason::NO_RELEASE), "{r:?}");
    }
    // The paused 3.0.0 rollout holds back every device of the class it did not reach, and the
    // simulator says so (they run 2.0.0, not the newest release: never "up to date").
    let held = summary.count(EndState::HeldBack);
    assert!(held > 0, "{}", summary.to_text());
    assert_eq!(summary.held_back("rollout_paused"), held, "{}", summary.to_text());
    assert_eq!(
        summary.count(EndState::UpToDate),
        3,
        "only the other class: {}",
        summary.to_text()
    );
    for r in summary.reports.iter().filter(|r| r.state == EndState::HeldBack) {
        assert_eq!(
            (r.class.as_str(), r.digest.as_str()),
            (CLASS, digest(&v2).as_str()),
            "{r:?}"
        );
        assert_eq!(r.no_update_reason, Some(NoUpdateReason::ROLLOUT_PAUSED), "{r:?}");
    }
    for r in summary.reports.iter().filter(|r| r.state == EndState::Committed) {
        assert_eq!(r.digest, digest(&v3), "committed = runs the newest release: {r:?}");
    }
    eprintln!("{}", summary.to_text());
    // Deltas were used: every update of the class came as a patch from the running image.
    let class_reports: Vec<_> = summary.reports.iter().filter(|r| r.class == CLASS).collect();
    let delta: u64 = class_reports.iter().map(|r| r.downloads_delta).sum();
    let full: u64 = class_reports.iter().map(|r| r.downloads_full).sum();
    assert!(delta >= (DEVICES - 1) as u64, "delta downloads {delta}");
    assert_eq!(full, 0);
    // Devices that rolled back on v3 run v2 again, committed at sequence 2.
    for r in class_reports.iter().filter(|r| r.id != revoked) {
        assert!(r.digest == digest(&v2) || r.digest == digest(&v3), "{r:?}");
        if r.state == EndState::RolledBack {
            assert_eq!((r.digest.as_str(), r.sequence), (digest(&v2).as_str(), 2));
        }
    }
    if let Some(server) = world.server.take() {
        server.shutdown().await;
    }
}
