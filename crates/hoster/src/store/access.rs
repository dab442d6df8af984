//! API tokens (stored as hashes) and the audit log.

use hoster_core::access::Role;
use hoster_core::id::TokenId;

use super::{Page, Store, StoreError};
use crate::clock::Timestamp;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRecord {
    #[sqlx(try_from = "String")]
    pub id: TokenId,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub subject: String,
    pub name: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

const TOKEN_COLUMNS: &str = "id, role, subject, name, created_at, revoked_at";

impl Store {
    pub async fn insert_token(&self, t: &TokenRecord, hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (id, token_hash, role, subject, name, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(t.id.as_str())
        .bind(hash)
        .bind(t.role.as_str())
        .bind(&t.subject)
        .bind(&t.name)
        .bind(t.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The live (not revoked) token with this hash.
    pub async fn token_by_hash(&self, hash: &[u8]) -> Result<Option<TokenRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = ?1 AND revoked_at IS NULL"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        Ok(
            sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY rowid"))
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Revokes a token. `Ok(false)`: no live token has this id.
    pub async fn revoke_token(&self, id: &TokenId, at: &Timestamp) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")
            .bind(id.as_str())
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn audit(
        &self,
        at: &Timestamp,
        actor: &str,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)")
            .bind(at)
            .bind(actor)
            .bind(action)
            .bind(target)
            .bind(detail)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Audit entries, newest first.
    pub async fn audit_log(&self, page: Page) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT seq, at, actor, action, target, detail FROM audit_log ORDER BY seq DESC LIMIT ?1 OFFSET ?2",
        )
        .bind(page.limit)
        .bind(i64::try_from(page.offset).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records a console sign-in with `token`, and forgets the sessions that have expired.
    pub async fn insert_session(
        &self,
        id_hash: &[u8],
        token: &TokenId,
        now: &Timestamp,
        expires_at: &Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM console_sessions WHERE expires_at <= ?1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO console_sessions (id_hash, token_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)")
            .bind(id_hash)
            .bind(token.as_str())
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The live token behind an unexpired console session.
    pub async fn session_token(&self, id_hash: &[u8], now: &Timestamp) -> Result<Option<TokenRecord>, StoreError> {
        let columns = TOKEN_COLUMNS
            .split(", ")
            .map(|c| format!("t.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(sqlx::query_as(&format!(
            "SELECT {columns} FROM console_sessions s JOIN api_tokens t ON t.id = s.token_id \
             WHERE s.id_hash = ?1 AND s.expires_at > ?2 AND t.revoked_at IS NULL"
        ))
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn delete_session(&self, id_hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = ?1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
