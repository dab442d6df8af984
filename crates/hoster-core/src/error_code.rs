//! Why a request did not succeed, as a stable code every layer names the same way: the
//! deployer and the store say *what* went wrong with one of these; only the API decides the
//! HTTP status for it.

use serde::Serialize;

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)*) => {
        /// Every code an error response can carry (`{"error", "code"}`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                }
            }
        }
    };
}

codes! {
    InvalidJson = "invalid_json",
    ValidationError = "validation_error",
    InvalidPath = "invalid_path",
    BadHost = "bad_host",
    Unauthorized = "unauthorized",
    Forbidden = "forbidden",
    NotFound = "not_found",
    TemplateNotFound = "template_not_found",
    DeploymentNotFound = "deployment_not_found",
    TokenNotFound = "token_not_found",
    DomainNotFound = "domain_not_found",
    BackupNotFound = "backup_not_found",
    MethodNotAllowed = "method_not_allowed",
    TemplateExists = "template_exists",
    TemplatePublished = "template_published",
    AlreadyPublished = "already_published",
    TemplateInUse = "template_in_use",
    TemplateNotPublished = "template_not_published",
    /// The template version was deprecated by its creator: no new deployments.
    TemplateDeprecated = "template_deprecated",
    /// A template version whose version is not newer than the product's newest.
    VersionNotNewer = "version_not_newer",
    /// An upgrade or rollback did not come up and was undone: the deployment runs as before.
    UpgradeRolledBack = "upgrade_rolled_back",
    AlreadyRunning = "already_running",
    /// A deployment with no volumes on the engine yet (never started): nothing to back up.
    NothingToBackUp = "nothing_to_back_up",
    /// A backup archive that is damaged, truncated or not one: refused before anything changed.
    BackupInvalid = "backup_invalid",
    InvalidTransition = "invalid_transition",
    DomainTaken = "domain_taken",
    DomainReserved = "domain_reserved",
    DomainLimitReached = "domain_limit_reached",
    DeploymentLimitReached = "deployment_limit_reached",
    PortUnavailable = "port_unavailable",
    /// No free hostname could be found for a new deployment.
    HostnameUnavailable = "hostname_unavailable",
    UnknownHost = "unknown_host",
    PayloadTooLarge = "payload_too_large",
    UnsupportedMediaType = "unsupported_media_type",
    RateLimited = "rate_limited",
    InternalError = "internal_error",
    ImageUnavailable = "image_unavailable",
    RuntimeError = "runtime_error",
    PolicyViolation = "policy_violation",
    EngineUnavailable = "engine_unavailable",
    /// The proxy's own answers about a deployment's site.
    DeploymentUnavailable = "deployment_unavailable",
    NoPublishedPort = "no_published_port",
    UpstreamUnavailable = "upstream_unavailable",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_text_and_are_distinct() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert!(seen.insert(code.as_str()), "{code} twice");
        }
    }
}
