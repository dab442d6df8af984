//! `/api/v1/deployments`: instances of published templates, running on the engine.

use crate::clock::Timestamp;
use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use hoster_core::access::{Caller, Operation};
use hoster_core::deployment::{ServiceProgress, Status};
use hoster_core::error_code::ErrorCode;
use hoster_core::id::{DeploymentId, TemplateId};
use hoster_core::plan::PortAssignment;
use hoster_core::problem::{Problem, Problems};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Path, Query, page};
use super::{AppState, auth};
use crate::deployer::{DeployError, NewDeployment};
use crate::runtime::{ContainerStatus, ContainerSummary, Health};
use crate::store::{DeploymentFilter, DeploymentRecord, Offer};
use std::collections::HashMap;

#[derive(Debug, Serialize, ToSchema)]
pub struct PortView {
    pub container_port: u16,
    pub host_port: u16,
    /// `tcp` or `udp`
    pub protocol: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContainerView {
    pub service_name: String,
    pub container_id: String,
    /// The engine's state of the container.
    pub status: ContainerStatus,
    pub health: Health,
    /// Where the service's published ports are reachable on the host.
    pub ports: Vec<PortView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deployment {
    #[schema(example = "depl_k3j5h2g7f4d6s8a9")]
    pub id: String,
    pub name: String,
    pub template_id: String,
    pub customer_id: String,
    pub status: Status,
    /// The deployment's hostname under HOSTER_DOMAIN_BASE_DOMAIN.
    pub domain: String,
    /// Where the built-in proxy serves it: `http://<domain>:<Hoster's port>`.
    pub url: String,
    /// Why the deployment failed, when it did.
    pub error_message: Option<String>,
    pub containers: Vec<ContainerView>,
    /// Its template version was deprecated by the creator: their message. Null otherwise.
    pub template_deprecated: Option<String>,
    /// The newest published, non-deprecated version of its template's product that is newer
    /// than the one it runs, when there is one.
    pub upgrade_available: Option<UpgradeView>,
    /// While a start or restart runs: where each service is (by name). Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<std::collections::BTreeMap<String, ServiceProgress>>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpgradeView {
    pub template_id: String,
    pub version: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentList {
    pub deployments: Vec<Deployment>,
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDeployment {
    /// A published template.
    pub template_id: Option<String>,
    pub customer_id: Option<String>,
    /// 1 to 100 characters; the hostname is derived from it.
    pub name: Option<String>,
    /// Values for the template's variables by name: strings, numbers or booleans. Required ones
    /// must be given; passwords and secrets without a default are generated when absent.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: serde_json::Map<String, serde_json::Value>,
    /// A backup (`bkp_...`) of one of the caller's deployments: the new deployment starts with
    /// that backup's volumes (a clone). `template_id` defaults to the backed-up deployment's.
    pub from_backup: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1 to 100 (default 20).
    limit: Option<u32>,
    /// Matches to skip (default 0).
    offset: Option<u64>,
    customer_id: Option<String>,
    template_id: Option<String>,
    status: Option<Status>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// `false` answers 202 at once with the intermediate state; default `true` waits for the end state.
    wait: Option<bool>,
}

/// The response for one deployment: its row, live container states from the engine, and the
/// host ports assigned to each service.
fn view(
    state: &AppState,
    d: DeploymentRecord,
    containers: &[ContainerSummary],
    ports: &[PortAssignment],
    offers: &HashMap<TemplateId, Offer>,
) -> Deployment {
    let offer = offers.get(&d.template_id);
    let upgrade_available = offer
        .and_then(|o| hoster_core::template::newest_after(&o.version, &o.others))
        .map(|(id, version)| UpgradeView {
            template_id: id.to_string(),
            version: version.clone(),
        });
    let mut mine: Vec<&ContainerSummary> = containers.iter().filter(|c| c.deployment == d.id.as_str()).collect();
    mine.sort_by(|a, b| a.service.cmp(&b.service));
    let containers = mine
        .into_iter()
        .map(|c| ContainerView {
            service_name: c.service.clone(),
            container_id: c.id.clone(),
            status: c.state,
            health: c.health,
            ports: ports
                .iter()
                .filter(|p| p.service == c.service)
                .map(|p| PortView {
                    container_port: p.container_port,
                    host_port: p.host_port,
                    protocol: p.protocol.as_str().to_string(),
                })
                .collect(),
        })
        .collect();
    Deployment {
        id: d.id.to_string(),
        name: d.name,
        template_id: d.template_id.to_string(),
        customer_id: d.customer_id,
        status: d.status,
        url: hoster_core::hostname::deployment_url(&d.domain, state.public_port),
        progress: state.deployer.progress().of(&d.id),
        template_deprecated: offer.and_then(|o| o.deprecated.clone()),
        upgrade_available,
        domain: d.domain,
        error_message: d.error_message,
        containers,
        created_at: d.created_at,
        updated_at: d.updated_at,
    }
}

/// Live containers of one deployment (all, when `None`); an unreachable engine shows none
/// rather than failing a read.
async fn live_containers(state: &AppState, id: Option<&DeploymentId>) -> Vec<ContainerSummary> {
    match state.engine.containers(id).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list containers");
            Vec::new()
        }
    }
}

pub(super) async fn view_one(state: &AppState, d: DeploymentRecord) -> Result<Deployment, ApiError> {
    let containers = live_containers(state, Some(&d.id)).await;
    let ports = state.store.port_assignments(&d.id).await?;
    let offers = state.store.offers(&[&d.template_id]).await?;
    Ok(view(state, d, &containers, &ports, &offers))
}

/// The deployment if the caller may see it and `op`; not-yours answers like unknown (404).
pub(super) async fn load(
    state: &AppState,
    caller: &Caller,
    op: Operation,
    id: &str,
) -> Result<DeploymentRecord, ApiError> {
    auth::require(caller, op)?;
    let not_found = || ApiError::from(DeployError::NotFound(id.to_string()));
    let parsed = DeploymentId::parse(id).ok_or_else(not_found)?;
    let d = state.store.get_deployment(&parsed).await?.ok_or_else(not_found)?;
    if caller.owns_deployment(&d.customer_id) {
        Ok(d)
    } else {
        Err(not_found())
    }
}

/// The deployment a clone's backup was taken of (the caller's, like any deployment they
/// read) and the backup.
async fn clone_source(
    state: &AppState,
    caller: &Caller,
    bid: &str,
) -> Result<(DeploymentRecord, crate::store::BackupRecord), ApiError> {
    let not_found = || ApiError::new(ErrorCode::BackupNotFound, format!("no backup `{bid}`"));
    let id = hoster_core::id::BackupId::parse(bid).ok_or_else(not_found)?;
    let b = state.store.get_backup(&id).await?.ok_or_else(not_found)?;
    let from = load(state, caller, Operation::ConfigureDeployment, b.deployment_id.as_str())
        .await
        .map_err(|_| not_found())?;
    Ok((from, b))
}

/// Create a deployment of a published template (`pending`; start it to run it). With
/// `from_backup`, its volumes are the backup's before it first starts.
#[utoipa::path(
    post,
    path = "/api/v1/deployments",
    tag = "deployments",
    request_body = CreateDeployment,
    responses(
        (status = 201, body = Deployment),
        (status = 404, description = "template_not_found, backup_not_found", body = ErrorBody),
        (status = 409, description = "template_not_published", body = ErrorBody)
    )
)]
pub async fn create_deployment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(mut body): Json<CreateDeployment>,
) -> Result<(StatusCode, HeaderMap, axum::Json<Deployment>), ApiError> {
    auth::require(&caller, Operation::CreateDeployment)?;
    body.customer_id = auth::acting_for(&caller, "customer_id", body.customer_id)?;
    let source = match body.from_backup.take() {
        Some(bid) => Some(clone_source(&state, &caller, &bid).await?),
        None => None,
    };
    if let Some((from, _)) = &source {
        body.template_id = body.template_id.or_else(|| Some(from.template_id.to_string()));
    }
    let missing: Vec<Problem> = [
        ("template_id", &body.template_id),
        ("customer_id", &body.customer_id),
        ("name", &body.name),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_none())
    .map(|(field, _)| Problem::field(field, "required"))
    .collect();
    if !missing.is_empty() {
        return Err(ApiError::validation(Problems(missing)));
    }
    let template_id = body.template_id.clone().unwrap_or_default();
    let template = match TemplateId::parse(&template_id) {
        Some(tid) => state.store.get_template(&tid).await?,
        None => None,
    };
    if template.is_some_and(|t| !caller.sees_template(&t.spec.creator_id, t.published)) {
        return Err(ApiError::template_not_found(&template_id));
    }
    let created = state
        .deployer
        .create(NewDeployment {
            template_id: body.template_id.unwrap_or_default(),
            customer_id: body.customer_id.unwrap_or_default(),
            name: body.name.unwrap_or_default(),
            variables: body.variables,
        })
        .await?;
    if let Some((_, backup)) = &source
        && let Err(e) = state.deployer.restore_backup(&created.id, backup, &state.backups).await
    {
        // A clone without its data is not what was asked for: nothing is left behind.
        if let Err(cleanup) = state.deployer.delete(&created.id).await {
            tracing::warn!(deployment = %created.id, error = %cleanup, "cannot remove a clone whose restore failed");
        }
        return Err(e.into());
    }
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/deployments/{}", created.id)) {
        headers.insert(header::LOCATION, location);
    }
    auth::audit(
        &state,
        &caller,
        "deployment.create",
        created.id.as_str(),
        &created.template_id.to_string(),
    )
    .await;
    // New: no containers or ports yet, so no engine call; only what it is offered.
    let offers = state.store.offers(&[&created.template_id]).await?;
    Ok((
        StatusCode::CREATED,
        headers,
        axum::Json(view(&state, created, &[], &[], &offers)),
    ))
}

