//! `/api/v1/templates`: the marketplace's catalogue.

use crate::clock::Timestamp;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hoster_core::access::{Caller, Operation};
use hoster_core::error_code::ErrorCode;
use hoster_core::id::TemplateId;
use hoster_core::template::{ConfigFile, Limits, TemplateFields, TemplateSpec, Variable};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Path, Query, page};
use super::{AppState, auth};
use crate::clock;
use crate::store::{DeleteOutcome, TemplateFilter, TemplateRecord};

#[derive(Debug, Serialize, ToSchema)]
pub struct Template {
    #[schema(example = "tmpl_k3j5h2g7f4d6s8a9")]
    pub id: String,
    pub name: String,
    pub slug: String,
    pub version: String,
    pub description: String,
    pub creator_id: String,
    pub compose_spec: String,
    pub config_files: Vec<ConfigFile>,
    pub variables: Vec<Variable>,
    /// Monthly price in cents.
    pub price_monthly: i64,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub published: bool,
    /// An admin lifted the safe-compose policy for this template.
    pub trusted: bool,
    /// Why its creator deprecated this version (no new deployments), when they did.
    pub deprecation_message: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deprecated_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<TemplateRecord> for Template {
    fn from(r: TemplateRecord) -> Self {
        let s = r.spec;
        Template {
            id: r.id.to_string(),
            name: s.name,
            slug: s.slug,
            version: s.version,
            description: s.description,
            creator_id: s.creator_id,
            compose_spec: s.compose_spec,
            config_files: s.config_files,
            variables: s.variables.into_iter().map(Variable::redacted).collect(),
            price_monthly: s.price_monthly,
            category: s.category,
            tags: s.tags,
            published: r.published,
            trusted: r.trusted,
            deprecation_message: r.deprecated.as_ref().map(|(m, _)| m.clone()),
            deprecated_at: r.deprecated.map(|(_, at)| at),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateList {
    pub templates: Vec<Template>,
    /// How many templates match the filters, on all pages.
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1 to 100 (default 20).
    limit: Option<u32>,
    /// Matches to skip (default 0).
    offset: Option<u64>,
    creator_id: Option<String>,
    published: Option<bool>,
    /// Case-insensitive text searched for in the name and description.
    q: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TrustQuery {
    /// Admins only: store the template trusted, exempt from the safe-compose policy.
    trusted: Option<bool>,
}

/// Whether a create or update leaves the template trusted: when an admin asks for it, or an
/// admin changes an already trusted one. A change by anyone else puts it back under the policy.
fn stays_trusted(caller: &Caller, asked: Option<bool>, was: bool) -> Result<bool, ApiError> {
    match asked {
        Some(true) => {
            auth::require(caller, Operation::TrustTemplate)?;
            Ok(true)
        }
        Some(false) => Ok(false),
        None => Ok(was && caller.permits(Operation::TrustTemplate)),
    }
}

fn validate(fields: TemplateFields, limits: &Limits, trusted: bool) -> Result<TemplateSpec, ApiError> {
    let validated = if trusted {
        fields.validate_trusted(limits)
    } else {
        fields.validate(limits)
    };
    validated.map(|(spec, _)| spec).map_err(ApiError::validation)
}

fn parse_id(id: &str) -> Result<TemplateId, ApiError> {
    TemplateId::parse(id).ok_or_else(|| ApiError::template_not_found(id))
}

/// The template if the caller may `op` it: see it for reads, own it for changes. Not-yours
/// answers like unknown (404).
pub(crate) async fn load(
    state: &AppState,
    caller: &Caller,
    op: Operation,
    id: &str,
) -> Result<TemplateRecord, ApiError> {
    auth::require(caller, op)?;
    let tid = parse_id(id)?;
    let t = state
        .store
        .get_template(&tid)
        .await?
        .ok_or_else(|| ApiError::template_not_found(id))?;
    let allowed = match op {
        Operation::GetTemplate => caller.sees_template(&t.spec.creator_id, t.published),
        _ => caller.owns_template(&t.spec.creator_id),
    };
    if allowed {
        Ok(t)
    } else {
        Err(ApiError::template_not_found(id))
    }
}

fn published_conflict(id: &TemplateId) -> ApiError {
    ApiError::new(
        ErrorCode::TemplatePublished,
        format!("template `{id}` is published and cannot change; create a new version instead"),
    )
}

/// List templates, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/templates",
    tag = "templates",
    params(ListQuery),
    responses((status = 200, body = TemplateList))
)]
pub async fn list_templates(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    auth::require(&caller, Operation::ListTemplates)?;
    let page = page(query.limit, query.offset)?;
    let Some(listing) = caller.template_listing(query.published) else {
        return Ok(axum::Json(TemplateList {
            templates: Vec::new(),
            total: 0,
            limit: page.limit,
            offset: page.offset,
        })
        .into_response());
    };
    let filter = TemplateFilter {
        creator_id: query.creator_id,
        published: listing.published,
        visible_to: listing.visible_to.map(str::to_string),
        q: query.q.filter(|q| !q.is_empty()),
    };
    let key = (filter, page.limit, page.offset);
    // Read before the query: a write that commits meanwhile makes what it read stale.
    let generation = state.store.templates_generation();
    if let Some(body) = state.template_pages.get(&key, generation) {
        return Ok(json_body(body));
    }
    let (records, total) = state.store.list_templates(&key.0, page).await?;
    let list = TemplateList {
        templates: records.into_iter().map(Template::from).collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    };
    let body = Bytes::from(serde_json::to_vec(&list).expect("plain data serializes"));
    state.template_pages.put(key, generation, body.clone());
    Ok(json_body(body))
}

fn json_body(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

type PageKey = (TemplateFilter, u32, u64);

/// Rendered template list pages, each valid for the generation of the templates table it was
/// read at ([`crate::store::Store::templates_generation`]): any committed template write makes
/// every entry stale, so a page is never served after a row it shows changed. The catalogue is
/// read far more than written; a hit costs no query, row decoding or serialisation.
#[derive(Default)]
pub struct PageCache {
    pages: std::sync::Mutex<std::collections::HashMap<PageKey, (u64, Bytes)>>,
}

impl PageCache {
    /// Pages kept at most: filters with arbitrary `q` must not grow it without bound.
    const MAX_PAGES: usize = 512;

    fn get(&self, key: &PageKey, generation: u64) -> Option<Bytes> {
        let pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        pages
            .get(key)
            .filter(|(g, _)| *g == generation)
            .map(|(_, body)| body.clone())
    }

    fn put(&self, key: PageKey, generation: u64, body: Bytes) {
        let mut pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        if pages.len() >= Self::MAX_PAGES {
            pages.retain(|_, (g, _)| *g == generation);
            if pages.len() >= Self::MAX_PAGES {
                pages.clear();
            }
        }
        pages.insert(key, (generation, body));
    }
}

/// Create a template. The compose document is parsed and validated now, not at deploy time.
#[utoipa::path(
    post,
    path = "/api/v1/templates",
    tag = "templates",
    params(TrustQuery),
    request_body = TemplateFields,
    responses(
        (status = 201, body = Template),
        (status = 400, description = "invalid_json or validation_error", body = ErrorBody),
        (status = 409, description = "template_exists: same slug and version", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody)
    )
)]
pub async fn create_template(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<TrustQuery>,
    Json(mut fields): Json<TemplateFields>,
) -> Result<(StatusCode, HeaderMap, axum::Json<Template>), ApiError> {
    auth::require(&caller, Operation::CreateTemplate)?;
    fields.creator_id = auth::acting_for(&caller, "creator_id", fields.creator_id)?;
    let trusted = stays_trusted(&caller, query.trusted, false)?;
    let spec = validate(fields, &state.limits, trusted)?;
    let action = if trusted {
        "template.create_trusted"
    } else {
        "template.create"
    };
    let slug = spec.slug.clone();
    let record = insert_new(&state, &caller, spec, trusted, (action, &slug)).await?;
    Ok(created(record))
}

/// Stores a new, unpublished template made of `spec` and audits it as `action` with `detail`.
pub(super) async fn insert_new(
    state: &AppState,
    caller: &Caller,
    spec: TemplateSpec,
    trusted: bool,
    (action, detail): (&str, &str),
) -> Result<TemplateRecord, ApiError> {
    let now = clock::now();
    let record = TemplateRecord {
        id: TemplateId::from_random(rand::random()),
        spec,
        published: false,
        trusted,
        deprecated: None,
        created_at: now,
        updated_at: now,
    };
    state.store.insert_template(&record).await?;
    auth::audit(state, caller, action, record.id.as_str(), detail).await;
    Ok(record)
}

/// 201 with the template and its `Location`.
fn created(record: TemplateRecord) -> (StatusCode, HeaderMap, axum::Json<Template>) {
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/templates/{}", record.id)) {
        headers.insert(header::LOCATION, location);
    }
    (StatusCode::CREATED, headers, axum::Json(record.into()))
}

/// Get one template.
#[utoipa::path(
    get,
    path = "/api/v1/templates/{id}",
    tag = "templates",
    params(("id" = String, Path, description = "Template id")),
    responses((status = 200, body = Template))
)]
pub async fn get_template(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<axum::Json<Template>, ApiError> {
    Ok(axum::Json(
        load(&state, &caller, Operation::GetTemplate, &id).await?.into(),
    ))
}

/// Change an unpublished template; only the fields sent change.
#[utoipa::path(
    put,
    path = "/api/v1/templates/{id}",
    tag = "templates",
    params(("id" = String, Path, description = "Template id"), TrustQuery),
    request_body = TemplateFields,
    responses(
        (status = 200, body = Template),
        (status = 409, description = "template_published or template_exists", body = ErrorBody)
    )
)]
pub async fn update_template(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<TrustQuery>,
    Json(mut patch): Json<TemplateFields>,
) -> Result<axum::Json<Template>, ApiError> {
    let current = load(&state, &caller, Operation::UpdateTemplate, &id).await?;
    if patch.creator_id.is_some() {
        patch.creator_id = auth::acting_for(&caller, "creator_id", patch.creator_id)?;
    }
    let trusted = stays_trusted(&caller, query.trusted, current.trusted)?;
    if current.published {
        return Err(published_conflict(&current.id));
    }
    let fields = patch.merged_over(&current.spec).map_err(ApiError::validation)?;
    let spec = validate(fields, &state.limits, trusted)?;
    let now = clock::now();
    if !state
        .store
        .update_unpublished_template(&current.id, &spec, trusted, &now)
        .await?
    {
        // Published or deleted since we read it.
        return Err(match state.store.get_template(&current.id).await? {
            Some(_) => published_conflict(&current.id),
            None => ApiError::template_not_found(&id),
        });
    }
    let detail = if trusted { "trusted" } else { "" };
    auth::audit(&state, &caller, "template.update", &id, detail).await;
    Ok(axum::Json(
        TemplateRecord {
            spec,
            trusted,
            updated_at: now,
            ..current
        }
        .into(),
    ))
}

