//! Who is calling: in token mode, the bearer token's holder (401 without a live token, 429 over
//! the rate limit); in local mode, [`Caller::Local`]. Handlers take the result as
//! `Extension<Caller>` and ask the core what it may do.

use hoster_core::error_code::ErrorCode;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hoster_core::access::{Caller, NotYours, Operation, token};
use hoster_core::rate::Bucket;

use super::{ApiError, AppState};
use crate::config::AuthMode;

/// Routes anyone may call, for probes and API clients discovering the API.
pub const PUBLIC: [&str; 3] = ["/health", "/ready", "/api/v1/openapi.json"];

/// Request budgets per token.
pub struct RateLimiter {
    per_second: f64,
    started: Instant,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// `per_second` 0 lets everything through.
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second: f64::from(per_second),
            started: Instant::now(),
            buckets: Mutex::default(),
        }
    }

    pub(crate) fn take(&self, key: &str) -> Result<(), f64> {
        if self.per_second == 0.0 {
            return Ok(());
        }
        let now = self.started.elapsed().as_secs_f64();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            // A flood of new keys (addresses) must not grow the table without bound.
            buckets.clear();
        }
        buckets
            .entry(key.to_string())
            .or_insert_with(|| Bucket::new(self.per_second, 2.0 * self.per_second, now))
            .take(now)
    }

    /// Whether `key` has run out, without spending anything.
    pub(crate) fn exhausted(&self, key: &str) -> bool {
        if self.per_second == 0.0 {
            return false;
        }
        let now = self.started.elapsed().as_secs_f64();
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets.get(key).is_some_and(|b| !b.has_one(now))
    }
}

const MAX_BUCKETS: usize = 100_000;

fn rate_limited(wait: f64, message: &str) -> Response {
    let mut response = ApiError::new(ErrorCode::RateLimited, message).into_response();
    let seconds = wait.ceil().max(1.0).to_string();
    if let Ok(value) = HeaderValue::from_str(&seconds) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn unauthorized(message: &str) -> Response {
    let mut response = ApiError::new(ErrorCode::Unauthorized, message).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Middleware: puts the [`Caller`] in the request's extensions, or answers 401/429.
pub async fn authenticate(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    // Requests without a valid token spend their client address's budget, so guessing tokens
    // (or hammering without one) costs no database lookup once the budget is gone.
    let address = format!("address {}", peer.ip().to_canonical());
    let refuse = |message: &str| match state.rate_limiter.take(&address) {
        Ok(()) => unauthorized(message),
        Err(wait) => rate_limited(
            wait,
            "too many requests without a valid token from this address; slow down",
        ),
    };
    let caller = match state.auth_mode {
        AuthMode::Local => Caller::Local,
        AuthMode::Token if PUBLIC.contains(&request.uri().path()) => return next.run(request).await,
        AuthMode::Token => {
            let presented = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            let Some(presented) = presented else {
                return refuse("this API needs `Authorization: Bearer <token>`");
            };
            if !token::well_formed(presented) {
                return refuse("the bearer token is not a Hoster token");
            }
            if state.rate_limiter.exhausted(&address) {
                return refuse("the bearer token is unknown or revoked");
            }
            let record = match state.store.token_by_hash(&crate::tokens::hash(presented)).await {
                Ok(Some(record)) => record,
                Ok(None) => return refuse("the bearer token is unknown or revoked"),
                Err(e) => return ApiError::from(e).into_response(),
            };
            if let Err(wait) = state.rate_limiter.take(record.id.as_str()) {
                return rate_limited(wait, "too many requests with this token; slow down");
            }
            Caller::Token {
                role: record.role,
                subject: record.subject,
            }
        }
    };
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// 403 unless the caller's role allows `op`.
pub fn require(caller: &Caller, op: Operation) -> Result<(), ApiError> {
    if caller.permits(op) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!("this token may not {}", describe(op))))
    }
}

/// The subject a request acts for, 403 when a creator or customer names someone else.
pub fn acting_for(caller: &Caller, field: &'static str, named: Option<String>) -> Result<Option<String>, ApiError> {
    caller.acting_for(field, named).map_err(|NotYours { field, named }| {
        ApiError::forbidden(format!(
            "`{field}` is `{named}`, but this token acts for its own subject only"
        ))
    })
}

/// Records an action in the audit log; a failure to record is logged, not fatal.
pub async fn audit(state: &AppState, caller: &Caller, action: &str, target: &str, detail: &str) {
    let actor = caller.describe();
    if let Err(e) = state
        .store
        .audit(&crate::clock::now(), &actor, action, target, detail)
        .await
    {
        tracing::error!(error = %e, action, target, "could not write the audit log");
    }
    tracing::info!(actor, action, target, detail, "audit");
}

fn describe(op: Operation) -> &'static str {
    use Operation::*;
    match op {
        ListTemplates | GetTemplate => "read templates",
        CreateTemplate | UpdateTemplate | DeleteTemplate | PublishTemplate => "manage templates",
        TrustTemplate => "mark templates trusted",
        ListDeployments | GetDeployment => "read deployments",
        CreateDeployment | StartDeployment | StopDeployment | DeleteDeployment => "operate deployments",
        ConfigureDeployment => "configure deployments",
        ManageDomains => "manage domains",
        ManageTokens => "manage tokens",
        ReadAudit => "read the audit log",
        ReadMetrics => "read metrics",
        ReadUsage => "read usage",
        ReadEarnings => "read earnings",
    }
}
