//! Admin bearer tokens, stored by SHA-256 only.

macro_rules! impl_tokens {
    ($ty:ty, $row:ty, $sql:path) => {
        use sqlx::Row as _;
        use $crate::domain::auth::{Role, TokenRecord};
        use $crate::domain::{Millis, Sha256};
        use $crate::store::{digest, Result, StoreError};

        const TOKEN_COLS: &str = "id, name, role, token_sha256, created_ms, expires_ms, revoked_ms, last_used_ms";

        fn token_row(r: &$row) -> Result<TokenRecord> {
            let role: String = r.try_get("role")?;
            let hash: String = r.try_get("token_sha256")?;
            Ok(TokenRecord {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(role.clone()))?,
                hash: digest(&hash)?,
                created_ms: r.try_get("created_ms")?,
                expires_ms: r.try_get("expires_ms")?,
                revoked_ms: r.try_get("revoked_ms")?,
                last_used_ms: r.try_get("last_used_ms")?,
            })
        }

        impl $ty {
            pub(crate) async fn insert_token(
                &self,
                name: &str,
                role: Role,
                hash: &Sha256,
                now: Millis,
                expires_ms: Option<Millis>,
            ) -> Result<TokenRecord> {
                let text = format!(
                    "INSERT INTO admin_tokens (name, role, token_sha256, created_ms, expires_ms) \
                     VALUES (?, ?, ?, ?, ?) RETURNING {TOKEN_COLS}"
                );
                let sql = $sql(&text);
                let row = sqlx::query(&sql)
                    .bind(name)
                    .bind(role.as_str())
                    .bind(hash.hex())
                    .bind(now)
                    .bind(expires_ms)
                    .fetch_one(&self.pool)
                    .await?;
                token_row(&row)
            }

            pub(crate) async fn token_by_hash(&self, hash: &Sha256) -> Result<Option<TokenRecord>> {
                let text = format!("SELECT {TOKEN_COLS} FROM admin_tokens WHERE token_sha256 = ?");
                let sql = $sql(&text);
                let row = sqlx::query(&sql)
                    .bind(hash.hex())
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(token_row).transpose()
            }

            pub(crate) async fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
                let sql = format!("SELECT {TOKEN_COLS} FROM admin_tokens ORDER BY id");
                let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
                rows.iter().map(token_row).collect()
            }

            pub(crate) async fn revoke_token(&self, id: i64, now: Millis) -> Result<Option<TokenRecord>> {
                // The first revocation's time is kept.
                let text = format!(
                    "UPDATE admin_tokens SET revoked_ms = COALESCE(revoked_ms, ?) WHERE id = ? RETURNING {TOKEN_COLS}"
                );
                let sql = $sql(&text);
                let row = sqlx::query(&sql).bind(now).bind(id).fetch_optional(&self.pool).await?;
                row.as_ref().map(token_row).transpose()
            }

            pub(crate) async fn touch_token(&self, id: i64, now: Millis) -> Result<()> {
                sqlx::query(&$sql("UPDATE admin_tokens SET last_used_ms = ? WHERE id = ?"))
                    .bind(now)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            pub(crate) async fn count_tokens(&self) -> Result<i64> {
                let row = sqlx::query("SELECT COUNT(*) AS n FROM admin_tokens")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(row.try_get("n")?)
            }
        }
    };
}

pub(crate) use impl_tokens;