/// List deployments, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/deployments",
    tag = "deployments",
    params(ListQuery),
    responses((status = 200, body = DeploymentList))
)]
pub async fn list_deployments(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<DeploymentList>, ApiError> {
    auth::require(&caller, Operation::ListDeployments)?;
    let page = page(query.limit, query.offset)?;
    let filter = DeploymentFilter {
        customer_id: auth::acting_for(&caller, "customer_id", query.customer_id)?,
        template_id: query.template_id,
        status: query.status,
    };
    let (records, total) = state.store.list_deployments(&filter, page).await?;
    let containers = if records.is_empty() {
        Vec::new()
    } else {
        live_containers(&state, None).await
    };
    let ids: Vec<DeploymentId> = records.iter().map(|d| d.id.clone()).collect();
    let mut ports = state.store.port_assignments_of(&ids).await?;
    let templates: Vec<&TemplateId> = records.iter().map(|d| &d.template_id).collect();
    let offers = state.store.offers(&templates).await?;
    let deployments = records
        .into_iter()
        .map(|d| {
            let ports = ports.remove(&d.id).unwrap_or_default();
            view(&state, d, &containers, &ports, &offers)
        })
        .collect();
    Ok(axum::Json(DeploymentList {
        deployments,
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// Get one deployment with its containers' live state.
#[utoipa::path(
    get,
    path = "/api/v1/deployments/{id}",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id")),
    responses((status = 200, body = Deployment))
)]
pub async fn get_deployment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<axum::Json<Deployment>, ApiError> {
    let d = load(&state, &caller, Operation::GetDeployment, &id).await?;
    Ok(axum::Json(view_one(&state, d).await?))
}

fn answer(wait: bool, body: Deployment) -> (StatusCode, axum::Json<Deployment>) {
    (
        if wait { StatusCode::OK } else { StatusCode::ACCEPTED },
        axum::Json(body),
    )
}

/// Start a deployment (from pending, stopped or failed). Waits until it runs unless `wait=false`.
#[utoipa::path(
    post,
    path = "/api/v1/deployments/{id}/start",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id"), WaitQuery),
    responses(
        (status = 200, description = "running", body = Deployment),
        (status = 202, description = "starting (wait=false)", body = Deployment),
        (status = 409, description = "already_running, invalid_transition or port_unavailable", body = ErrorBody),
        (status = 502, description = "the start failed (image_unavailable, runtime_error); the deployment is failed", body = ErrorBody),
        (status = 503, description = "engine_unavailable", body = ErrorBody)
    )
)]
pub async fn start_deployment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<WaitQuery>,
) -> Result<(StatusCode, axum::Json<Deployment>), ApiError> {
    let d = load(&state, &caller, Operation::StartDeployment, &id).await?;
    auth::audit(&state, &caller, "deployment.start", &id, "").await;
    let wait = query.wait.unwrap_or(true);
    let d = state.deployer.start(&d.id, wait).await?;
    Ok(answer(wait, view_one(&state, d).await?))
}

