//! Who is using the console, and the guards on what their browser sends.
//!
//! Local mode needs no sign-in (it listens on loopback only). In token mode a person pastes a
//! token once; the browser then holds a random session id in an `HttpOnly`, `SameSite=Strict`
//! cookie (`Secure` over TLS), and the database keeps only its hash beside the token's id, so
//! the token itself never sits in the browser and revoking it ends the session.
//!
//! Forms: deployments' own sites are served on sibling hostnames, which `SameSite` counts as
//! the same site, so every POST must also come from this very origin (`Origin`, or
//! `Sec-Fetch-Site: same-origin` where a browser sends no `Origin`) and carry the page's form
//! token, an HMAC of the session under a key drawn at start.

use std::net::SocketAddr;
use std::time::Duration;

use askama::Template;
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hoster_core::access::{Caller, Role, token};

use super::{html_status, notice_text};
use crate::api::{ApiError, AppState};
use crate::config::AuthMode;
use crate::tls::OverTls;

const SESSION_COOKIE: &str = "hoster_session";
/// How long a sign-in lasts.
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The key form tokens are signed with, drawn when the server starts (a form rendered before a
/// restart asks to be reloaded).
pub struct Keys {
    forms: ring::hmac::Key,
}

impl Default for Keys {
    fn default() -> Self {
        Self {
            forms: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &rand::random::<[u8; 32]>()),
        }
    }
}

impl Keys {
    fn form_token(&self, binding: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(ring::hmac::sign(&self.forms, binding).as_ref())
    }

    fn form_token_matches(&self, binding: &[u8], given: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(given)
            .is_ok_and(|tag| ring::hmac::verify(&self.forms, binding, &tag).is_ok())
    }
}

/// What a form token is bound to before anyone signed in.
const SIGN_IN_BINDING: &[u8] = b"sign-in";
const LOCAL_BINDING: &[u8] = b"local";

/// The person behind a console request.
#[derive(Clone)]
pub struct Viewer {
    pub caller: Caller,
    /// The token this viewer's forms carry.
    pub csrf: String,
    /// Token mode: there is a session to sign out of.
    pub signed_in: bool,
    /// The sentence for the page's `notice` code, after a form.
    pub notice: Option<&'static str>,
    /// What the form token is bound to.
    binding: Vec<u8>,
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn session_hash(id: &str) -> Vec<u8> {
    crate::tokens::hash(id)
}

/// Middleware: puts the [`Viewer`] in the request, or sends a signed-out browser to sign in.
/// Assets and the sign-in page need nobody.
pub async fn resolve(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let open = path.starts_with("/ui/assets/") || path == "/ui/sign-in";
    let notice = request
        .uri()
        .query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "notice"))
        .and_then(|(_, v)| notice_text(&v));
    let viewer = match state.auth_mode {
        AuthMode::Local => Some((Caller::Local, LOCAL_BINDING.to_vec(), false)),
        AuthMode::Token => match cookie(request.headers(), SESSION_COOKIE) {
            Some(id) => {
                let hash = session_hash(id);
                match state.store.session_token(&hash, &crate::clock::now()).await {
                    Ok(Some(t)) => {
                        if state.rate_limiter.take(t.id.as_str()).is_err() {
                            return (StatusCode::TOO_MANY_REQUESTS, "too many requests; slow down").into_response();
                        }
                        let caller = Caller::Token {
                            role: t.role,
                            subject: t.subject,
                        };
                        Some((caller, hash, true))
                    }
                    Ok(None) => None,
                    Err(e) => return super::plain_error(ApiError::from(e)),
                }
            }
            None => None,
        },
    };
    match viewer {
        Some((caller, binding, signed_in)) => {
            request.extensions_mut().insert(Viewer {
                csrf: state.console_keys.form_token(&binding),
                caller,
                signed_in,
                notice,
                binding,
            });
            next.run(request).await
        }
        None if open => next.run(request).await,
        None => {
            let back = request
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .filter(|_| request.method() == axum::http::Method::GET)
                .unwrap_or("/ui/");
            let to = format!("/ui/sign-in?next={}", urlencode(back));
            Redirect::to(&to).into_response()
        }
    }
}

