//! The registration allow and deny lists.

macro_rules! impl_registration {
    ($ty:ty, $row:ty, $sql:path) => {
        use sqlx::Row as _;
        use $crate::domain::registration::{RegistrationEntry, RegistrationList};
        use $crate::store::Result;

        const ENTRY_COLS: &str = "device_id, class, note, created_ms, created_by";

        fn entry_row(r: &$row) -> Result<RegistrationEntry> {
            Ok(RegistrationEntry {
                device_id: r.try_get("device_id")?,
                class: r.try_get("class")?,
                note: r.try_get("note")?,
                created_ms: r.try_get("created_ms")?,
                created_by: r.try_get("created_by")?,
            })
        }

        impl $ty {
            /// Adds entries, in one transaction; an id already on the list keeps its entry.
            /// Returns how many were new.
            pub(crate) async fn add_registration_entries(
                &self,
                list: RegistrationList,
                entries: &[RegistrationEntry],
            ) -> Result<u64> {
                let sql = $sql(
                    "INSERT INTO registration_list (list, device_id, class, note, created_ms, created_by) \
                     VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (list, device_id) DO NOTHING",
                );
                let mut tx = self.pool.begin().await?;
                let mut added = 0;
                for e in entries {
                    added += sqlx::query(&sql)
                        .bind(list.as_str())
                        .bind(e.device_id.as_str())
                        .bind(e.class.as_deref())
                        .bind(e.note.as_str())
                        .bind(e.created_ms)
                        .bind(e.created_by.as_str())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                tx.commit().await?;
                Ok(added)
            }

            pub(crate) async fn remove_registration_entry(
                &self,
                list: RegistrationList,
                device_id: &str,
            ) -> Result<bool> {
                let sql = $sql("DELETE FROM registration_list WHERE list = ? AND device_id = ?");
                let done = sqlx::query(&sql)
                    .bind(list.as_str())
                    .bind(device_id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            pub(crate) async fn registration_entry(
                &self,
                list: RegistrationList,
                device_id: &str,
            ) -> Result<Option<RegistrationEntry>> {
                let text = format!("SELECT {ENTRY_COLS} FROM registration_list WHERE list = ? AND device_id = ?");
                let sql = $sql(&text);
                let row = sqlx::query(&sql)
                    .bind(list.as_str())
                    .bind(device_id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(entry_row).transpose()
            }

            /// A page of a list in device-id order, after `after`.
            pub(crate) async fn list_registration_entries(
                &self,
                list: RegistrationList,
                limit: i64,
                after: Option<&str>,
            ) -> Result<Vec<RegistrationEntry>> {
                let text = format!(
                    "SELECT {ENTRY_COLS} FROM registration_list WHERE list = ? AND device_id > ? \
                     ORDER BY device_id LIMIT ?"
                );
                let sql = $sql(&text);
                let rows = sqlx::query(&sql)
                    .bind(list.as_str())
                    .bind(after.unwrap_or(""))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(entry_row).collect()
            }
        }
    };
}

pub(crate) use impl_registration;
