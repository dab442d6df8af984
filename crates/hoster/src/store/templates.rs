//! The `templates` table.

use std::collections::HashMap;

use hoster_core::id::TemplateId;
use hoster_core::template::{ConfigFile, TemplateSpec, Variable};
use sqlx::Row;
use sqlx::types::Json;

use super::{Page, Store, StoreError};
use crate::clock::Timestamp;

/// A stored template: its validated content plus identity and lifecycle.
#[derive(Debug, Clone)]
pub struct TemplateRecord {
    pub id: TemplateId,
    pub spec: TemplateSpec,
    pub published: bool,
    /// An admin lifted the safe-compose policy for it.
    pub trusted: bool,
    /// Its creator deprecated it: why, and when.
    pub deprecated: Option<(String, Timestamp)>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What a deployment of one template version is offered: see [`Store::offers`].
#[derive(Debug, Clone)]
pub struct Offer {
    pub version: String,
    /// The deprecation message, when its creator deprecated it.
    pub deprecated: Option<String>,
    /// The product's other published, non-deprecated versions: (id, version).
    pub others: Vec<(TemplateId, String)>,
}

/// A version and one other version of its product, as [`Store::offers`] reads them.
#[derive(sqlx::FromRow)]
struct OfferRow {
    #[sqlx(try_from = "String")]
    id: TemplateId,
    version: String,
    deprecation_message: Option<String>,
    deprecated_at: Option<Timestamp>,
    other: Option<String>,
    other_version: Option<String>,
}

/// A row of `templates`, as stored: lists are JSON text.
#[derive(sqlx::FromRow)]
struct TemplateRow {
    #[sqlx(try_from = "String")]
    id: TemplateId,
    name: String,
    slug: String,
    version: String,
    description: String,
    creator_id: String,
    compose_spec: String,
    config_files: Json<Vec<ConfigFile>>,
    variables: Json<Vec<Variable>>,
    price_monthly: i64,
    category: Option<String>,
    tags: Json<Vec<String>>,
    published: bool,
    created_at: Timestamp,
    updated_at: Timestamp,
    trusted: bool,
    deprecated_at: Option<Timestamp>,
    deprecation_message: Option<String>,
}

/// What a secret default is bound to when sealed.
fn default_context(name: &str) -> String {
    format!("template default {name}")
}

impl Store {
    /// A row as a record, its secret defaults opened.
    fn template_record(&self, row: TemplateRow) -> Result<TemplateRecord, StoreError> {
        let variables = row
            .variables
            .0
            .into_iter()
            .map(|v| match (&v.default, v.is_secret()) {
                (Some(sealed), true) => {
                    let default = self
                        .sealer
                        .open(sealed, &default_context(&v.name))
                        .map_err(StoreError::Sealing)?;
                    Ok(Variable {
                        default: Some(default),
                        ..v
                    })
                }
                _ => Ok(v),
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(TemplateRecord {
            id: row.id,
            spec: TemplateSpec {
                name: row.name,
                slug: row.slug,
                version: row.version,
                description: row.description,
                creator_id: row.creator_id,
                compose_spec: row.compose_spec,
                config_files: row.config_files.0,
                variables,
                price_monthly: row.price_monthly,
                category: row.category,
                tags: row.tags.0,
            },
            published: row.published,
            trusted: row.trusted,
            deprecated: row
                .deprecated_at
                .map(|at| (row.deprecation_message.unwrap_or_default(), at)),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    /// The variables as stored: secret defaults sealed.
    fn sealed_variables(&self, variables: &[Variable]) -> Vec<Variable> {
        variables
            .iter()
            .map(|v| match (&v.default, v.is_secret()) {
                (Some(plain), true) => Variable {
                    default: Some(self.sealer.seal(plain, &default_context(&v.name))),
                    ..v.clone()
                },
                _ => v.clone(),
            })
            .collect()
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Hash)]
pub struct TemplateFilter {
    pub creator_id: Option<String>,
    pub published: Option<bool>,
    /// Only templates that are published or by this creator.
    pub visible_to: Option<String>,
    /// Case-insensitive substring of the name or description.
    pub q: Option<String>,
}

type TotalsKey = (Option<String>, Option<bool>, Option<String>, Option<String>);

/// Totals of template lists by filter, valid for one generation of the table: every committed
/// write bumps the generation, so a total is never served after the rows it counted changed. Saves
/// the COUNT query on the hot, read-mostly catalogue path.
#[derive(Default)]
pub(super) struct TotalsCache {
    generation: std::sync::atomic::AtomicU64,
    totals: std::sync::Mutex<std::collections::HashMap<TotalsKey, (u64, u64)>>,
}

impl TotalsCache {
    /// Read before counting, so a write that lands during the count makes the result stale.
    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn invalidate(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    fn get(&self, key: &TotalsKey, generation: u64) -> Option<u64> {
        let totals = self.totals.lock().expect("totals cache poisoned");
        totals
            .get(key)
            .filter(|(g, _)| *g == generation)
            .map(|(_, total)| *total)
    }

    fn put(&self, key: TotalsKey, generation: u64, total: u64) {
        let mut totals = self.totals.lock().expect("totals cache poisoned");
        // Bounded: arbitrary `q` values must not grow it without limit.
        if totals.len() >= 1024 {
            totals.clear();
        }
        totals.insert(key, (generation, total));
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    NotFound,
    InUse { deployments: i64 },
}

/// The deployments that use template `?1`: running it, or able to roll back to it.
const USERS: &str = "template_id = ?1 OR id IN (SELECT deployment_id FROM deployment_versions WHERE template_id = ?1)";

/// The columns a template's content is stored in, bound by [`bind_spec`] as `?2` to `?12`.
const SPEC_COLUMNS: &str = "name, slug, version, description, creator_id, compose_spec, config_files, variables, price_monthly, category, tags";
const SPEC_PARAMETERS: &str = "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12";

const COLUMNS: &str = "id, name, slug, version, description, creator_id, compose_spec, config_files, \
                       variables, price_monthly, category, tags, published, created_at, updated_at, trusted, \
                       deprecated_at, deprecation_message";

const FILTER: &str = "(?1 IS NULL OR creator_id = ?1) AND (?2 IS NULL OR published = ?2) AND \
                      (?3 IS NULL OR name LIKE ?3 ESCAPE '\\' OR description LIKE ?3 ESCAPE '\\') AND \
                      (?6 IS NULL OR published = 1 OR creator_id = ?6)";

type Statement<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// The one bind list of a template's content, for insert and update alike (after `?1`, the id).
fn bind_spec<'q>(statement: Statement<'q>, s: &'q TemplateSpec, sealed_variables: Vec<Variable>) -> Statement<'q> {
    statement
        .bind(&s.name)
        .bind(&s.slug)
        .bind(&s.version)
        .bind(&s.description)
        .bind(&s.creator_id)
        .bind(&s.compose_spec)
        .bind(Json(&s.config_files))
        .bind(Json(sealed_variables))
        .bind(s.price_monthly)
        .bind(&s.category)
        .bind(Json(&s.tags))
}

/// `%term%` for LIKE, with the wildcard characters of the term itself escaped.
fn like_pattern(term: &str) -> String {
    let escaped = term.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

fn slug_version_conflict(e: sqlx::Error, spec: &TemplateSpec) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::TemplateExists(format!(
            "a template with slug `{}` and version `{}` already exists; publish a new version instead",
            spec.slug, spec.version
        )),
        _ => StoreError::Database(e),
    }
}

impl Store {
    /// Stores a new template: a new product, or a new version of its creator's product of the
    /// same slug; a slug another creator's product has is refused in the same statement.
    pub async fn insert_template(&self, t: &TemplateRecord) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO templates (id, {SPEC_COLUMNS}, published, created_at, updated_at, trusted) \
             SELECT ?1, {SPEC_PARAMETERS}, ?13, ?14, ?15, ?16 \
             WHERE NOT EXISTS (SELECT 1 FROM templates WHERE slug = ?3 AND creator_id <> ?6)"
        );
        let inserted = bind_spec(
            sqlx::query(&sql).bind(t.id.as_str()),
            &t.spec,
            self.sealed_variables(&t.spec.variables),
        )
        .bind(t.published)
        .bind(t.created_at)
        .bind(t.updated_at)
        .bind(t.trusted)
        .execute(&self.pool)
        .await
        .map_err(|e| slug_version_conflict(e, &t.spec))?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::TemplateExists(format!(
                "the name `{}` (slug `{}`) is another creator's template; choose another name",
                t.spec.name, t.spec.slug
            )));
        }
        self.template_totals.invalidate();
        Ok(())
    }

    /// Every published, non-deprecated template: what the catalog picks from.
    pub async fn offered_templates(&self) -> Result<Vec<TemplateRecord>, StoreError> {
        let rows: Vec<TemplateRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM templates WHERE published = 1 AND deprecated_at IS NULL"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(|row| self.template_record(row)).collect()
    }

    /// Deployments of each template that are not being deleted.
    pub async fn active_deployments(&self) -> Result<HashMap<TemplateId, i64>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT template_id, COUNT(*) FROM deployments WHERE status NOT IN ('deleting', 'deleted') \
             AND delete_requested = 0 GROUP BY template_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, n)| {
                Ok((
                    TemplateId::try_from(id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    n,
                ))
            })
            .collect()
    }

