//! `GET /api/v1/usage` and `GET /api/v1/creators/{id}/earnings`: what deployments cost and
//! what creators' templates earned over a window, from the usage periods the store keeps
//! (`hoster_core::usage` does the arithmetic).

use std::collections::{BTreeMap, HashMap};

use axum::Extension;
use axum::extract::State;
use hoster_core::access::{Caller, Operation};
use hoster_core::problem::{Problem, Problems};
use hoster_core::usage::{Period, charge, seconds_within};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Path, Query};
use super::{AppState, auth};
use crate::clock::Timestamp;
use crate::store::{UsageOf, UsagePeriod};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// Whose deployments (a customer's token: its own, the default).
    customer_id: Option<String>,
    /// The window's start, RFC 3339 (included).
    from: Option<String>,
    /// The window's end, RFC 3339 (excluded).
    to: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    /// The window's start, RFC 3339 (included).
    from: Option<String>,
    /// The window's end, RFC 3339 (excluded).
    to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PeriodView {
    pub template_id: String,
    pub template_version: String,
    /// Cents per 30-day month.
    pub price_monthly: i64,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    /// Null while it lasts.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<Timestamp>,
    /// Whole seconds of it inside the window.
    pub seconds: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentUsage {
    pub deployment_id: String,
    pub deployment_name: String,
    pub customer_id: String,
    /// Whole seconds charged inside the window.
    pub seconds: i64,
    /// Cents: the exact sum of price × seconds over a month's 2,592,000, rounded once, half up.
    pub amount_cents: i64,
    pub periods: Vec<PeriodView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageReport {
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    /// Null: every customer's (admins).
    pub customer_id: Option<String>,
    pub deployments: Vec<DeploymentUsage>,
    pub total_cents: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateEarnings {
    pub template_id: String,
    pub template_name: String,
    pub template_version: String,
    /// Deployments charged for it inside the window.
    pub deployments: usize,
    pub seconds: i64,
    /// Cents: each deployment's amount on this version rounded once, then summed.
    pub amount_cents: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EarningsReport {
    pub creator_id: String,
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    pub templates: Vec<TemplateEarnings>,
    pub total_cents: i64,
}

/// `from` and `to`, both required, `from` before `to`.
fn window(from: Option<String>, to: Option<String>) -> Result<(Timestamp, Timestamp), ApiError> {
    let mut problems = Vec::new();
    let mut parse = |field: &'static str, text: Option<String>| match text {
        None => {
            problems.push(Problem::field(field, "required (RFC 3339, e.g. 2026-11-01T00:00:00Z)"));
            None
        }
        Some(text) => text
            .parse::<Timestamp>()
            .map_err(|_| problems.push(Problem::field(field, format!("`{text}` is not an RFC 3339 time"))))
            .ok(),
    };
    let (from, to) = (parse("from", from), parse("to", to));
    match (from, to) {
        (Some(from), Some(to)) if from < to => Ok((from, to)),
        (Some(_), Some(_)) => Err(ApiError::validation(Problems(vec![Problem::field(
            "to",
            "must be after `from`",
        )]))),
        _ => Err(ApiError::validation(Problems(problems))),
    }
}

fn period(p: &UsagePeriod) -> Period {
    Period {
        price_monthly: p.price_monthly,
        started_at: p.started_at.unix_millis(),
        ended_at: p.ended_at.map(|t| t.unix_millis()),
    }
}

/// What deployments cost over a window: per deployment its periods (one per version it ran),
/// seconds and amount, and the total. Deployments are charged from their first successful
/// start until deleted, stopped or not.
#[utoipa::path(
    get,
    path = "/api/v1/usage",
    tag = "usage",
    params(UsageQuery),
    responses((status = 200, body = UsageReport), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn usage(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<UsageQuery>,
) -> Result<axum::Json<UsageReport>, ApiError> {
    auth::require(&caller, Operation::ReadUsage)?;
    let customer = auth::acting_for(&caller, "customer_id", query.customer_id)?;
    let (from, to) = window(query.from, query.to)?;
    let whose = customer.as_deref().map_or(UsageOf::Everyone, UsageOf::Customer);
    let rows = state.store.usage_periods(whose, &from, &to).await?;
    let (start, end) = (from.unix_millis(), to.unix_millis());
    // Each deployment's periods, deployments in the order of their first period.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<Vec<UsagePeriod>> = Vec::new();
    for row in rows {
        match index.get(&row.deployment_id) {
            Some(&i) => groups[i].push(row),
            None => {
                index.insert(row.deployment_id.clone(), groups.len());
                groups.push(vec![row]);
            }
        }
    }
    let deployments: Vec<DeploymentUsage> = groups
        .into_iter()
        .map(|rows| {
            let periods: Vec<Period> = rows.iter().map(period).collect();
            let (seconds, amount_cents) = charge(&periods, start, end);
            let first = &rows[0];
            DeploymentUsage {
                deployment_id: first.deployment_id.clone(),
                deployment_name: first.deployment_name.clone(),
                customer_id: first.customer_id.clone(),
                seconds,
                amount_cents,
                periods: rows
                    .iter()
                    .zip(&periods)
                    .map(|(r, p)| PeriodView {
                        template_id: r.template_id.clone(),
                        template_version: r.template_version.clone(),
                        price_monthly: r.price_monthly,
                        started_at: r.started_at,
                        ended_at: r.ended_at,
                        seconds: seconds_within(p, start, end),
                    })
                    .collect(),
            }
        })
        .collect();
    let total_cents = deployments.iter().map(|d| d.amount_cents).sum();
    Ok(axum::Json(UsageReport {
        from,
        to,
        customer_id: customer,
        deployments,
        total_cents,
    }))
}

/// What a creator's template versions earned over a window: per version the deployments
/// charged for it, their seconds and amount (each deployment's rounded once), and the total.
#[utoipa::path(
    get,
    path = "/api/v1/creators/{id}/earnings",
    tag = "usage",
    params(("id" = String, Path, description = "Creator id"), WindowQuery),
    responses((status = 200, body = EarningsReport), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn earnings(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(creator): Path<String>,
    Query(query): Query<WindowQuery>,
) -> Result<axum::Json<EarningsReport>, ApiError> {
    auth::require(&caller, Operation::ReadEarnings)?;
    if !caller.owns_template(&creator) {
        return Err(ApiError::forbidden(format!(
            "the earnings of `{creator}` are theirs to read (and admins')"
        )));
    }
    let (from, to) = window(query.from, query.to)?;
    let rows = state
        .store
        .usage_periods(UsageOf::Creator(&creator), &from, &to)
        .await?;
    let (start, end) = (from.unix_millis(), to.unix_millis());
    // Each deployment's periods on one version are charged (and rounded) together.
    let mut pairs: BTreeMap<(String, String), Vec<&UsagePeriod>> = BTreeMap::new();
    for row in &rows {
        pairs
            .entry((row.template_id.clone(), row.deployment_id.clone()))
            .or_default()
            .push(row);
    }
    let mut templates: BTreeMap<String, TemplateEarnings> = BTreeMap::new();
    for ((template_id, _), rows) in pairs {
        let periods: Vec<Period> = rows.iter().map(|r| period(r)).collect();
        let (seconds, amount) = charge(&periods, start, end);
        let entry = templates
            .entry(template_id.clone())
            .or_insert_with(|| TemplateEarnings {
                template_id,
                template_name: rows[0].template_name.clone(),
                template_version: rows[0].template_version.clone(),
                deployments: 0,
                seconds: 0,
                amount_cents: 0,
            });
        entry.deployments += 1;
        entry.seconds += seconds;
        entry.amount_cents += amount;
    }
    let templates: Vec<TemplateEarnings> = templates.into_values().collect();
    let total_cents = templates.iter().map(|t| t.amount_cents).sum();
    Ok(axum::Json(EarningsReport {
        creator_id: creator,
        from,
        to,
        templates,
        total_cents,
    }))
}
