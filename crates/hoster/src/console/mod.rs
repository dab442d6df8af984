//! The web console: server-rendered pages at `/ui/` on the API's own hosts.
//!
//! Every page calls the API's handlers as functions, with the signed-in viewer as their
//! [`Caller`]: the same checks, the same store and deployer, no second path to the data and no
//! HTTP call to itself, so a role sees and does exactly what the API lets it. What the console
//! adds is presentation, its sessions and the guards on what a browser sends ([`session`]).
//! Every flow works without JavaScript; `console.js` adds live status, log follow and the
//! editor's line numbers.

mod assets;
mod catalog;
mod deployments;
mod operator;
mod session;
mod studio;

use askama::Template;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use hoster_core::access::{Caller, Operation};
use hoster_core::problem::Problem;
use serde::de::DeserializeOwned;

use crate::api::{ApiError, AppState};
pub use session::Keys;
use session::Viewer;

/// The console's routes, with its session layer; merged into the API's router.
pub fn router(state: AppState) -> Router {
    let pages = Router::new()
        .route("/ui/", get(catalog::catalog))
        .route("/ui/sign-in", get(session::sign_in_page).post(session::sign_in))
        .route("/ui/sign-out", post(session::sign_out))
        .route("/ui/assets/{name}", get(assets::serve))
        .route("/ui/templates/{id}", get(catalog::template))
        .route("/ui/templates/{id}/deploy", post(catalog::deploy))
        .route("/ui/deployments", get(deployments::list))
        .route("/ui/deployments/{id}", get(deployments::page))
        .route("/ui/deployments/{id}/logs", get(deployments::logs_stream))
        .route("/ui/deployments/{id}/secrets", post(deployments::secrets))
        .route("/ui/deployments/{id}/backups", post(deployments::back_up))
        .route("/ui/deployments/{id}/backups/{bid}/restore", post(deployments::restore))
        .route("/ui/deployments/{id}/{action}", post(deployments::act))
        .route("/ui/studio", get(studio::list))
        .route("/ui/studio/new", get(studio::new_page).post(studio::create))
        .route("/ui/studio/{id}", get(studio::edit_page).post(studio::save))
        .route("/ui/studio/{id}/publish", post(studio::publish))
        .route("/ui/studio/{id}/versions", post(studio::new_version))
        .route("/ui/operator", get(operator::overview))
        .route(
            "/ui/operator/tokens",
            get(operator::tokens).post(operator::create_token),
        )
        .route("/ui/operator/tokens/{id}/revoke", post(operator::revoke_token))
        .route("/ui/operator/audit", get(operator::audit))
        .route("/ui/{*rest}", any(no_page))
        .layer(axum::middleware::from_fn_with_state(state.clone(), session::resolve))
        .layer(axum::middleware::from_fn(headers))
        .with_state(state);
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .merge(pages)
}

/// What every console answer carries: a strict policy (only this origin's own scripts and
/// styles, no frames, forms only to here), and no caching of pages that show account data.
async fn headers(request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/ui/assets/");
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !is_asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A link in the top bar.
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// What the layout around every page shows.
pub struct Chrome {
    pub title: String,
    pub nav: Vec<NavItem>,
    /// Who is signed in (token mode), or `local mode`.
    pub who: String,
    pub signed_in: bool,
    pub csrf: String,
    pub css: &'static str,
    pub js: &'static str,
    pub notice: Option<&'static str>,
}

/// Which section a page belongs to, for the top bar.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Catalog,
    Deployments,
    Studio,
    Operator,
    None,
}

impl Chrome {
    pub fn new(viewer: &Viewer, section: Section, title: impl Into<String>) -> Self {
        let caller = &viewer.caller;
        let sections = [
            (Section::Catalog, "/ui/", "Catalog", Operation::ListTemplates),
            (
                Section::Deployments,
                "/ui/deployments",
                "Deployments",
                Operation::ListDeployments,
            ),
            (Section::Studio, "/ui/studio", "Studio", Operation::CreateTemplate),
            (Section::Operator, "/ui/operator", "Operator", Operation::ManageTokens),
        ];
        Chrome {
            title: title.into(),
            nav: sections
                .into_iter()
                .filter(|(_, _, _, op)| caller.permits(*op))
                .map(|(s, href, label, _)| NavItem {
                    href,
                    label,
                    current: s == section,
                })
                .collect(),
            who: match caller {
                Caller::Local => "local mode".to_string(),
                Caller::Token { role, subject } => format!("{subject} ({role})"),
            },
            signed_in: viewer.signed_in,
            csrf: viewer.csrf.clone(),
            css: assets::CSS.path(),
            js: assets::JS.path(),
            notice: viewer.notice,
        }
    }
}

