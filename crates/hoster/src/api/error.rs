//! The one error shape every non-2xx response has: `{"error", "code", "details"?}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hoster_core::problem::{Problem, Problems};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::StoreError;

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A sentence for a human.
    pub error: String,
    /// A stable snake_case code for programs.
    pub code: String,
    /// One entry per problem, for validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Problem>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<Problem>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn validation(problems: Problems) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "validation_error",
            message: problems.summary(),
            details: problems.0,
        }
    }

    pub fn template_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "template_not_found",
            format!("no template with id `{id}`"),
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn internal(context: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            format!("{context}; the server log has the details"),
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(message) => Self::new(StatusCode::CONFLICT, "template_exists", message),
            other => Self::internal("the database failed", &other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.message,
            code: self.code.to_string(),
            details: self.details,
        };
        (self.status, Json(body)).into_response()
    }
}
