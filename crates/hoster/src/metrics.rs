//! Hoster's own figures for Prometheus (`GET /metrics`): HTTP requests, operations, engine
//! errors, reconcile passes, proxied traffic, deployments by status. One registry per process
//! ([`global`]); counters only go up, so tests compare before and after.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The route's template (`/api/v1/deployments/{id}`), never the raw path.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: &'static str,
    /// `ok` or `error`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HostLabels {
    /// The deployment's hostname.
    pub host: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_seconds: Histograms<RouteLabels>,
    pub operation_seconds: Histograms<OperationLabels>,
    pub engine_errors: Counter,
    pub reconcile_passes: Counter,
    /// Deployments a reconcile pass found failed or had to finish.
    pub reconcile_findings: Counter,
    pub proxy_requests: Family<HostLabels, Counter>,
    /// Bytes sent to clients by proxied deployments (response heads and bodies), on the relay's
    /// path: HTTP/1.1, plain or TLS (upgraded connections and HTTP/2 are not counted).
    pub proxy_bytes: Family<HostLabels, Counter>,
    /// Server-sent event streams (logs, stats, events) open now.
    pub streams_open: Gauge,
    deployments: Family<StatusLabels, Gauge>,
}

fn request_buckets() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

fn operation_buckets() -> Histogram {
    // 10 ms to about 5 min.
    Histogram::new(exponential_buckets(0.01, 2.0, 16))
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("hoster");
        let metrics = Metrics {
            http_requests: Family::default(),
            http_seconds: Family::new_with_constructor(request_buckets),
            operation_seconds: Family::new_with_constructor(operation_buckets),
            engine_errors: Counter::default(),
            reconcile_passes: Counter::default(),
            reconcile_findings: Counter::default(),
            proxy_requests: Family::default(),
            proxy_bytes: Family::default(),
            streams_open: Gauge::default(),
            deployments: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "build",
            "The running build",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        registry.register("http_requests", "API requests answered", metrics.http_requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an API request",
            metrics.http_seconds.clone(),
        );
        registry.register(
            "operation_duration_seconds",
            "Time an operation took: a deployment's start, stop, restart, delete, upgrade; a scheduled database backup (db_backup)",
            metrics.operation_seconds.clone(),
        );
        registry.register(
            "engine_errors",
            "Calls to the container engine that failed",
            metrics.engine_errors.clone(),
        );
        registry.register(
            "reconcile_passes",
            "Reconcile passes run",
            metrics.reconcile_passes.clone(),
        );
        registry.register(
            "reconcile_findings",
            "Deployments a reconcile pass failed, rolled back or finished",
            metrics.reconcile_findings.clone(),
        );
        registry.register(
            "proxy_requests",
            "Requests proxied to deployments",
            metrics.proxy_requests.clone(),
        );
        registry.register(
            "proxy_response_bytes",
            "Bytes proxied deployments sent to clients",
            metrics.proxy_bytes.clone(),
        );
        registry.register(
            "streams_open",
            "Server-sent event streams (logs, stats, events) open now",
            metrics.streams_open.clone(),
        );
        registry.register("deployments", "Deployments by status", metrics.deployments.clone());
        Metrics { registry, ..metrics }
    }

    /// The exposition text, with deployments counted by status as of now.
    pub fn render(&self, by_status: &[(hoster_core::deployment::Status, i64)]) -> String {
        self.deployments.clear();
        for (status, count) in by_status {
            self.deployments
                .get_or_create(&StatusLabels {
                    status: status.as_str(),
                })
                .set(*count);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }

    pub fn operation(&self, operation: &'static str, ok: bool, took: Duration) {
        let outcome = if ok { "ok" } else { "error" };
        self.operation_seconds
            .get_or_create(&OperationLabels { operation, outcome })
            .observe(took.as_secs_f64());
    }
}

/// Runs `work`, recording how long it took as `operation`.
pub async fn timed<T, E>(operation: &'static str, work: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    let began = std::time::Instant::now();
    let result = work.await;
    global().operation(operation, result.is_ok(), began.elapsed());
    result
}

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}
