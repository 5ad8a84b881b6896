//! Migrations run through `sqlx::migrate!` (one migrator per backend, from
//! `store/migrations/{sqlite,postgres}`). Databases created before that were migrated by our own
//! runner into `schema_migrations`; [`baseline`] carries them over once.

use std::borrow::Cow;

use sqlx::migrate::{Migrate, Migrator};
use sqlx::{Database, Encode, Executor, Type};

/// Records every version listed in the old `schema_migrations` table as applied in sqlx's
/// `_sqlx_migrations` (with the migrator's checksums), so `Migrator::run` neither re-runs them
/// nor refuses them. Call inside a transaction, only when `schema_migrations` exists and
/// `_sqlx_migrations` does not.
pub(crate) async fn baseline<DB>(
    conn: &mut DB::Connection,
    migrator: &Migrator,
    sql: fn(&str) -> Cow<'_, str>,
) -> anyhow::Result<()>
where
    DB: Database,
    DB::Connection: Migrate,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB> + sqlx::Decode<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> <DB as Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    conn.ensure_migrations_table().await?;
    let applied: Vec<i64> = sqlx::query_scalar::<DB, i64>("SELECT version FROM schema_migrations")
        .fetch_all(&mut *conn)
        .await?;
    let insert = sql(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (?, ?, ?, ?, ?)",
    );
    for m in migrator.iter().filter(|m| applied.contains(&m.version)) {
        sqlx::query::<DB>(&insert)
            .bind(m.version)
            .bind(&*m.description)
            .bind(true)
            .bind(&*m.checksum)
            .bind(0_i64)
            .execute(&mut *conn)
            .await?;
    }
    tracing::info!(versions = ?applied, "database migrated by the old runner: baselined for sqlx");
    Ok(())
}
