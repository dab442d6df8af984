//! Deployments' history: `GET /api/v1/deployments/{id}/events` and `GET /api/v1/events`, pages
//! of rows or, with `follow=true`, server-sent events as rows commit.

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::stream;
use hoster_core::access::{Caller, Operation};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use hoster_core::deployment::{ServiceProgress, Status};
use hoster_core::id::DeploymentId;
use hoster_core::problem::{Problem, Problems};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
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
    /// Rows per page, 1 to 1,000 (default 100); a followed stream sends every row.
    limit: Option<u32>,
    /// `true`: the newest `limit` rows after `after` (still oldest first), rather than the
    /// oldest; for pages only.
    newest: Option<bool>,
    /// Keep the response open as server-sent events (`event: deployment`, `id` = `seq`):
    /// the rows after `after`, then each row as it is written, until the client leaves; and
    /// `event: progress` (a `ProgressView`, no id) as a start's progress changes.
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

/// A deployment's progress while a start or restart runs (`event: progress`, no id): each
/// service's phase, and bytes while pulling. Empty `services` says the operation is over.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressView {
    pub deployment_id: String,
    pub services: BTreeMap<String, ServiceProgress>,
}

/// What a followed stream carries.
#[derive(Serialize)]
#[serde(untagged)]
enum Followed {
    Row(EventView),
    Progress(ProgressView),
    /// The rows ended (the client fell too far behind, or Hoster shuts down): the stream ends.
    End,
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
    deployment: Option<DeploymentId>,
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
    let newest = query.newest.unwrap_or(false);
    if !query.follow.unwrap_or(false) {
        let filter = EventFilter {
            deployment: deployment.as_ref(),
            customer_id: customer.as_deref(),
            after,
            limit,
            newest,
        };
        let rows = state.store.events(&filter).await?;
        return Ok(axum::Json(rows.into_iter().map(EventView::from).collect::<Vec<_>>()).into_response());
    }
    if newest {
        return Err(ApiError::validation(Problems(vec![Problem::field(
            "newest",
            "is for pages; a followed stream sends every row after `after`",
        )])));
    }
    // Subscribed before the backlog is read, so no row falls between the two.
    let live = state.store.subscribe_events();
    let moving = state.deployer.progress().subscribe();
    let now_moving = state.deployer.progress().current();
    // The rows written so far, page by page (a read error ends the stream, as a lag does);
    // then the live rows past the last one sent.
    let sent = Arc::new(AtomicI64::new(after));
    let reader = (state.store.clone(), deployment.clone(), customer.clone(), sent.clone());
    let written = stream::unfold((Some(after), reader), |(cursor, reader)| async move {
        let (store, deployment, customer, sent) = &reader;
        let filter = EventFilter {
            deployment: deployment.as_ref(),
            customer_id: customer.as_deref(),
            after: cursor?,
            limit: MAX_LIMIT,
            newest: false,
        };
        let page = match store.events(&filter).await {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "reading events failed");
                return Some((vec![Followed::End], (None, reader)));
            }
        };
        let last = page.last()?.seq;
        sent.store(last, Ordering::Relaxed);
        let next = (page.len() == MAX_LIMIT as usize).then_some(last);
        Some((
            page.into_iter().map(|e| Followed::Row(e.into())).collect(),
            (next, reader),
        ))
    })
    .flat_map(stream::iter);
    let live = stream::unfold(live, |mut live| async move {
        // Too far behind (lagged) or shut down: end, and let the client resume from its last id.
        live.recv().await.ok().map(|event| (event, live))
    });
    let mine = move |d: &DeploymentId, c: &str| {
        deployment.as_ref().is_none_or(|mine| mine == d) && customer.as_deref().is_none_or(|mine| mine == c)
    };
    let also_mine = mine.clone();
    let rows = live
        .filter(move |e| {
            let new = e.seq > sent.load(Ordering::Relaxed);
            std::future::ready(new && also_mine(&e.deployment_id, &e.customer_id))
        })
        .map(|e| Followed::Row(e.into()))
        .chain(stream::once(async { Followed::End }));
    // A progress update that was missed is overtaken by the next: falling behind skips, not ends.
    let moving = stream::unfold(moving, |mut moving| async move {
        loop {
            match moving.recv().await {
                Ok(update) => return Some((update, moving)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let progress = stream::iter(now_moving.into_iter().map(Arc::new))
        .chain(moving)
        .filter(move |u| std::future::ready(mine(&u.deployment, &u.customer_id)))
        .map(|u| {
            Followed::Progress(ProgressView {
                deployment_id: u.deployment.to_string(),
                services: u.services.clone(),
            })
        });
    let items = written
        .chain(stream::select(rows, progress))
        .take_while(|item| std::future::ready(!matches!(item, Followed::End)));
    Ok(super::stream::sse(
        items,
        |item| match item {
            Followed::Progress(_) => "progress",
            Followed::Row(_) | Followed::End => "deployment",
        },
        |item| match item {
            Followed::Row(e) => Some(e.seq.to_string()),
            Followed::Progress(_) | Followed::End => None,
        },
    ))
}
