//! The audit log: append and read, newest first.

macro_rules! impl_audit {
    ($ty:ty, $row:ty, $sql:path) => {
        use sqlx::Row as _;
        use $crate::store::{AuditRecord, Result};

        fn audit_row(r: &$row) -> Result<AuditRecord> {
            Ok(AuditRecord {
                at_ms: r.try_get("at_ms")?,
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                target: r.try_get("target")?,
                result: r.try_get("result")?,
            })
        }

        impl $ty {
            pub(crate) async fn append_audit(&self, a: &AuditRecord) -> Result<()> {
                let sql = $sql("INSERT INTO audit_log (at_ms, actor, action, target, result) VALUES (?, ?, ?, ?, ?)");
                sqlx::query(&sql)
                    .bind(a.at_ms)
                    .bind(a.actor.as_str())
                    .bind(a.action.as_str())
                    .bind(a.target.as_str())
                    .bind(a.result.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            pub(crate) async fn audit_for(&self, target: &str, limit: i64) -> Result<Vec<AuditRecord>> {
                // A prefix by length, not LIKE: device ids may hold `_`.
                let sql = $sql(
                    "SELECT at_ms, actor, action, target, result FROM audit_log \
                     WHERE target = ? OR substr(target, 1, ?) = ? ORDER BY id DESC LIMIT ?",
                );
                let under = format!("{target}/");
                let rows = sqlx::query(&sql)
                    .bind(target)
                    .bind(i32::try_from(under.chars().count()).unwrap_or(i32::MAX))
                    .bind(&under)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(audit_row).collect()
            }

            pub(crate) async fn audit_log(&self, limit: i64) -> Result<Vec<AuditRecord>> {
                let sql = $sql("SELECT at_ms, actor, action, target, result FROM audit_log ORDER BY id DESC LIMIT ?");
                let rows = sqlx::query(&sql).bind(limit).fetch_all(&self.pool).await?;
                rows.iter().map(audit_row).collect()
            }
        }
    };
}

pub(crate) use impl_audit;
