//! Replicas on one PostgreSQL database cache device rows, and revocation still holds on every
//! replica's very next request (store/feed.rs): the revoking call returns only after every live
//! replica dropped the device, and a replica that may have missed a notification stops trusting
//! its cache.

mod rollouts_support;

use std::time::{Duration, Instant};

use ota_server::domain::DeviceState;
use ota_server::store::SharedStore;
use rollouts_support::{open_postgres, pg_url, postgres_url, CLASS};

const T0: i64 = 1_800_000_000_000;

async fn replicas(n: usize) -> (String, Vec<SharedStore>) {
    let url = postgres_url();
    let mut stores = Vec::new();
    for _ in 0..n {
        stores.push(open_postgres(&url).await);
    }
    // Every replica's heartbeat is stored and its listener up (its cache is then in use).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    (url, stores)
}

async fn state(store: &SharedStore, id: &str) -> DeviceState {
    store.device(id).await.unwrap().unwrap().state
}

#[tokio::test]
async fn revocation_on_one_replica_is_refused_by_every_other_on_the_next_request() {
    let (_, stores) = replicas(3).await;
    let ids: Vec<String> = (0..30).map(|i| format!("dev-{i:03}")).collect();
    stores[0].register_devices(&ids, CLASS, T0).await.unwrap();
    for id in &ids {
        // Replicas B and C have the device cached as active...
        for s in &stores[1..] {
            assert_eq!(state(s, id).await, DeviceState::Active);
            assert_eq!(state(s, id).await, DeviceState::Active);
        }
        // ...A revokes it, and the very next lookup on B and C refuses it.
        assert!(stores[0].set_device_state(id, DeviceState::Revoked).await.unwrap());
        for s in &stores[1..] {
            assert_eq!(state(s, id).await, DeviceState::Revoked, "{id}");
        }
    }
}

#[tokio::test]
async fn a_dead_replica_is_not_waited_for() {
    let (url, stores) = replicas(2).await;
    stores[0].register_devices(&["d".to_owned()], CLASS, T0).await.unwrap();
    // A replica that stopped beating ten seconds ago (killed): nobody waits for it.
    let schema = url.rsplit("schema=").next().unwrap().to_owned();
    let pool = sqlx::PgPool::connect(&pg_url()).await.unwrap();
    sqlx::query(&format!(
        "INSERT INTO \"{schema}\".replicas (id, heartbeat_ms, started_ms) VALUES ('dead', $1, $1)"
    ))
    .bind(chrono_ms() - 10_000)
    .execute(&pool)
    .await
    .unwrap();
    let started = Instant::now();
    stores[0].set_device_state("d", DeviceState::Revoked).await.unwrap();
    // The acknowledgement timeout is 3 s; the live replicas answer in milliseconds.
    assert!(
        started.elapsed() < Duration::from_millis(2_500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(state(&stores[1], "d").await, DeviceState::Revoked);
}

#[tokio::test]
async fn a_replica_that_lost_its_listener_stops_trusting_its_cache() {
    let (url, stores) = replicas(2).await;
    stores[0].register_devices(&["d".to_owned()], CLASS, T0).await.unwrap();
    assert_eq!(state(&stores[1], "d").await, DeviceState::Active);
    let schema = url.rsplit("schema=").next().unwrap().to_owned();
    let pool = sqlx::PgPool::connect(&pg_url()).await.unwrap();
    // A change no notification announces (written behind the replicas' backs): B's cache is
    // really in use, so it does not see it...
    sqlx::query(&format!(
        "UPDATE \"{schema}\".devices SET state = 'revoked' WHERE id = 'd'"
    ))
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(state(&stores[1], "d").await, DeviceState::Active);
    // ...until the listeners' connections drop (a network cut: notifications may be lost).
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE $1")
        .bind(format!("LISTEN%ota_changes_{schema}%"))
        .execute(&pool)
        .await
        .unwrap();
    // Within the cache lease (3 s), B reads the row again instead of its memory.
    let deadline = Instant::now() + Duration::from_secs(4);
    while state(&stores[1], "d").await != DeviceState::Revoked {
        assert!(Instant::now() < deadline, "replica B kept serving its cached row");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn chrono_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}
