//! `/api/v1/tokens` and `/api/v1/audit`: what admins use to hand out access and see who did what.

use crate::clock::Timestamp;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use hoster_core::access::{Caller, Operation, Role};
use hoster_core::error_code::ErrorCode;
use hoster_core::id::TokenId;
use hoster_core::problem::{Problem, Problems};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::extract::{Json, Path, Query, page};
use super::{AppState, auth};
use crate::store::{AuditEntry, TokenRecord};
use crate::tokens::{self, TokenError};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// `admin`, `creator` or `customer`.
    #[schema(example = "customer")]
    pub role: String,
    /// Whom the token acts for: its templates' `creator_id` or deployments' `customer_id`.
    #[schema(example = "customer-1")]
    pub subject: String,
    /// A note for the token list.
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    #[schema(example = "tok_k3j5h2g7f4d6s7a2")]
    pub id: String,
    pub role: String,
    pub subject: String,
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
}

impl From<TokenRecord> for TokenView {
    fn from(t: TokenRecord) -> Self {
        Self {
            id: t.id.to_string(),
            role: t.role.to_string(),
            subject: t.subject,
            name: t.name,
            created_at: t.created_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewToken {
    #[serde(flatten)]
    pub record: TokenView,
    /// The bearer token. Shown this once: only its hash is kept.
    pub token: String,
}

/// Create a token (admins).
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "access",
    request_body = CreateToken,
    responses((status = 201, body = NewToken))
)]
pub async fn create_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<CreateToken>,
) -> Result<(StatusCode, axum::Json<NewToken>), ApiError> {
    auth::require(&caller, Operation::ManageTokens)?;
    let role = Role::parse(&body.role).ok_or_else(|| {
        ApiError::validation(Problems(vec![Problem::field(
            "role",
            "must be admin, creator or customer",
        )]))
    })?;
    let name = body.name.unwrap_or_default();
    let (record, token) = tokens::create(&state.store, role, &body.subject, &name, &caller.describe())
        .await
        .map_err(|e| match e {
            TokenError::Invalid(problems) => ApiError::validation(problems),
            TokenError::Store(e) => e.into(),
        })?;
    Ok((
        StatusCode::CREATED,
        axum::Json(NewToken {
            record: record.into(),
            token,
        }),
    ))
}

/// List tokens, revoked ones included (admins). Token values are never shown again.
#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    tag = "access",
    responses((status = 200, body = [TokenView]))
)]
pub async fn list_tokens(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<axum::Json<Vec<TokenView>>, ApiError> {
    auth::require(&caller, Operation::ManageTokens)?;
    Ok(axum::Json(
        state.store.tokens().await?.into_iter().map(TokenView::from).collect(),
    ))
}

/// Revoke a token (admins); it stops working at once.
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{id}",
    tag = "access",
    params(("id" = String, Path, description = "Token id")),
    responses((status = 204, description = "revoked"))
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth::require(&caller, Operation::ManageTokens)?;
    let revoked = match TokenId::parse(&id) {
        Some(token) => tokens::revoke(&state.store, &token, &caller.describe()).await?,
        None => false,
    };
    if revoked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            ErrorCode::TokenNotFound,
            format!("no live token with id `{id}`"),
        ))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub seq: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// `local`, `cli`, or `role:subject` of the token used.
    pub actor: String,
    #[schema(example = "deployment.start")]
    pub action: String,
    pub target: String,
    pub detail: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Page size, 1 to 100 (default 20).
    limit: Option<u32>,
    offset: Option<u64>,
}

/// The audit log, newest first (admins).
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "access",
    params(AuditQuery),
    responses((status = 200, body = [AuditView]))
)]
pub async fn audit_log(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<AuditQuery>,
) -> Result<axum::Json<Vec<AuditView>>, ApiError> {
    auth::require(&caller, Operation::ReadAudit)?;
    let page = page(query.limit, query.offset)?;
    let entries = state.store.audit_log(page).await?;
    Ok(axum::Json(
        entries
            .into_iter()
            .map(|e: AuditEntry| AuditView {
                seq: e.seq,
                at: e.at,
                actor: e.actor,
                action: e.action,
                target: e.target,
                detail: e.detail,
            })
            .collect(),
    ))
}