/// A rendered page.
pub fn html(template: &impl Template) -> Response {
    html_status(StatusCode::OK, template)
}

fn html_status(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console page did not render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page did not render").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    chrome: Chrome,
    heading: &'static str,
    message: String,
}

/// The page for an API error: its status, and its sentence (never more than the API says).
pub fn error_page(viewer: &Viewer, e: ApiError) -> Response {
    let status = e.status();
    let heading = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        s if s.is_server_error() => "Something went wrong",
        _ => "That did not work",
    };
    let page = ErrorPage {
        chrome: Chrome::new(viewer, Section::None, heading),
        heading,
        message: e.message,
    };
    html_status(status, &page)
}

/// An error's status and sentence, for answers without a page around them.
fn plain_error(e: ApiError) -> Response {
    (e.status(), e.message).into_response()
}

async fn no_page(viewer: Option<axum::Extension<Viewer>>, request: Request) -> Response {
    let e = ApiError::new(
        hoster_core::error_code::ErrorCode::NotFound,
        format!("there is no page at {}", request.uri().path()),
    );
    match viewer {
        Some(axum::Extension(viewer)) => error_page(&viewer, e),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// After a form: back to `to` with a notice (one of a fixed set, never text from the request).
pub fn see_other(to: &str, notice: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{sep}notice={notice}")).into_response()
}

/// The sentence for a `notice` code.
fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "deploying" => "Deployment created; it is starting.",
        "started" => "Started.",
        "stopped" => "Stopped.",
        "restarted" => "Restarted.",
        "deleted" => "Deployment deleted.",
        "saved" => "Template saved.",
        "created" => "Template created.",
        "published" => "Template published: customers can deploy it now.",
        "version" => "New version created: edit it, then publish it.",
        "revoked" => "Token revoked.",
        "signed_out" => "Signed out.",
        "backed_up" => "Backup taken.",
        "restored" => "Restored from the backup.",
        _ => return None,
    })
}

/// Decodes a page's query string into the API's own query type, leaving out empty fields
/// (an empty filter box means no filter) and the console's `notice`.
pub fn api_query<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default()).unwrap_or_default();
    let kept: Vec<(String, String)> = pairs
        .into_iter()
        .filter(|(k, v)| !v.is_empty() && k != "notice")
        .collect();
    let query = serde_urlencoded::to_string(kept).unwrap_or_default();
    serde_urlencoded::from_str(&query).map_err(|e| {
        ApiError::validation(hoster_core::problem::Problems(vec![Problem::field(
            "query",
            e.to_string(),
        )]))
    })
}

/// Previous and next links of a paginated list, keeping its other query parameters.
pub struct Pager {
    pub previous: Option<String>,
    pub next: Option<String>,
    pub showing: String,
}

impl Pager {
    pub fn new(base: &str, raw: Option<&str>, offset: u64, limit: u32, shown: usize, total: u64) -> Self {
        let kept: Vec<(String, String)> = serde_urlencoded::from_str::<Vec<(String, String)>>(raw.unwrap_or_default())
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, v)| k != "offset" && k != "notice" && !v.is_empty())
            .collect();
        let link = |offset: u64| {
            let mut pairs = kept.clone();
            pairs.push(("offset".into(), offset.to_string()));
            format!("{base}?{}", serde_urlencoded::to_string(pairs).unwrap_or_default())
        };
        let limit = u64::from(limit);
        let end = offset + shown as u64;
        Pager {
            previous: (offset > 0).then(|| link(offset.saturating_sub(limit))),
            next: (end < total).then(|| link(end)),
            showing: if shown == 0 {
                "none".to_string()
            } else {
                format!("{}–{end} of {total}", offset + 1)
            },
        }
    }
}

