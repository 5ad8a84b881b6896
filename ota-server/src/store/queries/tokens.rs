//! Admin bearer tokens, stored by SHA-256 only.

macro_rules! impl_tokens {
    ($ty:ty, $row:ty, $sql:path) => {
        use sqlx::Row as _;
        use $crate::domain::auth::{Role, TokenRecord};
        use $crate::domain::{Millis, Sha256};
        use $crate::store::{digest, Result, StoreError};

        fn token_row(r: &$row) -> Result<TokenRecord> {
            let role: String = r.try_get("role")?;
            let hash: String = r.try_get("token_sha256")?;
            Ok(TokenRecord {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(role.clone()))?,
                hash: digest(&hash)?,
            })
        }

        impl $ty {
            pub(crate) async fn insert_token(
                &self,
                name: &str,
                role: Role,
                hash: &Sha256,
                now: Millis,
            ) -> Result<TokenRecord> {
                let sql = $sql(
                    "INSERT INTO admin_tokens (name, role, token_sha256, created_ms) VALUES (?, ?, ?, ?) \
                     RETURNING id, name, role, token_sha256",
                );
                let row = sqlx::query(&sql)
                    .bind(name)
                    .bind(role.as_str())
                    .bind(hash.hex())
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await?;
                token_row(&row)
            }

            pub(crate) async fn token_by_hash(&self, hash: &Sha256) -> Result<Option<TokenRecord>> {
                let sql = $sql("SELECT id, name, role, token_sha256 FROM admin_tokens WHERE token_sha256 = ?");
                let row = sqlx::query(&sql)
                    .bind(hash.hex())
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(token_row).transpose()
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
