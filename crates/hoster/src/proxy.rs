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
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use hoster_core::deployment::Status;
use hoster_core::error_code::ErrorCode;
use hoster_core::hostname::{self, ApiHosts, Host};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::api::AppState;
use crate::config::Cidr;
use crate::tls::OverTls;

/// Connections to upstreams, kept alive across requests, and what decides where a host leads.
pub struct Proxy {
    client: Client<HttpConnector, Body>,
    base_domain: String,
    api_hosts: ApiHosts,
    trusted_proxies: Vec<Cidr>,
    routes: RouteCache,
}

/// The listener a request arrived on: the API's, or one that serves deployments only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Api,
    DeploymentsOnly,
}

impl Proxy {
    pub fn new(base_domain: String, api_hosts: ApiHosts, trusted_proxies: Vec<Cidr>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            base_domain,
            api_hosts,
            trusted_proxies,
            routes: RouteCache::default(),
        }
    }

    /// Whether `host` (normalised) names a deployment rather than Hoster itself.
    fn is_deployment_host(&self, host: &str) -> bool {
        hostname::is_under(host, &self.base_domain)
    }

    pub fn api_hosts(&self) -> &ApiHosts {
        &self.api_hosts
    }

    /// Tells the upstream who asked and how. What a client says about itself in
    /// `X-Forwarded-*`, `Forwarded` or `X-Real-IP` is kept only when the peer is one of
    /// `HOSTER_TRUSTED_PROXIES` (a load balancer in front of Hoster); anyone else could claim
    /// any address. `sent` looks up the first value of a header the client sent.
    pub fn forwarding<'a>(
        &self,
        peer: SocketAddr,
        scheme: &str,
        host: &str,
        sent: impl Fn(&str) -> Option<&'a str>,
    ) -> Forwarding {
        let peer_ip = peer.ip().to_canonical();
        let trusted = self.trusted_proxies.iter().any(|c| c.contains(peer_ip));
        let kept = |name: &str| trusted && sent(name).is_some();
        let forwarded_for = match sent("x-forwarded-for") {
            Some(earlier) if trusted => format!("{earlier}, {peer_ip}"),
            _ => peer_ip.to_string(),
        };
        let mut values = Vec::with_capacity(4);
        values.push(("x-forwarded-for", forwarded_for));
        for (name, value) in [
            ("x-real-ip", peer_ip.to_string()),
            ("x-forwarded-proto", scheme.to_string()),
            ("x-forwarded-host", host.to_string()),
        ] {
            if !kept(name) {
                values.push((name, value));
            }
        }
        Forwarding { trusted, values }
    }

    fn set_forwarded(&self, headers: &mut HeaderMap, peer: SocketAddr, scheme: &str, host: &str) {
        let forwarding = self.forwarding(peer, scheme, host, |name| {
            headers.get(name).and_then(|v| v.to_str().ok())
        });
        let replaced: Vec<HeaderName> = headers
            .keys()
            .filter(|name| forwarding.replaces(name.as_str()))
            .cloned()
            .collect();
        for name in replaced {
            headers.remove(name);
        }
        for (name, value) in forwarding.values() {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(*name, value);
            }
        }
    }
}

/// The forwarding headers a request leaves with (see [`Proxy::forwarding`]).
pub struct Forwarding {
    trusted: bool,
    values: Vec<(&'static str, String)>,
}

impl Forwarding {
    /// Whether a header the client sent is dropped: one this proxy sets, or any claim about
    /// the client from a peer that is not trusted.
    pub fn replaces(&self, name: &str) -> bool {
        let claims = [
            "forwarded",
            "x-real-ip",
            "x-forwarded-proto",
            "x-forwarded-host",
            "x-forwarded-for",
        ];
        let claim = claims.iter().any(|c| name.eq_ignore_ascii_case(c));
        (claim && !self.trusted) || self.values.iter().any(|(n, _)| name.eq_ignore_ascii_case(n))
    }

    /// The headers to add, each replacing any the client sent.
    pub fn values(&self) -> &[(&'static str, String)] {
        &self.values
    }

    #[cfg(test)]
    pub fn for_test(trusted: bool, values: Vec<(&'static str, String)>) -> Self {
        Forwarding { trusted, values }
    }
}

/// The host a request is for: the request target's authority when it has one (absolute-form,
/// HTTP/2's `:authority`, which RFC 9112 §3.2.2 says wins over `Host`), else its one `Host`
/// header. Missing, repeated or malformed hosts are the client's mistake.
pub fn request_host(headers: &HeaderMap, uri: &Uri) -> Result<Host, &'static str> {
    if let Some(authority) = uri.authority() {
        return hostname::parse_authority(authority.as_str()).ok_or("the request target's host is not valid");
    }
    let mut hosts = headers.get_all(header::HOST).iter();
    let (Some(host), None) = (hosts.next(), hosts.next()) else {
        return Err("a request needs exactly one Host header");
    };
    host.to_str()
        .ok()
        .and_then(hostname::parse_authority)
        .ok_or("the Host header is not a valid hostname")
}

/// The authority as the client wrote it, which the upstream sees as its `Host`.
fn public_authority(headers: &HeaderMap, uri: &Uri) -> Option<HeaderValue> {
    match uri.authority() {
        Some(authority) => HeaderValue::from_str(authority.as_str()).ok(),
        None => headers.get(header::HOST).cloned(),
    }
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

/// Whether `name` is hop-by-hop, whatever its case.
pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h.as_str()))
}

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
fn page(code: ErrorCode, message: String, headers: &HeaderMap) -> Response {
    render(code, message, wants_json(headers))
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(accept_wants_json)
}

