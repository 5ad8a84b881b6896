//! The rollout service on both real stores (SQLite file, PostgreSQL schema): offers, reports,
//! gates and actions are stored, and a service loaded afresh from the store (a restart) has
//! exactly the same state, counts and timeline — nothing lost, nothing counted twice.

use ota_protocol::device::StatusReport;
use ota_protocol::rollouts::{PauseKind, RolloutState, RolloutView};
use ota_server::domain::offer::{NoUpdateReason, Offer};
use ota_server::domain::rollout::RolloutPlan;
use ota_server::service::rollouts::{Action, RolloutService};
use ota_server::store::SharedStore;

mod rollouts_support;

use rollouts_support::*;

/// A rollout as the API shows it.
async fn view(service: &RolloutService, id: i64) -> RolloutView {
    RolloutView::from(&service.status(id).await.unwrap())
}

/// Everything a restart must preserve, as the API shows it.
async fn snapshot(service: &RolloutService) -> serde_json::Value {
    let views: Vec<RolloutView> = service
        .statuses()
        .await
        .unwrap()
        .iter()
        .map(RolloutView::from)
        .collect();
    let mut views = serde_json::to_value(views).unwrap();
    for v in views.as_array_mut().unwrap() {
        // Cohort sizes (and what promotion needs of them) are recounted after a restart, not
        // stored.
        for s in v["stages"].as_array_mut().unwrap() {
            s["cohort"] = serde_json::Value::Null;
            s["committed_needed"] = serde_json::Value::Null;
        }
    }
    views
}

