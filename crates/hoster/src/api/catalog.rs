//! `GET /api/v1/catalog`: what customers pick from, the newest published, non-deprecated
//! version of each template product, with a summary of what it runs.

use std::collections::HashMap;

use axum::Extension;
use axum::extract::State;
use hoster_core::access::{Caller, Operation};
use hoster_core::template::{TemplateFields, Variable, version_order};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Query, page};
use super::{AppState, auth};
use crate::clock::Timestamp;
use crate::store::TemplateRecord;

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CatalogSort {
    /// The most recently published product versions first (the default).
    #[default]
    Newest,
    /// The most active deployments (of all the product's versions) first.
    Popular,
    /// The cheapest first.
    Price,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CatalogQuery {
    /// Case-insensitive words of the name, description or tags.
    q: Option<String>,
    category: Option<String>,
    /// Entries carrying this tag.
    tag: Option<String>,
    sort: Option<CatalogSort>,
    /// Page size, 1 to 100 (default 20).
    limit: Option<u32>,
    /// Entries to skip (default 0).
    offset: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceSummary {
    pub name: String,
    pub image: String,
    /// Container ports it publishes.
    pub ports: Vec<u16>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogEntry {
    /// The version to deploy: the product's newest published, non-deprecated one.
    pub template_id: String,
    pub name: String,
    pub slug: String,
    pub version: String,
    pub description: String,
    pub creator_id: String,
    pub category: Option<String>,
    pub tags: Vec<String>,
    /// Cents per 30-day month.
    pub price_monthly: i64,
    pub services: Vec<ServiceSummary>,
    /// What a customer may or must give (secret defaults never shown).
    pub variables: Vec<Variable>,
    /// Deployments of any version of the product that are not being deleted.
    pub active_deployments: i64,
    #[schema(value_type = String, format = DateTime)]
    pub published_version_created_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Catalog {
    pub entries: Vec<CatalogEntry>,
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}

/// What it runs, from its compose model (checked at create, so it parses).
pub(crate) fn services(t: &TemplateRecord, state: &AppState) -> Vec<ServiceSummary> {
    let fields = TemplateFields::default().merged_over(&t.spec);
    let Some(Ok((_, compose))) = fields.ok().map(|f| f.validate_trusted(&state.limits)) else {
        return Vec::new();
    };
    compose
        .services
        .iter()
        .map(|s| ServiceSummary {
            name: s.name.clone(),
            image: s.image.clone(),
            ports: s.ports.iter().map(|p| p.container_port).collect(),
        })
        .collect()
}

fn matches(t: &TemplateRecord, query: &CatalogQuery) -> bool {
    let s = &t.spec;
    let words = query.q.as_deref().unwrap_or_default().to_lowercase();
    let text = format!("{} {} {}", s.name, s.description, s.tags.join(" ")).to_lowercase();
    words.split_whitespace().all(|w| text.contains(w))
        && query.category.as_ref().is_none_or(|c| s.category.as_ref() == Some(c))
        && query.tag.as_ref().is_none_or(|tag| s.tags.contains(tag))
}

/// The catalog: one entry per template product (its creator's templates of one slug), the
/// newest published version that is not deprecated. Any admin, creator or customer token may
/// read it.
#[utoipa::path(
    get,
    path = "/api/v1/catalog",
    tag = "templates",
    params(CatalogQuery),
    responses((status = 200, body = Catalog), (status = 400, body = ErrorBody))
)]
pub async fn catalog(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<CatalogQuery>,
) -> Result<axum::Json<Catalog>, ApiError> {
    auth::require(&caller, Operation::ListTemplates)?;
    let page = page(query.limit, query.offset)?;
    let active = state.store.active_deployments().await?;
    let mut products: HashMap<(String, String), (TemplateRecord, i64)> = HashMap::new();
    for t in state.store.offered_templates().await? {
        let deployments = active.get(&t.id).copied().unwrap_or(0);
        let key = (t.spec.creator_id.clone(), t.spec.slug.clone());
        match products.get_mut(&key) {
            Some((newest, count)) => {
                *count += deployments;
                if version_order(&t.spec.version, &newest.spec.version).is_gt() {
                    *newest = t;
                }
            }
            None => {
                products.insert(key, (t, deployments));
            }
        }
    }
    let mut entries: Vec<(TemplateRecord, i64)> = products.into_values().filter(|(t, _)| matches(t, &query)).collect();
    match query.sort.unwrap_or_default() {
        CatalogSort::Newest => entries.sort_by_key(|e| std::cmp::Reverse(e.0.created_at)),
        CatalogSort::Popular => entries.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.spec.name.cmp(&b.0.spec.name))),
        CatalogSort::Price => entries.sort_by(|a, b| {
            a.0.spec
                .price_monthly
                .cmp(&b.0.spec.price_monthly)
                .then(a.0.spec.name.cmp(&b.0.spec.name))
        }),
    }
    let total = entries.len() as u64;
    let entries = entries
        .into_iter()
        .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
        .take(page.limit as usize)
        .map(|(t, active_deployments)| CatalogEntry {
            services: services(&t, &state),
            template_id: t.id.to_string(),
            name: t.spec.name,
            slug: t.spec.slug,
            version: t.spec.version,
            description: t.spec.description,
            creator_id: t.spec.creator_id,
            category: t.spec.category,
            tags: t.spec.tags,
            price_monthly: t.spec.price_monthly,
            variables: t.spec.variables.into_iter().map(Variable::redacted).collect(),
            active_deployments,
            published_version_created_at: t.created_at,
        })
        .collect();
    Ok(axum::Json(Catalog {
        entries,
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}
