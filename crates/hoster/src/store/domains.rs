//! The `custom_domains` table: hostnames customers attach to deployments, pending until their
//! DNS proves control, then verified (and only then routed).

use super::{Store, StoreError};
use crate::clock::Timestamp;
use hoster_core::id::DeploymentId;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DomainRecord {
    #[sqlx(try_from = "String")]
    pub deployment_id: DeploymentId,
    pub domain: String,
    /// What the TXT record `_hoster.<domain>` must hold.
    pub token: String,
    pub verified_at: Option<Timestamp>,
    pub checked_at: Option<Timestamp>,
    /// Why the last check did not verify it.
    pub check_error: Option<String>,
    pub created_at: Timestamp,
}

/// How an attach went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddDomain {
    Added(DomainRecord),
    /// A deployment holds the name verified (or as its generated name), or this deployment
    /// has it already.
    Taken,
    /// The deployment has as many custom domains as allowed.
    LimitReached,
}

const COLUMNS: &str = "deployment_id, domain, token, verified_at, checked_at, check_error, created_at";

impl Store {
    /// Attaches `domain` to the deployment, pending. One statement decides, so concurrent
    /// attaches cannot both pass the checks: the name must not be a deployment's generated name
    /// or verified for anyone, and the deployment must have fewer than `max` names.
    pub async fn add_custom_domain(
        &self,
        id: &DeploymentId,
        domain: &str,
        token: &str,
        at: &Timestamp,
        max: u32,
    ) -> Result<AddDomain, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO custom_domains (deployment_id, domain, token, created_at) \
             SELECT ?1, ?2, ?3, ?4 \
             WHERE NOT EXISTS (SELECT 1 FROM deployments WHERE domain = ?2) \
               AND NOT EXISTS (SELECT 1 FROM custom_domains WHERE domain = ?2 AND verified_at IS NOT NULL) \
               AND (SELECT COUNT(*) FROM custom_domains WHERE deployment_id = ?1) < ?5",
        )
        .bind(id.as_str())
        .bind(domain)
        .bind(token)
        .bind(at)
        .bind(i64::from(max))
        .execute(&self.pool)
        .await;
        match inserted {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(AddDomain::Taken),
            Err(e) => return Err(e.into()),
            Ok(done) if done.rows_affected() == 1 => {}
            Ok(_) => {
                let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM custom_domains WHERE deployment_id = ?1")
                    .bind(id.as_str())
                    .fetch_one(&self.pool)
                    .await?;
                return Ok(if count >= i64::from(max) {
                    AddDomain::LimitReached
                } else {
                    AddDomain::Taken
                });
            }
        }
        self.deployments_written();
        Ok(AddDomain::Added(DomainRecord {
            deployment_id: id.clone(),
            domain: domain.to_string(),
            token: token.to_string(),
            verified_at: None,
            checked_at: None,
            check_error: None,
            created_at: *at,
        }))
    }

    pub async fn custom_domain(&self, id: &DeploymentId, domain: &str) -> Result<Option<DomainRecord>, StoreError> {
        let row = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM custom_domains WHERE deployment_id = ?1 AND domain = ?2"
        ))
        .bind(id.as_str())
        .bind(domain)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }

    /// The custom hostnames of a deployment, oldest first.
    pub async fn custom_domains(&self, id: &DeploymentId) -> Result<Vec<DomainRecord>, StoreError> {
        let rows = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM custom_domains WHERE deployment_id = ?1 ORDER BY rowid"
        ))
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Every name still waiting for its proof, oldest check first.
    pub async fn pending_domains(&self) -> Result<Vec<DomainRecord>, StoreError> {
        let rows = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM custom_domains WHERE verified_at IS NULL ORDER BY checked_at IS NOT NULL, checked_at"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Every verified custom hostname (those that route and get certificates).
    pub async fn all_custom_domains(&self) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT domain FROM custom_domains WHERE verified_at IS NOT NULL ORDER BY rowid")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Marks the name verified for this deployment and drops other deployments' pending claims
    /// on it (proof of control beats an unproven claim). `Ok(false)`: someone else verified it
    /// first, or the claim is gone.
    pub async fn verify_custom_domain(
        &self,
        id: &DeploymentId,
        domain: &str,
        at: &Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE custom_domains SET verified_at = ?3, checked_at = ?3, check_error = NULL \
             WHERE deployment_id = ?1 AND domain = ?2 AND verified_at IS NULL",
        )
        .bind(id.as_str())
        .bind(domain)
        .bind(at)
        .execute(&mut *tx)
        .await;
        match updated {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(false),
            Err(e) => return Err(e.into()),
            Ok(done) if done.rows_affected() == 0 => return Ok(false),
            Ok(_) => {}
        }
        sqlx::query("DELETE FROM custom_domains WHERE domain = ?1 AND deployment_id <> ?2 AND verified_at IS NULL")
            .bind(domain)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.deployments_written();
        Ok(true)
    }

    /// Records a check that did not verify the name, and why.
    pub async fn domain_check_failed(
        &self,
        id: &DeploymentId,
        domain: &str,
        at: &Timestamp,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE custom_domains SET checked_at = ?3, check_error = ?4 \
             WHERE deployment_id = ?1 AND domain = ?2 AND verified_at IS NULL",
        )
        .bind(id.as_str())
        .bind(domain)
        .bind(at)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Detaches a custom hostname. `Ok(false)`: the deployment has no such hostname.
    pub async fn remove_custom_domain(&self, id: &DeploymentId, domain: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM custom_domains WHERE deployment_id = ?1 AND domain = ?2")
            .bind(id.as_str())
            .bind(domain)
            .execute(&self.pool)
            .await?;
        self.deployments_written();
        Ok(result.rows_affected() == 1)
    }
}
