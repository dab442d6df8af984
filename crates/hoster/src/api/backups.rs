//! `/api/v1/deployments/{id}/backups`: snapshots of a deployment's named volumes, kept where
//! HOSTER_BACKUP_DIR or HOSTER_BACKUP_S3_URL says, and restores from them. The owner's or an
//! admin's, like the deployment's variables.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use hoster_core::access::{Caller, Operation};
use hoster_core::error_code::ErrorCode;
use hoster_core::id::BackupId;
use serde::Serialize;
use utoipa::ToSchema;

use super::deployments::load;
use super::error::{ApiError, ErrorBody};
use super::extract::Path;
use super::{AppState, auth};
use crate::backup::FileEntry;
use crate::clock::Timestamp;
use crate::store::{BackupRecord, DeploymentRecord};

#[derive(Debug, Serialize, ToSchema)]
pub struct BackupFile {
    /// `volumes/<volume>.tar`
    pub name: String,
    /// Bytes before compression.
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Backup {
    #[schema(example = "bkp_k3j5h2g7f4d6s8a9")]
    pub id: String,
    pub deployment_id: String,
    /// The compose file's names of the volumes it holds.
    pub volumes: Vec<String>,
    pub files: Vec<BackupFile>,
    /// The archive's size (compressed, sealed).
    pub size_bytes: i64,
    /// Where the archive is.
    pub location: String,
    /// The template version the deployment ran.
    pub template_version: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<BackupRecord> for Backup {
    fn from(b: BackupRecord) -> Self {
        let manifest: Option<crate::backup::Manifest> = serde_json::from_str(&b.manifest).ok();
        let info = manifest.as_ref().and_then(|m| m.deployment.clone());
        Backup {
            id: b.id.to_string(),
            deployment_id: b.deployment_id.to_string(),
            volumes: info.as_ref().map(|i| i.volumes.clone()).unwrap_or_default(),
            template_version: info.map(|i| i.template_version).unwrap_or_default(),
            files: manifest
                .map(|m| m.files)
                .unwrap_or_default()
                .into_iter()
                .map(|FileEntry { name, size, sha256 }| BackupFile { name, size, sha256 })
                .collect(),
            size_bytes: b.size_bytes,
            location: b.location,
            created_at: b.created_at,
        }
    }
}

/// The backup `bid` of deployment `d`, 404 otherwise.
pub(super) async fn backup_of(state: &AppState, d: &DeploymentRecord, bid: &str) -> Result<BackupRecord, ApiError> {
    let not_found = || ApiError::new(ErrorCode::BackupNotFound, format!("{} has no backup `{bid}`", d.id));
    let id = BackupId::parse(bid).ok_or_else(not_found)?;
    match state.store.get_backup(&id).await? {
        Some(b) if b.deployment_id == d.id => Ok(b),
        _ => Err(not_found()),
    }
}

/// Back up the deployment's named volumes: its running containers are paused for the copy
/// and resumed after; each volume leaves through the engine as a tar stream into one archive,
/// compressed and sealed with the secrets key.
#[utoipa::path(
    post,
    path = "/api/v1/deployments/{id}/backups",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id")),
    responses(
        (status = 201, body = Backup),
        (status = 409, description = "nothing_to_back_up: it has no volumes on the engine yet", body = ErrorBody),
        (status = 502, description = "runtime_error: the engine or the destination failed", body = ErrorBody)
    )
)]
pub async fn create_backup(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<(StatusCode, axum::Json<Backup>), ApiError> {
    let d = load(&state, &caller, Operation::ConfigureDeployment, &id).await?;
    auth::audit(&state, &caller, "deployment.backup", &id, "").await;
    let b = state.deployer.back_up(&d.id, &state.backups).await?;
    Ok((StatusCode::CREATED, axum::Json(b.into())))
}

/// The deployment's backups, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/deployments/{id}/backups",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id")),
    responses((status = 200, body = [Backup]))
)]
pub async fn list_backups(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<Backup>>, ApiError> {
    let d = load(&state, &caller, Operation::ConfigureDeployment, &id).await?;
    let backups = state.store.backups_of(&d.id).await?;
    Ok(axum::Json(backups.into_iter().map(Backup::from).collect()))
}

/// Delete a backup: its archive and its record.
#[utoipa::path(
    delete,
    path = "/api/v1/deployments/{id}/backups/{bid}",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id"), ("bid" = String, Path, description = "Backup id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 404, description = "backup_not_found", body = ErrorBody),
        (status = 502, description = "runtime_error: the archive could not be removed; the backup is kept", body = ErrorBody)
    )
)]
pub async fn delete_backup(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, bid)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let d = load(&state, &caller, Operation::ConfigureDeployment, &id).await?;
    let b = backup_of(&state, &d, &bid).await?;
    auth::audit(&state, &caller, "deployment.backup.delete", &id, &bid).await;
    // The record goes only once the archive has: a failure keeps both, to try again.
    state.backups.delete(&b.name).await.map_err(|e| {
        ApiError::new(
            ErrorCode::RuntimeError,
            format!("the archive could not be deleted: {e}"),
        )
    })?;
    state.store.delete_backup(&b.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Restore a backup into its deployment: the archive is fetched and checked whole first (a
/// damaged one is refused with `backup_invalid` and nothing changes); then the deployment is
/// stopped, its volumes' contents replaced by the archive's, and it is started again if it ran.
#[utoipa::path(
    post,
    path = "/api/v1/deployments/{id}/backups/{bid}/restore",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id"), ("bid" = String, Path, description = "Backup id")),
    responses(
        (status = 200, body = super::deployments::Deployment),
        (status = 400, description = "backup_invalid", body = ErrorBody),
        (status = 404, description = "backup_not_found", body = ErrorBody),
        (status = 409, description = "invalid_transition", body = ErrorBody)
    )
)]
pub async fn restore_backup(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, bid)): Path<(String, String)>,
) -> Result<axum::Json<super::deployments::Deployment>, ApiError> {
    let d = load(&state, &caller, Operation::ConfigureDeployment, &id).await?;
    let b = backup_of(&state, &d, &bid).await?;
    auth::audit(&state, &caller, "deployment.backup.restore", &id, &bid).await;
    let d = state.deployer.restore_backup(&d.id, &b, &state.backups).await?;
    Ok(axum::Json(super::deployments::view_one(&state, d).await?))
}

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSchedule {
    /// Cron syntax, UTC: five fields (`0 3 * * *`, daily at 03:00), or six with seconds first.
    pub schedule: String,
    /// Backups of this deployment kept (1 to 1,000); older ones are removed after each run.
    pub keep: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BackupSchedule {
    pub schedule: String,
    pub keep: u32,
    /// The next run (RFC 3339, UTC).
    pub next_run: Option<String>,
}

fn schedule_view(schedule: &hoster_core::schedule::Schedule, keep: u32) -> BackupSchedule {
    let next_run = schedule
        .next_after(crate::clock::now().unix_millis())
        .and_then(|ms| time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
    BackupSchedule {
        schedule: schedule.as_str().to_string(),
        keep,
        next_run,
    }
}

/// The deployment's backup schedule; 404 `not_found` when it has none.
#[utoipa::path(
    get,
    path = "/api/v1/deployments/{id}/backup-schedule",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id")),
    responses((status = 200, body = BackupSchedule), (status = 404, body = ErrorBody))
)]
pub async fn get_schedule(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<axum::Json<BackupSchedule>, ApiError> {
    let d = load(&state, &caller, Operation::ConfigureDeployment, &id).await?;
    let stored = state
        .store
        .backup_schedule(&d.id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("{id} has no backup schedule")))?;
    let schedule = hoster_core::schedule::Schedule::parse(&stored.schedule)
        .map_err(|e| ApiError::internal("a stored backup schedule does not parse", &e))?;
    Ok(axum::Json(schedule_view(
        &schedule,
        u32::try_from(stored.keep).unwrap_or(u32::MAX),
    )))
}