async fn exercise(store: SharedStore) {
    let t0 = 1_800_000_000_000;
    let ids: Vec<String> = (0..400).map(|i| format!("dev-{i:04}")).collect();
    store.register_devices(&ids, CLASS, t0).await.unwrap();
    let release = insert_release(&store, t0).await;

    let service = RolloutService::load(store.clone()).await.unwrap();
    // Canary 5% (min 100% of its cohort), then 100%; pause at the second failure.
    let mut plan = RolloutPlan::canary_by_share(0);
    plan.stages = vec![plan.stages[0].clone(), plan.stages[3].clone()];
    plan.stages[0].fraction_bp = 500;
    plan.stages[0].max_failures = 2;
    let id = service.create(&release, spec(plan, vec![]), t0).await.unwrap().row.id;
    service.tick(t0).await.unwrap(); // counts the canary cohort

    // Every device checks in on v1: only the canary is offered.
    let mut offered = Vec::new();
    for d in &ids {
        let device = store.device(d).await.unwrap().unwrap();
        if let Offer::Update { .. } = service.offer(&device, CLASS, &running(9, 1), t0 + 1).await.unwrap() {
            offered.push(d.clone());
        }
    }
    let canary = view(&service, id).await.stages[0].cohort.unwrap();
    assert_eq!(offered.len() as u32, canary);
    assert!((5..=40).contains(&canary), "canary cohort {canary} of 400 at 5%");

    // One device commits (and replays its report), one fails.
    let commit = StatusReport::Committed {
        release_id: Some(release.id),
    };
    downloaded(&store, &offered[0], &release, t0 + 2).await;
    for _ in 0..3 {
        service.report(&offered[0], &commit, t0 + 2).await.unwrap();
    }
    let failed = StatusReport::Failed {
        release_id: Some(release.id),
        reason: "boot loop".into(),
    };
    service.report(&offered[1], &failed, t0 + 3).await.unwrap();
    let v = view(&service, id).await;
    assert_eq!((v.stages[0].counts.committed, v.stages[0].counts.failed), (1, 1));
    assert_eq!(v.state, RolloutState::RUNNING);

    // Restart: the same state from the store alone.
    let before = snapshot(&service).await;
    service.flush().await.unwrap();
    drop(service);
    let service = RolloutService::load(store.clone()).await.unwrap();
    assert_eq!(snapshot(&service).await, before);

    // A second device rolls back (it checks in running its old image after installing): the
    // canary pauses itself, and the pause survives another restart.
    let device = store.device(&offered[2]).await.unwrap().unwrap();
    service
        .report(
            &offered[2],
            &StatusReport::Installing {
                release_id: Some(release.id),
            },
            t0 + 4,
        )
        .await
        .unwrap();
    service.tick(t0 + 4).await.unwrap();
    // It rolled back: it waits for an operator's retry-failed.
    assert_eq!(
        service.offer(&device, CLASS, &running(9, 1), t0 + 5).await.unwrap(),
        Offer::NoUpdate(NoUpdateReason::AWAITING_RETRY)
    );
    let v = view(&service, id).await;
    assert_eq!(v.state, RolloutState::PAUSED, "{:?}", v.pause_reason);
    assert_eq!(v.stages[0].counts.rolled_back, 1);
    assert_eq!(v.pause_kind, Some(PauseKind::FAILURE_COUNT));
    let before = snapshot(&service).await;
    service.flush().await.unwrap();
    drop(service);
    let service = RolloutService::load(store.clone()).await.unwrap();
    assert_eq!(snapshot(&service).await, before);

    // Paused: no new device is offered; resume accepts the failures so far.
    let outsider = ids.iter().find(|d| !offered.contains(d)).unwrap();
    let outsider_device = store.device(outsider).await.unwrap().unwrap();
    assert_eq!(
        service
            .offer(&outsider_device, CLASS, &running(9, 1), t0 + 6)
            .await
            .unwrap(),
        Offer::NoUpdate(NoUpdateReason::ROLLOUT_PAUSED)
    );
    service.act(id, Action::RetryFailed, t0 + 7).await.unwrap();
    let v = RolloutView::from(
        &service
            .act(
                id,
                Action::Engine(ota_server::domain::rollout::RolloutAction::Resume),
                t0 + 7,
            )
            .await
            .unwrap(),
    );
    assert_eq!(v.state, RolloutState::RUNNING);
    // retry-failed: both failed devices are offered again (neither is penalty-boxed yet).
    assert_eq!(v.stages[0].counts.failed + v.stages[0].counts.rolled_back, 0);
    assert!(service
        .act(
            id,
            Action::Engine(ota_server::domain::rollout::RolloutAction::Resume),
            t0 + 8
        )
        .await
        .is_err());

    // The rest of the canary commits (one by checking in on the new image with its sequence,
    // its report lost): the rollout moves to 100% and then completes.
    for (i, d) in offered.iter().enumerate().skip(1) {
        downloaded(&store, d, &release, t0 + 9).await;
        if i == 1 {
            let device = store.device(d).await.unwrap().unwrap();
            service.offer(&device, CLASS, &runs(&release), t0 + 9).await.unwrap();
        } else {
            service.report(d, &commit, t0 + 9).await.unwrap();
        }
    }
    service.tick(t0 + 10).await.unwrap();
    assert_eq!(view(&service, id).await.current_stage, 1);
    service.tick(t0 + 11).await.unwrap(); // counts the 100% cohort
    for d in &ids {
        let device = store.device(d).await.unwrap().unwrap();
        if let Offer::Update { .. } = service.offer(&device, CLASS, &running(9, 1), t0 + 12).await.unwrap() {
            downloaded(&store, d, &release, t0 + 13).await;
            service.report(d, &commit, t0 + 13).await.unwrap();
        }
    }
    // In-flight cap (50): devices beyond it got nothing this round; a second round finishes.
    for round in 0..10 {
        let v = view(&service, id).await;
        if v.state == RolloutState::COMPLETED {
            break;
        }
        for d in &ids {
            let device = store.device(d).await.unwrap().unwrap();
            if let Offer::Update { .. } = service
                .offer(&device, CLASS, &running(9, 1), t0 + 14 + round)
                .await
                .unwrap()
            {
                downloaded(&store, d, &release, t0 + 14 + round).await;
                service.report(d, &commit, t0 + 14 + round).await.unwrap();
            }
        }
        service.tick(t0 + 14 + round).await.unwrap();
    }
    let v = view(&service, id).await;
    assert_eq!(v.state, RolloutState::COMPLETED, "{v:?}");
    let committed: u32 = v.stages.iter().map(|s| s.counts.committed).sum();
    let offered_total: u32 = v.stages.iter().map(|s| s.counts.offered).sum();
    assert_eq!((committed, offered_total), (400, 400));
    // One meaning per count: `counts` is this stage's devices, `cumulative` this stage and the
    // earlier ones, `totals` every stage.
    assert_eq!((v.totals.committed, v.totals.offered), (400, 400));
    assert_eq!(v.stages[1].cumulative, v.totals);
    assert_eq!(v.stages[0].cumulative, v.stages[0].counts);
    assert_eq!(
        v.stages[1].counts.offered,
        400 - v.stages[0].counts.offered,
        "devices of the canary are counted in the canary only"
    );
    let before = snapshot(&service).await;
    service.flush().await.unwrap();
    drop(service);
    let service = RolloutService::load(store.clone()).await.unwrap();
    assert_eq!(snapshot(&service).await, before);
    store.close().await;
}

