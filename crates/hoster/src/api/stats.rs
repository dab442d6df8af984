//! `GET /api/v1/deployments/{id}/stats`: what each running container uses.

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, TryStreamExt, future};
use hoster_core::access::{Caller, Operation};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::deployments::load;
use super::error::{ApiError, ErrorBody};
use super::extract::{Path, Query};
use super::stream::{sse, until_error};
use crate::deployer::DeployError;
use crate::runtime::{ContainerStatus, Usage};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Keep the response open as server-sent events (`event: stats`, one per container about
    /// every second) until the client leaves or the containers stop.
    stream: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContainerUsage {
    pub service_name: String,
    pub container_id: String,
    #[serde(flatten)]
    pub usage: Usage,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentUsage {
    /// The running containers; stopped ones use nothing.
    pub containers: Vec<ContainerUsage>,
}

/// CPU, memory, network and block I/O, and processes of each running container, as `docker
/// stats` computes them (cgroup v1 or v2). One sample takes about a second: the CPU share is
/// measured over it.
#[utoipa::path(
    get,
    path = "/api/v1/deployments/{id}/stats",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id"), StatsQuery),
    responses(
        (status = 200, description = "one sample per running container", content(
            (DeploymentUsage = "application/json"),
            (ContainerUsage = "text/event-stream"),
        )),
        (status = 404, body = ErrorBody),
        (status = 503, description = "engine_unavailable", body = ErrorBody)
    )
)]
pub async fn deployment_stats(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<StatsQuery>,
) -> Result<Response, ApiError> {
    let d = load(&state, &caller, Operation::GetDeployment, &id).await?;
    let running: Vec<_> = state
        .engine
        .containers(Some(&d.id))
        .await
        .map_err(DeployError::from)?
        .into_iter()
        .filter(|c| c.state == ContainerStatus::Running)
        .collect();
    let stream = query.stream.unwrap_or(false);
    let mut samples = Vec::new();
    for c in running {
        let (service_name, container_id) = (c.service, c.id);
        let usage = state
            .engine
            .stats(&container_id, stream)
            .await
            .map_err(DeployError::from)?;
        samples.push(usage.map_ok(move |usage| ContainerUsage {
            service_name: service_name.clone(),
            container_id: container_id.clone(),
            usage,
        }));
    }
    if stream {
        // A container that stops ends its part.
        let samples = until_error(futures_util::stream::select_all(samples), "reading stats");
        return Ok(sse(samples, |_| "stats", |_| None));
    }
    let containers = future::try_join_all(
        samples
            .into_iter()
            .map(|mut s| async move { s.next().await.transpose() }),
    )
    .await
    .map_err(DeployError::from)?
    .into_iter()
    .flatten()
    .collect();
    Ok(axum::Json(DeploymentUsage { containers }).into_response())
}
