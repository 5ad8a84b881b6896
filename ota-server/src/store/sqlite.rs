//! SQLite: the embedded default. One file, WAL journal, created on first start.

use std::str::FromStr as _;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use super::cache::DeviceCache;
use super::migrate::baseline;
use super::queries::{impl_store, same};

/// `store/migrations/sqlite`, applied in order, each once (recorded in `_sqlx_migrations`).
static MIGRATOR: Migrator = sqlx::migrate!("src/store/migrations/sqlite");

/// Devices beyond which the cache is not preloaded (it then fills on use).
const PRELOAD_MAX: i64 = 1_000_000;

#[derive(Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Write-through: this process is the database file's only writer.
    devices: DeviceCache,
}

impl SqliteStore {
    /// `sqlite://path/to/file.db` (the file and its directory are created if missing).
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
        if let Some(dir) = std::path::Path::new(path).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Keep the device table hot: 64 MiB page cache per connection, reads via mmap.
            .pragma("cache_size", "-65536")
            .pragma("mmap_size", "268435456")
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        let store = Self {
            pool,
            devices: DeviceCache::new(true),
        };
        store.migrate().await?;
        // The cache holds every device: first contact of a known device reads no row, and of a
        // new one only inserts.
        let started = std::time::Instant::now();
        let preloaded = store.preload_devices(PRELOAD_MAX).await?;
        tracing::info!(
            devices = preloaded,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "device cache preloaded"
        );
        Ok(store)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        let table = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?";
        let exists = |name: &'static str| sqlx::query(table).bind(name);
        if exists("schema_migrations").fetch_optional(&mut *tx).await?.is_some()
            && exists("_sqlx_migrations").fetch_optional(&mut *tx).await?.is_none()
        {
            baseline::<sqlx::Sqlite>(&mut *tx, &MIGRATOR, same).await?;
        }
        tx.commit().await?;
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }
}

impl SqliteStore {
    /// One process per database file: its own cache is the only one.
    async fn device_changed(&self, _id: &str) -> super::Result<()> {
        Ok(())
    }

    async fn announce(&self, _payload: &str) -> super::Result<()> {
        Ok(())
    }

    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        None
    }

    async fn close_feed(&self) {}
}

impl_store!(SqliteStore, sqlx::sqlite::SqliteRow, "sqlite", same);
