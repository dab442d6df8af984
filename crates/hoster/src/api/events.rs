//! Deployments' history: `GET /api/v1/deployments/{id}/events` and `GET /api/v1/events`, pages
//! of rows or, with `follow=true`, server-sent events as rows commit.

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::stream;
use hoster_core::access::{Caller, Operation};
use hoster_core::deployment::Status;
use hoster_core::problem::{Problem, Problems};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::deployments::load;
use super::error::{ApiError, ErrorBody};
use super::extract::{Path, Query};
use super::{AppState, auth};
use crate::clock::Timestamp;
use crate::store::{Event, EventFilter, EventKind};

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Rows after this `seq` (default 0: from the first). `Last-Event-ID` does the same.
    after: Option<i64>,
    /// Rows per page, 1 to 1,000 (default 100).
    limit: Option<u32>,
    /// Keep the response open as server-sent events (`event: deployment`, `id` = `seq`):
    /// the rows after `after`, then each row as it is written, until the client leaves.
    follow: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// Increases with every row: give it back as `after` for the next page.
    pub seq: i64,
    pub deployment_id: String,
    pub kind: EventKind,
    /// The status before (for `state` rows), or the status at the time.
    pub from: Option<Status>,
    pub to: Status,
    /// Why, or what happened.
    pub message: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        EventView {
            seq: e.seq,
            deployment_id: e.deployment_id.to_string(),
            kind: e.kind,
            from: e.from,
            to: e.to,
            message: e.message,
            at: e.at,
        }
    }
}

/// A deployment's history, oldest first: status changes, what its containers did (started,
/// died with their exit code, ran out of memory, changed health: the engine's own events), and
/// actions taken on it.
#[utoipa::path(
    get,
    path = "/api/v1/deployments/{id}/events",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id"), EventsQuery),
    responses(
        (status = 200, description = "rows, or server-sent events with follow=true", content(
            (Vec<EventView> = "application/json"),
            (EventView = "text/event-stream"),
        )),
        (status = 404, body = ErrorBody)
    )
)]
pub async fn deployment_events(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let d = load(&state, &caller, Operation::GetDeployment, &id).await?;
    answer(&state, query, &headers, Some(d.id), None).await
}

/// Every deployment's history (admins), or the caller's own deployments' (customers), oldest
/// first; `follow=true` streams rows as they are written.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "deployments",
    params(EventsQuery),
    responses(
        (status = 200, description = "rows, or server-sent events with follow=true", content(
            (Vec<EventView> = "application/json"),
            (EventView = "text/event-stream"),
        )),
        (status = 403, body = ErrorBody)
    )
)]
pub async fn all_events(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth::require(&caller, Operation::ListDeployments)?;
    let customer = auth::acting_for(&caller, "customer_id", None)?;
    answer(&state, query, &headers, None, customer).await
}

async fn answer(
    state: &AppState,
    query: EventsQuery,
    headers: &HeaderMap,
    deployment: Option<hoster_core::id::DeploymentId>,
    customer: Option<String>,
) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::validation(Problems(vec![Problem::field(
            "limit",
            format!("must be from 1 to {MAX_LIMIT} (got {limit})"),
        )])));
    }
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let after = query.after.or(resumed).unwrap_or(0);
    if !query.follow.unwrap_or(false) {
        let filter = EventFilter {
            deployment: deployment.as_ref(),
            customer_id: customer.as_deref(),
            after,
            limit,
        };
        let rows = state.store.events(&filter).await?;
        return Ok(axum::Json(rows.into_iter().map(EventView::from).collect::<Vec<_>>()).into_response());
    }
    // Subscribed before the backlog is read, so no row falls between the two.
    let live = state.store.subscribe_events();
    let filter = EventFilter {
        deployment: deployment.as_ref(),
        customer_id: customer.as_deref(),
        after,
        limit: MAX_LIMIT,
    };
    let backlog = state.store.events(&filter).await?;
    let last = backlog.last().map_or(after, |e| e.seq);
    let live = stream::unfold(live, |mut live| async move {
        // Too far behind (lagged) or shut down: end, and let the client resume from its last id.
        live.recv().await.ok().map(|event| (event, live))
    })
    .filter(move |e| {
        let keep = e.seq > last
            && deployment.as_ref().is_none_or(|d| *d == e.deployment_id)
            && customer.as_deref().is_none_or(|c| c == e.customer_id);
        std::future::ready(keep)
    });
    let rows = stream::iter(backlog).chain(live).map(EventView::from);
    Ok(super::stream::sse(rows, "deployment", |e| Some(e.seq.to_string())))
}
