//! Liveness and readiness.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;

#[derive(Serialize, ToSchema)]
pub struct HealthStatus {
    /// `ok`
    status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    status: &'static str,
    /// `ok`, or why the check failed.
    pub database: String,
    pub docker: String,
}

/// The process is up.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = HealthStatus)))]
pub async fn health() -> Json<HealthStatus> {
    Json(HealthStatus { status: "ok" })
}

/// The database and the Docker engine both answer.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "health",
    responses((status = 200, body = Readiness), (status = 503, description = "a check failed; the body names it", body = Readiness))
)]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let timeout = Duration::from_secs(2);
    let (database, docker) = tokio::join!(
        async {
            match tokio::time::timeout(timeout, state.store.ping()).await {
                Ok(Ok(())) => "ok".to_string(),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "the database did not answer within 2s".to_string(),
            }
        },
        async {
            match state.engine.ping(timeout).await {
                Ok(()) => "ok".to_string(),
                Err(e) => e.to_string(),
            }
        }
    );
    let ok = database == "ok" && docker == "ok";
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            status: if ok { "ready" } else { "not_ready" },
            database,
            docker,
        }),
    )
}
