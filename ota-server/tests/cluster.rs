//! Several `ota-server` replicas (separate processes) on one PostgreSQL database act as one
//! server: simulated devices send every request to a replica picked at random, operators act on
//! any replica, and replicas die by SIGKILL mid-rollout. The rollout gates hold across them and
//! the counts equal what the devices really did (docs/ARCHITECTURE.md, "Scaling out").

mod cluster_support;

use std::time::{Duration, Instant};

use cluster_support::{device_link, provisioning, v1, v2, Cluster, CLASS};
use fleet_sim::net::Checkin;
use fleet_sim::{EndState, FaultRates, Summary};
use ota_protocol::device::NoUpdateReason;
use ota_protocol::rollouts::{NewRollout, PlanInput, RolloutAction, RolloutState, RolloutView, StageInput};

fn sha(b: &[u8]) -> String {
    fleet_sim::sha256_hex(b)
}

/// Polls `check` every 10 ms until it holds; returns how long it took (panics after `limit`).
async fn until<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn reason(link: &fleet_sim::net::Link) -> Option<NoUpdateReason> {
    match link.checkin(&sha(&v1()), "1.0.0", 1).await.unwrap().0 {
        Checkin::NoUpdate(r) => r,
        Checkin::Offer(_) => None,
        Checkin::RetryAfter(_) => Some(NoUpdateReason::from("rate_limited")),
        Checkin::FactoryReset => Some(NoUpdateReason::DEVICE_INACTIVE),
    }
}