#[tokio::test]
async fn rollout_state_survives_restart_sqlite() {
    let (_dir, store) = sqlite().await;
    exercise(store).await;
}

#[tokio::test]
async fn rollout_state_survives_restart_postgres() {
    exercise(postgres().await).await;
}

/// A device that goes silent mid-update fails as stalled once `stall_after_ms` passes: its
/// in-flight slot is freed and the failure gates see it (here the canary pauses).
#[tokio::test]
async fn stalled_device_counts_as_failed() {
    let (_dir, store) = sqlite().await;
    let t0 = 1_800_000_000_000;
    let ids: Vec<String> = (0..50).map(|i| format!("dev-{i:04}")).collect();
    store.register_devices(&ids, CLASS, t0).await.unwrap();
    let release = insert_release(&store, t0).await;
    let service = RolloutService::load(store.clone()).await.unwrap();
    let mut plan = RolloutPlan::canary_by_share(0);
    plan.stages[0].fraction_bp = 10_000 / 5;
    plan.stages[1].fraction_bp = 10_000 / 5;
    plan.stall_after_ms = 60_000;
    let id = service.create(&release, spec(plan, vec![]), t0).await.unwrap().row.id;
    service.tick(t0).await.unwrap();
    let mut offered = None;
    for d in &ids {
        let device = store.device(d).await.unwrap().unwrap();
        if let Offer::Update { .. } = service.offer(&device, CLASS, &running(9, 1), t0).await.unwrap() {
            offered = Some(d.clone());
            break;
        }
    }
    let device = offered.expect("someone is in a 20% canary of 50");
    service
        .report(
            &device,
            &StatusReport::Downloading {
                release_id: Some(release.id),
            },
            t0 + 1_000,
        )
        .await
        .unwrap();
    service.tick(t0 + 60_999).await.unwrap();
    let v = view(&service, id).await;
    assert_eq!((v.in_flight, v.state), (1, RolloutState::RUNNING));
    service.tick(t0 + 61_000).await.unwrap();
    let v = view(&service, id).await;
    assert_eq!((v.in_flight, v.stages[0].counts.failed), (0, 1));
    assert_eq!(v.state, RolloutState::PAUSED, "{:?}", v.pause_reason);
    store.close().await;
}

/// A rollout limited to tagged devices: untagged devices of the class get nothing, and the
/// cohort counts only tagged ones.
#[tokio::test]
async fn tag_targeted_rollout_reaches_only_tagged_devices() {
    let (_dir, store) = sqlite().await;
    let t0 = 1_800_000_000_000;
    let ids: Vec<String> = (0..40).map(|i| format!("dev-{i:04}")).collect();
    store.register_devices(&ids, CLASS, t0).await.unwrap();
    let beta: Vec<&String> = ids.iter().step_by(8).collect();
    for d in &beta {
        assert!(store.set_device_tags(d, &["beta".to_owned()]).await.unwrap());
    }
    let release = insert_release(&store, t0).await;
    let service = RolloutService::load(store.clone()).await.unwrap();
    let mut plan = RolloutPlan::canary_by_share(0);
    plan.stages = vec![plan.stages[3].clone()];
    let id = service
        .create(&release, spec(plan, vec!["beta".into()]), t0)
        .await
        .unwrap()
        .row
        .id;
    service.tick(t0).await.unwrap();
    let mut offered = Vec::new();
    for d in &ids {
        let device = store.device(d).await.unwrap().unwrap();
        if let Offer::Update { .. } = service.offer(&device, CLASS, &running(9, 1), t0 + 1).await.unwrap() {
            offered.push(d);
        }
    }
    assert_eq!(offered, beta);
    let untagged = store.device(&ids[2]).await.unwrap().unwrap();
    assert_eq!(
        service.offer(&untagged, CLASS, &running(9, 1), t0 + 1).await.unwrap(),
        Offer::NoUpdate(NoUpdateReason::NOT_TARGETED)
    );
    let v = view(&service, id).await;
    assert_eq!(
        (v.stages[0].cohort, v.target_tags.clone()),
        (Some(beta.len() as u32), vec!["beta".to_owned()])
    );
    // A device that joins the target mid-rollout gets the current stage's decision.
    let late = &ids[1];
    assert!(store.set_device_tags(late, &["beta".to_owned()]).await.unwrap());
    let device = store.device(late).await.unwrap().unwrap();
    assert!(matches!(
        service.offer(&device, CLASS, &running(9, 1), t0 + 2).await.unwrap(),
        Offer::Update { .. }
    ));
    store.close().await;
}

