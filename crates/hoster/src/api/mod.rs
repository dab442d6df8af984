//! The HTTP API. Owns routing, request decoding and response shapes; reaches the database
//! only through [`Store`] and the engine only through [`Runtime`], never with SQL or Docker calls.

pub(crate) mod access;
mod auth;
pub(crate) mod backups;
pub(crate) mod catalog;
pub(crate) mod deployments;
pub(crate) mod domains;
mod error;
pub(crate) mod events;
pub(crate) mod extract;
pub(crate) mod health;
mod import;
pub(crate) mod logs;
mod metrics;
pub mod request_id;
mod stats;
mod stream;
pub(crate) mod templates;
mod usage;
pub(crate) mod variables;

use hoster_core::error_code::ErrorCode;
use std::sync::Arc;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use hoster_core::template;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::{RateLimiter, audit, require};
pub use error::{ApiError, ErrorBody, status_of};

use crate::deployer::Deployer;
use crate::proxy::{self, Proxy};
use crate::runtime::Runtime;
use crate::store::Store;

/// What every handler may use: one `Arc`, since middleware clones it for every request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub store: Store,
    pub engine: Arc<dyn Runtime>,
    pub deployer: Arc<Deployer>,
    pub proxy: Arc<Proxy>,
    /// Automatic certificates for custom domains, when ACME is configured.
    pub certificates: Option<Arc<crate::acme::Certificates>>,
    /// The port deployments' URLs name: the one Hoster listens on.
    pub public_port: u16,
    pub limits: template::Limits,
    pub max_body_bytes: usize,
    pub auth_mode: crate::config::AuthMode,
    pub rate_limiter: Arc<auth::RateLimiter>,
    pub domains: Arc<crate::domains::Domains>,
    pub template_pages: Arc<templates::PageCache>,
    /// Where deployments' backups go (HOSTER_BACKUP_S3_URL or HOSTER_BACKUP_DIR).
    pub backups: crate::backup::destination::Destination,
    /// The key the console's form tokens are signed with.
    pub console_keys: crate::console::Keys,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Hoster", description = "Self-hosted deployment platform with a template marketplace."),
    components(schemas(ErrorBody)),
    tags(
        (name = "templates", description = "Templates creators publish"),
        (name = "deployments", description = "Instances customers run"),
        (name = "access", description = "Tokens and the audit log (admins)"),
        (name = "health", description = "Probes")
    )
)]
struct ApiDoc;

/// The served OpenAPI document, rendered once at start.
#[derive(Clone)]
struct OpenApiJson(Arc<String>);

/// This OpenAPI document, generated from the route definitions below.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health", responses((status = 200, description = "OpenAPI 3.1 document")))]
async fn openapi_json(Extension(doc): Extension<OpenApiJson>) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        doc.0.as_str().to_owned(),
    )
        .into_response()
}

fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .routes(routes!(metrics::metrics))
        .routes(routes!(openapi_json))
        .routes(routes!(templates::list_templates, templates::create_template))
        .routes(routes!(
            templates::get_template,
            templates::update_template,
            templates::delete_template
        ))
        .routes(routes!(templates::publish_template))
        .routes(routes!(templates::list_versions, templates::create_version))
        .routes(routes!(catalog::catalog))
        .routes(routes!(templates::deprecate_template))
        .routes(routes!(import::import_template))
        .routes(routes!(templates::trust_template, templates::distrust_template))
        .routes(routes!(deployments::list_deployments, deployments::create_deployment))
        .routes(routes!(deployments::get_deployment, deployments::delete_deployment))
        .routes(routes!(deployments::start_deployment))
        .routes(routes!(deployments::stop_deployment))
        .routes(routes!(deployments::restart_deployment))
        .routes(routes!(deployments::upgrade_deployment))
        .routes(routes!(deployments::rollback_deployment))
        .routes(routes!(deployments::deployment_versions))
        .routes(routes!(events::deployment_events))
        .routes(routes!(events::all_events))
        .routes(routes!(logs::deployment_logs))
        .routes(routes!(stats::deployment_stats))
        .routes(routes!(variables::get_variables, variables::update_variables))
        .routes(routes!(domains::list_domains, domains::add_domain))
        .routes(routes!(domains::remove_domain))
        .routes(routes!(domains::verify_domain))
        .routes(routes!(access::list_tokens, access::create_token))
        .routes(routes!(access::revoke_token))
        .routes(routes!(access::audit_log))
        .routes(routes!(backups::list_backups, backups::create_backup))
        .routes(routes!(backups::delete_backup))
        .routes(routes!(backups::restore_backup))
        .routes(routes!(
            backups::get_schedule,
            backups::set_schedule,
            backups::remove_schedule
        ))
        .routes(routes!(usage::usage))
        .routes(routes!(usage::earnings))
}

