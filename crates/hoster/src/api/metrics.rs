//! `GET /metrics` and the middleware that counts API requests for it.

use axum::Extension;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hoster_core::access::{Caller, Operation};

use super::error::{ApiError, ErrorBody};
use super::{AppState, auth};
use crate::metrics::{self, HttpLabels, RouteLabels};

/// Hoster's own figures in the Prometheus/OpenMetrics text format: API requests by route
/// template and status with latency histograms, deployments by status, operation durations,
/// engine errors, reconcile passes and findings, proxied requests and bytes by hostname, build
/// info. In token mode an admin token or a `metrics` token.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses(
        (status = 200, description = "the figures", content_type = "application/openmetrics-text", body = String),
        (status = 500, body = ErrorBody)
    )
)]
pub async fn metrics(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    auth::require(&caller, Operation::ReadMetrics)?;
    let by_status = state.store.count_by_status().await?;
    let text = metrics::global().render(&by_status);
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Counts each API request by its route's template (`/api/v1/deployments/{id}`, never the raw
/// path, so ids do not make a label each) and how long its answer took to start.
pub async fn count(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let method = request.method().to_string();
    let began = std::time::Instant::now();
    let response = next.run(request).await;
    let figures = metrics::global();
    figures
        .http_seconds
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(began.elapsed().as_secs_f64());
    figures
        .http_requests
        .get_or_create(&HttpLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}
