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
