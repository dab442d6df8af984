//! `/api/v1/deployments/{id}/variables`: the values a deployment's template variables hold.
//! Secret values are withheld unless the owner asks with `reveal=true`, which is audited.

use axum::Extension;
use axum::extract::State;
use hoster_core::access::{Caller, Operation};
use hoster_core::deployment::Status;
use hoster_core::variables::{BUILT_INS, Kind, Values};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::deployments::load;
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Path, Query};
use super::{AppState, auth};
use crate::store::{DeploymentRecord, TemplateRecord};

/// Where a variable's value comes from.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The customer gave it.
    Customer,
    /// Hoster generated it for this deployment (passwords, secrets without a default).
    Generated,
    /// The template's default.
    Default,
    /// Set by Hoster for every deployment (`HOSTER_*`).
    Hoster,
    /// No value: the compose file's own default (`${NAME:-...}`) applies, or it is empty.
    Unset,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VariableValue {
    pub name: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub secret: bool,
    /// `null` for a secret unless revealed, and when unset.
    pub value: Option<String>,
    pub source: Source,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Variables {
    pub variables: Vec<VariableValue>,
    /// After a change: when the values take effect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RevealQuery {
    /// `true` shows secret values too (the deployment's owner only; recorded in the audit log).
    reveal: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateVariables {
    /// New values by name; `null` returns a variable to the template's default (a generated
    /// secret gets a new value).
    #[schema(value_type = Object)]
    pub variables: serde_json::Map<String, serde_json::Value>,
}

fn view(state: &AppState, d: &DeploymentRecord, template: &TemplateRecord, values: &Values, reveal: bool) -> Variables {
    let built_ins = state.deployer.built_ins(d);
    let hoster = BUILT_INS.iter().map(|name| VariableValue {
        name: name.to_string(),
        description: "Set by Hoster".into(),
        kind: Kind::String,
        secret: false,
        value: built_ins.get(name).map(str::to_string),
        source: Source::Hoster,
    });
    let declared = template.spec.variables.iter().map(|v| {
        let (value, source) = match (values.get(&v.name), &v.default) {
            (Some(a), _) if a.generated => (Some(a.value.clone()), Source::Generated),
            (Some(a), _) => (Some(a.value.clone()), Source::Customer),
            (None, Some(default)) => (Some(default.clone()), Source::Default),
            (None, None) => (None, Source::Unset),
        };
        VariableValue {
            name: v.name.clone(),
            description: v.description.clone(),
            kind: v.kind,
            secret: v.is_secret(),
            value: value.filter(|_| reveal || !v.is_secret()),
            source,
        }
    });
    Variables {
        variables: declared.chain(hoster).collect(),
        message: None,
    }
}

/// A deployment's variables and their values; secrets withheld unless `reveal=true`.
#[utoipa::path(
    get,
    path = "/api/v1/deployments/{id}/variables",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id"), RevealQuery),
    responses(
        (status = 200, body = Variables),
        (status = 404, description = "deployment_not_found", body = ErrorBody)
    )
)]
pub async fn get_variables(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<RevealQuery>,
) -> Result<axum::Json<Variables>, ApiError> {
    let d = load(&state, &caller, Operation::ConfigureDeployment, &id).await?;
    let reveal = query.reveal.unwrap_or(false);
    let (template, values) = state.deployer.variables(&d).await?;
    if reveal {
        auth::audit(&state, &caller, "deployment.variables.reveal", &id, "").await;
    }
    Ok(axum::Json(view(&state, &d, &template, &values, reveal)))
}

/// Change a deployment's variable values. They are checked as at create and take effect at
/// the deployment's next start.
#[utoipa::path(
    patch,
    path = "/api/v1/deployments/{id}/variables",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id")),
    request_body = UpdateVariables,
    responses(
        (status = 200, body = Variables),
        (status = 400, description = "validation_failed: each wrong value under variables.NAME", body = ErrorBody),
        (status = 404, description = "deployment_not_found", body = ErrorBody)
    )
)]
pub async fn update_variables(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<UpdateVariables>,
) -> Result<axum::Json<Variables>, ApiError> {
    let d = load(&state, &caller, Operation::ConfigureDeployment, &id).await?;
    let (d, template, values) = state.deployer.update_variables(&d.id, &body.variables).await?;
    let names: Vec<&str> = body.variables.keys().map(String::as_str).collect();
    auth::audit(&state, &caller, "deployment.variables.update", &id, &names.join(",")).await;
    let mut answer = view(&state, &d, &template, &values, false);
    answer.message = Some(
        match d.status {
            Status::Pending | Status::Stopped | Status::Failed => {
                "Saved: the new values apply when the deployment starts."
            }
            _ => "Saved: the new values apply at the next start; stop and start the deployment to apply them now.",
        }
        .to_string(),
    );
    Ok(axum::Json(answer))
}