pub(crate) fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|e| e.trim_start_matches('=').to_string())
        .unwrap_or_default()
}

/// Where to go after signing in: a console page, never another site (`//evil`, `/\evil`).
fn safe_next(next: Option<&str>) -> &str {
    next.filter(|n| n.starts_with("/ui/") && !n.contains("//") && !n.contains('\\'))
        .unwrap_or("/ui/")
}

/// Whether a form was sent by a page of this origin: the `Origin` it names is this request's
/// host, or, from a browser that sends none, `Sec-Fetch-Site` says same-origin. A request with
/// neither is refused: every browser the console supports sends one of them.
pub fn same_origin(origin: Option<&str>, fetch_site: Option<&str>, host: Option<&str>) -> bool {
    match (origin, host) {
        (Some(origin), Some(host)) => {
            let authority = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .unwrap_or("");
            !authority.is_empty() && authority.eq_ignore_ascii_case(host)
        }
        (Some(_), None) => false,
        (None, _) => fetch_site == Some("same-origin"),
    }
}

/// A form body (`application/x-www-form-urlencoded`) from this origin with a valid form token.
/// Every console POST takes one, so none can skip the checks.
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The field's value, trimmed; `None` when empty.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

#[derive(Template)]
#[template(path = "console/refused.html")]
struct Refused {
    why: &'static str,
}

fn refuse(why: &'static str) -> Response {
    html_status(StatusCode::FORBIDDEN, &Refused { why })
}

impl FromRequest<AppState> for Form {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let headers = req.headers();
        let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        if !same_origin(
            text(header::ORIGIN),
            headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
            text(header::HOST),
        ) {
            return Err(refuse(
                "This form was sent from another site. Hoster only accepts forms from its own pages.",
            ));
        }
        let is_form = text(header::CONTENT_TYPE)
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        if !is_form {
            return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, "send a form").into_response());
        }
        let binding = req
            .extensions()
            .get::<Viewer>()
            .map(|v| v.binding.clone())
            .unwrap_or_else(|| SIGN_IN_BINDING.to_vec());
        let limit = state.max_body_bytes;
        let bytes = axum::body::to_bytes(req.into_body(), limit).await.map_err(|_| {
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the form is larger than {limit} bytes"),
            )
                .into_response()
        })?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| (StatusCode::BAD_REQUEST, "the form could not be read").into_response())?;
        let form = Form(pairs);
        if !state
            .console_keys
            .form_token_matches(&binding, form.get("csrf").unwrap_or_default())
        {
            return Err(refuse(
                "This form has expired (the page is from an earlier session or an earlier start of Hoster). Reload the page and send it again.",
            ));
        }
        Ok(form)
    }
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    css: &'static str,
    csrf: String,
    next: String,
    error: Option<String>,
    notice: Option<&'static str>,
}

#[derive(serde::Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    notice: Option<String>,
}

pub async fn sign_in_page(
    State(state): State<AppState>,
    viewer: Option<axum::Extension<Viewer>>,
    axum::extract::Query(query): axum::extract::Query<SignInQuery>,
) -> Response {
    let next = safe_next(query.next.as_deref()).to_string();
    if viewer.is_some() {
        return Redirect::to(&next).into_response();
    }
    html_status(
        StatusCode::OK,
        &SignInPage {
            css: super::assets::CSS.path(),
            csrf: state.console_keys.form_token(SIGN_IN_BINDING),
            next,
            error: None,
            notice: query.notice.as_deref().and_then(notice_text),
        },
    )
}