/// Stop a running deployment. Waits until it is stopped unless `wait=false`.
#[utoipa::path(
    post,
    path = "/api/v1/deployments/{id}/stop",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id"), WaitQuery),
    responses(
        (status = 200, description = "stopped", body = Deployment),
        (status = 202, description = "stopping (wait=false)", body = Deployment),
        (status = 409, description = "invalid_transition", body = ErrorBody)
    )
)]
pub async fn stop_deployment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<WaitQuery>,
) -> Result<(StatusCode, axum::Json<Deployment>), ApiError> {
    let d = load(&state, &caller, Operation::StopDeployment, &id).await?;
    auth::audit(&state, &caller, "deployment.stop", &id, "").await;
    let wait = query.wait.unwrap_or(true);
    let d = state.deployer.stop(&d.id, wait).await?;
    Ok(answer(wait, view_one(&state, d).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RestartQuery {
    /// Restart only this service (a new container); the others keep running.
    service: Option<String>,
}

/// Restart a running deployment: every service stopped gracefully (one dependency level at a
/// time) and started again in dependency order, or with `service` only that service's
/// container, replaced by a new one. Volumes, ports and hostname stay. Returns once it runs.
#[utoipa::path(
    post,
    path = "/api/v1/deployments/{id}/restart",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id"), RestartQuery),
    responses(
        (status = 200, body = Deployment),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "invalid_transition: not running", body = ErrorBody),
        (status = 500, description = "runtime_error: the restart failed; the deployment is failed", body = ErrorBody),
        (status = 503, description = "engine_unavailable", body = ErrorBody)
    )
)]
pub async fn restart_deployment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<RestartQuery>,
) -> Result<axum::Json<Deployment>, ApiError> {
    let d = load(&state, &caller, Operation::StartDeployment, &id).await?;
    auth::audit(
        &state,
        &caller,
        "deployment.restart",
        &id,
        query.service.as_deref().unwrap_or(""),
    )
    .await;
    let d = state.deployer.restart(&d.id, query.service.as_deref()).await?;
    Ok(axum::Json(view_one(&state, d).await?))
}

