//! The operator's pages: engine and database health, deployments by status, tokens, the audit
//! log. Admins only, as the API's token and audit routes are.

use askama::Template;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use hoster_core::access::Operation;
use hoster_core::deployment::Status;

use super::Pager;
use super::session::{Form, Viewer};
use super::{Chrome, FieldErrors, Section, api_query, error_page, html, html_status, see_other};
use crate::api::access::{self as api, AuditView, CreateToken, NewToken, TokenView};
use crate::api::deployments as api_deployments;
use crate::api::extract::{Json, Path, Query};
use crate::api::health;
use crate::api::{ApiError, AppState};

fn admins_only(viewer: &Viewer) -> Result<(), ApiError> {
    crate::api::require(&viewer.caller, Operation::ManageTokens)
}

#[derive(Template)]
#[template(path = "console/operator.html")]
struct Overview {
    chrome: Chrome,
    ready: bool,
    database: String,
    docker: String,
    counts: Vec<(&'static str, u64)>,
    audit: Vec<AuditView>,
}

pub async fn overview(State(state): State<AppState>, Extension(viewer): Extension<Viewer>) -> Response {
    if let Err(e) = admins_only(&viewer) {
        return error_page(&viewer, e);
    }
    let (code, axum::Json(readiness)) = health::ready(State(state.clone())).await;
    let mut counts = Vec::new();
    for status in Status::ALL {
        let listed = match api_query(Some(&format!("status={status}&limit=1"))) {
            Ok(q) => {
                api_deployments::list_deployments(State(state.clone()), Extension(viewer.caller.clone()), Query(q))
                    .await
            }
            Err(e) => Err(e),
        };
        match listed {
            Ok(axum::Json(list)) if list.total > 0 => counts.push((status.as_str(), list.total)),
            Ok(_) => {}
            Err(e) => return error_page(&viewer, e),
        }
    }
    let audit = match api_query(Some("limit=10")) {
        Ok(q) => api::audit_log(State(state), Extension(viewer.caller.clone()), Query(q)).await,
        Err(e) => Err(e),
    };
    let audit = match audit {
        Ok(axum::Json(a)) => a,
        Err(e) => return error_page(&viewer, e),
    };
    html(&Overview {
        chrome: Chrome::new(&viewer, Section::Operator, "Operator"),
        ready: code.is_success(),
        database: readiness.database,
        docker: readiness.docker,
        counts,
        audit,
    })
}

#[derive(Template)]
#[template(path = "console/tokens.html")]
struct Tokens {
    chrome: Chrome,
    tokens: Vec<TokenView>,
    /// Just made: shown this once.
    minted: Option<NewToken>,
    errors: FieldErrors,
    role: String,
    subject: String,
    name: String,
}

async fn tokens_page(
    state: &AppState,
    viewer: &Viewer,
    minted: Option<NewToken>,
    form: Option<&Form>,
    error: Option<ApiError>,
) -> Response {
    let tokens = match api::list_tokens(State(state.clone()), Extension(viewer.caller.clone())).await {
        Ok(axum::Json(t)) => t,
        Err(e) => return error_page(viewer, e),
    };
    let status = error.as_ref().map_or(axum::http::StatusCode::OK, ApiError::status);
    let fields = ["role", "subject", "name"].map(String::from);
    let keep = |k: &str| form.and_then(|f| f.get(k)).unwrap_or_default().to_string();
    html_status(
        status,
        &Tokens {
            chrome: Chrome::new(viewer, Section::Operator, "Tokens"),
            tokens,
            minted,
            errors: error.map(|e| FieldErrors::from(&e, &fields)).unwrap_or_default(),
            role: keep("role"),
            subject: keep("subject"),
            name: keep("name"),
        },
    )
}

pub async fn tokens(State(state): State<AppState>, Extension(viewer): Extension<Viewer>) -> Response {
    tokens_page(&state, &viewer, None, None, None).await
}

/// Mints a token and shows it once, in the answer to the form.
pub async fn create_token(State(state): State<AppState>, Extension(viewer): Extension<Viewer>, form: Form) -> Response {
    let body = CreateToken {
        role: form.text("role").unwrap_or_default(),
        subject: form.text("subject").unwrap_or_default(),
        name: form.text("name"),
    };
    match api::create_token(State(state.clone()), Extension(viewer.caller.clone()), Json(body)).await {
        Ok((_, axum::Json(minted))) => tokens_page(&state, &viewer, Some(minted), None, None).await,
        Err(e) => tokens_page(&state, &viewer, None, Some(&form), Some(e)).await,
    }
}

pub async fn revoke_token(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    axum::extract::Path(id): axum::extract::Path<String>,
    _form: Form,
) -> Response {
    match api::revoke_token(State(state), Extension(viewer.caller.clone()), Path(id)).await {
        Ok(_) => see_other("/ui/operator/tokens", "revoked"),
        Err(e) => error_page(&viewer, e),
    }
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct Audit {
    chrome: Chrome,
    entries: Vec<AuditView>,
    pages: Pager,
}

const AUDIT_PAGE: u32 = 50;

pub async fn audit(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    RawQuery(raw): RawQuery,
) -> Response {
    let offset: u64 = super::param(raw.as_deref(), "offset").parse().unwrap_or(0);
    let answer = match api_query(Some(&format!("limit={}&offset={offset}", AUDIT_PAGE + 1))) {
        Ok(q) => api::audit_log(State(state), Extension(viewer.caller.clone()), Query(q)).await,
        Err(e) => Err(e),
    };
    let mut entries = match answer {
        Ok(axum::Json(a)) => a,
        Err(e) => return error_page(&viewer, e),
    };
    // One more than a page says whether there is a next one (the audit API gives no total).
    let more = entries.len() > AUDIT_PAGE as usize;
    entries.truncate(AUDIT_PAGE as usize);
    let known = offset + entries.len() as u64 + u64::from(more);
    let mut pages = Pager::new(
        "/ui/operator/audit",
        raw.as_deref(),
        offset,
        AUDIT_PAGE,
        entries.len(),
        known,
    );
    if !entries.is_empty() {
        pages.showing = format!("{}–{}", offset + 1, offset + entries.len() as u64);
    }
    html(&Audit {
        chrome: Chrome::new(&viewer, Section::Operator, "Audit log"),
        pages,
        entries,
    })
}
