//! The built-in reverse proxy. A request whose `Host` is a deployment's hostname goes to that
//! deployment's primary service, streamed both ways (WebSocket and other upgrades included);
//! every other request goes on to the API. It decides routes only from the store and the
//! deployer; it never changes a deployment.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::RwLock;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use hoster_core::deployment::Status;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::api::AppState;
use crate::tls::OverTls;

/// Connections to upstreams, kept alive across requests.
pub struct Proxy {
    client: Client<HttpConnector, Body>,
    base_domain: String,
    routes: RouteCache,
}

impl Proxy {
    pub fn new(base_domain: String) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            base_domain,
            routes: RouteCache::default(),
        }
    }

    /// Whether `host` (normalised) names a deployment rather than Hoster itself.
    fn is_deployment_host(&self, host: &str) -> bool {
        host.len() > self.base_domain.len() + 1
            && host.ends_with(&self.base_domain)
            && host.as_bytes()[host.len() - self.base_domain.len() - 1] == b'.'
    }
}

/// The request's host, lowercased, without port or trailing dot; `None` for IP literals and
/// anything that is not a plausible DNS name.
pub fn request_host(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let raw = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.host())?;
    if raw.starts_with('[') {
        return None;
    }
    let name = match raw.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        Some(_) => return None,
        None => raw,
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let plausible = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && name.parse::<std::net::IpAddr>().is_err();
    plausible.then_some(name)
}

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded; upgrades re-add theirs.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(&listed) {
        headers.remove(name);
    }
}

fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")))
}

/// A page for when the proxy cannot hand the request on: HTML for browsers, JSON when asked.
fn page(status: StatusCode, code: &str, message: String, headers: &HeaderMap) -> Response {
    render(status, code, message, wants_json(headers))
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"))
}

fn render(status: StatusCode, code: &str, message: String, json: bool) -> Response {
    if json {
        return (status, axum::Json(serde_json::json!({"error": message, "code": code}))).into_response();
    }
    let escaped = message.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let title = status.canonical_reason().unwrap_or("Error");
    let html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{} {title}</title></head>\
         <body><h1>{title}</h1><p>{escaped}</p><p><small>Hoster</small></p></body></html>",
        status.as_u16()
    );
    (status, Html(html)).into_response()
}

/// Where a hostname leads, as of one generation of the deployments table.
#[derive(Debug, Clone, PartialEq)]
enum Route {
    /// Not a deployment's hostname: the API answers.
    Api,
    /// A name under the base domain that no deployment holds.
    Unknown,
    Unavailable(Status),
    NoPort,
    Upstream(SocketAddr),
}

/// Routes by hostname, each valid until the next deployment write. Bounded: a flood of
/// made-up hostnames empties it rather than growing it.
#[derive(Default)]
struct RouteCache(RwLock<HashMap<String, (u64, Route)>>);

const ROUTE_CACHE_ENTRIES: usize = 10_000;

impl RouteCache {
    fn get(&self, host: &str, generation: u64) -> Option<Route> {
        let routes = self.0.read().unwrap_or_else(|e| e.into_inner());
        routes
            .get(host)
            .filter(|(g, _)| *g == generation)
            .map(|(_, r)| r.clone())
    }

    fn put(&self, host: String, generation: u64, route: Route) {
        let mut routes = self.0.write().unwrap_or_else(|e| e.into_inner());
        if routes.len() >= ROUTE_CACHE_ENTRIES {
            routes.clear();
        }
        routes.insert(host, (generation, route));
    }
}

/// What `host` leads to now: from the cache when no deployment changed since it was filled.
async fn resolve(state: &AppState, host: &str) -> Result<Route, String> {
    let generated = state.proxy.is_deployment_host(host);
    // Any other dotted name may be a customer's own domain; what is not goes on to the API.
    if !generated && (host == state.proxy.base_domain || !host.contains('.')) {
        return Ok(Route::Api);
    }
    let generation = state.store.deployments_generation();
    if let Some(route) = state.proxy.routes.get(host, generation) {
        return Ok(route);
    }
    let deployment = state.store.deployment_by_domain(host).await.map_err(|e| {
        tracing::error!(error = %e, "proxy route lookup failed");
        "Hoster could not look up this site.".to_string()
    })?;
    let route = match deployment {
        None if generated => Route::Unknown,
        None => Route::Api,
        Some(d) if d.status != Status::Running => Route::Unavailable(d.status),
        Some(d) => match state.deployer.upstream(&d).await {
            Ok(Some(addr)) => Route::Upstream(addr),
            Ok(None) => Route::NoPort,
            Err(e) => return Err(e.to_string()),
        },
    };
    state.proxy.routes.put(host.to_string(), generation, route.clone());
    Ok(route)
}

