//! A viewer's deployments: the list with live status, one deployment's page (its link through
//! the proxy, containers, domains, history, logs, secrets on request) and the actions on it.

use askama::Template;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use hoster_core::access::Operation;
use hoster_core::deployment::Status;
use serde::Deserialize;

use super::Pager;
use super::session::{Form, Viewer};
use super::{Chrome, Section, api_query, error_page, html, see_other, status_class, word};
use crate::api::backups as api_backups;
use crate::api::deployments::{self as api, Deployment};
use crate::api::domains::{self as api_domains, DomainView};
use crate::api::events as api_events;
use crate::api::extract::{Path, Query};
use crate::api::logs as api_logs;
use crate::api::variables::{self as api_variables, VariableValue};
use crate::api::{ApiError, AppState};

/// A deployment as a row or a page header shows it.
pub struct Summary {
    pub d: Deployment,
    pub status: String,
    pub status_class: &'static str,
    pub created: String,
}

impl From<Deployment> for Summary {
    fn from(d: Deployment) -> Self {
        Summary {
            status: d.status.to_string(),
            status_class: status_class(d.status),
            created: d.created_at.to_minute(),
            d,
        }
    }
}

#[derive(Template)]
#[template(path = "console/deployments.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<Summary>,
    total: u64,
    /// Admins and local mode see everyone's, and filter by customer.
    everyone: bool,
    status: String,
    customer_id: String,
    statuses: Vec<&'static str>,
    pages: Pager,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    RawQuery(raw): RawQuery,
) -> Response {
    let raw = raw.as_deref();
    let answer = match api_query(raw) {
        Ok(q) => api::list_deployments(State(state), Extension(viewer.caller.clone()), Query(q)).await,
        Err(e) => Err(e),
    };
    let list = match answer {
        Ok(axum::Json(list)) => list,
        Err(e) => return error_page(&viewer, e),
    };
    let param = |name: &str| super::param(raw, name);
    let pages = Pager::new(
        "/ui/deployments",
        raw,
        list.offset,
        list.limit,
        list.deployments.len(),
        list.total,
    );
    html(&ListPage {
        chrome: Chrome::new(&viewer, Section::Deployments, "Deployments"),
        total: list.total,
        rows: list.deployments.into_iter().map(Summary::from).collect(),
        everyone: viewer.caller.acting_for("customer_id", None).ok().flatten().is_none(),
        status: param("status"),
        customer_id: param("customer_id"),
        statuses: Status::ALL.iter().map(|s| s.as_str()).collect(),
        pages,
    })
}

/// A backup as the page lists it.
pub struct BackupRow {
    pub id: String,
    pub when: String,
    pub size: String,
    pub volumes: String,
}

/// One row of the history, as the events API gives it.
#[derive(Deserialize)]
pub struct EventRow {
    pub kind: String,
    pub from: Option<String>,
    pub to: String,
    pub message: Option<String>,
    pub at: String,
}

/// One line of output, as the logs API gives it.
#[derive(Deserialize)]
pub struct LogRow {
    pub service: String,
    pub time: String,
    pub line: String,
}

/// The newest events a page shows.
const EVENTS_SHOWN: usize = 30;
/// The last lines of output a page shows before following.
const LOG_LINES: u32 = 200;

#[derive(Template)]
#[template(path = "console/deployment.html")]
struct DeploymentPage {
    chrome: Chrome,
    s: Summary,
    domains: Vec<DomainView>,
    events: Vec<EventRow>,
    logs: Vec<LogRow>,
    /// Where the log view follows from: the last line's time.
    logs_since: String,
    /// Why there are no lines, when the engine could not give them.
    logs_error: Option<String>,
    variables: Vec<VariableValue>,
    has_secrets: bool,
    backups: Vec<BackupRow>,
    revealed: bool,
    progress: Vec<(String, String)>,
    can_start: bool,
    can_stop: bool,
    can_delete: bool,
    may_configure: bool,
    delete_error: Option<String>,
}

/// The body of an API answer that is not typed here (events, log lines).
async fn body_of(response: Response) -> Vec<u8> {
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default()
}

