//! The `deployments`, `deployment_events` and `port_assignments` tables.

use hoster_core::compose::Protocol;
use hoster_core::deployment::Status;
use hoster_core::id::{DeploymentId, TemplateId};
use hoster_core::plan::PortAssignment;
use std::collections::HashMap;

use hoster_core::variables::{Assigned, Values};

use super::{Page, Store, StoreError, corrupt};

/// What a sealed value is bound to: it opens only in its own row.
fn value_context(id: &DeploymentId, name: &str) -> String {
    format!("{id}/{name}")
}
use crate::clock::Timestamp;

/// A row of `port_assignments`, as stored.
#[derive(sqlx::FromRow)]
struct PortRow {
    #[sqlx(try_from = "String")]
    deployment_id: DeploymentId,
    service: String,
    container_port: u16,
    #[sqlx(try_from = "String")]
    protocol: Protocol,
    host_port: u16,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeploymentRecord {
    #[sqlx(try_from = "String")]
    pub id: DeploymentId,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub template_id: TemplateId,
    pub customer_id: String,
    #[sqlx(try_from = "String")]
    pub status: Status,
    pub domain: String,
    pub error_message: Option<String>,
    pub delete_requested: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Default, Clone)]
pub struct DeploymentFilter {
    pub customer_id: Option<String>,
    pub template_id: Option<String>,
    pub status: Option<Status>,
}

/// How an insert of a deployment went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    Done,
    /// Its hostname was claimed meanwhile: pick another and retry.
    DomainTaken,
    /// The customer has as many deployments as allowed.
    LimitReached,
}

/// What a history row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The deployment's status changed.
    State,
    /// One of its containers started, died, ran out of memory, changed health, ... (the
    /// engine's events).
    Container,
    /// Someone acted on it (a restart, an upgrade or rollback), or an upgrade was undone.
    Action,
}

impl EventKind {
    fn as_str(self) -> &'static str {
        match self {
            EventKind::State => "state",
            EventKind::Container => "container",
            EventKind::Action => "action",
        }
    }
}

impl TryFrom<String> for EventKind {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        [EventKind::State, EventKind::Container, EventKind::Action]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown event kind `{s}`"))
    }
}

/// One row of a deployment's history.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Event {
    /// Increases with every row of every deployment: a cursor for `after`.
    pub seq: i64,
    #[sqlx(try_from = "String")]
    pub deployment_id: DeploymentId,
    pub customer_id: String,
    #[sqlx(try_from = "String")]
    pub kind: EventKind,
    #[sqlx(rename = "from_status", try_from = "OptionalStatus")]
    pub from: Option<Status>,
    #[sqlx(rename = "to_status", try_from = "String")]
    pub to: Status,
    pub message: Option<String>,
    pub at: Timestamp,
}

/// `from_status`, which is empty for the first row.
#[derive(sqlx::Type)]
#[sqlx(transparent)]
struct OptionalStatus(Option<String>);

impl TryFrom<OptionalStatus> for Option<Status> {
    type Error = String;
    fn try_from(s: OptionalStatus) -> Result<Self, String> {
        s.0.map(Status::try_from).transpose().map_err(|e| e.to_string())
    }
}

/// Which history rows to read.
#[derive(Debug, Clone, Default)]
pub struct EventFilter<'a> {
    pub deployment: Option<&'a DeploymentId>,
    pub customer_id: Option<&'a str>,
    /// Rows after this `seq`.
    pub after: i64,
    pub limit: u32,
    /// The newest `limit` rows rather than the oldest (answered oldest first either way).
    pub newest: bool,
}

const COLUMNS: &str =
    "id, name, template_id, customer_id, status, domain, error_message, delete_requested, created_at, updated_at";
const FILTER: &str =
    "(?1 IS NULL OR customer_id = ?1) AND (?2 IS NULL OR template_id = ?2) AND (?3 IS NULL OR status = ?3)";

const EVENT_COLUMNS: &str =
    "e.seq, e.deployment_id, d.customer_id, e.kind, e.from_status, e.to_status, e.message, e.at";