/// Back the deployment up on a schedule, keeping `keep` backups; replaces any schedule it had.
#[utoipa::path(
    put,
    path = "/api/v1/deployments/{id}/backup-schedule",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id")),
    request_body = SetSchedule,
    responses((status = 200, body = BackupSchedule), (status = 400, body = ErrorBody))
)]
pub async fn set_schedule(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    super::extract::Json(body): super::extract::Json<SetSchedule>,
) -> Result<axum::Json<BackupSchedule>, ApiError> {
    let d = load(&state, &caller, Operation::ConfigureDeployment, &id).await?;
    let mut problems = Vec::new();
    let schedule = hoster_core::schedule::Schedule::parse(&body.schedule)
        .map_err(|e| problems.push(hoster_core::problem::Problem::field("schedule", e)))
        .ok();
    if !(1..=1000).contains(&body.keep) {
        problems.push(hoster_core::problem::Problem::field("keep", "must be from 1 to 1000"));
    }
    let Some(schedule) = schedule.filter(|_| problems.is_empty()) else {
        return Err(ApiError::validation(hoster_core::problem::Problems(problems)));
    };
    state
        .store
        .set_backup_schedule(&crate::store::ScheduleRecord {
            deployment_id: d.id.clone(),
            schedule: schedule.as_str().to_string(),
            keep: i64::from(body.keep),
        })
        .await?;
    auth::audit(&state, &caller, "deployment.backup.schedule", &id, schedule.as_str()).await;
    Ok(axum::Json(schedule_view(&schedule, body.keep)))
}

/// Stop backing the deployment up on a schedule (its backups stay).
#[utoipa::path(
    delete,
    path = "/api/v1/deployments/{id}/backup-schedule",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id")),
    responses((status = 204, description = "removed"), (status = 404, body = ErrorBody))
)]
pub async fn remove_schedule(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let d = load(&state, &caller, Operation::ConfigureDeployment, &id).await?;
    if !state.store.remove_backup_schedule(&d.id).await? {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("{id} has no backup schedule"),
        ));
    }
    auth::audit(&state, &caller, "deployment.backup.unschedule", &id, "").await;
    Ok(StatusCode::NO_CONTENT)
}