async fn events(state: &AppState, viewer: &Viewer, id: &str) -> Result<Vec<EventRow>, ApiError> {
    let query = api_query(Some(&format!("newest=true&limit={EVENTS_SHOWN}")))?;
    let response = api_events::deployment_events(
        State(state.clone()),
        Extension(viewer.caller.clone()),
        Path(id.to_string()),
        Query(query),
        HeaderMap::new(),
    )
    .await?;
    let mut rows: Vec<EventRow> = serde_json::from_slice(&body_of(response).await).unwrap_or_default();
    rows.reverse();
    Ok(rows)
}

async fn logs(state: &AppState, viewer: &Viewer, id: &str) -> Result<Vec<LogRow>, ApiError> {
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/x-ndjson"));
    let response = api_logs::deployment_logs(
        State(state.clone()),
        Extension(viewer.caller.clone()),
        Path(id.to_string()),
        Query(api_query(Some(&format!("tail={LOG_LINES}")))?),
        headers,
    )
    .await?;
    let body = body_of(response).await;
    Ok(body
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice(line).ok())
        .collect())
}

async fn render(state: &AppState, viewer: &Viewer, id: &str, reveal: bool, delete_error: Option<String>) -> Response {
    let caller = &viewer.caller;
    let d = match api::get_deployment(State(state.clone()), Extension(caller.clone()), Path(id.to_string())).await {
        Ok(axum::Json(d)) => d,
        Err(e) => return error_page(viewer, e),
    };
    let domains = api_domains::list_domains(State(state.clone()), Extension(caller.clone()), Path(id.to_string()))
        .await
        .map(|axum::Json(d)| d);
    let events = events(state, viewer, id).await;
    // The page is still worth showing when the engine cannot give the output.
    let (logs, logs_error) = match logs(state, viewer, id).await {
        Ok(lines) => (lines, None),
        Err(e) => (Vec::new(), Some(e.message)),
    };
    let may_configure = caller.permits(Operation::ConfigureDeployment);
    let variables = if may_configure {
        let query = api_query(Some(if reveal { "reveal=true" } else { "" }));
        match query {
            Ok(q) => api_variables::get_variables(
                State(state.clone()),
                Extension(caller.clone()),
                Path(id.to_string()),
                Query(q),
            )
            .await
            .map(|axum::Json(v)| v.variables),
            Err(e) => Err(e),
        }
    } else {
        Ok(Vec::new())
    };
    let backups = if may_configure {
        api_backups::list_backups(State(state.clone()), Extension(caller.clone()), Path(id.to_string()))
            .await
            .map(|axum::Json(b)| b)
    } else {
        Ok(Vec::new())
    };
    let (domains, events, variables, backups) = match (domains, events, variables, backups) {
        (Ok(a), Ok(b), Ok(v), Ok(k)) => (a, b, v, k),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => return error_page(viewer, e),
    };
    let progress = d
        .progress
        .iter()
        .flatten()
        .map(|(service, p)| {
            let bytes = match (p.current_bytes, p.total_bytes) {
                (Some(c), Some(t)) if t > 0 => format!(" ({}%)", c * 100 / t),
                _ => String::new(),
            };
            (service.clone(), format!("{}{bytes}", word(&p.phase).replace('_', " ")))
        })
        .collect();
    let status = d.status;
    let operate = caller.permits(Operation::StartDeployment);
    let page = DeploymentPage {
        chrome: Chrome::new(viewer, Section::Deployments, d.name.clone()),
        logs_since: logs.last().map(|l| l.time.clone()).unwrap_or_default(),
        s: Summary::from(d),
        domains,
        events,
        logs,
        logs_error,
        has_secrets: variables.iter().any(|v| v.secret),
        backups: backups
            .into_iter()
            .map(|b| BackupRow {
                when: b.created_at.to_minute(),
                size: format!("{:.1} MB", b.size_bytes as f64 / 1e6),
                volumes: b.volumes.join(", "),
                id: b.id,
            })
            .collect(),
        variables,
        revealed: reveal,
        progress,
        can_start: operate && matches!(status, Status::Pending | Status::Stopped | Status::Failed),
        can_stop: operate && status == Status::Running,
        can_delete: caller.permits(Operation::DeleteDeployment) && status != Status::Deleting,
        may_configure,
        delete_error,
    };
    html(&page)
}

