//! The `usage_periods` table: what each deployment is charged for (see `hoster_core::usage`).

use hoster_core::id::DeploymentId;

use super::{Store, StoreError};
use crate::clock::Timestamp;

/// One period of one deployment on one version at one price.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UsagePeriod {
    pub deployment_id: String,
    pub deployment_name: String,
    pub customer_id: String,
    pub template_id: String,
    pub template_name: String,
    pub template_version: String,
    pub creator_id: String,
    pub price_monthly: i64,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
}

/// Whose periods to read.
#[derive(Debug, Clone, Copy)]
pub enum UsageOf<'a> {
    Everyone,
    Customer(&'a str),
    Creator(&'a str),
}

/// In the transaction that moves deployment `id` to `running` at `at`: its first period opens
/// (its first successful start), or, when it now runs another version than its open period
/// says (an upgrade), that period closes and the next opens at the new price.
pub(super) async fn running(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    id: &DeploymentId,
    at: &Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE usage_periods SET ended_at = ?2 WHERE deployment_id = ?1 AND ended_at IS NULL \
         AND template_id <> (SELECT template_id FROM deployments WHERE id = ?1)",
    )
    .bind(id.as_str())
    .bind(at)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO usage_periods (deployment_id, deployment_name, customer_id, template_id, template_name, \
           template_version, creator_id, price_monthly, started_at) \
         SELECT d.id, d.name, d.customer_id, t.id, t.name, t.version, t.creator_id, t.price_monthly, ?2 \
         FROM deployments d JOIN templates t ON t.id = d.template_id \
         WHERE d.id = ?1 AND NOT EXISTS (SELECT 1 FROM usage_periods WHERE deployment_id = ?1 AND ended_at IS NULL)",
    )
    .bind(id.as_str())
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// In the transaction that deletes deployment `id`: its open period ends.
pub(super) async fn deleted(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    id: &DeploymentId,
    at: &Timestamp,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE usage_periods SET ended_at = ?2 WHERE deployment_id = ?1 AND ended_at IS NULL")
        .bind(id.as_str())
        .bind(at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// The periods of `whose` deployments that overlap `[from, to)`, oldest first.
    pub async fn usage_periods(
        &self,
        whose: UsageOf<'_>,
        from: &Timestamp,
        to: &Timestamp,
    ) -> Result<Vec<UsagePeriod>, StoreError> {
        let (customer, creator) = match whose {
            UsageOf::Everyone => (None, None),
            UsageOf::Customer(c) => (Some(c), None),
            UsageOf::Creator(c) => (None, Some(c)),
        };
        Ok(sqlx::query_as(
            "SELECT deployment_id, deployment_name, customer_id, template_id, template_name, template_version, \
               creator_id, price_monthly, started_at, ended_at FROM usage_periods \
             WHERE started_at < ?2 AND (ended_at IS NULL OR ended_at > ?1) \
               AND (?3 IS NULL OR customer_id = ?3) AND (?4 IS NULL OR creator_id = ?4) \
             ORDER BY seq",
        )
        .bind(from)
        .bind(to)
        .bind(customer)
        .bind(creator)
        .fetch_all(&self.pool)
        .await?)
    }
}