/// Delete a deployment: stops it, then removes its containers, network, volumes and files.
#[utoipa::path(
    delete,
    path = "/api/v1/deployments/{id}",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id")),
    responses((status = 204, description = "deleted"), (status = 409, body = ErrorBody))
)]
pub async fn delete_deployment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let d = load(&state, &caller, Operation::DeleteDeployment, &id).await?;
    auth::audit(&state, &caller, "deployment.delete", &id, "").await;
    state.deployer.delete(&d.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradeRequest {
    /// Another published, non-deprecated version of the deployment's template's product.
    pub template_id: Option<String>,
    /// Values for the new version's variables, laid over the values the deployment keeps
    /// (those the new version declares); new required ones must be given.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DryRunQuery {
    /// `true`: answer what would change, change nothing.
    dry_run: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpgradeAnswer {
    pub deployment: Deployment,
    pub dry_run: bool,
    pub from_version: String,
    pub to_version: String,
    /// Every service of either version, in the new version's start order: `added`, `removed`,
    /// `replaced` (with `reasons`: what differs) or `unchanged` (its container keeps running).
    pub changes: Vec<hoster_core::plan::ServiceChange>,
    /// Values of variables the new version no longer declares, dropped.
    pub dropped_variables: Vec<String>,
}

async fn upgrade_answer(
    state: &AppState,
    d: DeploymentRecord,
    upgrade: crate::deployer::Upgrade,
    dry_run: bool,
) -> Result<axum::Json<UpgradeAnswer>, ApiError> {
    Ok(axum::Json(UpgradeAnswer {
        deployment: view_one(state, d).await?,
        dry_run,
        from_version: upgrade.from_version,
        to_version: upgrade.to_version,
        changes: upgrade.changes,
        dropped_variables: upgrade.dropped_variables,
    }))
}

/// Move a running deployment to another version of its template. Only the containers whose
/// definition changes are replaced (the others keep running); named volumes, the hostname and
/// the host ports of container ports both versions publish stay. A version that does not come
/// up within the start timeout is undone at once (409 `upgrade_rolled_back`, the deployment
/// runs the version it ran, with the reason in its events and `error_message`).
#[utoipa::path(
    post,
    path = "/api/v1/deployments/{id}/upgrade",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id"), DryRunQuery),
    request_body = UpgradeRequest,
    responses(
        (status = 200, body = UpgradeAnswer),
        (status = 400, description = "validation_error: values, or not a version of this product", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "invalid_transition (not running), template_deprecated, template_not_published, upgrade_rolled_back", body = ErrorBody)
    )
)]
pub async fn upgrade_deployment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<DryRunQuery>,
    Json(body): Json<UpgradeRequest>,
) -> Result<axum::Json<UpgradeAnswer>, ApiError> {
    let d = load(&state, &caller, Operation::ConfigureDeployment, &id).await?;
    let Some(template_id) = body.template_id else {
        return Err(ApiError::validation(Problems(vec![Problem::field(
            "template_id",
            "required",
        )])));
    };
    let dry_run = query.dry_run.unwrap_or(false);
    if !dry_run {
        auth::audit(&state, &caller, "deployment.upgrade", &id, &template_id).await;
    }
    let (d, upgrade) = state
        .deployer
        .upgrade(&d.id, &template_id, &body.variables, dry_run)
        .await?;
    upgrade_answer(&state, d, upgrade, dry_run).await
}