pub async fn page(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    render(&state, &viewer, &id, false, None).await
}

/// The secrets, shown in the answer to a form (so they never sit in a URL or history); the
/// API records the reveal in the audit log.
pub async fn secrets(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    axum::extract::Path(id): axum::extract::Path<String>,
    _form: Form,
) -> Response {
    render(&state, &viewer, &id, true, None).await
}

/// The log view's live feed: the logs API's own stream of server-sent events.
pub async fn logs_stream(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    axum::extract::Path(id): axum::extract::Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let since = super::param(raw.as_deref(), "since");
    let query = format!(
        "follow=true&tail=0{}",
        if since.is_empty() {
            String::new()
        } else {
            format!("&since={}", super::session::urlencode(&since))
        }
    );
    let answer = match api_query(Some(&query)) {
        Ok(q) => {
            api_logs::deployment_logs(
                State(state),
                Extension(viewer.caller.clone()),
                Path(id),
                Query(q),
                HeaderMap::new(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    answer.unwrap_or_else(|e| e.into_response())
}

/// `start`, `stop`, `restart` or `delete` (which asks for the deployment's name).
pub async fn act(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    axum::extract::Path((id, action)): axum::extract::Path<(String, String)>,
    form: Form,
) -> Response {
    let caller = Extension(viewer.caller.clone());
    let page = format!("/ui/deployments/{id}");
    let done = match action.as_str() {
        "start" => match api_query(Some("wait=false")) {
            Ok(q) => api::start_deployment(State(state.clone()), caller, Path(id.clone()), Query(q))
                .await
                .map(|_| "started"),
            Err(e) => Err(e),
        },
        "stop" => match api_query(None) {
            Ok(q) => api::stop_deployment(State(state.clone()), caller, Path(id.clone()), Query(q))
                .await
                .map(|_| "stopped"),
            Err(e) => Err(e),
        },
        "restart" => match api_query(None) {
            Ok(q) => api::restart_deployment(State(state.clone()), caller, Path(id.clone()), Query(q))
                .await
                .map(|_| "restarted"),
            Err(e) => Err(e),
        },
        "delete" => {
            let named = form.text("confirm").unwrap_or_default();
            let name = match api::get_deployment(State(state.clone()), caller.clone(), Path(id.clone())).await {
                Ok(axum::Json(d)) => d.name,
                Err(e) => return error_page(&viewer, e),
            };
            if named != name {
                let why = format!("Type the deployment's name, {name}, to delete it.");
                return render(&state, &viewer, &id, false, Some(why)).await;
            }
            return match api::delete_deployment(State(state.clone()), caller, Path(id.clone())).await {
                Ok(_) => see_other("/ui/deployments", "deleted"),
                Err(e) => error_page(&viewer, e),
            };
        }
        _ => {
            return error_page(
                &viewer,
                ApiError::new(
                    hoster_core::error_code::ErrorCode::NotFound,
                    format!("no action `{action}`"),
                ),
            );
        }
    };
    match done {
        Ok(notice) => see_other(&page, notice),
        Err(e) => error_page(&viewer, e),
    }
}

/// "Back up now": the backups API's create, then back to the page.
pub async fn back_up(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    axum::extract::Path(id): axum::extract::Path<String>,
    _form: Form,
) -> Response {
    match api_backups::create_backup(State(state), Extension(viewer.caller.clone()), Path(id.clone())).await {
        Ok(_) => see_other(&format!("/ui/deployments/{id}"), "backed_up"),
        Err(e) => error_page(&viewer, e),
    }
}

/// Restores one of the deployment's backups (the API checks the archive first).
pub async fn restore(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    axum::extract::Path((id, bid)): axum::extract::Path<(String, String)>,
    _form: Form,
) -> Response {
    let answer =
        api_backups::restore_backup(State(state), Extension(viewer.caller.clone()), Path((id.clone(), bid))).await;
    match answer {
        Ok(_) => see_other(&format!("/ui/deployments/{id}"), "restored"),
        Err(e) => error_page(&viewer, e),
    }
}