fn one_stage(soak_ms: i64) -> PlanInput {
    PlanInput {
        stages: Some(vec![StageInput {
            soak_ms: Some(soak_ms),
            ..StageInput::percent(100.0)
        }]),
        ..PlanInput::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_propagates() {
    let cluster = Cluster::start(3).await;
    let release = cluster.upload_v2(0).await;
    let rollout = cluster
        .admin(0)
        .create_rollout(&NewRollout {
            plan: one_stage(3_600_000),
            ..NewRollout::of(release)
        })
        .await
        .unwrap()
        .id;
    // Devices on B and C were offered the release (offered, not started).
    let offered: Vec<_> = (1..3)
        .map(|r| device_link(&cluster, &format!("offered-{r}"), r))
        .collect();
    for link in &offered {
        until(Duration::from_secs(1), "offered before the pause", || async {
            reason(link).await.is_none()
        })
        .await;
    }
    for (action, expected) in [
        (RolloutAction::PAUSE, NoUpdateReason::ROLLOUT_PAUSED),
        (RolloutAction::ABORT, NoUpdateReason::ROLLOUT_ABORTED),
    ] {
        cluster.admin(0).rollout_action(rollout, &action).await.unwrap();
        for r in 1..3 {
            // A device new to the rollout is refused at once (the stored version is checked
            // with every new offer); one offered earlier within the propagation delay.
            let fresh = device_link(&cluster, &format!("fresh-{}-{r}", action.as_str()), r);
            assert_eq!(reason(&fresh).await, Some(expected.clone()), "replica {r}");
            let link = &offered[r - 1];
            let took = until(Duration::from_secs(1), "an offered device stops", || async {
                reason(link).await == Some(expected.clone())
            })
            .await;
            eprintln!("{action:?} on replica 0 took effect on replica {r} after {took:?}");
        }
    }
}

/// Ids of the first `n` devices of the fleet, and their summary after a run.
fn committed_and_failed(summary: &Summary, release_digest: &str) -> (u32, u32) {
    let committed = summary.reports.iter().filter(|r| r.digest == release_digest).count();
    let failed = summary
        .reports
        .iter()
        .filter(|r| r.digest != release_digest && r.attempts > 0)
        .count();
    (u32::try_from(committed).unwrap(), u32::try_from(failed).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_holds_across_replicas() {
    let cluster = Cluster::start(3).await;
    let release = cluster.upload_v2(1).await;
    let salt = "000102030405060708090a0b0c0d0e0f";
    let plan = PlanInput {
        stages: Some(vec![
            // The soak outlasts the fleet's start: the canary's cohort is counted once its
            // devices have registered (counted empty, it would promote with nothing tested).
            StageInput {
                soak_ms: Some(5_000),
                max_failures: Some(2),
                ..StageInput::percent(10.0)
            },
            StageInput::percent(100.0),
        ]),
        max_in_flight: Some(4),
        ..PlanInput::default()
    };
    let rollout = cluster
        .admin(2)
        .create_rollout(&NewRollout {
            plan,
            cohort_salt: Some(salt.into()),
            ..NewRollout::of(release)
        })
        .await
        .unwrap()
        .id;
    // Every device fails to boot the release.
    let mut specs = fleet_sim::fleet(
        "bad-",
        120,
        CLASS,
        &provisioning(),
        &v1(),
        "1.0.0",
        1,
        FaultRates::default(),
        5,
    );
    for s in &mut specs {
        s.faults.boot_fail = true;
    }
    let mut salt_bytes = [0u8; 16];
    hex::decode_to_slice(salt, &mut salt_bytes).unwrap();
    let canary = specs
        .iter()
        .filter(|d| ota_server::domain::rollout::cohort_point(&salt_bytes, &d.id) < 1_000)
        .count();
    let mut opts = cluster.fleet_options(&[0, 1, 2]);
    opts.deadline = Duration::from_secs(12);
    let summary = fleet_sim::run(&cluster.fleet_ca, &opts, specs).await.unwrap();
    let view = cluster.admin(0).rollout(rollout).await.unwrap();
    eprintln!("{}\n{view:?}", summary.to_text());
    assert_eq!(view.state, RolloutState::PAUSED, "{view:?}");
    assert_eq!(view.current_stage, 0, "never promoted past its canary");
    let reached = summary.reports.iter().filter(|r| r.attempts > 0).count();
    assert!(
        reached <= canary + 4,
        "{reached} devices tried the bad release; the canary holds {canary}, the in-flight cap 4"
    );
    // The devices really spread over the replicas.
    for i in 0..3 {
        let served = cluster.checkins_served(i).await;
        assert!(served > 100, "replica {i} answered only {served} check-ins");
    }
    // What the server counted is what the devices did.
    let (committed, failed) = committed_and_failed(&summary, &sha(&v2()));
    assert_eq!(view.totals.committed, committed, "{view:?}");
    assert_eq!(view.totals.failed + view.totals.rolled_back, failed, "{view:?}");
}

/// The rollout's counts, as every replica shows them, equal the fleet's ground truth.
async fn assert_counts_equal_ground_truth(cluster: &Cluster, rollout: i64, summary: &Summary, live: &[usize]) {
    let (committed, failed) = committed_and_failed(summary, &sha(&v2()));
    for &i in live {
        let view: RolloutView = cluster.admin(i).rollout(rollout).await.unwrap();
        assert_eq!(
            view.totals.committed,
            committed,
            "replica {i}: {view:?}\n{}",
            summary.to_text()
        );
        assert_eq!(
            view.totals.failed + view.totals.rolled_back,
            failed,
            "replica {i}: {view:?}"
        );
        assert_eq!(view.in_flight, 0, "replica {i}: {view:?}");
        assert_eq!(view.totals.offered, committed + failed, "no double counts: {view:?}");
    }
}

async fn good_rollout(cluster: &Cluster, via: usize) -> i64 {
    let release = cluster.upload_v2(via).await;
    let plan = PlanInput {
        stages: Some(vec![
            StageInput {
                soak_ms: Some(300),
                ..StageInput::percent(25.0)
            },
            StageInput {
                soak_ms: Some(300),
                ..StageInput::percent(100.0)
            },
        ]),
        max_in_flight: Some(12),
        ..PlanInput::default()
    };
    cluster
        .admin(via)
        .create_rollout(&NewRollout {
            plan,
            ..NewRollout::of(release)
        })
        .await
        .unwrap()
        .id
}

/// Runs `devices` against every replica until the rollout completes (or the deadline),
/// while `chaos` kills and restarts replicas.
async fn run_fleet(
    cluster: &Cluster,
    devices: usize,
    seed: u64,
) -> (tokio::sync::watch::Sender<bool>, tokio::task::JoinHandle<Summary>) {
    let specs = fleet_sim::fleet(
        "dev-",
        devices,
        CLASS,
        &provisioning(),
        &v1(),
        "1.0.0",
        1,
        FaultRates::default(),
        seed,
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut opts = cluster.fleet_options(&(0..cluster.addrs.len()).collect::<Vec<_>>());
    opts.stop = Some(stopped);
    let ca = fleet_sim::FleetCa::from_key_pem(&cluster.ca.key_pem()).unwrap();
    let task = tokio::spawn(async move { fleet_sim::run(&ca, &opts, specs).await.unwrap() });
    (stop, task)
}

/// Waits until the rollout completed with nothing in flight; otherwise stops the fleet and
/// panics with the rollout and what the devices saw.
async fn wait_completed(
    cluster: &Cluster,
    rollout: i64,
    via: usize,
    limit: Duration,
    fleet: &mut (tokio::sync::watch::Sender<bool>, tokio::task::JoinHandle<Summary>),
) {
    let started = Instant::now();
    loop {
        let view = cluster.admin(via).rollout(rollout).await;
        if view
            .as_ref()
            .is_ok_and(|v| v.state == RolloutState::COMPLETED && v.in_flight == 0)
        {
            return;
        }
        if started.elapsed() >= limit {
            let _ = fleet.0.send(true);
            let summary = (&mut fleet.1).await.unwrap();
            let failures: Vec<_> = summary.reports.iter().filter(|r| !r.failures.is_empty()).collect();
            panic!(
                "the rollout did not complete within {limit:?}: {view:?}\n{}\n{failures:#?}",
                summary.to_text()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_crash() {
    let mut cluster = Cluster::start(3).await;
    let rollout = good_rollout(&cluster, 0).await;
    let mut fleet = run_fleet(&cluster, 80, 11).await;
    // Kill each replica in turn mid-rollout (every one of them ran the gates' evaluation on
    // its ticks), each restarted before the next dies.
    for i in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        cluster.kill(i);
        tokio::time::sleep(Duration::from_millis(300)).await;
        cluster.restart(i).await;
    }
    wait_completed(&cluster, rollout, 1, Duration::from_secs(40), &mut fleet).await;
    // Let devices that committed last check in once more, then stop the fleet.
    tokio::time::sleep(Duration::from_millis(600)).await;
    fleet.0.send(true).unwrap();
    let summary = fleet.1.await.unwrap();
    assert_eq!(summary.count(EndState::Committed), 80, "{}", summary.to_text());
    assert_counts_equal_ground_truth(&cluster, rollout, &summary, &[0, 1, 2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_at_random_points_counts_equal_ground_truth() {
    use rand_core::RngCore as _;
    let mut cluster = Cluster::start(3).await;
    let rollout = good_rollout(&cluster, 2).await;
    let mut fleet = run_fleet(&cluster, 80, 12).await;
    let mut rng = rand_core::OsRng;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(100 + rng.next_u64() % 700)).await;
        let victim = usize::try_from(rng.next_u64() % 3).unwrap();
        cluster.kill(victim);
        tokio::time::sleep(Duration::from_millis(rng.next_u64() % 400)).await;
        cluster.restart(victim).await;
    }
    wait_completed(&cluster, rollout, 0, Duration::from_secs(40), &mut fleet).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    fleet.0.send(true).unwrap();
    let summary = fleet.1.await.unwrap();
    assert_counts_equal_ground_truth(&cluster, rollout, &summary, &[0, 1, 2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_replica() {
    let mut cluster = Cluster::start(2).await;
    let release = cluster.upload_v2(0).await;
    let rollout = cluster
        .admin(1)
        .create_rollout(&NewRollout {
            plan: one_stage(3_600_000),
            ..NewRollout::of(release)
        })
        .await
        .unwrap()
        .id;
    // A replica that was running follows the new rollout within a second (its notification).
    let early = device_link(&cluster, "early", 0);
    until(
        Duration::from_secs(1),
        "offered on a replica that was there",
        || async { reason(&early).await.is_none() },
    )
    .await;
    // A replica started after the rollout began knows it at once: its view, its offers.
    let late = cluster.add_replica().await;
    let view = cluster.admin(late).rollout(rollout).await.unwrap();
    assert_eq!(view.state, RolloutState::RUNNING);
    assert_eq!(view.totals.offered, 1, "{view:?}");
    assert_eq!(reason(&device_link(&cluster, "late-device", late)).await, None);
    // And one started mid-stage after a pause follows it.
    cluster
        .admin(0)
        .rollout_action(rollout, &RolloutAction::PAUSE)
        .await
        .unwrap();
    let later = cluster.add_replica().await;
    assert_eq!(
        reason(&device_link(&cluster, "later-device", later)).await,
        Some(NoUpdateReason::ROLLOUT_PAUSED)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_everywhere() {
    let cluster = Cluster::start(3).await;
    for n in 0..5 {
        let id = format!("revoked-{n}");
        let links: Vec<_> = (0..3).map(|r| device_link(&cluster, &id, r)).collect();
        // Known (and cached) on every replica.
        for link in &links {
            link.checkin(&sha(&v1()), "1.0.0", 1).await.unwrap();
            link.checkin(&sha(&v1()), "1.0.0", 1).await.unwrap();
        }
        cluster.admin(0).revoke_device(&id).await.unwrap();
        // The very next request on B and on C is refused.
        for (r, link) in links.iter().enumerate().skip(1) {
            let err = link.checkin(&sha(&v1()), "1.0.0", 1).await.unwrap_err();
            assert!(err.contains("403") || err.contains("401"), "replica {r}: {err}");
        }
    }
}
