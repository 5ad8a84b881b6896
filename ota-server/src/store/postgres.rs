//! PostgreSQL: for several server replicas sharing one database.
//!
//! URL: `postgres://user@host:port/db[?schema=name]`. `schema` (ours, stripped before connecting)
//! puts every table in that schema (created if missing), which tests use for isolation.

use std::str::FromStr as _;
use std::sync::Arc;

use anyhow::Context as _;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Connection as _;

use super::cache::DeviceCache;
use super::feed::PgFeed;
use super::migrate::baseline;
use super::queries::{dollar, impl_store};

/// `store/migrations/postgres`, applied in order, each once (recorded in `_sqlx_migrations`).
static MIGRATOR: Migrator = sqlx::migrate!("src/store/migrations/postgres");

/// Serializes the baseline check of concurrent replicas (pg_advisory_xact_lock key; the
/// migrator takes its own lock).
const MIGRATION_LOCK: i64 = 0x6f74_615f_6d69_6772;

/// Devices beyond which a replica does not warm its cache (it then fills on use).
const WARM_MAX: i64 = 1_000_000;

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Used under the change feed's lease (another replica may revoke a device at any time:
    /// see `store/feed.rs`).
    devices: Arc<DeviceCache>,
    feed: Arc<PgFeed>,
}

/// Splits our `schema=` parameter off the URL.
fn split_schema(url: &str) -> anyhow::Result<(String, Option<String>)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None));
    };
    let mut schema = None;
    let mut rest = Vec::new();
    for pair in query.split('&') {
        match pair.strip_prefix("schema=") {
            Some(s) => {
                anyhow::ensure!(
                    !s.is_empty()
                        && s.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                    "schema name must be [a-z0-9_]+"
                );
                schema = Some(s.to_owned());
            }
            None => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, schema))
}

impl PgStore {
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        let (url, schema) = split_schema(url)?;
        let mut options = PgConnectOptions::from_str(&url).context("database_url")?;
        if let Some(schema) = &schema {
            let mut conn = sqlx::PgConnection::connect_with(&options).await?;
            sqlx::raw_sql(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                .execute(&mut conn)
                .await?;
            conn.close().await?;
            options = options.options([("search_path", schema.as_str())]);
        }
        let pool = PgPoolOptions::new().max_connections(16).connect_with(options).await?;
        Self::migrate(&pool).await?;
        let devices = Arc::new(DeviceCache::leased());
        let feed = PgFeed::start(pool.clone(), schema.as_deref(), devices.clone()).await?;
        let store = Self { pool, devices, feed };
        tokio::spawn(store.clone().keep_warm());
        Ok(store)
    }

    /// Once the cache may be used (the feed's lease), and again after every time it was
    /// cleared (a lost listener), reads every device into it: the first request of a device
    /// after a replica starts then reads no row either.
    async fn keep_warm(self) {
        let mut warmed = None;
        while !self.pool.is_closed() {
            let generation = self.devices.generation();
            if self.devices.usable() && warmed != Some(generation) {
                let started = std::time::Instant::now();
                match self.warm_cache(WARM_MAX).await {
                    Ok(n) => {
                        warmed = Some(generation);
                        tracing::info!(
                            devices = n.unwrap_or(0),
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "device cache warmed"
                        );
                    }
                    Err(e) => tracing::warn!(error = %e, "could not warm the device cache; rows are read on use"),
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// This replica's end of the change feed.
    pub fn feed(&self) -> &PgFeed {
        &self.feed
    }

    /// After a committed change of a device's state or tags: dropped from every live
    /// replica's cache before this returns.
    async fn device_changed(&self, id: &str) -> super::Result<()> {
        self.feed.device_changed(id).await
    }

    async fn announce(&self, payload: &str) -> super::Result<()> {
        self.feed.notify(payload).await
    }

    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        Some(self.feed.subscribe())
    }

    async fn close_feed(&self) {
        self.feed.close().await;
    }

    async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        let table = "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1";
        let exists = |name: &'static str| sqlx::query(table).bind(name);
        if exists("schema_migrations").fetch_optional(&mut *tx).await?.is_some()
            && exists("_sqlx_migrations").fetch_optional(&mut *tx).await?.is_none()
        {
            baseline::<sqlx::Postgres>(&mut *tx, &MIGRATOR, dollar).await?;
        }
        tx.commit().await?;
        MIGRATOR.run(pool).await?;
        Ok(())
    }
}

impl_store!(PgStore, sqlx::postgres::PgRow, "postgres", dollar);

#[cfg(test)]
mod tests {
    use super::split_schema;

    #[test]
    fn schema_parameter_is_ours() {
        let (url, schema) = split_schema("postgres://u@h/db?schema=test_1&sslmode=disable").unwrap();
        assert_eq!(url, "postgres://u@h/db?sslmode=disable");
        assert_eq!(schema.as_deref(), Some("test_1"));
        assert!(split_schema("postgres://u@h/db?schema=x;drop").is_err());
    }
}
