//! Several replicas of the rollout service over one PostgreSQL database (each its own store,
//! pool and cache, as separate `ota-server` processes would have): the database is the source
//! of truth, so what one replica does holds on every other.

mod rollouts_support;

use std::sync::Arc;

use ota_protocol::device::StatusReport;
use ota_server::domain::offer::{NoUpdateReason, Offer};
use ota_server::domain::rollout::{RolloutAction, RolloutPlan, RolloutState, Transition};
use ota_server::service::rollouts::{Action, RolloutService};
use ota_server::store::SharedStore;
use rollouts_support::*;

const T0: i64 = 1_800_000_000_000;

/// `n` replicas on one new schema, with `devices` registered and release 2 stored.
async fn replicas(
    n: usize,
    devices: usize,
) -> (Vec<SharedStore>, Vec<Arc<RolloutService>>, ota_server::domain::Release) {
    let url = postgres_url();
    let mut stores = Vec::new();
    for _ in 0..n {
        stores.push(open_postgres(&url).await);
    }
    let ids: Vec<String> = (0..devices).map(|i| format!("dev-{i:04}")).collect();
    stores[0].register_devices(&ids, CLASS, T0).await.unwrap();
    let release = insert_release(&stores[0], T0).await;
    let mut services = Vec::new();
    for s in &stores {
        services.push(RolloutService::load(s.clone()).await.unwrap());
    }
    (stores, services, release)
}

/// Everyone at once: one stage of the whole class, no soak.
fn all_at_once(max_in_flight: u32) -> RolloutPlan {
    let mut plan = RolloutPlan::canary([1, 1, 1, 1], 0);
    plan.stages.truncate(1);
    plan.stages[0].fraction_bp = 10_000;
    plan.stages[0].max_failures = 1_000;
    plan.stages[0].min_committed = Some(1_000);
    plan.max_in_flight = max_in_flight;
    plan
}

async fn offer(service: &RolloutService, store: &SharedStore, device: &str, now: i64) -> Offer {
    let device = store.device(device).await.unwrap().unwrap();
    service.offer(&device, CLASS, &running(9, 1), now).await.unwrap()
}

#[tokio::test]
async fn rollout_created_on_one_replica_is_known_to_the_others() {
    let (stores, services, release) = replicas(2, 10).await;
    let id = services[0]
        .create(&release, spec(all_at_once(50), vec![]), T0)
        .await
        .unwrap()
        .row
        .id;
    // Asked directly (the API's GET), and at the next tick (offers).
    assert_eq!(
        services[1].status(id).await.unwrap().row.rollout.state,
        RolloutState::Running
    );
    services[1].tick(T0 + 1).await.unwrap();
    assert!(matches!(
        offer(&services[1], &stores[1], "dev-0001", T0 + 2).await,
        Offer::Update { .. }
    ));
}

#[tokio::test]
async fn pause_on_one_replica_stops_new_offers_on_another_at_once() {
    let (stores, services, release) = replicas(2, 20).await;
    let id = services[0]
        .create(&release, spec(all_at_once(50), vec![]), T0)
        .await
        .unwrap()
        .row
        .id;
    services[1].tick(T0 + 1).await.unwrap();
    assert!(matches!(
        offer(&services[1], &stores[1], "dev-0001", T0 + 2).await,
        Offer::Update { .. }
    ));
    services[0]
        .act(id, Action::Engine(RolloutAction::Pause), T0 + 3)
        .await
        .unwrap();
    // No tick on B: its cache still says "running", but the offer is checked against the
    // stored version in the same transaction that would store it.
    assert_eq!(
        offer(&services[1], &stores[1], "dev-0002", T0 + 4).await,
        Offer::NoUpdate(NoUpdateReason::ROLLOUT_PAUSED)
    );
    // A device offered before the pause but not started stops too, once B follows the store.
    services[1].tick(T0 + 5).await.unwrap();
    assert_eq!(
        offer(&services[1], &stores[1], "dev-0001", T0 + 6).await,
        Offer::NoUpdate(NoUpdateReason::ROLLOUT_PAUSED)
    );
}

#[tokio::test]
async fn in_flight_cap_holds_across_replicas() {
    let (stores, services, release) = replicas(3, 90).await;
    let cap = 7;
    let id = services[0]
        .create(&release, spec(all_at_once(cap), vec![]), T0)
        .await
        .unwrap()
        .row
        .id;
    for s in &services {
        s.tick(T0 + 1).await.unwrap();
    }
    // Ninety devices check in at once, each on one of three replicas.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..90 {
        let service = services[i % 3].clone();
        let store = stores[i % 3].clone();
        tasks.spawn(async move { offer(&service, &store, &format!("dev-{i:04}"), T0 + 2).await });
    }
    let mut offered = 0;
    while let Some(o) = tasks.join_next().await {
        if matches!(o.unwrap(), Offer::Update { .. }) {
            offered += 1;
        }
    }
    let stored = stores[0].rollout_devices(id).await.unwrap().len();
    assert_eq!(offered, stored, "every offer a device heard is stored");
    assert_eq!(stored, cap as usize, "the cap holds across replicas");
}

#[tokio::test]
async fn a_transition_two_replicas_decide_together_is_stored_once() {
    let (stores, services, release) = replicas(2, 10).await;
    let mut plan = all_at_once(50);
    plan.stages[0].max_failures = 1;
    let id = services[0]
        .create(&release, spec(plan, vec![]), T0)
        .await
        .unwrap()
        .row
        .id;
    for s in &services {
        s.tick(T0 + 1).await.unwrap();
    }
    assert!(matches!(
        offer(&services[0], &stores[0], "dev-0001", T0 + 2).await,
        Offer::Update { .. }
    ));
    let failed = StatusReport::Failed {
        release_id: Some(release.id),
        reason: "boot loop".into(),
    };
    // The failure lands on A; both replicas evaluate the gate concurrently.
    services[0].report("dev-0001", &failed, T0 + 3).await.unwrap();
    let (a, b) = tokio::join!(services[0].tick(T0 + 4), services[1].tick(T0 + 4));
    a.unwrap();
    b.unwrap();
    let row = stores[1].rollout(id).await.unwrap().unwrap();
    let pauses = row
        .rollout
        .timeline
        .iter()
        .filter(|e| matches!(e.transition, Transition::Paused { .. }))
        .count();
    assert_eq!(pauses, 1, "{:?}", row.rollout.timeline);
    for s in &services {
        s.tick(T0 + 5).await.unwrap();
        assert!(matches!(
            s.status(id).await.unwrap().row.rollout.state,
            RolloutState::Paused { .. }
        ));
    }
}
