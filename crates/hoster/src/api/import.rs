//! `POST /api/v1/templates/import`: a compose file as found, turned into a template
//! ([`hoster_core::import`]). The answer lists what was converted and what stays refused.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use hoster_core::access::{Caller, Operation};
use hoster_core::import::{self, Converted};
use hoster_core::problem::{Problem, Problems};
use hoster_core::template::TemplateFields;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::Json;
use super::templates::Template;
use super::{AppState, auth};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// The compose file as found (YAML).
    pub compose: String,
    /// Files given beside it, by relative path (`nginx.conf`): a relative bind of one becomes a
    /// config file.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// Default: the document's `name:`, else `imported`.
    pub name: Option<String>,
    /// Default `1.0.0`.
    pub version: Option<String>,
    pub description: Option<String>,
    pub creator_id: Option<String>,
    pub price_monthly: Option<i64>,
    pub category: Option<String>,
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    /// The template created (unpublished); `null` when something stays refused.
    pub template: Option<Template>,
    /// What the import changed, each at its path in the compose file.
    pub converted: Vec<Converted>,
    /// What still keeps the compose file from being a template, each with its path and reason.
    pub refused: Vec<Problem>,
}

/// Import a compose file as found: `${VAR}` become variables, the one-click catalogs'
/// `SERVICE_*` variables become generated secrets and the deployment's domain and URL, inline
/// and given files become config files. Created (unpublished) when nothing stays refused.
#[utoipa::path(
    post,
    path = "/api/v1/templates/import",
    tag = "templates",
    request_body = ImportRequest,
    responses(
        (status = 201, description = "created; `converted` lists what changed", body = ImportReport),
        (status = 422, description = "nothing stored: `refused` lists what stays refused, `converted` what was converted", body = ImportReport),
        (status = 400, description = "invalid_json, or the compose file is not YAML", body = ErrorBody),
        (status = 409, description = "template_exists: same slug and version", body = ErrorBody)
    )
)]
pub async fn import_template(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(request): Json<ImportRequest>,
) -> Result<(StatusCode, axum::Json<ImportReport>), ApiError> {
    auth::require(&caller, Operation::CreateTemplate)?;
    let creator_id = auth::acting_for(&caller, "creator_id", request.creator_id)?;
    let conversion = import::import(&request.compose, &request.files, &state.limits.compose)
        .map_err(|p| ApiError::validation(Problems(p)))?;
    let fields = TemplateFields {
        name: request.name.or(conversion.name).or_else(|| Some("imported".into())),
        version: request.version.or_else(|| Some("1.0.0".into())),
        description: request.description,
        creator_id,
        compose_spec: Some(conversion.compose_spec),
        config_files: Some(conversion.config_files),
        variables: Some(conversion.variables),
        price_monthly: request.price_monthly,
        category: request.category,
        tags: request.tags,
    };
    let spec = match fields.validate(&state.limits) {
        Ok((spec, _)) => spec,
        Err(Problems(refused)) => {
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(ImportReport {
                    template: None,
                    converted: conversion.converted,
                    refused,
                }),
            ));
        }
    };
    let slug = spec.slug.clone();
    let record = super::templates::insert_new(&state, &caller, spec, false, ("template.import", &slug)).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ImportReport {
            template: Some(record.into()),
            converted: conversion.converted,
            refused: Vec::new(),
        }),
    ))
}