/// A device updating under one rollout finishes that update before a newer rollout of the class
/// offers it anything (its record would otherwise be left in flight), then gets the newer one.
#[tokio::test]
async fn update_under_way_finishes_before_a_newer_rollout() {
    let (_dir, store) = sqlite().await;
    let t0 = 1_800_000_000_000;
    let ids = vec!["dev-0001".to_owned()];
    store.register_devices(&ids, CLASS, t0).await.unwrap();
    let v2 = insert_release(&store, t0).await;
    let v3 = insert_release_seq(&store, 3, t0).await;
    let service = RolloutService::load(store.clone()).await.unwrap();
    let mut plan = RolloutPlan::canary_by_share(0);
    plan.stages = vec![plan.stages[3].clone()];
    let r2 = service
        .create(&v2, spec(plan.clone(), vec![]), t0)
        .await
        .unwrap()
        .row
        .id;
    service.tick(t0).await.unwrap();
    let device = store.device(&ids[0]).await.unwrap().unwrap();
    let offered = |o: Offer| match o {
        Offer::Update { release, .. } => Some(release.facts.version),
        Offer::NoUpdate(_) => None,
    };
    assert_eq!(
        offered(service.offer(&device, CLASS, &running(9, 1), t0 + 1).await.unwrap()).as_deref(),
        Some("2.0.0")
    );
    service
        .report(
            &ids[0],
            &StatusReport::Downloading {
                release_id: Some(v2.id),
            },
            t0 + 2,
        )
        .await
        .unwrap();
    // v3's rollout starts while the device downloads v2: it keeps getting v2.
    let r3 = service.create(&v3, spec(plan, vec![]), t0 + 3).await.unwrap().row.id;
    service.tick(t0 + 3).await.unwrap();
    assert_eq!(
        offered(service.offer(&device, CLASS, &running(9, 1), t0 + 4).await.unwrap()).as_deref(),
        Some("2.0.0")
    );
    // It commits v2 (seen by its check-in on the new image), then gets v3.
    downloaded(&store, &ids[0], &v2, t0 + 5).await;
    assert_eq!(
        offered(service.offer(&device, CLASS, &runs(&v2), t0 + 5).await.unwrap()).as_deref(),
        Some("3.0.0")
    );
    let v = view(&service, r2).await;
    assert_eq!((v.stages[0].counts.committed, v.in_flight), (1, 0));
    assert_eq!(view(&service, r3).await.in_flight, 1);
    store.close().await;
}