/// Return a running deployment to the version it ran before its current one (template and
/// variable values), on the same terms as an upgrade.
#[utoipa::path(
    post,
    path = "/api/v1/deployments/{id}/rollback",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id"), DryRunQuery),
    responses(
        (status = 200, body = UpgradeAnswer),
        (status = 404, body = ErrorBody),
        (status = 409, description = "invalid_transition (not running, or no other version), upgrade_rolled_back", body = ErrorBody)
    )
)]
pub async fn rollback_deployment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<DryRunQuery>,
) -> Result<axum::Json<UpgradeAnswer>, ApiError> {
    let d = load(&state, &caller, Operation::ConfigureDeployment, &id).await?;
    let dry_run = query.dry_run.unwrap_or(false);
    if !dry_run {
        auth::audit(&state, &caller, "deployment.rollback", &id, "").await;
    }
    let (d, upgrade) = state.deployer.rollback(&d.id, dry_run).await?;
    upgrade_answer(&state, d, upgrade, dry_run).await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    pub template_id: String,
    pub version: String,
    /// When the deployment left it (past versions).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub left_at: Option<Timestamp>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionHistory {
    pub current: VersionView,
    /// The versions it ran before, most recent first (at most ten; `rollback` returns to the
    /// first). Their variable values are kept too, not shown.
    pub past: Vec<VersionView>,
}

/// The version a deployment runs and the ones it ran before.
#[utoipa::path(
    get,
    path = "/api/v1/deployments/{id}/versions",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id")),
    responses((status = 200, body = VersionHistory), (status = 404, body = ErrorBody))
)]
pub async fn deployment_versions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<axum::Json<VersionHistory>, ApiError> {
    let d = load(&state, &caller, Operation::GetDeployment, &id).await?;
    let template = state
        .store
        .get_template(&d.template_id)
        .await?
        .ok_or_else(|| ApiError::template_not_found(d.template_id.as_str()))?;
    let current = VersionView {
        template_id: d.template_id.to_string(),
        version: template.spec.version,
        left_at: None,
    };
    let past = state
        .store
        .past_versions(&d.id)
        .await?
        .into_iter()
        .rev()
        .map(|v| VersionView {
            template_id: v.template_id.to_string(),
            version: v.version,
            left_at: Some(v.at),
        })
        .collect();
    Ok(axum::Json(VersionHistory { current, past }))
}