pub async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    over_tls: Option<axum::Extension<OverTls>>,
    form: Form,
) -> Response {
    let next = safe_next(form.get("next")).to_string();
    let again = |status: StatusCode, error: &str| {
        html_status(
            status,
            &SignInPage {
                css: super::assets::CSS.path(),
                csrf: state.console_keys.form_token(SIGN_IN_BINDING),
                next: next.clone(),
                error: Some(error.to_string()),
                notice: None,
            },
        )
    };
    if state.auth_mode == AuthMode::Local {
        return Redirect::to(&next).into_response();
    }
    // Wrong tokens spend the address's budget, as on the API.
    let address = format!("address {}", peer.ip().to_canonical());
    let presented = form.get("token").unwrap_or_default().trim();
    let record = if token::well_formed(presented) && !state.rate_limiter.exhausted(&address) {
        match state.store.token_by_hash(&crate::tokens::hash(presented)).await {
            Ok(found) => found,
            Err(e) => return super::plain_error(ApiError::from(e)),
        }
    } else {
        None
    };
    let Some(record) = record else {
        if state.rate_limiter.take(&address).is_err() {
            return again(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts from this address; wait a minute.",
            );
        }
        return again(
            StatusCode::UNAUTHORIZED,
            "That is not a live Hoster token. Check it, or ask your operator for one.",
        );
    };
    if record.role == Role::Metrics {
        return again(
            StatusCode::FORBIDDEN,
            "A metrics token reads /metrics only; it cannot sign in to the console.",
        );
    }
    let id = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let now = crate::clock::now();
    if let Err(e) = state
        .store
        .insert_session(&session_hash(&id), &record.id, &now, &now.plus(SESSION_LIFETIME))
        .await
    {
        return super::plain_error(ApiError::from(e));
    }
    let caller = Caller::Token {
        role: record.role,
        subject: record.subject,
    };
    crate::api::audit(&state, &caller, "console.sign_in", record.id.as_str(), "").await;
    let secure = if over_tls.is_some() { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        SESSION_LIFETIME.as_secs()
    );
    let mut response = Redirect::to(&next).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap, form: Form) -> Response {
    let _ = form;
    if let Some(id) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = state.store.delete_session(&session_hash(id)).await
    {
        return super::plain_error(ApiError::from(e));
    }
    let mut response = Redirect::to("/ui/sign-in?notice=signed_out").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("hoster_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_come_from_this_origin_only() {
        let host = Some("127.0.0.1:9090");
        assert!(same_origin(Some("http://127.0.0.1:9090"), None, host));
        assert!(same_origin(
            Some("https://HOSTER.example.com"),
            None,
            Some("hoster.example.com")
        ));
        // A deployment's site is a sibling host: same site, another origin.
        assert!(!same_origin(
            Some("http://app-1.localhost:9090"),
            Some("same-site"),
            Some("localhost:9090")
        ));
        assert!(!same_origin(Some("http://127.0.0.1:9091"), None, host));
        assert!(!same_origin(Some("null"), Some("same-origin"), host));
        assert!(same_origin(None, Some("same-origin"), host));
        assert!(!same_origin(None, Some("cross-site"), host));
        assert!(!same_origin(None, None, host));
    }

    #[test]
    fn form_tokens_are_bound_to_their_session_and_key() {
        let keys = Keys::default();
        let t = keys.form_token(b"session-a");
        assert!(keys.form_token_matches(b"session-a", &t));
        assert!(!keys.form_token_matches(b"session-b", &t));
        assert!(!Keys::default().form_token_matches(b"session-a", &t));
        assert!(!keys.form_token_matches(b"session-a", "not base64 !"));
    }

    #[test]
    fn sign_in_goes_back_to_console_pages_only() {
        assert_eq!(
            safe_next(Some("/ui/deployments?status=running")),
            "/ui/deployments?status=running"
        );
        for hostile in [
            "//evil.example",
            "/ui//evil",
            "https://evil.example/ui/",
            "/ui/\\evil",
            "/api/v1/tokens",
        ] {
            assert_eq!(safe_next(Some(hostile)), "/ui/", "{hostile}");
        }
        assert_eq!(safe_next(None), "/ui/");
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; hoster_session=abc; b=2"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
    }
}
