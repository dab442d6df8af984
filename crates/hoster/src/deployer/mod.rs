//! Carries out the deployment lifecycle: create, start, stop, delete, and keeping the database
//! and the engine in agreement (`reconcile`). Decisions come from the core (state machine,
//! planner); this module sequences engine calls and records each state change.
//!
//! Every operation on one deployment holds that deployment's lock, so concurrent calls queue
//! instead of interleaving; the state machine then refuses what no longer applies.

mod backups;
mod execute;
pub mod logs;
pub mod progress;
mod reconcile;
#[cfg(test)]
mod tests;
mod upgrade;

use hoster_core::error_code::ErrorCode;
use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hoster_core::access::Subject;
use hoster_core::compose::Resources;
use hoster_core::deployment::Status;
use hoster_core::id::{DeploymentId, TemplateId};
use hoster_core::problem::{Problem, Problems};
use hoster_core::slug::slugify;
use hoster_core::variables::{self, Values};
use tokio::sync::{Notify, OwnedMutexGuard};

use crate::clock;
use crate::runtime::{EngineError, Runtime};
use crate::store::{DeploymentRecord, EventKind, Insert, Store, StoreError, TemplateRecord};

/// Operator settings the lifecycle needs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub base_domain: String,
    pub port_range: RangeInclusive<u16>,
    pub publish_address: IpAddr,
    /// Longest wait for a dependency to become healthy or complete.
    pub start_timeout: Duration,
    pub reconcile_interval: Duration,
    pub config_dir: PathBuf,
    /// Limits for services that set none (`HOSTER_DEFAULT_*`).
    pub default_limits: Resources,
    pub max_deployments_per_customer: u32,
    /// Ports Hoster itself listens on: never handed to a deployment.
    pub own_ports: Vec<u16>,
    /// The port deployments' URLs name (`HOSTER_URL`).
    pub public_port: u16,
    /// Compose limits, resource maxima and the operator's exceptions to the safe-compose
    /// policy, which a deployment's interpolated model is checked against.
    pub limits: hoster_core::template::Limits,
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("no deployment with id `{0}`")]
    NotFound(String),
    #[error("no template with id `{0}`")]
    TemplateNotFound(String),
    #[error("template `{0}` is not published; publish it before deploying")]
    TemplateNotPublished(String),
    #[error("template `{id}` is deprecated: {message}")]
    TemplateDeprecated { id: String, message: String },
    #[error("deployment is already running")]
    AlreadyRunning,
    #[error("cannot {action} a deployment that is {status}")]
    InvalidTransition { action: &'static str, status: Status },
    #[error("{0}")]
    Invalid(Problems),
    /// The customer has as many deployments as this Hoster allows.
    #[error("{0}")]
    LimitReached(String),
    /// No hostname under the base domain was free for a new deployment.
    #[error("could not reserve a hostname for the deployment; try another name")]
    NoHostname,
    /// An upgrade or rollback failed and was undone: the deployment runs the version it ran
    /// before, with this message.
    #[error("{0}")]
    RolledBack(String),
    /// The operation ran and failed; the deployment is now `failed` with this message.
    #[error("{message}")]
    Failed { code: ErrorCode, message: String },
    /// A backup or restore did not happen; the deployment is as it was (`backup_invalid`,
    /// `nothing_to_back_up`), or the archive could not be written (`runtime_error`).
    #[error("{message}")]
    Backup { code: ErrorCode, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl DeployError {
    /// What a deployment that failed with this error records, and its answer says: a short
    /// reason (the log has the detail, e.g. the engine's message with host paths).
    fn public_failure(&self) -> (ErrorCode, String) {
        match self {
            DeployError::Failed { code, message } => (*code, message.clone()),
            DeployError::Engine(engine @ EngineError::PortUnavailable { .. }) => {
                (ErrorCode::PortUnavailable, engine.public_message())
            }
            DeployError::Engine(engine @ EngineError::ImageUnavailable { .. }) => {
                (ErrorCode::ImageUnavailable, engine.public_message())
            }
            DeployError::Engine(engine) => (ErrorCode::RuntimeError, engine.public_message()),
            other => (ErrorCode::RuntimeError, other.to_string()),
        }
    }
}

/// A uniform index below `n` from the operating system's CSPRNG, for generated secrets.
pub(crate) fn os_random(n: usize) -> usize {
    use rand::{Rng, TryRngCore};
    rand::rngs::OsRng.unwrap_err().random_range(0..n)
}

pub use upgrade::Upgrade;

pub struct NewDeployment {
    pub template_id: String,
    pub customer_id: String,
    pub name: String,
    /// Values for the template's variables, by name.
    pub variables: serde_json::Map<String, serde_json::Value>,
}

pub struct Deployer {
    store: Store,
    engine: Arc<dyn Runtime>,
    settings: Settings,
    locks: Mutex<HashMap<DeploymentId, Arc<tokio::sync::Mutex<()>>>>,
    /// Port assignment reads other deployments' ports then writes its own: one at a time.
    ports: tokio::sync::Mutex<()>,
    reconcile_now: Notify,
    /// Parsed compose models by template, with the `updated_at` they were parsed at.
    instances: Mutex<HashMap<DeploymentId, execute::Instance>>,
    progress: progress::Board,
}

impl Deployer {
    pub fn new(store: Store, engine: Arc<dyn Runtime>, settings: Settings) -> Arc<Self> {
        Arc::new(Self {
            store,
            engine,
            settings,
            locks: Mutex::new(HashMap::new()),
            ports: tokio::sync::Mutex::new(()),
            reconcile_now: Notify::new(),
            instances: Mutex::default(),
            progress: progress::Board::default(),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Where the services of deployments being started are.
    pub fn progress(&self) -> &progress::Board {
        &self.progress
    }

    fn lock_for(&self, id: &DeploymentId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().expect("lock table poisoned");
        locks.entry(id.clone()).or_default().clone()
    }

    /// Serialises an operation on the deployment with every other one (domains use it too).
    pub async fn lock(&self, id: &DeploymentId) -> OwnedMutexGuard<()> {
        self.lock_for(id).lock_owned().await
    }

    fn forget_lock(&self, id: &DeploymentId) {
        self.locks.lock().expect("lock table poisoned").remove(id);
    }

    /// The row as it is now: read under the deployment's lock, since the caller's copy may be
    /// stale by the time the lock is granted.
    async fn load(&self, id: &DeploymentId) -> Result<DeploymentRecord, DeployError> {
        self.store
            .get_deployment(id)
            .await?
            .ok_or_else(|| DeployError::NotFound(id.to_string()))
    }

    /// Moves the deployment one step, or reports that someone else moved it first.
    async fn step(&self, d: &mut DeploymentRecord, to: Status, message: Option<&str>) -> Result<(), DeployError> {
        // `Store::transition` refuses what the state machine forbids, in every build.
        let now = clock::now();
        if !self.store.transition(&d.id, d.status, to, message, &now).await? {
            return Err(DeployError::InvalidTransition {
                action: "change",
                status: d.status,
            });
        }
        tracing::info!(deployment = %d.id, from = %d.status, to = %to, message, "deployment state changed");
        d.status = to;
        d.error_message = message.map(str::to_string);
        d.updated_at = now;
        Ok(())
    }

    /// A free hostname for `name`: its slug under the base domain, with a short suffix on a clash.
    async fn free_domain(&self, name: &str) -> Result<String, DeployError> {
        let slug = match slugify(name) {
            s if s.is_empty() => "app".to_string(),
            s => s,
        };
        let plain = format!("{slug}.{}", self.settings.base_domain);
        if !self.store.domain_taken(&plain).await? {
            return Ok(plain);
        }
        for _ in 0..8 {
            let random = DeploymentId::from_random(rand::random());
            let candidate = format!("{slug}-{}.{}", &random.as_str()[5..9], self.settings.base_domain);
            if !self.store.domain_taken(&candidate).await? {
                return Ok(candidate);
            }
        }
        Err(DeployError::NoHostname)
    }

    pub async fn create(&self, new: NewDeployment) -> Result<DeploymentRecord, DeployError> {
        let mut problems = Vec::new();
        let name = new.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            problems.push(Problem::field("name", "must be 1 to 100 characters long"));
        }
        Subject::check(&mut problems, "customer_id", &new.customer_id);
        if !problems.is_empty() {
            return Err(DeployError::Invalid(Problems(problems)));
        }
        let template_id = TemplateId::parse(&new.template_id)
            .ok_or_else(|| DeployError::TemplateNotFound(new.template_id.clone()))?;
        let template = self
            .store
            .get_template(&template_id)
            .await?
            .ok_or_else(|| DeployError::TemplateNotFound(new.template_id.clone()))?;
        if !template.published {
            return Err(DeployError::TemplateNotPublished(new.template_id));
        }
        if let Some((message, _)) = template.deprecated {
            return Err(DeployError::TemplateDeprecated {
                id: new.template_id,
                message,
            });
        }
        let values = variables::assign(&template.spec.variables, &new.variables, &Values::new(), &mut os_random)
            .map_err(|p| DeployError::Invalid(Problems(p)))?;
        for _ in 0..4 {
            let now = clock::now();
            let record = DeploymentRecord {
                id: DeploymentId::from_random(rand::random()),
                name: name.clone(),
                template_id: template_id.clone(),
                customer_id: new.customer_id.clone(),
                status: Status::Pending,
                domain: self.free_domain(&name).await?,
                error_message: None,
                delete_requested: false,
                created_at: now,
                updated_at: now,
            };
            // The model with these values is checked before anything is stored.
            self.instantiate(template.clone(), &values, &record, true)?;
            // The domain may be claimed between the check and the insert: try another.
            match self
                .store
                .insert_deployment(&record, &values, self.settings.max_deployments_per_customer)
                .await?
            {
                Insert::Done => return Ok(record),
                Insert::DomainTaken => continue,
                Insert::LimitReached => {
                    return Err(DeployError::LimitReached(format!(
                        "`{}` has {} deployments, as many as this Hoster allows one customer; delete one first",
                        new.customer_id, self.settings.max_deployments_per_customer
                    )));
                }
            }
        }
        Err(DeployError::NoHostname)
    }

    /// The deployment's template and the values it holds.
    pub async fn variables(&self, d: &DeploymentRecord) -> Result<(TemplateRecord, Values), DeployError> {
        let template = self.template_of(&d.template_id).await?;
        Ok((template, self.store.deployment_values(&d.id).await?))
    }

    async fn template_of(&self, id: &TemplateId) -> Result<TemplateRecord, DeployError> {
        self.store
            .get_template(id)
            .await?
            .ok_or_else(|| DeployError::TemplateNotFound(id.to_string()))
    }

    /// The row, read under the deployment's lock, if it is running; `action` names the refusal
    /// otherwise.
    async fn running(&self, id: &DeploymentId, action: &'static str) -> Result<DeploymentRecord, DeployError> {
        let d = self.load(id).await?;
        if d.status != Status::Running {
            return Err(DeployError::InvalidTransition {
                action,
                status: d.status,
            });
        }
        Ok(d)
    }

    /// Lays `given` over the deployment's values (`null` returns one to its default, or to a
    /// newly generated secret), checks the model they make as at create, and stores them. They
    /// take effect at the next start.
    pub async fn update_variables(
        &self,
        id: &DeploymentId,
        given: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(DeploymentRecord, TemplateRecord, Values), DeployError> {
        let _guard = self.lock(id).await;
        let d = self.load(id).await?;
        let (template, current) = self.variables(&d).await?;
        let values = variables::assign(&template.spec.variables, given, &current, &mut os_random)
            .map_err(|p| DeployError::Invalid(Problems(p)))?;
        self.instantiate(template.clone(), &values, &d, true)?;
        self.store.set_deployment_values(id, &values).await?;
        Ok((d, template, values))
    }

    /// Starts a deployment. With `wait`, returns once it runs (or has failed); without, once it
    /// is `starting`, finishing in the background.
    pub async fn start(self: &Arc<Self>, id: &DeploymentId, wait: bool) -> Result<DeploymentRecord, DeployError> {
        let guard = self.lock(id).await;
        let mut d = self.load(id).await?;
        match d.status {
            Status::Running => return Err(DeployError::AlreadyRunning),
            Status::Pending => {
                self.step(&mut d, Status::Scheduled, None).await?;
                self.step(&mut d, Status::Starting, None).await?;
            }
            Status::Stopped => self.step(&mut d, Status::Starting, None).await?,
            Status::Failed => {
                // Kept for their output, on a network that is gone: not to be started again.
                self.remove_containers(&d.id).await?;
                self.step(&mut d, Status::Starting, None).await?
            }
            status => {
                return Err(DeployError::InvalidTransition {
                    action: "start",
                    status,
                });
            }
        }
        if wait {
            let result = self.finish_start(&mut d).await;
            drop(guard);
            result.map(|()| d)
        } else {
            let this = Arc::clone(self);
            let mut background = d.clone();
            tokio::spawn(async move {
                let _guard = guard;
                let _ = this.finish_start(&mut background).await;
            });
            Ok(d)
        }
    }

    /// Runs the plan of a `starting` deployment; on failure cleans up and records `failed`.
    async fn finish_start(&self, d: &mut DeploymentRecord) -> Result<(), DeployError> {
        crate::metrics::timed("start", self.run_start(d)).await
    }

    async fn run_start(&self, d: &mut DeploymentRecord) -> Result<(), DeployError> {
        // The progress ends (and says so) before the status changes.
        let run = {
            let tracker = self.progress.track(d);
            self.run(d, &tracker).await
        };
        match run {
            Ok(()) => self.step(d, Status::Running, None).await,
            Err(e) => {
                let (code, message) = e.public_failure();
                tracing::warn!(deployment = %d.id, error = %e, "start failed");
                if let Err(cleanup) = self.tear_down(&d.id).await {
                    tracing::warn!(deployment = %d.id, error = %cleanup, "cleanup after a failed start failed");
                }
                self.step(d, Status::Failed, Some(&message)).await?;
                Err(DeployError::Failed { code, message })
            }
        }
    }

    pub async fn stop(self: &Arc<Self>, id: &DeploymentId, wait: bool) -> Result<DeploymentRecord, DeployError> {
        let guard = self.lock(id).await;
        let mut d = self.running(id, "stop").await?;
        self.step(&mut d, Status::Stopping, None).await?;
        if wait {
            self.finish_stop(&mut d).await?;
            drop(guard);
            Ok(d)
        } else {
            let this = Arc::clone(self);
            let mut background = d.clone();
            tokio::spawn(async move {
                let _guard = guard;
                if let Err(e) = this.finish_stop(&mut background).await {
                    tracing::warn!(deployment = %background.id, error = %e, "stop failed");
                }
            });
            Ok(d)
        }
    }

    async fn finish_stop(&self, d: &mut DeploymentRecord) -> Result<(), DeployError> {
        crate::metrics::timed("stop", self.run_stop(d)).await
    }

    async fn run_stop(&self, d: &mut DeploymentRecord) -> Result<(), DeployError> {
        if let Err(e) = self.stop_containers(d).await {
            // Whatever would not stop is removed: nothing may keep running once `stopped`.
            tracing::warn!(deployment = %d.id, error = %e, "graceful stop failed; removing containers");
            self.remove_containers(&d.id).await?;
        }
        self.step(d, Status::Stopped, None).await
    }

    /// Restarts a running deployment: all of it (each service gracefully stopped, services of
    /// one dependency level together, then started again in dependency order, the same
    /// containers), or one `service`, whose container is replaced by a new one while the others
    /// keep running. Volumes, ports and hostname stay. A restart that fails leaves the
    /// deployment `failed`, as a start would.
    pub async fn restart(&self, id: &DeploymentId, service: Option<&str>) -> Result<DeploymentRecord, DeployError> {
        crate::metrics::timed("restart", self.restart_locked(id, service)).await
    }

    async fn restart_locked(&self, id: &DeploymentId, service: Option<&str>) -> Result<DeploymentRecord, DeployError> {
        let _guard = self.lock(id).await;
        let mut d = self.running(id, "restart").await?;
        if let Some(service) = service
            && !self
                .instance_of(&d)
                .await?
                .compose
                .services
                .iter()
                .any(|s| s.name == service)
        {
            return Err(DeployError::Invalid(Problems(vec![Problem::field(
                "service",
                format!("the deployment has no service `{service}`"),
            )])));
        }
        let what = match service {
            None => "restart requested".to_string(),
            Some(service) => format!("restart of service `{service}` requested"),
        };
        self.store.note(&d.id, EventKind::Action, &what, &clock::now()).await?;
        match service {
            None => {
                self.step(&mut d, Status::Stopping, None).await?;
                self.finish_stop(&mut d).await?;
                self.step(&mut d, Status::Starting, None).await?;
                self.finish_start(&mut d).await?;
            }
            Some(service) => match self.recreate_service(&d, service).await {
                Ok(()) => {
                    let done = format!("service `{service}` restarted");
                    self.store.note(&d.id, EventKind::Action, &done, &clock::now()).await?;
                }
                Err(e) => {
                    let (code, reason) = e.public_failure();
                    let message = format!("restarting service `{service}` failed: {reason}");
                    tracing::warn!(deployment = %d.id, error = %e, "restart failed");
                    self.tear_down(&d.id).await?;
                    self.step(&mut d, Status::Failed, Some(&message)).await?;
                    return Err(DeployError::Failed { code, message });
                }
            },
        }
        Ok(d)
    }

    /// Deletes a deployment and everything it has on the engine (containers force-removed, not
    /// stopped first). Returns once it is gone.
    /// The request is recorded first, so a crash at any point still ends in the deletion.
    pub async fn delete(&self, id: &DeploymentId) -> Result<(), DeployError> {
        crate::metrics::timed("delete", self.delete_locked(id)).await
    }

    async fn delete_locked(&self, id: &DeploymentId) -> Result<(), DeployError> {
        let guard = self.lock(id).await;
        let mut d = self.load(id).await?;
        if !matches!(
            d.status,
            Status::Pending | Status::Running | Status::Stopped | Status::Failed | Status::Deleting
        ) {
            return Err(DeployError::InvalidTransition {
                action: "delete",
                status: d.status,
            });
        }
        self.store.request_delete(&d.id).await?;
        // No graceful stop: the data is being destroyed anyway, and waiting out each service's
        // stop timeout made a delete take as long as that. `walk_to_deleted` removes the
        // containers of a stopping deployment at once.
        if d.status == Status::Running {
            self.step(&mut d, Status::Stopping, None).await?;
        }
        self.walk_to_deleted(&mut d).await?;
        drop(guard);
        self.forget_lock(&d.id);
        Ok(())
    }

    /// From wherever a delete left it (stopping, stopped, failed, pending, deleting) to gone.
    async fn walk_to_deleted(&self, d: &mut DeploymentRecord) -> Result<(), DeployError> {
        if d.status == Status::Stopping {
            self.remove_containers(&d.id).await?;
            self.step(d, Status::Stopped, None).await?;
        }
        if d.status != Status::Deleting {
            self.step(d, Status::Deleting, None).await?;
        }
        self.finish_delete(d).await
    }

    async fn finish_delete(&self, d: &DeploymentRecord) -> Result<(), DeployError> {
        self.remove_everything(&d.id).await?;
        let dir = self.settings.config_dir.join(d.id.as_str());
        if let Err(e) = tokio::fs::remove_dir_all(&dir).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove the deployment's config files");
        }
        self.store.delete_deployment(&d.id, &clock::now()).await?;
        self.instances.lock().unwrap_or_else(|e| e.into_inner()).remove(&d.id);
        tracing::info!(deployment = %d.id, "deployment deleted");
        Ok(())
    }

    /// Asks the reconciler to run now instead of at its next tick.
    pub fn nudge(&self) {
        self.reconcile_now.notify_one();
    }
}
