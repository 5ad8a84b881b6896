//! Download evidence: how far into each artifact the server has served each device.

macro_rules! impl_downloads {
    ($ty:ty, $row:ty, $sql:path) => {
        use $crate::domain::{Millis, Sha256};
        use $crate::store::Result;

        impl $ty {
            /// The server is about to send bytes `start..end` of the `size`-byte artifact
            /// `digest` to `device_id`. The served prefix grows to `end` when the range starts
            /// inside it (a resume) and is left alone when the range skips ahead.
            pub(crate) async fn record_download(
                &self,
                device_id: &str,
                digest: &Sha256,
                size: u64,
                start: u64,
                end: u64,
                now: Millis,
            ) -> Result<()> {
                let (size, start, end) = ($crate::store::to_i64(size)?, $crate::store::to_i64(start)?, $crate::store::to_i64(end)?);
                let first = if start == 0 { end } else { 0 };
                let sql = $sql(
                    "INSERT INTO device_downloads (device_id, digest, size, served, updated_ms) VALUES (?, ?, ?, ?, ?) \
                     ON CONFLICT (device_id, digest) DO UPDATE SET \
                     served = CASE WHEN ? <= device_downloads.served AND ? > device_downloads.served \
                     THEN ? ELSE device_downloads.served END, updated_ms = ?",
                );
                sqlx::query(&sql)
                    .bind(device_id)
                    .bind(digest.hex())
                    .bind(size)
                    .bind(first)
                    .bind(now)
                    .bind(start)
                    .bind(end)
                    .bind(end)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            /// Whether the server has served `device_id` all of release `release_id`'s image or
            /// of one of its patches: the evidence a commit of the release needs.
            pub(crate) async fn fetched_release(&self, device_id: &str, release_id: i64) -> Result<bool> {
                let sql = $sql(
                    "SELECT 1 AS k FROM device_downloads d WHERE d.device_id = ? AND d.served >= d.size \
                     AND (d.digest IN (SELECT image_digest FROM releases WHERE id = ?) \
                     OR d.digest IN (SELECT digest FROM release_patches WHERE release_id = ?)) LIMIT 1",
                );
                let row: Option<$row> = sqlx::query(&sql)
                    .bind(device_id)
                    .bind(release_id)
                    .bind(release_id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.is_some())
            }

            /// Forgets the evidence of downloads untouched since `before_ms` (retention).
            pub(crate) async fn prune_downloads(&self, before_ms: Millis) -> Result<u64> {
                let sql = $sql("DELETE FROM device_downloads WHERE updated_ms < ?");
                Ok(sqlx::query(&sql).bind(before_ms).execute(&self.pool).await?.rows_affected())
            }
        }
    };
}

pub(crate) use impl_downloads;