/// Delete a template no deployment uses.
#[utoipa::path(
    delete,
    path = "/api/v1/templates/{id}",
    tag = "templates",
    params(("id" = String, Path, description = "Template id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 409, description = "template_in_use", body = ErrorBody)
    )
)]
pub async fn delete_template(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let tid = load(&state, &caller, Operation::DeleteTemplate, &id).await?.id;
    match state.store.delete_template(&tid).await? {
        DeleteOutcome::Deleted => {
            auth::audit(&state, &caller, "template.delete", &id, "").await;
            Ok(StatusCode::NO_CONTENT)
        }
        DeleteOutcome::NotFound => Err(ApiError::template_not_found(&id)),
        DeleteOutcome::InUse { deployments } => Err(ApiError::new(
            ErrorCode::TemplateInUse,
            format!(
                "template `{id}` is used by {deployments} deployment(s), running it or able to roll back to it; delete them first"
            ),
        )),
    }
}

/// Publish a template, making it deployable and immutable.
#[utoipa::path(
    post,
    path = "/api/v1/templates/{id}/publish",
    tag = "templates",
    params(("id" = String, Path, description = "Template id")),
    responses(
        (status = 200, body = Template),
        (status = 409, description = "already_published", body = ErrorBody)
    )
)]
pub async fn publish_template(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<axum::Json<Template>, ApiError> {
    let current = load(&state, &caller, Operation::PublishTemplate, &id).await?;
    let now = clock::now();
    if current.published || !state.store.publish_template(&current.id, &now).await? {
        return Err(match state.store.get_template(&current.id).await? {
            Some(_) => ApiError::new(
                ErrorCode::AlreadyPublished,
                format!("template `{id}` is already published"),
            ),
            None => ApiError::template_not_found(&id),
        });
    }
    auth::audit(&state, &caller, "template.publish", &id, "").await;
    Ok(axum::Json(
        TemplateRecord {
            published: true,
            updated_at: now,
            ..current
        }
        .into(),
    ))
}

/// Lift the safe-compose policy for a template (admins only; recorded in the audit log).
#[utoipa::path(
    post,
    path = "/api/v1/templates/{id}/trust",
    tag = "templates",
    params(("id" = String, Path, description = "Template id")),
    responses((status = 200, body = Template))
)]
pub async fn trust_template(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<axum::Json<Template>, ApiError> {
    set_trusted(state, caller, id, true).await
}

/// Put a template back under the safe-compose policy (admins only).
#[utoipa::path(
    delete,
    path = "/api/v1/templates/{id}/trust",
    tag = "templates",
    params(("id" = String, Path, description = "Template id")),
    responses((status = 200, body = Template))
)]
pub async fn distrust_template(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<axum::Json<Template>, ApiError> {
    set_trusted(state, caller, id, false).await
}

async fn set_trusted(
    state: AppState,
    caller: Caller,
    id: String,
    trusted: bool,
) -> Result<axum::Json<Template>, ApiError> {
    let current = load(&state, &caller, Operation::TrustTemplate, &id).await?;
    let now = clock::now();
    if !state.store.set_template_trusted(&current.id, trusted, &now).await? {
        return Err(ApiError::template_not_found(&id));
    }
    let action = if trusted { "template.trust" } else { "template.distrust" };
    tracing::warn!(template = %id, actor = caller.describe(), trusted, "safe-compose policy changed for a template");
    auth::audit(&state, &caller, action, &id, "").await;
    Ok(axum::Json(
        TemplateRecord {
            trusted,
            updated_at: now,
            ..current
        }
        .into(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateVersions {
    /// The product's versions the caller may see, newest first (semantic version order).
    pub versions: Vec<Template>,
}

/// Every version of this template's product (its creator's templates of the same slug) that
/// the caller may see: published ones, and unpublished ones to their creator and admins.
#[utoipa::path(
    get,
    path = "/api/v1/templates/{id}/versions",
    tag = "templates",
    params(("id" = String, Path, description = "Template id: any version of the product")),
    responses((status = 200, body = TemplateVersions), (status = 404, body = ErrorBody))
)]
pub async fn list_versions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<axum::Json<TemplateVersions>, ApiError> {
    let t = load(&state, &caller, Operation::GetTemplate, &id).await?;
    let mut versions: Vec<TemplateRecord> = state
        .store
        .template_versions(&t.spec.creator_id, &t.spec.slug)
        .await?
        .into_iter()
        .filter(|v| caller.sees_template(&v.spec.creator_id, v.published))
        .collect();
    versions.sort_by(|a, b| hoster_core::template::version_order(&b.spec.version, &a.spec.version));
    Ok(axum::Json(TemplateVersions {
        versions: versions.into_iter().map(Template::from).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVersion {
    /// The new version: a semantic version newer than every version of the product.
    pub version: Option<String>,
}

/// A new version of the product: an unpublished copy of this version with `version`, to
/// edit (`PUT`) and publish. Its creator's or an admin's; the copy is under the safe-compose
/// policy until an admin trusts it.
#[utoipa::path(
    post,
    path = "/api/v1/templates/{id}/versions",
    tag = "templates",
    params(("id" = String, Path, description = "Template id: the version to copy")),
    request_body = NewVersion,
    responses(
        (status = 201, body = Template),
        (status = 400, description = "validation_error: no version, or the copy is refused by the policy", body = ErrorBody),
        (status = 409, description = "version_not_newer or template_exists", body = ErrorBody)
    )
)]
pub async fn create_version(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<NewVersion>,
) -> Result<(StatusCode, HeaderMap, axum::Json<Template>), ApiError> {
    auth::require(&caller, Operation::CreateTemplate)?;
    let source = load(&state, &caller, Operation::UpdateTemplate, &id).await?;
    let Some(version) = body.version else {
        return Err(ApiError::validation(hoster_core::problem::Problems(vec![
            hoster_core::problem::Problem::field("version", "required"),
        ])));
    };
    let fields = TemplateFields {
        version: Some(version.clone()),
        ..TemplateFields::default()
    }
    .merged_over(&source.spec)
    .map_err(ApiError::validation)?;
    let spec = validate(fields, &state.limits, false)?;
    let existing = state
        .store
        .template_versions(&source.spec.creator_id, &source.spec.slug)
        .await?;
    let versions: Vec<&str> = existing.iter().map(|t| t.spec.version.as_str()).collect();
    if !hoster_core::template::is_newest(&spec.version, &versions) {
        return Err(ApiError::new(
            ErrorCode::VersionNotNewer,
            format!(
                "version `{version}` is not newer than every version of `{}` ({})",
                spec.slug,
                versions.join(", ")
            ),
        ));
    }
    let record = insert_new(&state, &caller, spec, false, ("template.new_version", &id)).await?;
    Ok(created(record))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deprecate {
    /// What customers read: why, and what to move to (1 to 500 characters).
    pub message: Option<String>,
}

/// Deprecate a published version: its deployments keep running and are offered an upgrade;
/// new deployments of it are refused (409 `template_deprecated` with the message). Again:
/// changes the message.
#[utoipa::path(
    post,
    path = "/api/v1/templates/{id}/deprecate",
    tag = "templates",
    params(("id" = String, Path, description = "Template id")),
    request_body = Deprecate,
    responses(
        (status = 200, body = Template),
        (status = 400, description = "validation_error: no message", body = ErrorBody),
        (status = 409, description = "template_not_published", body = ErrorBody)
    )
)]
pub async fn deprecate_template(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<Deprecate>,
) -> Result<axum::Json<Template>, ApiError> {
    let current = load(&state, &caller, Operation::PublishTemplate, &id).await?;
    let message = body.message.unwrap_or_default().trim().to_string();
    if message.is_empty() || message.chars().count() > 500 {
        return Err(ApiError::validation(hoster_core::problem::Problems(vec![
            hoster_core::problem::Problem::field("message", "must be 1 to 500 characters long"),
        ])));
    }
    let now = clock::now();
    if !state.store.deprecate_template(&current.id, &message, &now).await? {
        return Err(match state.store.get_template(&current.id).await? {
            Some(_) => ApiError::new(
                ErrorCode::TemplateNotPublished,
                format!("template `{id}` is not published; delete it instead"),
            ),
            None => ApiError::template_not_found(&id),
        });
    }
    auth::audit(&state, &caller, "template.deprecate", &id, &message).await;
    let updated = state
        .store
        .get_template(&current.id)
        .await?
        .ok_or_else(|| ApiError::template_not_found(&id))?;
    Ok(axum::Json(updated.into()))
}