/// The value of `name` in a raw query string, empty when absent.
pub fn param(raw: Option<&str>, name: &str) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw.unwrap_or_default())
        .unwrap_or_default()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// Problems by the form field they belong to; the ones no field shows are listed at the top.
#[derive(Default)]
pub struct FieldErrors {
    pub by_field: std::collections::HashMap<String, String>,
    pub general: Vec<String>,
}

impl FieldErrors {
    /// `fields` are the request fields the form shows beside an input.
    pub fn from(e: &ApiError, fields: &[String]) -> Self {
        let mut out = FieldErrors::default();
        if e.details.is_empty() {
            out.general.push(e.message.clone());
        }
        for p in &e.details {
            if fields.contains(&p.field) && p.path.is_none() {
                out.by_field
                    .entry(p.field.clone())
                    .and_modify(|m| {
                        m.push_str("; ");
                        m.push_str(&p.message);
                    })
                    .or_insert_with(|| p.message.clone());
            } else {
                out.general.push(p.to_string());
            }
        }
        out
    }

    pub fn get(&self, field: &str) -> Option<&String> {
        self.by_field.get(field)
    }

    pub fn any(&self) -> bool {
        !self.by_field.is_empty() || !self.general.is_empty()
    }
}

/// A status as people read it: the word, and a shape beside it so that colour is never the
/// only sign (CSS draws the shape from the class).
pub fn status_class(status: hoster_core::deployment::Status) -> &'static str {
    use hoster_core::deployment::Status::*;
    match status {
        Running => "ok",
        Failed => "bad",
        Pending | Stopped | Deleted => "idle",
        Scheduled | Starting | Stopping | Deleting | Upgrading => "busy",
    }
}

/// An enum as its API spells it (`waiting_healthy`).
pub fn word(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Cents as money: `$12.00`, or `Free`.
pub fn price(cents: i64) -> String {
    if cents == 0 {
        "Free".to_string()
    } else {
        format!("${}.{:02} / month", cents / 100, cents % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Filter {
        q: Option<String>,
        offset: Option<u64>,
    }

    #[test]
    fn empty_fields_and_notices_are_not_filters() {
        let f: Filter = api_query(Some("q=&offset=20&notice=saved")).unwrap();
        assert_eq!((f.q, f.offset), (None, Some(20)));
        assert!(api_query::<Filter>(Some("bogus=1")).is_err());
        assert!(api_query::<Filter>(Some("offset=x")).is_err());
    }

    #[test]
    fn pages_link_back_and_forth_keeping_the_filters() {
        let p = Pager::new("/ui/", Some("q=web&offset=20&notice=saved"), 20, 20, 20, 45);
        assert_eq!(p.previous.as_deref(), Some("/ui/?q=web&offset=0"));
        assert_eq!(p.next.as_deref(), Some("/ui/?q=web&offset=40"));
        assert_eq!(p.showing, "21–40 of 45");
        let last = Pager::new("/ui/", None, 40, 20, 5, 45);
        assert_eq!(last.next, None);
        assert_eq!(Pager::new("/ui/", None, 0, 20, 0, 0).showing, "none");
    }

    #[test]
    fn prices_read_as_money() {
        assert_eq!(price(0), "Free");
        assert_eq!(price(1205), "$12.05 / month");
    }

    #[test]
    fn problems_go_beside_their_fields() {
        let e = ApiError::validation(hoster_core::problem::Problems(vec![
            Problem::field("name", "required"),
            Problem::field("variables.PORT", "is not a number"),
            Problem::at("compose_spec", "services.web", "bad"),
        ]));
        let errors = FieldErrors::from(&e, &["name".into(), "variables.PORT".into(), "compose_spec".into()]);
        assert_eq!(errors.get("name").map(String::as_str), Some("required"));
        assert_eq!(
            errors.get("variables.PORT").map(String::as_str),
            Some("is not a number")
        );
        // A problem inside the document is the editor's to show at its line.
        assert_eq!(errors.get("compose_spec"), None);
        assert_eq!(errors.general.len(), 1);
    }
}