/// The OpenAPI document [`router`] serves, as served: every route with the answers any route can
/// give, the links from create responses, and the bearer scheme. Built in one place so that the
/// tested document and the served one cannot differ.
pub fn openapi() -> serde_json::Value {
    document(routes().split_for_parts().1)
}

fn document(mut openapi: utoipa::openapi::OpenApi) -> serde_json::Value {
    document_common_responses(&mut openapi);
    let mut json = serde_json::to_value(&openapi).expect("the OpenAPI document serializes");
    document_links(&mut json);
    // Token mode's bearer tokens; optional, since local mode asks for none.
    json["components"]["securitySchemes"] = serde_json::json!({"bearer": {"type": "http", "scheme": "bearer"}});
    json["security"] = serde_json::json!([{}, {"bearer": []}]);
    json
}

/// OpenAPI links from what creates an object to the operations that take its id, so that
/// clients (and schemathesis' stateful phase) can follow them. Starting and stopping are left
/// out: they act on the engine, where an arbitrary generated template fails by design. Written
/// into the JSON because utoipa 5 serializes `Link` fields in snake_case (`operation_id`).
fn document_links(doc: &mut serde_json::Value) {
    let links: [(&str, &[&str]); 3] = [
        (
            "/api/v1/templates",
            &[
                "get_template",
                "update_template",
                "delete_template",
                "publish_template",
                "trust_template",
                "distrust_template",
            ],
        ),
        (
            "/api/v1/deployments",
            &[
                "get_deployment",
                "delete_deployment",
                "deployment_events",
                "list_domains",
                "add_domain",
            ],
        ),
        ("/api/v1/tokens", &["revoke_token"]),
    ];
    for (path, operations) in links {
        let Some(created) = doc.pointer_mut(&format!("/paths/{}/post/responses/201", path.replace('/', "~1"))) else {
            continue;
        };
        created["links"] = operations
            .iter()
            .map(|op| {
                (
                    op.to_string(),
                    serde_json::json!({"operationId": op, "parameters": {"id": "$response.body#/id"}}),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
}

/// Answers any route can give whatever its handler does (bad query, no token, rate limit,
/// body too large, ...), added to every operation so that clients and schema-driven fuzzers see
/// them documented.
fn document_common_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::content::ContentBuilder;
    use utoipa::openapi::{Ref, RefOr, Response, ResponseBuilder};
    let error = |description: &str| -> RefOr<Response> {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
            .into()
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let public = auth::PUBLIC.contains(&path.as_str());
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in operations.into_iter().flatten() {
            let has_body = op.request_body.is_some();
            let responses = &mut op.responses.responses;
            let mut add = |code: &str, description: &str| {
                responses.entry(code.to_string()).or_insert_with(|| error(description));
            };
            if !public {
                add(
                    "400",
                    "invalid_json, validation_error: a query parameter or the body is wrong",
                );
                add("401", "unauthorized: token mode and no valid bearer token");
                add("403", "forbidden: the token's role may not do this");
                add("404", "not found, or not yours");
                add("429", "rate_limited: too many requests with this token");
            }
            if has_body {
                add("413", "payload_too_large");
                add("415", "unsupported_media_type: send application/json");
            }
            add("500", "internal_error");
        }
    }
}

async fn no_route(request: Request) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("no route for {} {}", request.method(), request.uri().path()),
    )
}

async fn wrong_method(request: Request) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} is not allowed on {}", request.method(), request.uri().path()),
    )
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal("the request handler failed", &"panic").into_response()
}

/// What the proxy-only listener serves: deployments by hostname, a 404 page for anything else.
pub fn proxy_router(state: AppState) -> Router {
    // As on the API's listener: proxied requests skip the trace layer; only the 404 page
    // (the fallback) is traced.
    Router::new()
        .fallback(proxy::no_site)
        .layer(TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn_with_state(
            (state, proxy::Listener::DeploymentsOnly),
            proxy::route,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
}

/// The API and, beside it with its own sign-in, the web console (`/ui/`).
pub fn router(state: AppState) -> Router {
    let (router, openapi) = routes().split_for_parts();
    let doc = OpenApiJson(Arc::new(document(openapi).to_string()));
    router
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state.clone())
        .route_layer(axum::middleware::from_fn(metrics::count))
        .layer(Extension(doc))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .merge(crate::console::router(state.clone()))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http().make_span_with(request_id::span))
        .layer(axum::middleware::from_fn(request_id::assign))
        // Outermost: proxied requests skip the API's request ids and traces (their upstream
        // logs them), which costs the proxy a fifth of its throughput otherwise.
        .layer(axum::middleware::from_fn_with_state(
            (state, proxy::Listener::Api),
            proxy::route,
        ))
}