/// Whether an `Accept` value asks for JSON rather than a page.
pub fn accept_wants_json(accept: &str) -> bool {
    accept.contains("application/json") && !accept.contains("text/html")
}

pub fn render(code: ErrorCode, message: String, json: bool) -> Response {
    let status = crate::api::status_of(code);
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
    /// Neither the API's nor a deployment's hostname.
    Foreign,
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
    // Any other dotted name may be a customer's own domain.
    if !generated && (host == state.proxy.base_domain || !host.contains('.')) {
        return Ok(Route::Foreign);
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
        None => Route::Foreign,
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

/// What a request is, before any answer: the one set of rules both [`route`] and the accept
/// loop's direct path ([`crate::http`]) follow, so the hot path cannot skip a check.
enum Front {
    Connect,
    /// An ACME HTTP-01 challenge this Hoster answers, with the answer.
    Challenge(String),
    BadHost(&'static str),
    Api,
    Ip(std::net::IpAddr),
    /// A name that may be a deployment's.
    Name(String),
}

fn classify(state: &AppState, request: &Request) -> Front {
    front(
        state,
        request.method() == Method::CONNECT,
        request.uri().path(),
        request_host(request.headers(), request.uri()),
    )
}

fn front(state: &AppState, connect: bool, path: &str, host: Result<Host, &'static str>) -> Front {
    if connect {
        return Front::Connect;
    }
    if let Some(certificates) = &state.certificates
        && let Some(answer) = certificates.challenges.answer(path)
    {
        return Front::Challenge(answer);
    }
    match host {
        Err(why) => Front::BadHost(why),
        Ok(host) if state.proxy.api_hosts.contains(&host) => Front::Api,
        Ok(Host::Ip(ip)) => Front::Ip(ip),
        Ok(Host::Name(name)) => Front::Name(name),
    }
}

/// The hostname of a request that may be a deployment's: the first half of the hot path the
/// accept loop takes before the axum stack. `None` for everything [`route`] answers otherwise.
pub fn direct_host(state: &AppState, request: &Request) -> Option<String> {
    match classify(state, request) {
        Front::Name(name) => Some(name),
        _ => None,
    }
}

/// [`direct_host`] for a request the relay ([`crate::relay`]) parsed: never a CONNECT, its
/// host from its one `Host` header.
pub fn direct_name(state: &AppState, path: &str, host: Result<Host, &'static str>) -> Option<String> {
    match front(state, false, path, host) {
        Front::Name(name) => Some(name),
        _ => None,
    }
}

/// The second half: where `host` is served, when it is a running deployment with a port.
/// Anything else (unknown, stopped, a lookup error) is [`route`]'s to answer.
pub async fn direct_upstream(state: &AppState, host: &str) -> Option<SocketAddr> {
    match resolve(state, host).await {
        Ok(Route::Upstream(upstream)) => Some(upstream),
        _ => None,
    }
}

/// Middleware in front of every listener: API hostnames continue to `next` (the API, or on a
/// deployments-only listener its 404 page), deployment hostnames are proxied, and any other
/// host is refused. The API never answers on a name it was not configured for, so a customer's
/// domain cannot capture it and a page at a name that resolves to 127.0.0.1 (DNS rebinding)
/// cannot reach a local-mode API.
pub async fn route(
    State((state, listener)): State<(AppState, Listener)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let name = match classify(&state, &request) {
        Front::Connect => {
            let mut response = page(
                ErrorCode::MethodNotAllowed,
                "Hoster is not a forward proxy: CONNECT is not served.".into(),
                headers,
            );
            response.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
            );
            return response;
        }
        Front::Challenge(answer) => return ([(header::CONTENT_TYPE, "text/plain")], answer).into_response(),
        Front::BadHost(why) => return page(ErrorCode::BadHost, why.into(), headers),
        Front::Api => return next.run(request).await,
        Front::Ip(ip) => return foreign(listener, &ip.to_string(), request, next).await,
        Front::Name(name) => name,
    };
    match resolve(&state, &name).await {
        Ok(Route::Foreign) => foreign(listener, &name, request, next).await,
        Ok(Route::Upstream(upstream)) => forward(&state, name, upstream, peer, request).await,
        Ok(Route::Unknown) => not_found(&name, headers),
        Ok(Route::Unavailable(status)) => page(
            ErrorCode::DeploymentUnavailable,
            format!("{name} is {status}; it answers again once it is running."),
            headers,
        ),
        Ok(Route::NoPort) => page(
            ErrorCode::NoPublishedPort,
            format!("{name} publishes no TCP port to route to."),
            headers,
        ),
        Err(message) => page(ErrorCode::RuntimeError, message, headers),
    }
}

/// A host that is neither the API's nor a deployment's: 421 on the API's listener (the client
/// reached a server that does not serve that name), the 404 page on a deployments-only one.
async fn foreign(listener: Listener, host: &str, request: Request, next: Next) -> Response {
    match listener {
        Listener::DeploymentsOnly => next.run(request).await,
        Listener::Api => page(
            ErrorCode::UnknownHost,
            format!(
                "This server does not answer for {host}: it is neither one of Hoster's API hostnames \
                 (HOSTER_API_HOSTS) nor a deployment's."
            ),
            request.headers(),
        ),
    }
}

fn not_found(host: &str, headers: &HeaderMap) -> Response {
    page(
        ErrorCode::DeploymentNotFound,
        format!("No deployment answers at {host}."),
        headers,
    )
}

/// The proxy-only listener's answer to anything that is not a deployment's hostname.
pub async fn no_site(request: Request) -> Response {
    let host = match request_host(request.headers(), request.uri()) {
        Ok(Host::Name(name)) => name,
        Ok(Host::Ip(ip)) => ip.to_string(),
        Err(_) => "this address".into(),
    };
    not_found(&host, request.headers())
}

pub async fn forward(
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
    let authority = public_authority(&parts.headers, &parts.uri);
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    parts.uri = match format!("http://{upstream}{path}").parse() {
        Ok(uri) => uri,
        Err(_) => {
            return render(ErrorCode::InvalidPath, "The request target is not valid.".into(), json);
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
    if let Some(authority) = authority {
        parts.headers.insert(header::HOST, authority);
    }
    state.proxy.set_forwarded(&mut parts.headers, peer, scheme, &host);
    // Bytes are counted on the relay's path only (`relay.rs`), where they pass as bytes.
    crate::metrics::global()
        .proxy_requests
        .get_or_create(&crate::metrics::HostLabels { host: host.clone() })
        .inc();

    let mut response = match state
        .proxy
        .client
        .request(axum::http::Request::from_parts(parts, body))
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(%host, %upstream, error = %e, "upstream did not answer");
            return render(ErrorCode::UpstreamUnavailable, format!("{host} did not answer."), json);
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

    fn proxy() -> Proxy {
        Proxy::new(
            "apps.localhost".into(),
            ApiHosts::new(["localhost"]).unwrap(),
            vec!["10.9.0.0/16".parse().unwrap()],
        )
    }

    #[test]
    fn the_target_authority_wins_over_host_and_hosts_are_counted() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("localhost"));
        let absolute: Uri = "http://Shop.Example.com:8080/x".parse().unwrap();
        assert_eq!(
            request_host(&headers, &absolute),
            Ok(Host::Name("shop.example.com".into()))
        );
        assert_eq!(
            request_host(&headers, &Uri::from_static("/x")),
            Ok(Host::Name("localhost".into()))
        );
        headers.append(header::HOST, HeaderValue::from_static("evil.example"));
        assert!(
            request_host(&headers, &Uri::from_static("/x")).is_err(),
            "two Host headers"
        );
        assert!(
            request_host(&HeaderMap::new(), &Uri::from_static("/x")).is_err(),
            "no host"
        );
        let mut bad = HeaderMap::new();
        bad.insert(header::HOST, HeaderValue::from_static("a_b.example"));
        assert!(request_host(&bad, &Uri::from_static("/")).is_err());
    }

    #[test]
    fn forwarding_headers_are_replaced_unless_the_peer_is_trusted() {
        let proxy = proxy();
        let client_claims = || {
            let mut h = HeaderMap::new();
            h.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
            h.insert("x-real-ip", HeaderValue::from_static("1.2.3.4"));
            h.insert("forwarded", HeaderValue::from_static("for=1.2.3.4"));
            h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
            h
        };
        let mut untrusted = client_claims();
        proxy.set_forwarded(
            &mut untrusted,
            "127.0.0.1:5000".parse().unwrap(),
            "http",
            "a.apps.localhost",
        );
        assert_eq!(untrusted["x-forwarded-for"], "127.0.0.1");
        assert_eq!(untrusted["x-real-ip"], "127.0.0.1");
        assert_eq!(untrusted["x-forwarded-proto"], "http");
        assert_eq!(untrusted["x-forwarded-host"], "a.apps.localhost");
        assert!(!untrusted.contains_key("forwarded"));
        let mut trusted = client_claims();
        proxy.set_forwarded(
            &mut trusted,
            "10.9.1.1:5000".parse().unwrap(),
            "http",
            "a.apps.localhost",
        );
        assert_eq!(trusted["x-forwarded-for"], "1.2.3.4, 10.9.1.1");
        assert_eq!(trusted["x-real-ip"], "1.2.3.4");
        assert_eq!(trusted["x-forwarded-proto"], "https");
        assert_eq!(trusted["forwarded"], "for=1.2.3.4");
    }

    #[test]
    fn only_names_under_the_base_domain_are_deployments() {
        let proxy = proxy();
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
            cache.put(format!("{i}.example.com"), 7, Route::Foreign);
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