/// Middleware: deployment hostnames are proxied, everything else continues to `next` (the
/// API on the main listener, a 404 page on the proxy-only one).
pub async fn route(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(certificates) = &state.certificates
        && let Some(answer) = certificates.challenges.answer(request.uri().path())
    {
        return ([(header::CONTENT_TYPE, "text/plain")], answer).into_response();
    }
    let Some(host) = request_host(request.headers(), request.uri()) else {
        return next.run(request).await;
    };
    let headers = request.headers();
    match resolve(&state, &host).await {
        Ok(Route::Api) => next.run(request).await,
        Ok(Route::Upstream(upstream)) => forward(&state, host, upstream, peer, request).await,
        Ok(Route::Unknown) => not_found(&host, headers),
        Ok(Route::Unavailable(status)) => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "deployment_unavailable",
            format!("{host} is {status}; it answers again once it is running."),
            headers,
        ),
        Ok(Route::NoPort) => page(
            StatusCode::BAD_GATEWAY,
            "no_published_port",
            format!("{host} publishes no TCP port to route to."),
            headers,
        ),
        Err(message) => page(StatusCode::BAD_GATEWAY, "runtime_error", message, headers),
    }
}

fn not_found(host: &str, headers: &HeaderMap) -> Response {
    page(
        StatusCode::NOT_FOUND,
        "deployment_not_found",
        format!("No deployment answers at {host}."),
        headers,
    )
}

/// The proxy-only listener's answer to anything that is not a deployment's hostname.
pub async fn no_site(request: Request) -> Response {
    let host = request_host(request.headers(), request.uri()).unwrap_or_else(|| "this address".into());
    not_found(&host, request.headers())
}

async fn forward(
    state: &AppState,
    host: String,
    upstream: SocketAddr,
    peer: SocketAddr,
    mut request: Request,
) -> Response {
    let json = wants_json(request.headers());
    let scheme = match request.extensions().get::<OverTls>() {
        Some(_) => "https",
        None => "http",
    };
    let upgrade = wants_upgrade(request.headers())
        .then(|| request.headers().get(header::UPGRADE).cloned())
        .flatten();
    let client_side = upgrade.is_some().then(|| hyper::upgrade::on(&mut request));
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    parts.uri = match format!("http://{upstream}{path}").parse() {
        Ok(uri) => uri,
        Err(_) => {
            return render(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "The request target is not valid.".into(),
                json,
            );
        }
    };
    parts.version = axum::http::Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    if let Some(protocol) = upgrade {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts.headers.insert(header::UPGRADE, protocol);
    }
    let forwarded_for = match parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(earlier) => format!("{earlier}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    for (name, value) in [
        ("x-forwarded-for", forwarded_for),
        ("x-forwarded-proto", scheme.into()),
        ("x-forwarded-host", host.clone()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            parts.headers.insert(name, value);
        }
    }

    let mut response = match state
        .proxy
        .client
        .request(axum::http::Request::from_parts(parts, body))
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(%host, %upstream, error = %e, "upstream did not answer");
            return render(
                StatusCode::BAD_GATEWAY,
                "upstream_unavailable",
                format!("{host} did not answer."),
                json,
            );
        }
    };
    if response.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_side) = client_side
    {
        let upstream_side = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            if let (Ok(client), Ok(upstream)) = (client_side.await, upstream_side.await) {
                let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(client), &mut TokioIo::new(upstream)).await;
            }
        });
        return response.map(Body::new);
    }
    strip_hop_by_hop(response.headers_mut());
    response.map(Body::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> Option<String> {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(value).unwrap());
        request_host(&headers, &Uri::from_static("/"))
    }

    #[test]
    fn hosts_are_normalised_and_hostile_ones_refused() {
        assert_eq!(
            host("My-Site.Apps.Localhost:9090").as_deref(),
            Some("my-site.apps.localhost")
        );
        assert_eq!(host("site.apps.localhost.").as_deref(), Some("site.apps.localhost"));
        for bad in [
            "",
            "127.0.0.1",
            "127.0.0.1:9090",
            "[::1]:9090",
            "a b",
            "x:y",
            &"a".repeat(300),
            "a/b",
            "a_b.apps.localhost",
        ] {
            assert_eq!(host(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_names_under_the_base_domain_are_deployments() {
        let proxy = Proxy::new("apps.localhost".into());
        assert!(proxy.is_deployment_host("site.apps.localhost"));
        assert!(proxy.is_deployment_host("a.b.apps.localhost"));
        for api in [
            "apps.localhost",
            "localhost",
            "evilapps.localhost",
            "site.apps.localhost.evil",
            "x.localhost",
        ] {
            assert!(!proxy.is_deployment_host(api), "{api}");
        }
    }

    #[test]
    fn cached_routes_last_one_generation_and_the_cache_is_bounded() {
        let cache = RouteCache::default();
        let upstream = Route::Upstream("127.0.0.1:8080".parse().unwrap());
        cache.put("a.apps.localhost".into(), 7, upstream.clone());
        assert_eq!(cache.get("a.apps.localhost", 7), Some(upstream));
        assert_eq!(
            cache.get("a.apps.localhost", 8),
            None,
            "a deployment write makes it stale"
        );
        assert_eq!(cache.get("b.apps.localhost", 7), None);
        for i in 0..ROUTE_CACHE_ENTRIES + 1 {
            cache.put(format!("{i}.example.com"), 7, Route::Api);
        }
        assert!(cache.0.read().unwrap().len() <= ROUTE_CACHE_ENTRIES);
    }

    #[test]
    fn hop_by_hop_headers_are_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-secret"));
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["content-type"]);
        let mut upgrade = HeaderMap::new();
        upgrade.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        upgrade.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(wants_upgrade(&upgrade));
    }
}