/// A check-in that gets nothing says why, with the reason the offer decision had: no rollout,
/// a draft, not in the cohort, the in-flight limit, a failure waiting for retry, the penalty
/// box, a pause, an abort.
#[tokio::test]
async fn no_update_reasons_follow_the_offer_decision() {
    let (_dir, store) = sqlite().await;
    let t0 = 1_800_000_000_000;
    let ids: Vec<String> = (0..40).map(|i| format!("dev-{i:04}")).collect();
    store.register_devices(&ids, CLASS, t0).await.unwrap();
    let release = insert_release(&store, t0).await;
    let service = RolloutService::load(store.clone()).await.unwrap();
    let device = |i: usize| {
        let store = store.clone();
        let id = ids[i].clone();
        async move { store.device(&id).await.unwrap().unwrap() }
    };
    let offer = |d: ota_server::domain::Device, at: i64| {
        let service = &service;
        async move { service.offer(&d, CLASS, &running(9, 1), at).await.unwrap() }
    };
    let nothing = Offer::NoUpdate;

    // No rollout of anything newer (the HTTP layer tells up_to_date / no_release from it).
    assert_eq!(offer(device(0).await, t0).await, nothing(NoUpdateReason::NO_ROLLOUT));
    let current = service
        .offer(&device(0).await, CLASS, &runs(&release), t0)
        .await
        .unwrap();
    assert_eq!(current, nothing(NoUpdateReason::NO_ROLLOUT));
    assert_eq!(
        ota_server::domain::offer::nothing_newer(Some(&release), &runs(&release)),
        Some(NoUpdateReason::UP_TO_DATE)
    );
    assert_eq!(
        ota_server::domain::offer::nothing_newer(None, &running(9, 1)),
        Some(NoUpdateReason::NO_RELEASE)
    );
    assert_eq!(
        ota_server::domain::offer::nothing_newer(Some(&release), &running(9, 1)),
        None
    );

    // A draft: not started.
    let mut plan = RolloutPlan::canary_by_share(3_600_000);
    plan.stages = vec![plan.stages[0].clone(), plan.stages[3].clone()];
    plan.stages[0].fraction_bp = 2_500;
    plan.stages[0].max_failures = 0;
    plan.stages[0].max_failure_rate_bp = 10_000;
    plan.max_in_flight = 1;
    plan.penalty_after_failures = 2;
    let mut draft = spec(plan, vec![]);
    draft.start = false;
    let id = service.create(&release, draft, t0).await.unwrap().row.id;
    assert_eq!(
        offer(device(0).await, t0).await,
        nothing(NoUpdateReason::ROLLOUT_NOT_STARTED)
    );
    let engine = |a| Action::Engine(a);
    use ota_server::domain::rollout::{cohort_point, RolloutAction};
    service.act(id, engine(RolloutAction::Start), t0 + 1).await.unwrap();
    service.tick(t0 + 1).await.unwrap();

    // Outside the 25% cohort: not in cohort. Inside: the first is offered, the next waits for
    // the in-flight slot.
    let (inside, outside): (Vec<usize>, Vec<usize>) =
        (0..ids.len()).partition(|&i| cohort_point(&SALT, &ids[i]) < 2_500);
    assert!(inside.len() >= 2 && !outside.is_empty(), "{inside:?}");
    assert_eq!(
        offer(device(outside[0]).await, t0 + 2).await,
        nothing(NoUpdateReason::NOT_IN_COHORT)
    );
    assert!(matches!(
        offer(device(inside[0]).await, t0 + 2).await,
        Offer::Update { .. }
    ));
    assert_eq!(
        offer(device(inside[1]).await, t0 + 2).await,
        nothing(NoUpdateReason::IN_FLIGHT_LIMIT)
    );

    // It fails: it waits for retry-failed; a second failure puts it in the penalty box.
    let failed = StatusReport::Failed {
        release_id: Some(release.id),
        reason: "flash write".into(),
    };
    service.report(&ids[inside[0]], &failed, t0 + 3).await.unwrap();
    assert_eq!(
        offer(device(inside[0]).await, t0 + 4).await,
        nothing(NoUpdateReason::AWAITING_RETRY)
    );
    service.act(id, Action::RetryFailed, t0 + 5).await.unwrap();
    assert!(matches!(
        offer(device(inside[0]).await, t0 + 6).await,
        Offer::Update { .. }
    ));
    service.report(&ids[inside[0]], &failed, t0 + 7).await.unwrap();
    assert_eq!(
        offer(device(inside[0]).await, t0 + 8).await,
        nothing(NoUpdateReason::HELD_OUT)
    );
    assert_eq!(view(&service, id).await.penalty_boxed, 1);

    // Paused: nobody new starts; aborted: nobody new ever does.
    service.act(id, engine(RolloutAction::Pause), t0 + 9).await.unwrap();
    assert_eq!(
        offer(device(inside[1]).await, t0 + 10).await,
        nothing(NoUpdateReason::ROLLOUT_PAUSED)
    );
    assert_eq!(
        offer(device(outside[0]).await, t0 + 10).await,
        nothing(NoUpdateReason::ROLLOUT_PAUSED)
    );
    service.act(id, engine(RolloutAction::Abort), t0 + 11).await.unwrap();
    assert_eq!(
        offer(device(inside[1]).await, t0 + 12).await,
        nothing(NoUpdateReason::ROLLOUT_ABORTED)
    );
    store.close().await;
}