    /// Every version of the creator's product `slug`, in no particular order.
    pub async fn template_versions(&self, creator_id: &str, slug: &str) -> Result<Vec<TemplateRecord>, StoreError> {
        let rows: Vec<TemplateRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM templates WHERE creator_id = ?1 AND slug = ?2"
        ))
        .bind(creator_id)
        .bind(slug)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(|row| self.template_record(row)).collect()
    }

    /// Marks a published version deprecated (again: a new message). `false`: it is gone or
    /// not published.
    pub async fn deprecate_template(&self, id: &TemplateId, message: &str, at: &Timestamp) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE templates SET deprecated_at = COALESCE(deprecated_at, ?3), deprecation_message = ?2 \
             WHERE id = ?1 AND published = 1",
        )
        .bind(id.as_str())
        .bind(message)
        .bind(at)
        .execute(&self.pool)
        .await?;
        self.template_totals.invalidate();
        Ok(done.rows_affected() == 1)
    }

    /// For deployments of these template versions: each version's own version and
    /// deprecation message, and the other versions of its product that are published and not
    /// deprecated. One query for a whole page.
    pub async fn offers(&self, ids: &[&TemplateId]) -> Result<HashMap<TemplateId, Offer>, StoreError> {
        let ids: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
        let rows: Vec<OfferRow> = sqlx::query_as(
            "SELECT t.id, t.version, t.deprecation_message, t.deprecated_at, o.id AS other, o.version AS other_version \
             FROM templates t LEFT JOIN templates o ON o.creator_id = t.creator_id AND o.slug = t.slug \
               AND o.id <> t.id AND o.published = 1 AND o.deprecated_at IS NULL \
             WHERE t.id IN (SELECT value FROM json_each(?1))",
        )
        .bind(Json(&ids))
        .fetch_all(&self.pool)
        .await?;
        let mut offers: HashMap<TemplateId, Offer> = HashMap::new();
        for row in rows {
            let offer = offers.entry(row.id).or_insert_with(|| Offer {
                version: row.version,
                deprecated: row.deprecated_at.map(|_| row.deprecation_message.unwrap_or_default()),
                others: Vec::new(),
            });
            if let (Some(other), Some(version)) = (row.other, row.other_version) {
                let other = TemplateId::try_from(other).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                offer.others.push((other, version));
            }
        }
        Ok(offers)
    }

    pub async fn get_template(&self, id: &TemplateId) -> Result<Option<TemplateRecord>, StoreError> {
        let row: Option<TemplateRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM templates WHERE id = ?1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| self.template_record(row)).transpose()
    }

    /// Changes after every committed template write: what was read from the templates table
    /// at one value is still current while it has not changed.
    pub fn templates_generation(&self) -> u64 {
        self.template_totals.generation()
    }

    /// One page, newest first, and the count of all matches.
    pub async fn list_templates(
        &self,
        filter: &TemplateFilter,
        page: Page,
    ) -> Result<(Vec<TemplateRecord>, u64), StoreError> {
        let q = filter.q.as_deref().map(like_pattern);
        let rows: Vec<TemplateRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM templates WHERE {FILTER} ORDER BY seq DESC LIMIT ?4 OFFSET ?5"
        ))
        .bind(&filter.creator_id)
        .bind(filter.published)
        .bind(&q)
        .bind(i64::from(page.limit))
        .bind(i64::try_from(page.offset).unwrap_or(i64::MAX))
        .bind(&filter.visible_to)
        .fetch_all(&self.pool)
        .await?;
        let key = (
            filter.creator_id.clone(),
            filter.published,
            q.clone(),
            filter.visible_to.clone(),
        );
        let generation = self.template_totals.generation();
        let total = match self.template_totals.get(&key, generation) {
            Some(total) => total,
            None => {
                let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM templates WHERE {FILTER}"))
                    .bind(&filter.creator_id)
                    .bind(filter.published)
                    .bind(&q)
                    .bind(None::<i64>)
                    .bind(None::<i64>)
                    .bind(&filter.visible_to)
                    .fetch_one(&self.pool)
                    .await?;
                let total = total.max(0) as u64;
                self.template_totals.put(key, generation, total);
                total
            }
        };
        let records = rows
            .into_iter()
            .map(|row| self.template_record(row))
            .collect::<Result<_, _>>()?;
        Ok((records, total))
    }

    /// Replaces the content of an unpublished template. `Ok(false)`: it is gone or published
    /// (checked in the same statement, so a concurrent publish cannot slip in between).
    pub async fn update_unpublished_template(
        &self,
        id: &TemplateId,
        s: &TemplateSpec,
        trusted: bool,
        updated_at: &Timestamp,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE templates SET ({SPEC_COLUMNS}, updated_at, trusted) = ({SPEC_PARAMETERS}, ?13, ?14) \
             WHERE id = ?1 AND published = 0"
        );
        let result = bind_spec(
            sqlx::query(&sql).bind(id.as_str()),
            s,
            self.sealed_variables(&s.variables),
        )
        .bind(updated_at)
        .bind(trusted)
        .execute(&self.pool)
        .await
        .map_err(|e| slug_version_conflict(e, s))?;
        self.template_totals.invalidate();
        Ok(result.rows_affected() == 1)
    }

    /// Marks a template published. `Ok(false)`: it is gone or already published.
    pub async fn publish_template(&self, id: &TemplateId, updated_at: &Timestamp) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE templates SET published = 1, updated_at = ?2 WHERE id = ?1 AND published = 0")
            .bind(id.as_str())
            .bind(updated_at)
            .execute(&self.pool)
            .await?;
        self.template_totals.invalidate();
        Ok(result.rows_affected() == 1)
    }

    /// Sets whether the safe-compose policy is lifted for a template. `Ok(false)`: no such template.
    pub async fn set_template_trusted(
        &self,
        id: &TemplateId,
        trusted: bool,
        updated_at: &Timestamp,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE templates SET trusted = ?2, updated_at = ?3 WHERE id = ?1")
            .bind(id.as_str())
            .bind(trusted)
            .bind(updated_at)
            .execute(&self.pool)
            .await?;
        self.template_totals.invalidate();
        Ok(result.rows_affected() == 1)
    }

    /// Deletes a template no deployment references, in one statement so that a deployment
    /// created concurrently either blocks the delete or fails its foreign key.
    /// Deletes a template no deployment runs or may roll back to.
    pub async fn delete_template(&self, id: &TemplateId) -> Result<DeleteOutcome, StoreError> {
        let result = sqlx::query(&format!(
            "DELETE FROM templates WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM deployments WHERE {USERS})"
        ))
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 1 {
            self.template_totals.invalidate();
            return Ok(DeleteOutcome::Deleted);
        }
        let row = sqlx::query(&format!(
            "SELECT (SELECT COUNT(*) FROM templates WHERE id = ?1), (SELECT COUNT(*) FROM deployments WHERE {USERS})"
        ))
        .bind(id.as_str())
        .fetch_one(&self.pool)
        .await?;
        let (exists, deployments): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        Ok(if exists == 0 {
            DeleteOutcome::NotFound
        } else {
            DeleteOutcome::InUse { deployments }
        })
    }
}
