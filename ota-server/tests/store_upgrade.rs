//! Upgrading a database migrated by the old runner (versions in `schema_migrations`) to sqlx's
//! migrator: the applied versions are baselined, never re-run; the missing ones are applied;
//! the data survives. On SQLite and PostgreSQL.

use ota_server::domain::DeviceState;
use ota_server::store;
use sqlx::Connection as _;

fn pg_url() -> String {
    std::env::var("OTA_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// What the old runner left behind after migrations 1 and 2 (before device tags).
fn old_schema(backend: &str) -> String {
    let (init, rollouts) = match backend {
        "sqlite" => (
            include_str!("../src/store/migrations/sqlite/0001_init.sql"),
            include_str!("../src/store/migrations/sqlite/0002_rollouts.sql"),
        ),
        _ => (
            include_str!("../src/store/migrations/postgres/0001_init.sql"),
            include_str!("../src/store/migrations/postgres/0002_rollouts.sql"),
        ),
    };
    format!(
        "{init};\n{rollouts};\n\
         CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL);\n\
         INSERT INTO schema_migrations (version, applied_ms) VALUES (1, 1), (2, 2);\n\
         INSERT INTO devices (id, class, state, registered_ms, last_seen_ms) VALUES ('old-1', 'c', 'active', 5, 6);"
    )
}

async fn check_upgraded(url: &str) {
    let store = store::open(url).await.expect("an old database opens");
    // Data kept; migration 3 (tags) applied.
    let device = store.device("old-1").await.unwrap().expect("device kept");
    assert_eq!((device.registered_ms, device.state), (5, DeviceState::Active));
    assert!(store.set_device_tags("old-1", &["lab".into()]).await.unwrap());
    assert_eq!(
        store.device("old-1").await.unwrap().unwrap().tags,
        vec!["lab".to_owned()]
    );
    store.close().await;
    // Opening again is a no-op.
    let store = store::open(url).await.expect("reopens");
    assert_eq!(store.count_devices().await.unwrap(), 1);
    store.close().await;
}

#[tokio::test]
async fn old_sqlite_database_is_baselined_not_remigrated() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    {
        let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc"))
            .await
            .unwrap();
        sqlx::raw_sql(&old_schema("sqlite")).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
    check_upgraded(&url).await;
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(versions, migration_versions("sqlite"));
}

#[tokio::test]
async fn old_postgres_database_is_baselined_not_remigrated() {
    use rand_core::RngCore as _;
    let schema = format!("upgrade_{:016x}", rand_core::OsRng.next_u64());
    let mut conn = sqlx::PgConnection::connect(&pg_url())
        .await
        .expect("PostgreSQL must be reachable (OTA_TEST_PG_URL; .ci/postgres-up.sh)");
    sqlx::raw_sql(&format!(
        "CREATE SCHEMA \"{schema}\"; SET search_path TO \"{schema}\"; {}",
        old_schema("postgres")
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    check_upgraded(&format!("{}?schema={schema}", pg_url())).await;
    let versions: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT version FROM \"{schema}\"._sqlx_migrations ORDER BY version"
    ))
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(versions, migration_versions("postgres"));
    sqlx::raw_sql(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// The versions of the backend's migration files (`0001_init.sql` → 1), in order: after an
/// upgrade each must have been applied exactly once.
fn migration_versions(backend: &str) -> Vec<i64> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/store/migrations")
        .join(backend);
    let mut versions: Vec<i64> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.split('_').next().unwrap().parse().unwrap()
        })
        .collect();
    versions.sort_unstable();
    assert!(versions.len() >= 9, "{} holds {versions:?}", dir.display());
    versions
}
