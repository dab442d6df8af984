//! The HTTP API. Owns routing, request decoding and response shapes; reaches the database
//! only through [`Store`] and the engine only through [`Engine`], never with SQL or Docker calls.

mod access;
mod auth;
mod deployments;
mod error;
mod extract;
mod health;
mod templates;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use hoster_core::template;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::RateLimiter;
pub use error::{ApiError, ErrorBody};

use crate::deployer::Deployer;
use crate::proxy::{self, Proxy};
use crate::runtime::Engine;
use crate::store::Store;

/// What every handler may use.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub engine: Arc<Engine>,
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
        .routes(routes!(openapi_json))
        .routes(routes!(templates::list_templates, templates::create_template))
        .routes(routes!(
            templates::get_template,
            templates::update_template,
            templates::delete_template
        ))
        .routes(routes!(templates::publish_template))
        .routes(routes!(templates::trust_template, templates::distrust_template))
        .routes(routes!(deployments::list_deployments, deployments::create_deployment))
        .routes(routes!(deployments::get_deployment, deployments::delete_deployment))
        .routes(routes!(deployments::start_deployment))
        .routes(routes!(deployments::stop_deployment))
        .routes(routes!(deployments::deployment_events))
        .routes(routes!(deployments::list_domains, deployments::add_domain))
        .routes(routes!(deployments::remove_domain))
        .routes(routes!(access::list_tokens, access::create_token))
        .routes(routes!(access::revoke_token))
        .routes(routes!(access::audit_log))
}

/// The OpenAPI document describing every route [`router`] serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

async fn no_route(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {} {}", request.method(), request.uri().path()),
    )
}

async fn wrong_method(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", request.method(), request.uri().path()),
    )
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal("the request handler failed", &"panic").into_response()
}

/// What the proxy-only listener serves: deployments by hostname, a 404 page for anything else.
pub fn proxy_router(state: AppState) -> Router {
    Router::new()
        .fallback(proxy::no_site)
        .layer(axum::middleware::from_fn_with_state(state, proxy::route))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http())
}

pub fn router(state: AppState) -> Router {
    let (router, openapi) = routes().split_for_parts();
    let doc = OpenApiJson(Arc::new(openapi.to_json().expect("the OpenAPI document serializes")));
    router
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state.clone())
        .layer(Extension(doc))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        // Outermost: proxied requests skip the API's request ids and traces (their upstream
        // logs them), which costs the proxy a fifth of its throughput otherwise.
        .layer(axum::middleware::from_fn_with_state(state, proxy::route))
}
