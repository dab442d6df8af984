//! `/api/v1/deployments/{id}/domains`: customers' own hostnames, pending until DNS proves
//! control, then routed by the proxy (and given a certificate when ACME is on).

use crate::clock::Timestamp;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use hoster_core::access::{Caller, Operation};
use hoster_core::error_code::ErrorCode;
use hoster_core::hostname::{self, DomainError};
use hoster_core::problem::{Problem, Problems};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::deployments::load;
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Path};
use super::{AppState, auth};
use crate::domains::Checked;
use crate::store::{AddDomain as Added, DeploymentRecord, DomainRecord};

#[derive(Debug, Serialize, ToSchema)]
pub struct DomainView {
    #[schema(example = "www.example.com")]
    pub domain: String,
    pub status: DomainStatus,
    /// Either DNS record proves control.
    pub verification: Verification,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub verified_at: Option<Timestamp>,
    /// When DNS was last asked, and why that did not verify the name.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub checked_at: Option<Timestamp>,
    pub check_error: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// `pending` until DNS proves control, then `verified`; only verified names are served.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DomainStatus {
    Pending,
    Verified,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Verification {
    /// Create a TXT record with this name ...
    #[schema(example = "_hoster.www.example.com")]
    pub txt_name: String,
    /// ... holding this value;
    pub txt_value: String,
    /// or point the domain at this name with a CNAME.
    pub cname_target: String,
}

fn view(d: &DeploymentRecord, r: DomainRecord) -> DomainView {
    DomainView {
        status: match r.verified_at {
            Some(_) => DomainStatus::Verified,
            None => DomainStatus::Pending,
        },
        verification: Verification {
            txt_name: hostname::proof_record_name(&r.domain),
            txt_value: r.token,
            cname_target: d.domain.clone(),
        },
        domain: r.domain,
        verified_at: r.verified_at,
        checked_at: r.checked_at,
        check_error: r.check_error,
        created_at: r.created_at,
    }
}

fn taken(domain: &str) -> ApiError {
    ApiError::new(
        ErrorCode::DomainTaken,
        format!("{domain} is already verified for a deployment, or attached to this one"),
    )
}

/// A domain named in a path, spelled as it is stored (lowercase, no trailing dot).
fn path_domain(raw: &str) -> String {
    raw.trim_end_matches('.').to_ascii_lowercase()
}

fn domain_not_found(id: &str, domain: &str) -> ApiError {
    ApiError::new(ErrorCode::DomainNotFound, format!("{id} has no domain {domain}"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDomain {
    /// A hostname the customer controls, pointed at Hoster.
    pub domain: String,
}

/// The deployment's custom hostnames (its generated `domain` always answers too).
#[utoipa::path(
    get,
    path = "/api/v1/deployments/{id}/domains",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id")),
    responses((status = 200, body = [DomainView]))
)]
pub async fn list_domains(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<DomainView>>, ApiError> {
    let d = load(&state, &caller, Operation::GetDeployment, &id).await?;
    let domains = state.store.custom_domains(&d.id).await?;
    Ok(axum::Json(domains.into_iter().map(|r| view(&d, r)).collect()))
}

/// Attach a custom hostname. It is `pending` until DNS proves control (the TXT record or the
/// CNAME in `verification`), checked now, on `POST .../verify` and periodically; then the proxy
/// serves the deployment there too. A verified name belongs to one deployment only.
#[utoipa::path(
    post,
    path = "/api/v1/deployments/{id}/domains",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id")),
    request_body = AddDomain,
    responses(
        (status = 201, body = DomainView),
        (status = 400, description = "validation_error, domain_reserved", body = ErrorBody),
        (status = 409, description = "domain_taken, domain_limit_reached", body = ErrorBody)
    )
)]
pub async fn add_domain(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<AddDomain>,
) -> Result<(StatusCode, axum::Json<DomainView>), ApiError> {
    let d = load(&state, &caller, Operation::ManageDomains, &id).await?;
    let domain = hostname::custom_domain(
        &body.domain,
        &state.deployer.settings().base_domain,
        state.proxy.api_hosts(),
    )
    .map_err(|e| match e {
        DomainError::Invalid(why) => ApiError::validation(Problems(vec![Problem::field("domain", why)])),
        DomainError::Reserved(why) => ApiError::new(ErrorCode::DomainReserved, why),
    })?;
    // Routing changes under the deployment's lock, like everything else about it, and only if
    // it still exists once the lock is held.
    let _lock = state.deployer.lock(&d.id).await;
    let d = load(&state, &caller, Operation::ManageDomains, &id).await?;
    let claim = match state.domains.add(&d.id, &domain).await? {
        Added::Added(claim) => claim,
        Added::Taken => return Err(taken(&domain)),
        Added::LimitReached => {
            return Err(ApiError::new(
                ErrorCode::DomainLimitReached,
                format!(
                    "a deployment may have {} custom domains (HOSTER_MAX_DOMAINS_PER_DEPLOYMENT)",
                    state.domains.max_per_deployment
                ),
            ));
        }
    };
    auth::audit(&state, &caller, "domain.add", &id, &domain).await;
    Ok((StatusCode::CREATED, axum::Json(check(&state, &d, claim).await?)))
}

/// Asks DNS about the claim now; its state, or 409 when another deployment verified it first.
async fn check(state: &AppState, d: &DeploymentRecord, claim: DomainRecord) -> Result<DomainView, ApiError> {
    let domain = claim.domain.clone();
    match state.domains.check(claim, &d.domain).await? {
        Checked::Now(claim) => Ok(view(d, claim)),
        Checked::TakenMeanwhile => Err(taken(&domain)),
    }
}

/// Check a pending domain's DNS now; answers its state either way.
#[utoipa::path(
    post,
    path = "/api/v1/deployments/{id}/domains/{domain}/verify",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id"), ("domain" = String, Path, description = "Custom hostname")),
    responses(
        (status = 200, body = DomainView),
        (status = 404, description = "deployment_not_found or domain_not_found", body = ErrorBody),
        (status = 409, description = "domain_taken: another deployment verified it first", body = ErrorBody)
    )
)]
pub async fn verify_domain(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, domain)): Path<(String, String)>,
) -> Result<axum::Json<DomainView>, ApiError> {
    let d = load(&state, &caller, Operation::ManageDomains, &id).await?;
    let domain = path_domain(&domain);
    let claim = state
        .store
        .custom_domain(&d.id, &domain)
        .await?
        .ok_or_else(|| domain_not_found(&id, &domain))?;
    Ok(axum::Json(check(&state, &d, claim).await?))
}

/// Detach a custom hostname.
#[utoipa::path(
    delete,
    path = "/api/v1/deployments/{id}/domains/{domain}",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id"), ("domain" = String, Path, description = "Custom hostname")),
    responses((status = 204, description = "detached"), (status = 404, description = "deployment_not_found or domain_not_found", body = ErrorBody))
)]
pub async fn remove_domain(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, domain)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let d = load(&state, &caller, Operation::ManageDomains, &id).await?;
    let domain = path_domain(&domain);
    let _lock = state.deployer.lock(&d.id).await;
    if !state.store.remove_custom_domain(&d.id, &domain).await? {
        return Err(domain_not_found(&id, &domain));
    }
    auth::audit(&state, &caller, "domain.remove", &id, &domain).await;
    Ok(StatusCode::NO_CONTENT)
}
