//! The one error shape every non-2xx response has: `{"error", "code", "details"?}`, and the one
//! place an [`ErrorCode`] becomes an HTTP status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hoster_core::error_code::ErrorCode;
use hoster_core::problem::{Problem, Problems};
use serde::Serialize;
use utoipa::ToSchema;

use crate::deployer::DeployError;
use crate::runtime::EngineError;
use crate::store::StoreError;

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A sentence for a human.
    pub error: String,
    /// A stable code for programs.
    pub code: ErrorCode,
    /// One entry per problem, for validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Problem>,
    /// The request's `X-Request-Id`, to find its log lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The HTTP status each code is answered with.
pub fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode::*;
    match code {
        InvalidJson | ValidationError | InvalidPath | BadHost | DomainReserved | BackupInvalid => {
            StatusCode::BAD_REQUEST
        }
        Unauthorized => StatusCode::UNAUTHORIZED,
        Forbidden => StatusCode::FORBIDDEN,
        NotFound | TemplateNotFound | DeploymentNotFound | TokenNotFound | DomainNotFound | BackupNotFound => {
            StatusCode::NOT_FOUND
        }
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        TemplateExists
        | TemplatePublished
        | AlreadyPublished
        | TemplateInUse
        | TemplateNotPublished
        | TemplateDeprecated
        | VersionNotNewer
        | UpgradeRolledBack
        | AlreadyRunning
        | NothingToBackUp
        | InvalidTransition
        | DomainTaken
        | DomainLimitReached
        | DeploymentLimitReached
        | PortUnavailable
        | HostnameUnavailable => StatusCode::CONFLICT,
        UnknownHost => StatusCode::MISDIRECTED_REQUEST,
        PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        RateLimited => StatusCode::TOO_MANY_REQUESTS,
        InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        ImageUnavailable | RuntimeError | PolicyViolation | NoPublishedPort | UpstreamUnavailable => {
            StatusCode::BAD_GATEWAY
        }
        EngineUnavailable | DeploymentUnavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Vec<Problem>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn status(&self) -> StatusCode {
        status_of(self.code)
    }

    pub fn validation(problems: Problems) -> Self {
        Self {
            code: ErrorCode::ValidationError,
            message: problems.summary(),
            details: problems.0,
        }
    }

    pub fn template_not_found(id: &str) -> Self {
        Self::new(ErrorCode::TemplateNotFound, format!("no template with id `{id}`"))
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn internal(context: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        Self::new(
            ErrorCode::InternalError,
            format!("{context}; the server log has the details"),
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::TemplateExists(message) => Self::new(ErrorCode::TemplateExists, message),
            // Names the key setting to fix and never a value: safe to say.
            StoreError::Sealing(message) => Self::internal(&message, &"a sealed value did not open"),
            other => Self::internal("the database failed", &other),
        }
    }
}

impl From<DeployError> for ApiError {
    fn from(e: DeployError) -> Self {
        let message = e.to_string();
        match e {
            DeployError::NotFound(_) => ApiError::new(ErrorCode::DeploymentNotFound, message),
            DeployError::TemplateNotFound(id) => ApiError::template_not_found(&id),
            DeployError::TemplateNotPublished(_) => ApiError::new(ErrorCode::TemplateNotPublished, message),
            DeployError::TemplateDeprecated { .. } => ApiError::new(ErrorCode::TemplateDeprecated, message),
            DeployError::RolledBack(_) => ApiError::new(ErrorCode::UpgradeRolledBack, message),
            DeployError::AlreadyRunning => ApiError::new(ErrorCode::AlreadyRunning, message),
            DeployError::InvalidTransition { .. } => ApiError::new(ErrorCode::InvalidTransition, message),
            DeployError::Invalid(problems) => ApiError::validation(problems),
            DeployError::LimitReached(_) => ApiError::new(ErrorCode::DeploymentLimitReached, message),
            DeployError::NoHostname => ApiError::new(ErrorCode::HostnameUnavailable, message),
            DeployError::Failed { code, .. } | DeployError::Backup { code, .. } => ApiError::new(code, message),
            DeployError::Engine(e @ EngineError::Unreachable { .. }) => {
                tracing::warn!(error = %e, "engine unreachable");
                ApiError::new(ErrorCode::EngineUnavailable, e.public_message())
            }
            DeployError::Engine(e) => {
                tracing::warn!(error = %e, "engine error");
                ApiError::new(ErrorCode::RuntimeError, e.public_message())
            }
            DeployError::Store(e) => e.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody {
            error: self.message,
            code: self.code,
            details: self.details,
            request_id: super::request_id::current(),
        };
        (status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_an_error_status() {
        for code in ErrorCode::ALL {
            let status = status_of(*code);
            assert!(status.is_client_error() || status.is_server_error(), "{code}: {status}");
        }
    }
}
