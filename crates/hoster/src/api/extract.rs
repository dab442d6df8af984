//! Request decoding with Hoster's errors: JSON bodies (content type, size, syntax, unknown
//! fields) and query strings (unknown parameters are refused, not ignored).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use hoster_core::error_code::ErrorCode;
use hoster_core::problem::{Problem, Problems};
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::store::Page;

/// A JSON request body, decoded strictly.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let limit = state.max_body_bytes;
        let bytes = axum::body::to_bytes(req.into_body(), limit).await.map_err(|_| {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the request body is larger than {limit} bytes"),
            )
        })?;
        decode(&bytes).map(Json)
    }
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let invalid = |e: serde_json::Error| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("the request body is not valid JSON: {e}"),
        )
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            let field = if path == "." { "body".to_string() } else { path };
            ApiError::validation(Problems(vec![Problem::field(field, inner.to_string())]))
        } else {
            invalid(inner)
        }
    })?;
    // One JSON value and nothing after it: `{...} {...}` or `{...}x` is not a body to guess at.
    deserializer.end().map_err(invalid)?;
    Ok(value)
}

/// Query-string parameters, decoded into `T` (which should deny unknown fields).
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(Query)
            .map_err(|e| ApiError::validation(Problems(vec![Problem::field("query", e.to_string())])))
    }
}

/// Path parameters; a segment that is not valid percent-encoded UTF-8 (`/domains/%FF`) gets
/// the JSON error shape like every other client mistake.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(ApiError::new(
                ErrorCode::InvalidPath,
                format!("the request path is not valid: {}", rejection.body_text()),
            )),
        }
    }
}

/// A list's page size when the query gives none, and the largest it may ask for.
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// The page a list query's `limit` and `offset` ask for, or the problem with them. Every list
/// (templates, deployments, audit) pages the same way.
pub fn page(limit: Option<u32>, offset: Option<u64>) -> Result<Page, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::validation(Problems(vec![Problem::field(
            "limit",
            format!("must be from 1 to {MAX_LIMIT} (got {limit})"),
        )])));
    }
    Ok(Page {
        limit,
        offset: offset.unwrap_or(0),
    })
}
