//! The `deployment_backups` table: each complete backup of a deployment's volumes, where its
//! archive is and its manifest. Failed backups leave no row (their event says why).

use hoster_core::id::{BackupId, DeploymentId};

use super::{Store, StoreError};
use crate::clock::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BackupRecord {
    #[sqlx(try_from = "String")]
    pub id: BackupId,
    #[sqlx(try_from = "String")]
    pub deployment_id: DeploymentId,
    /// The archive's name at its destination.
    pub name: String,
    /// Where it is, for people (`/var/lib/hoster/backups/...`, `s3://...`).
    pub location: String,
    pub size_bytes: i64,
    /// The archive's manifest, as JSON.
    pub manifest: String,
    pub created_at: Timestamp,
}

const COLUMNS: &str = "id, deployment_id, name, location, size_bytes, manifest, created_at";

impl Store {
    pub async fn insert_backup(&self, b: &BackupRecord) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO deployment_backups ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ))
        .bind(b.id.as_str())
        .bind(b.deployment_id.as_str())
        .bind(&b.name)
        .bind(&b.location)
        .bind(b.size_bytes)
        .bind(&b.manifest)
        .bind(b.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A deployment's backups, newest first.
    pub async fn backups_of(&self, deployment: &DeploymentId) -> Result<Vec<BackupRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM deployment_backups WHERE deployment_id = ?1 ORDER BY created_at DESC, id"
        ))
        .bind(deployment.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn get_backup(&self, id: &BackupId) -> Result<Option<BackupRecord>, StoreError> {
        Ok(
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM deployment_backups WHERE id = ?1"))
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn delete_backup(&self, id: &BackupId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM deployment_backups WHERE id = ?1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The key backup archives are sealed with (see [`crate::sealing::Sealer::backup_key`]).
    pub fn backup_key(&self) -> [u8; 32] {
        *self.sealer.backup_key()
    }
}

/// A deployment's backup schedule, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScheduleRecord {
    #[sqlx(try_from = "String")]
    pub deployment_id: DeploymentId,
    /// Cron syntax, UTC; checked by `hoster_core::schedule` before it is stored.
    pub schedule: String,
    pub keep: i64,
}

impl Store {
    pub async fn set_backup_schedule(&self, s: &ScheduleRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO backup_schedules (deployment_id, schedule, keep) VALUES (?1, ?2, ?3) \
             ON CONFLICT (deployment_id) DO UPDATE SET schedule = excluded.schedule, keep = excluded.keep",
        )
        .bind(s.deployment_id.as_str())
        .bind(&s.schedule)
        .bind(s.keep)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn backup_schedule(&self, deployment: &DeploymentId) -> Result<Option<ScheduleRecord>, StoreError> {
        Ok(
            sqlx::query_as("SELECT deployment_id, schedule, keep FROM backup_schedules WHERE deployment_id = ?1")
                .bind(deployment.as_str())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Every schedule, for the server's backup loop.
    pub async fn backup_schedules(&self) -> Result<Vec<ScheduleRecord>, StoreError> {
        Ok(
            sqlx::query_as("SELECT deployment_id, schedule, keep FROM backup_schedules ORDER BY deployment_id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Whether there was one to remove.
    pub async fn remove_backup_schedule(&self, deployment: &DeploymentId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM backup_schedules WHERE deployment_id = ?1")
            .bind(deployment.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
