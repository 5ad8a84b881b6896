//! Releases and their patches; the per-class sequence floor.

macro_rules! impl_releases {
    ($ty:ty, $row:ty, $sql:path) => {
        use sqlx::Row as _;
        use $crate::domain::ingest::VerifiedBundle;
        use $crate::domain::{Millis, Patch, Release, ReleaseFacts, Sha256};
        use $crate::store::queries::RELEASE_COLS;
        use $crate::store::{digest, to_i64, to_u64, Result, StoreError};

        fn release_row(r: &$row) -> Result<Release> {
            let envelope: String = r.try_get("envelope_digest")?;
            let image: String = r.try_get("image_digest")?;
            Ok(Release {
                id: r.try_get("id")?,
                facts: ReleaseFacts {
                    class_name: r.try_get("class_name")?,
                    class_id: r.try_get("class_id")?,
                    sequence: to_u64(r.try_get("sequence")?)?,
                    version: r.try_get("version")?,
                    envelope_digest: digest(&envelope)?,
                    envelope_size: to_u64(r.try_get("envelope_size")?)?,
                    image_digest: digest(&image)?,
                    image_size: to_u64(r.try_get("image_size")?)?,
                    patches: Vec::new(),
                },
                created_ms: r.try_get("created_ms")?,
                uploaded_by: r.try_get("uploaded_by")?,
            })
        }

        fn patch_row(r: &$row) -> Result<Patch> {
            let base: String = r.try_get("base_digest")?;
            let d: String = r.try_get("digest")?;
            Ok(Patch {
                format: to_u64(r.try_get("format")?)?,
                base_digest: digest(&base)?,
                base_size: to_u64(r.try_get("base_size")?)?,
                digest: digest(&d)?,
                size: to_u64(r.try_get("size")?)?,
            })
        }

        impl $ty {
            async fn with_patches(&self, row: &$row) -> Result<Release> {
                let mut release = release_row(row)?;
                let sql = $sql(
                    "SELECT format, base_digest, base_size, digest, size FROM release_patches \
                     WHERE release_id = ? ORDER BY position",
                );
                let rows = sqlx::query(&sql).bind(release.id).fetch_all(&self.pool).await?;
                release.facts.patches = rows.iter().map(patch_row).collect::<Result<_>>()?;
                Ok(release)
            }

            pub(crate) async fn max_sequence(&self, class_id: &str) -> Result<u64> {
                let sql = $sql("SELECT max_sequence FROM release_classes WHERE class_id = ?");
                let row = sqlx::query(&sql).bind(class_id).fetch_optional(&self.pool).await?;
                match row {
                    Some(r) => to_u64(r.try_get("max_sequence")?),
                    None => Ok(0),
                }
            }

            pub(crate) async fn insert_release(
                &self,
                verified: &VerifiedBundle,
                uploaded_by: &str,
                now: Millis,
            ) -> Result<Release> {
                let r = verified.facts();
                let seq = to_i64(r.sequence)?;
                let mut tx = self.pool.begin().await?;
                let sql = $sql(
                    "INSERT INTO release_classes (class_id, max_sequence) VALUES (?, 0) \
                     ON CONFLICT (class_id) DO NOTHING",
                );
                sqlx::query(&sql).bind(r.class_id.as_str()).execute(&mut *tx).await?;
                // The row lock taken here serializes concurrent ingests of one class.
                let sql = $sql("UPDATE release_classes SET max_sequence = ? WHERE class_id = ? AND max_sequence < ?");
                let done = sqlx::query(&sql)
                    .bind(seq)
                    .bind(r.class_id.as_str())
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Conflict(ota_protocol::ErrorCode::SEQUENCE_NOT_ABOVE_PREVIOUS));
                }
                let sql = format!(
                    "INSERT INTO releases (class_name, class_id, sequence, version, envelope_digest, envelope_size, \
                     image_digest, image_size, created_ms, uploaded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                     RETURNING {RELEASE_COLS}"
                );
                let sql = $sql(&sql);
                let row = sqlx::query(&sql)
                    .bind(r.class_name.as_str())
                    .bind(r.class_id.as_str())
                    .bind(seq)
                    .bind(r.version.as_str())
                    .bind(r.envelope_digest.hex())
                    .bind(to_i64(r.envelope_size)?)
                    .bind(r.image_digest.hex())
                    .bind(to_i64(r.image_size)?)
                    .bind(now)
                    .bind(uploaded_by)
                    .fetch_one(&mut *tx)
                    .await?;
                let mut release = release_row(&row)?;
                let sql = $sql(
                    "INSERT INTO release_patches (release_id, position, format, base_digest, base_size, \
                     digest, size) VALUES (?, ?, ?, ?, ?, ?, ?)",
                );
                for (i, p) in r.patches.iter().enumerate() {
                    sqlx::query(&sql)
                        .bind(release.id)
                        .bind(to_i64(i as u64)?)
                        .bind(to_i64(p.format)?)
                        .bind(p.base_digest.hex())
                        .bind(to_i64(p.base_size)?)
                        .bind(p.digest.hex())
                        .bind(to_i64(p.size)?)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                release.facts.patches = r.patches.clone();
                Ok(release)
            }

            pub(crate) async fn latest_release(&self, class_name: &str) -> Result<Option<Release>> {
                let sql =
                    format!("SELECT {RELEASE_COLS} FROM releases WHERE class_name = ? ORDER BY sequence DESC LIMIT 1");
                let sql = $sql(&sql);
                let row = sqlx::query(&sql).bind(class_name).fetch_optional(&self.pool).await?;
                match row {
                    Some(r) => Ok(Some(self.with_patches(&r).await?)),
                    None => Ok(None),
                }
            }

            pub(crate) async fn release(&self, id: i64) -> Result<Option<Release>> {
                let sql = format!("SELECT {RELEASE_COLS} FROM releases WHERE id = ?");
                let sql = $sql(&sql);
                let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
                match row {
                    Some(r) => Ok(Some(self.with_patches(&r).await?)),
                    None => Ok(None),
                }
            }

            pub(crate) async fn list_releases(&self) -> Result<Vec<Release>> {
                let sql = format!("SELECT {RELEASE_COLS} FROM releases ORDER BY id");
                let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    out.push(self.with_patches(r).await?);
                }
                Ok(out)
            }

            pub(crate) async fn artifact_known(&self, d: &Sha256, class: Option<&str>) -> Result<bool> {
                let hex = d.hex();
                let row = match class {
                    None => {
                        let sql = $sql(
                            "SELECT 1 AS k FROM releases WHERE image_digest = ? OR envelope_digest = ? \
                             UNION ALL SELECT 1 AS k FROM release_patches WHERE digest = ? LIMIT 1",
                        );
                        sqlx::query(&sql).bind(&hex).bind(&hex).bind(&hex).fetch_optional(&self.pool).await?
                    }
                    Some(class) => {
                        let sql = $sql(
                            "SELECT 1 AS k FROM releases \
                             WHERE class_name = ? AND (image_digest = ? OR envelope_digest = ?) \
                             UNION ALL SELECT 1 AS k FROM release_patches p JOIN releases r ON r.id = p.release_id \
                             WHERE p.digest = ? AND r.class_name = ? LIMIT 1",
                        );
                        sqlx::query(&sql)
                            .bind(class)
                            .bind(&hex)
                            .bind(&hex)
                            .bind(&hex)
                            .bind(class)
                            .fetch_optional(&self.pool)
                            .await?
                    }
                };
                Ok(row.is_some())
            }
        }
    };
}

pub(crate) use impl_releases;