/// One row of a deployment's history, written in the transaction that made the change; the
/// row as written, to publish once the transaction commits.
async fn record_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    id: &DeploymentId,
    kind: EventKind,
    from: Option<Status>,
    to: Status,
    message: Option<&str>,
    at: &Timestamp,
) -> Result<Event, StoreError> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO deployment_events (deployment_id, kind, from_status, to_status, message, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING seq",
    )
    .bind(id.as_str())
    .bind(kind.as_str())
    .bind(from.map(Status::as_str))
    .bind(to.as_str())
    .bind(message)
    .bind(at)
    .fetch_one(&mut **tx)
    .await?;
    event_at(&mut **tx, seq).await
}

async fn event_at<'e>(db: impl sqlx::SqliteExecutor<'e>, seq: i64) -> Result<Event, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM deployment_events e JOIN deployments d ON d.id = e.deployment_id WHERE e.seq = ?1"
    ))
    .bind(seq)
    .fetch_one(db)
    .await?)
}

impl Store {
    /// Inserts a new deployment unless its customer already has `max_per_customer` (checked in
    /// the same statement, so concurrent creates cannot overshoot).
    /// The deployment's variable values are stored with it, sealed.
    pub async fn insert_deployment(
        &self,
        d: &DeploymentRecord,
        values: &Values,
        max_per_customer: u32,
    ) -> Result<Insert, StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(&format!(
            "INSERT INTO deployments ({COLUMNS}) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 \
             WHERE (SELECT COUNT(*) FROM deployments WHERE customer_id = ?4) < ?11"
        ))
        .bind(d.id.as_str())
        .bind(&d.name)
        .bind(d.template_id.as_str())
        .bind(&d.customer_id)
        .bind(d.status.as_str())
        .bind(&d.domain)
        .bind(&d.error_message)
        .bind(d.delete_requested)
        .bind(d.created_at)
        .bind(d.updated_at)
        .bind(max_per_customer)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(Insert::DomainTaken),
            Ok(done) if done.rows_affected() == 0 => return Ok(Insert::LimitReached),
            other => other?,
        };
        let event = record_event(&mut tx, &d.id, EventKind::State, None, d.status, None, &d.created_at).await?;
        self.write_values(&mut tx, &d.id, values).await?;
        tx.commit().await?;
        self.deployments_written();
        self.published(event);
        Ok(Insert::Done)
    }

    async fn write_values(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        id: &DeploymentId,
        values: &Values,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM deployment_variables WHERE deployment_id = ?1")
            .bind(id.as_str())
            .execute(&mut **tx)
            .await?;
        for (name, assigned) in values {
            sqlx::query(
                "INSERT INTO deployment_variables (deployment_id, name, value, generated) VALUES (?1, ?2, ?3, ?4)",
            )
            .bind(id.as_str())
            .bind(name)
            .bind(self.sealer.seal(&assigned.value, &value_context(id, name)))
            .bind(assigned.generated)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// The values a deployment holds for its template's variables, opened.
    pub async fn deployment_values(&self, id: &DeploymentId) -> Result<Values, StoreError> {
        let rows: Vec<(String, String, bool)> =
            sqlx::query_as("SELECT name, value, generated FROM deployment_variables WHERE deployment_id = ?1")
                .bind(id.as_str())
                .fetch_all(&self.pool)
                .await?;
        self.opened(id, rows)
    }

    /// Rows of (name, sealed value, generated) of deployment `id`, opened.
    fn opened(&self, id: &DeploymentId, rows: Vec<(String, String, bool)>) -> Result<Values, StoreError> {
        rows.into_iter()
            .map(|(name, sealed, generated)| {
                let value = self
                    .sealer
                    .open(&sealed, &value_context(id, &name))
                    .map_err(StoreError::Sealing)?;
                Ok((name, Assigned { value, generated }))
            })
            .collect()
    }

    /// Replaces a deployment's values.
    pub async fn set_deployment_values(&self, id: &DeploymentId, values: &Values) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        self.write_values(&mut tx, id, values).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_deployment(&self, id: &DeploymentId) -> Result<Option<DeploymentRecord>, StoreError> {
        Ok(
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM deployments WHERE id = ?1"))
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn list_deployments(
        &self,
        filter: &DeploymentFilter,
        page: Page,
    ) -> Result<(Vec<DeploymentRecord>, u64), StoreError> {
        let status = filter.status.map(Status::as_str);
        let records = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM deployments WHERE {FILTER} ORDER BY seq DESC LIMIT ?4 OFFSET ?5"
        ))
        .bind(&filter.customer_id)
        .bind(&filter.template_id)
        .bind(status)
        .bind(i64::from(page.limit))
        .bind(i64::try_from(page.offset).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM deployments WHERE {FILTER}"))
            .bind(&filter.customer_id)
            .bind(&filter.template_id)
            .bind(status)
            .fetch_one(&self.pool)
            .await?;
        Ok((records, total.max(0) as u64))
    }

    /// Every deployment, for the reconciler.
    pub async fn all_deployments(&self) -> Result<Vec<DeploymentRecord>, StoreError> {
        Ok(
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM deployments ORDER BY seq"))
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The deployment answering at `domain`: its generated hostname or one of its custom ones.
    pub async fn deployment_by_domain(&self, domain: &str) -> Result<Option<DeploymentRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM deployments WHERE domain = ?1 \
             OR id = (SELECT deployment_id FROM custom_domains WHERE domain = ?1 AND verified_at IS NOT NULL) LIMIT 1"
        ))
        .bind(domain)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn domain_taken(&self, domain: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM deployments WHERE domain = ?1) + (SELECT COUNT(*) FROM custom_domains WHERE domain = ?1 AND verified_at IS NOT NULL)",
        )
            .bind(domain)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    /// Moves a deployment from `from` to `to` and records the event, atomically. `Ok(false)`:
    /// it was not in `from` (someone else moved it), so nothing changed.
    pub async fn transition(
        &self,
        id: &DeploymentId,
        from: Status,
        to: Status,
        error_message: Option<&str>,
        at: &Timestamp,
    ) -> Result<bool, StoreError> {
        // The state machine holds in every build, here at the last step before the row.
        if !from.can_transition_to(to) {
            return Err(StoreError::IllegalTransition { from, to });
        }
        let mut tx = self.pool.begin().await?;
        let moved = sqlx::query(
            "UPDATE deployments SET status = ?3, error_message = ?4, updated_at = ?5 WHERE id = ?1 AND status = ?2",
        )
        .bind(id.as_str())
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(error_message)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() != 1 {
            return Ok(false);
        }
        let event = record_event(&mut tx, id, EventKind::State, Some(from), to, error_message, at).await?;
        if to == Status::Running {
            super::usage::running(&mut tx, id, at).await?;
        }
        tx.commit().await?;
        self.deployments_written();
        self.published(event);
        Ok(true)
    }

    /// How many deployments there are in each status (statuses with none left out).
    pub async fn count_by_status(&self) -> Result<Vec<(Status, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as("SELECT status, COUNT(*) FROM deployments GROUP BY status")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|(status, n)| {
                Ok((
                    Status::try_from(status).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    n,
                ))
            })
            .collect()
    }

    /// Records something that happened to a deployment without changing its status (a
    /// restart, a container's death); `false` when the deployment is gone.
    pub async fn note(
        &self,
        id: &DeploymentId,
        kind: EventKind,
        message: &str,
        at: &Timestamp,
    ) -> Result<bool, StoreError> {
        // One statement: a transaction that reads the status and then writes would fail, not
        // wait, when another write commits in between (SQLite's snapshot rule).
        let seq: Option<i64> = sqlx::query_scalar(
            "INSERT INTO deployment_events (deployment_id, kind, from_status, to_status, message, at) \
             SELECT id, ?2, status, status, ?3, ?4 FROM deployments WHERE id = ?1 RETURNING seq",
        )
        .bind(id.as_str())
        .bind(kind.as_str())
        .bind(message)
        .bind(at)
        .fetch_optional(&self.pool)
        .await?;
        let Some(seq) = seq else { return Ok(false) };
        self.published(event_at(&self.pool, seq).await?);
        Ok(true)
    }

    fn published(&self, event: Event) {
        // No receiver is not an error: nobody follows events right now.
        let _ = self.events.send(event);
    }

    /// History rows, oldest first.
    pub async fn events(&self, filter: &EventFilter<'_>) -> Result<Vec<Event>, StoreError> {
        let order = if filter.newest { "DESC" } else { "ASC" };
        let mut rows: Vec<Event> = sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS} FROM deployment_events e JOIN deployments d ON d.id = e.deployment_id \
             WHERE e.seq > ?1 AND (?2 IS NULL OR e.deployment_id = ?2) AND (?3 IS NULL OR d.customer_id = ?3) \
             ORDER BY e.seq {order} LIMIT ?4"
        ))
        .bind(filter.after)
        .bind(filter.deployment.map(DeploymentId::as_str))
        .bind(filter.customer_id)
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        if filter.newest {
            rows.reverse();
        }
        Ok(rows)
    }

    /// History rows as they commit, from now on.
    pub fn subscribe_events(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Records that the deployment is to be deleted, whatever happens next.
    pub async fn request_delete(&self, id: &DeploymentId) -> Result<(), StoreError> {
        sqlx::query("UPDATE deployments SET delete_requested = 1 WHERE id = ?1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes the deployment row with its events and port assignments; its usage ends `at`.
    pub async fn delete_deployment(&self, id: &DeploymentId, at: &Timestamp) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM deployments WHERE id = ?1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        super::usage::deleted(&mut tx, id, at).await?;
        tx.commit().await?;
        self.deployments_written();
        Ok(())
    }

    pub async fn port_assignments(&self, id: &DeploymentId) -> Result<Vec<PortAssignment>, StoreError> {
        let mut by_deployment = self.port_assignments_of(std::slice::from_ref(id)).await?;
        Ok(by_deployment.remove(id).unwrap_or_default())
    }

    /// The port assignments of several deployments (a list page) in one query.
    pub async fn port_assignments_of(
        &self,
        ids: &[DeploymentId],
    ) -> Result<HashMap<DeploymentId, Vec<PortAssignment>>, StoreError> {
        let ids_json = serde_json::to_string(&ids.iter().map(DeploymentId::as_str).collect::<Vec<_>>())
            .expect("strings serialize");
        let rows: Vec<PortRow> = sqlx::query_as(
            "SELECT deployment_id, service, container_port, protocol, host_port FROM port_assignments \
             WHERE deployment_id IN (SELECT value FROM json_each(?1)) ORDER BY rowid",
        )
        .bind(ids_json)
        .fetch_all(&self.pool)
        .await?;
        let mut out: HashMap<DeploymentId, Vec<PortAssignment>> = HashMap::new();
        for row in rows {
            out.entry(row.deployment_id).or_default().push(PortAssignment {
                service: row.service,
                container_port: row.container_port,
                protocol: row.protocol,
                host_port: row.host_port,
            });
        }
        Ok(out)
    }

    /// Host ports held by deployments other than `id`.
    pub async fn ports_of_others(&self, id: &DeploymentId) -> Result<Vec<(u16, Protocol)>, StoreError> {
        let rows: Vec<(u16, String)> =
            sqlx::query_as("SELECT host_port, protocol FROM port_assignments WHERE deployment_id <> ?1")
                .bind(id.as_str())
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(port, protocol)| Ok((port, Protocol::try_from(protocol).map_err(corrupt)?)))
            .collect()
    }

    /// Replaces the deployment's port assignments.
    pub async fn set_port_assignments(&self, id: &DeploymentId, ports: &[PortAssignment]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM port_assignments WHERE deployment_id = ?1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        for p in ports {
            sqlx::query(
                "INSERT INTO port_assignments (deployment_id, service, container_port, protocol, host_port) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .bind(id.as_str())
            .bind(&p.service)
            .bind(p.container_port)
            .bind(p.protocol.as_str())
            .bind(p.host_port)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.deployments_written();
        Ok(())
    }
}

/// A version a deployment ran before its current one ([`Store::begin_upgrade`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PastVersion {
    pub seq: i64,
    #[sqlx(try_from = "String")]
    pub template_id: TemplateId,
    /// The template's version (a template a deployment may return to is never deleted).
    pub version: String,
    /// When the deployment left it.
    pub at: Timestamp,
}

impl Store {
    /// Moves a running deployment to `upgrading` on `template` with `values`, keeping the
    /// version it leaves (template and values) as its last past version, all in one
    /// transaction; the past version's `seq`, or `None` when it is no longer running.
    pub async fn begin_upgrade(
        &self,
        id: &DeploymentId,
        template: &TemplateId,
        values: &Values,
        message: &str,
        at: &Timestamp,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let seq: Option<i64> = sqlx::query_scalar(
            "INSERT INTO deployment_versions (deployment_id, template_id, at) \
             SELECT id, template_id, ?2 FROM deployments WHERE id = ?1 AND status = 'running' RETURNING seq",
        )
        .bind(id.as_str())
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(seq) = seq else { return Ok(None) };
        sqlx::query(
            "INSERT INTO deployment_version_variables (version_seq, name, value, generated) \
             SELECT ?1, name, value, generated FROM deployment_variables WHERE deployment_id = ?2",
        )
        .bind(seq)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE deployments SET status = 'upgrading', template_id = ?2, error_message = NULL, updated_at = ?3 WHERE id = ?1",
        )
        .bind(id.as_str())
        .bind(template.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await?;
        self.write_values(&mut tx, id, values).await?;
        let event = record_event(
            &mut tx,
            id,
            EventKind::State,
            Some(Status::Running),
            Status::Upgrading,
            Some(message),
            at,
        )
        .await?;
        tx.commit().await?;
        self.deployments_written();
        self.published(event);
        Ok(Some(seq))
    }

    /// Puts the deployment back on a past version (template and values) and forgets that
    /// version, in one transaction: an upgrade undone, or a rollback done.
    pub async fn restore_version(&self, id: &DeploymentId, seq: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE deployments SET template_id = \
             (SELECT template_id FROM deployment_versions WHERE seq = ?2 AND deployment_id = ?1) WHERE id = ?1",
        )
        .bind(id.as_str())
        .bind(seq)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM deployment_variables WHERE deployment_id = ?1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO deployment_variables (deployment_id, name, value, generated) \
             SELECT ?1, name, value, generated FROM deployment_version_variables WHERE version_seq = ?2",
        )
        .bind(id.as_str())
        .bind(seq)
        .execute(&mut *tx)
        .await?;
        self.forget_version_in(&mut tx, seq).await?;
        tx.commit().await?;
        self.deployments_written();
        Ok(())
    }

    /// Drops a past version (a rollback to it succeeded: the deployment runs it again).
    pub async fn forget_version(&self, seq: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        self.forget_version_in(&mut tx, seq).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn forget_version_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        seq: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM deployment_version_variables WHERE version_seq = ?1")
            .bind(seq)
            .execute(&mut **tx)
            .await?;
        sqlx::query("DELETE FROM deployment_versions WHERE seq = ?1")
            .bind(seq)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// The versions the deployment ran before, newest last.
    pub async fn past_versions(&self, id: &DeploymentId) -> Result<Vec<PastVersion>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT v.seq, v.template_id, t.version, v.at FROM deployment_versions v \
                 JOIN templates t ON t.id = v.template_id WHERE v.deployment_id = ?1 ORDER BY v.seq",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// The values of a past version, opened.
    pub async fn past_values(&self, id: &DeploymentId, seq: i64) -> Result<Values, StoreError> {
        let rows: Vec<(String, String, bool)> =
            sqlx::query_as("SELECT name, value, generated FROM deployment_version_variables WHERE version_seq = ?1")
                .bind(seq)
                .fetch_all(&self.pool)
                .await?;
        self.opened(id, rows)
    }
}
