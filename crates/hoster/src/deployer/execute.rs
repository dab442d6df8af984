//! Executing plans on the engine: the steps of start, stop and removal.

use hoster_core::error_code::ErrorCode;
use std::collections::{BTreeSet, HashSet};
use std::net::{IpAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::time::Instant;

use futures_util::future::try_join_all;
use hoster_core::compose::{self, Compose, Condition, Protocol};
use hoster_core::id::DeploymentId;
use hoster_core::plan::{self, ContainerSpec, Plan, PlanInput, Wait, object_name};
use tokio::time::{Duration, sleep};

use super::progress::Tracker;
use super::{DeployError, Deployer};
use crate::runtime::{ContainerStatus, EngineError, Health};
use crate::store::{DeploymentRecord, TemplateRecord};
use hoster_core::deployment::Phase;
use hoster_core::problem::Problems;
use hoster_core::template::{self, ConfigFile};
use hoster_core::variables::{BuiltIns, Values};

/// A deployment's template with its values applied: what [`Deployer::instance_of`] returns.
#[derive(Clone)]
pub(super) struct Instance {
    pub compose: Arc<Compose>,
    pub config_files: Arc<Vec<ConfigFile>>,
    pub values: Values,
    pub template: Arc<TemplateRecord>,
}

pub(super) const POLL: Duration = Duration::from_millis(100);
/// Longest wait for the engine to release the host ports of a deployment's stopped containers
/// (a loaded machine's port proxies took over 2 s: a whole restart then got new ports and new
/// containers); only a port another process took waits this long before another is chosen.
const RELEASE: Duration = Duration::from_secs(10);
/// Deployments' instances kept at most; with more in use than this, some are rebuilt now and then.
const INSTANCES: usize = 1000;

pub(super) fn failed(message: impl Into<String>) -> DeployError {
    DeployError::Failed {
        code: ErrorCode::RuntimeError,
        message: message.into(),
    }
}

/// Whether nothing else holds the port on the publish address.
fn bindable(addr: IpAddr, port: u16, protocol: Protocol) -> bool {
    match protocol {
        Protocol::Tcp => TcpListener::bind((addr, port)).is_ok(),
        Protocol::Udp => UdpSocket::bind((addr, port)).is_ok(),
    }
}

impl Deployer {
    /// What the deployment runs: its template's compose model and config files with the
    /// deployment's variable values. Kept while the template's `updated_at` and the values stay
    /// the same (a start, a proxy route and every reconcile tick all need it).
    pub(super) async fn instance_of(&self, d: &DeploymentRecord) -> Result<Instance, DeployError> {
        let template = self
            .store
            .get_template(&d.template_id)
            .await?
            .ok_or_else(|| failed(format!("template `{}` no longer exists", d.template_id)))?;
        let values = self.store.deployment_values(&d.id).await?;
        {
            let cached = self.instances.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(instance) = cached.get(&d.id)
                && instance.template.id == template.id
                && instance.template.updated_at == template.updated_at
                && instance.values == values
            {
                return Ok(instance.clone());
            }
        }
        // The policy is the plan's to enforce at each start, with the template's trust as it is
        // then and a policy_violation code.
        let instance = self.instantiate(template, &values, d, false)?;
        let mut cached = self.instances.lock().unwrap_or_else(|e| e.into_inner());
        if cached.len() >= INSTANCES {
            cached.clear();
        }
        cached.insert(d.id.clone(), instance.clone());
        Ok(instance)
    }

    /// The template interpolated with `values` and checked as at create; the safe-compose
    /// policy too (unless the template is trusted) when `policy` is set.
    pub(super) fn instantiate(
        &self,
        template: TemplateRecord,
        values: &Values,
        d: &DeploymentRecord,
        policy: bool,
    ) -> Result<Instance, DeployError> {
        let built_ins = self.built_ins(d);
        let spec = &template.spec;
        let document = compose::load(&spec.compose_spec, &self.settings.limits.compose)
            .map_err(|_| failed("the template's compose_spec no longer parses"))?;
        let invalid = |problems: Vec<hoster_core::problem::Problem>| DeployError::Invalid(Problems(problems));
        let (compose, config_files) = template::instantiate(
            &document,
            &spec.config_files,
            &spec.variables,
            values,
            &built_ins,
            &self.settings.limits,
            template.trusted || !policy,
        )
        .map_err(invalid)?;
        Ok(Instance {
            compose: Arc::new(compose),
            config_files: Arc::new(config_files),
            values: values.clone(),
            template: Arc::new(template),
        })
    }

    /// The `HOSTER_*` values of `d`.
    pub fn built_ins(&self, d: &DeploymentRecord) -> BuiltIns {
        BuiltIns {
            deployment_id: d.id.to_string(),
            deployment_name: d.name.clone(),
            domain: d.domain.clone(),
            url: hoster_core::hostname::deployment_url(&d.domain, self.settings.public_port),
        }
    }

    /// Host ports for the deployment, before and now, stored; `avoid` holds ports the engine
    /// refused on an earlier try.
    async fn assign_ports(
        &self,
        id: &DeploymentId,
        compose: &Compose,
        avoid: &BTreeSet<u16>,
    ) -> Result<(Vec<plan::PortAssignment>, Vec<plan::PortAssignment>), DeployError> {
        let _one_at_a_time = self.ports.lock().await;
        let (previous, assigned) = self.choose_ports(id, compose, avoid).await?;
        if assigned != previous {
            self.store.set_port_assignments(id, &assigned).await?;
        }
        Ok((previous, assigned))
    }

    /// Host ports for `compose` on the deployment, before and now (not stored): the ones it
    /// has where the same container ports are published, free ones otherwise. Its own are
    /// kept without a bind test: its containers may hold them (an upgrade) or be letting go of
    /// them (a restart); the engine says if another process took one ([`Self::run`]).
    pub(super) async fn choose_ports(
        &self,
        id: &DeploymentId,
        compose: &Compose,
        avoid: &BTreeSet<u16>,
    ) -> Result<(Vec<plan::PortAssignment>, Vec<plan::PortAssignment>), DeployError> {
        let previous = self.store.port_assignments(id).await?;
        let others: HashSet<(u16, Protocol)> = self.store.ports_of_others(id).await?.into_iter().collect();
        let mine: HashSet<(u16, Protocol)> = previous.iter().map(|p| (p.host_port, p.protocol)).collect();
        let addr = self.settings.publish_address;
        let own = &self.settings.own_ports;
        let mut taken = |port: u16, protocol: Protocol| {
            avoid.contains(&port)
                || own.contains(&port)
                || others.contains(&(port, protocol))
                || !(mine.contains(&(port, protocol)) || bindable(addr, port, protocol))
        };
        let assigned =
            plan::assign_ports(compose, &previous, self.settings.port_range.clone(), &mut taken).map_err(|e| {
                DeployError::Failed {
                    code: ErrorCode::PortUnavailable,
                    message: e.to_string(),
                }
            })?;
        Ok((previous, assigned))
    }

    /// Where the deployment's primary service ([`Compose::primary_service`]) answers on the
    /// host: its first published TCP port. `None` when no service publishes one.
    pub async fn upstream(&self, d: &DeploymentRecord) -> Result<Option<std::net::SocketAddr>, DeployError> {
        let compose = self.instance_of(d).await?.compose;
        let Some(primary) = compose.primary_service() else {
            return Ok(None);
        };
        let ports = self.store.port_assignments(&d.id).await?;
        let Some(port) = ports
            .iter()
            .find(|p| p.service == primary.name && p.protocol == Protocol::Tcp)
        else {
            return Ok(None);
        };
        let ip = match self.settings.publish_address {
            ip if ip.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
            ip => ip,
        };
        Ok(Some(std::net::SocketAddr::new(ip, port.host_port)))
    }

    /// Everything a start does after the state is `starting`. A host port the engine refuses
    /// is waited for while it is one the deployment held before (its stopped containers'
    /// proxies may not have let go yet), and otherwise, or after [`RELEASE`], given up for the
    /// next free one (another process bound it), a few times over.
    pub(super) async fn run(&self, d: &DeploymentRecord, tracker: &Tracker<'_>) -> Result<(), DeployError> {
        let held: BTreeSet<u16> = self
            .store
            .port_assignments(&d.id)
            .await?
            .iter()
            .map(|p| p.host_port)
            .collect();
        let release = Instant::now() + RELEASE;
        let mut avoid = BTreeSet::new();
        loop {
            match self.run_once(d, &avoid, tracker).await {
                Err(DeployError::Engine(EngineError::PortUnavailable { port, .. })) if avoid.len() < 5 => {
                    let Ok(port) = port.parse::<u16>() else {
                        return Err(DeployError::Failed {
                            code: ErrorCode::PortUnavailable,
                            message: format!("host port {port} is taken"),
                        });
                    };
                    if held.contains(&port) && Instant::now() < release {
                        sleep(POLL).await;
                        continue;
                    }
                    tracing::info!(deployment = %d.id, port, "host port taken meanwhile; choosing another");
                    avoid.insert(port);
                    self.remove_containers(&d.id).await?;
                }
                other => return other,
            }
        }
    }

    async fn run_once(
        &self,
        d: &DeploymentRecord,
        avoid: &BTreeSet<u16>,
        tracker: &Tracker<'_>,
    ) -> Result<(), DeployError> {
        let (plan, before, ports) = self.plan_for(d, Some(avoid)).await?;
        tracker.set(plan.containers().map(|c| c.service.as_str()), Phase::Pending);
        let images: BTreeSet<&str> = plan.containers().map(|c| c.image.as_str()).collect();
        try_join_all(images.into_iter().map(|image| self.pull(&plan, image, tracker))).await?;
        self.engine.ensure_network(&plan.network).await?;
        for volume in &plan.volumes {
            self.engine.ensure_volume(volume).await?;
        }
        let existing = self.engine.containers(Some(&d.id)).await?;
        let present: Vec<(&str, &str)> = existing
            .iter()
            .map(|c| (c.service.as_str(), c.revision.as_str()))
            .collect();
        if !plan.reuses(&present, &before, &ports) {
            self.remove_containers(&d.id).await?;
            self.keep_config_copies(&d.id, &plan).await;
            tracker.set(plan.containers().map(|c| c.service.as_str()), Phase::Creating);
            // Wave by wave: a container made with volumes_from needs its source to exist.
            for wave in &plan.waves {
                try_join_all(wave.iter().map(|c| self.engine.create_container(c, &plan.network.name))).await?;
            }
        }
        for wave in &plan.waves {
            try_join_all(wave.iter().map(|c| self.start_when_ready(&plan, c, tracker))).await?;
        }
        self.check_started(&plan).await
    }

    /// Makes sure `image` is present, telling the services that use it how far its pull is.
    pub(super) async fn pull(&self, plan: &Plan, image: &str, tracker: &Tracker<'_>) -> Result<(), DeployError> {
        let services: Vec<&str> = plan
            .containers()
            .filter(|c| c.image == image)
            .map(|c| c.service.as_str())
            .collect();
        let report = |pulled| tracker.pulled(services.iter().copied(), pulled);
        Ok(self.engine.ensure_image(image, &report).await?)
    }

    /// Replaces one service's container of a running deployment with a new one made from the
    /// plan as it is now (same ports, network and volumes); the others are not touched.
    pub(super) async fn recreate_service(&self, d: &DeploymentRecord, service: &str) -> Result<(), DeployError> {
        let tracker = &self.progress.track(d);
        let (plan, _, _) = self.plan_for(d, None).await?;
        let container = plan
            .containers()
            .find(|c| c.service == service)
            .ok_or_else(|| failed(format!("service `{service}` has no container in the plan")))?;
        self.pull(&plan, &container.image, tracker).await?;
        self.engine.stop_container(&container.name, None).await?;
        self.engine.remove_container(&container.name).await?;
        self.keep_config_copies(&d.id, &plan).await;
        tracker.set([service], Phase::Creating);
        self.engine.create_container(container, &plan.network.name).await?;
        self.start_when_ready(&plan, container, tracker).await?;
        self.check_started(&plan).await
    }

    /// The deployment's plan. `ports`: `Some(avoid)` assigns host ports (a start: the
    /// deployment's own containers are not running, so its ports are free), `None` keeps the
    /// ones it has (its containers hold them now). Also answers the ports before and now.
    pub(super) async fn plan_for(
        &self,
        d: &DeploymentRecord,
        ports: Option<&BTreeSet<u16>>,
    ) -> Result<(Plan, Vec<plan::PortAssignment>, Vec<plan::PortAssignment>), DeployError> {
        let instance = self.instance_of(d).await.map_err(|e| match e {
            // At a start, a model that no longer checks (the template or the operator's policy
            // changed since) is the deployment's failure, with every problem in its message.
            DeployError::Invalid(problems) => failed(format!(
                "the template no longer accepts this deployment's values: {}",
                problems
                    .0
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            other => other,
        })?;
        let (before, ports) = match ports {
            Some(avoid) => self.assign_ports(&d.id, &instance.compose, avoid).await?,
            None => {
                let kept = self.store.port_assignments(&d.id).await?;
                (kept.clone(), kept)
            }
        };
        let plan = self.plan_with(d, &instance, &ports)?;
        Ok((plan, before, ports))
    }

    /// The plan of `d` running `instance` on `ports`.
    pub(super) fn plan_with(
        &self,
        d: &DeploymentRecord,
        instance: &Instance,
        ports: &[plan::PortAssignment],
    ) -> Result<Plan, DeployError> {
        plan::plan(&PlanInput {
            instance: self.engine.instance(),
            deployment: &d.id,
            template: &instance.template.id,
            compose: &instance.compose,
            config_files: &instance.config_files,
            ports,
            publish_address: self.settings.publish_address,
            trusted: instance.template.trusted,
            policy: &self.settings.limits.policy,
            default_limits: self.settings.default_limits,
            revision: &hoster_core::variables::revision(&instance.values),
        })
        .map_err(|e| DeployError::Failed {
            code: match e {
                plan::PlanError::Policy(_) => ErrorCode::PolicyViolation,
                plan::PlanError::Cycle(_) => ErrorCode::RuntimeError,
            },
            message: e.to_string(),
        })
    }

    /// Starts the container once what it depends on is ready; a service that another waits
    /// to see healthy is `waiting_healthy` until then, any other `running` once started.
    pub(super) async fn start_when_ready(
        &self,
        plan: &Plan,
        container: &ContainerSpec,
        tracker: &Tracker<'_>,
    ) -> Result<(), DeployError> {
        let service = container.service.as_str();
        tracker.set([service], Phase::Starting);
        for wait in &container.waits_for {
            self.wait_for(wait).await?;
            if wait.condition == Condition::Healthy {
                tracker.set([wait.service.as_str()], Phase::Running);
            }
        }
        self.engine.start_container(&container.name).await?;
        let awaited_healthy = plan
            .containers()
            .flat_map(|c| &c.waits_for)
            .any(|w| w.service == service && w.condition == Condition::Healthy);
        let phase = if awaited_healthy {
            Phase::WaitingHealthy
        } else {
            Phase::Running
        };
        tracker.set([service], phase);
        Ok(())
    }

    async fn wait_for(&self, wait: &Wait) -> Result<(), DeployError> {
        let deadline = Instant::now() + self.settings.start_timeout;
        loop {
            let Some(state) = self.engine.inspect_container(&wait.container).await? else {
                return Err(failed(format!("service `{}` disappeared while starting", wait.service)));
            };
            let exited = state.status.has_stopped();
            match wait.condition {
                Condition::Started if state.status != ContainerStatus::Created => return Ok(()),
                Condition::Healthy if state.health == Health::Healthy => return Ok(()),
                Condition::Healthy if state.health == Health::Unhealthy => {
                    return Err(failed(format!("service `{}` is unhealthy", wait.service)));
                }
                Condition::Healthy if state.health == Health::None && state.is_running() => {
                    return Err(failed(format!(
                        "service `{}` has no healthcheck, so it can never be service_healthy",
                        wait.service
                    )));
                }
                Condition::CompletedSuccessfully if exited && state.exit_code == 0 => return Ok(()),
                _ if exited => return Err(failed(self.describe_exit(&wait.service, &wait.container).await)),
                _ => {}
            }
            if Instant::now() > deadline {
                return Err(failed(format!(
                    "service `{}` did not become {} within {}s",
                    wait.service,
                    wait.condition.as_str(),
                    self.settings.start_timeout.as_secs()
                )));
            }
            sleep(POLL).await;
        }
    }

    /// A container that died right away fails the start instead of reporting `running`.
    pub(super) async fn check_started(&self, plan: &Plan) -> Result<(), DeployError> {
        for c in plan.containers() {
            if let Some(state) = self.engine.inspect_container(&c.name).await?
                && state.status.has_stopped()
                && (state.exit_code != 0 || state.oom_killed)
            {
                return Err(failed(self.describe_exit(&c.service, &c.name).await));
            }
        }
        Ok(())
    }

    /// Why a container stopped: exit code, OOM kill, and its last lines of output.
    pub(super) async fn describe_exit(&self, service: &str, container: &str) -> String {
        let Ok(Some(state)) = self.engine.inspect_container(container).await else {
            return format!("the container of service `{service}` was removed");
        };
        let mut message = format!("service `{service}` exited with code {}", state.exit_code);
        if state.oom_killed {
            message.push_str(" (killed: out of memory)");
        }
        if let Some(error) = state.error {
            tracing::warn!(service, container, %error, "the engine's reason a container stopped");
            message.push_str(&format!(": {}", crate::runtime::public_reason(&error)));
        }
        if let Ok(logs) = self.engine.logs_tail(container, 5).await {
            let logs = logs.trim();
            if !logs.is_empty() {
                message.push_str(&format!("; last output: {}", logs.replace('\n', " | ")));
            }
        }
        message
    }

    /// Stops containers in reverse start order, each with its own stop timeout.
    pub(super) async fn stop_containers(&self, d: &DeploymentRecord) -> Result<(), DeployError> {
        let id = &d.id;
        if let Ok(Instance { compose, .. }) = self.instance_of(d).await
            && let Ok(waves) = compose.start_waves()
        {
            for wave in waves.iter().rev() {
                let names: Vec<String> = wave.iter().map(|s| object_name(id, &s.name)).collect();
                try_join_all(names.iter().map(|name| self.engine.stop_container(name, None))).await?;
            }
        }
        // Anything else labelled with the deployment, e.g. from an older plan.
        let left: Vec<_> = self
            .engine
            .containers(Some(id))
            .await?
            .into_iter()
            .filter(|c| c.state == ContainerStatus::Running)
            .collect();
        try_join_all(left.iter().map(|c| self.engine.stop_container(&c.id, None))).await?;
        Ok(())
    }

    pub(super) async fn remove_containers(&self, id: &DeploymentId) -> Result<(), DeployError> {
        let containers = self.engine.containers(Some(id)).await?;
        try_join_all(containers.iter().map(|c| self.engine.remove_container(&c.id))).await?;
        Ok(())
    }

    /// What a failed deployment gives back: its containers stop at once (no grace: it has
    /// failed) but stay, so their output can still be read, and its network goes. Its volumes
    /// keep the data. The next start removes the stopped containers.
    pub(super) async fn tear_down(&self, id: &DeploymentId) -> Result<(), DeployError> {
        let running: Vec<_> = self
            .engine
            .containers(Some(id))
            .await?
            .into_iter()
            .filter(|c| {
                matches!(
                    c.state,
                    ContainerStatus::Running | ContainerStatus::Restarting | ContainerStatus::Paused
                )
            })
            .collect();
        try_join_all(
            running
                .iter()
                .map(|c| self.engine.stop_container(&c.id, Some(Duration::ZERO))),
        )
        .await?;
        self.remove_networks(id).await
    }

    async fn remove_networks(&self, id: &DeploymentId) -> Result<(), DeployError> {
        for network in self.engine.networks(Some(id)).await? {
            self.engine.remove_network(&network.name).await?;
        }
        Ok(())
    }

    /// Containers, network and volumes: nothing labelled with the deployment remains.
    pub(super) async fn remove_everything(&self, id: &DeploymentId) -> Result<(), DeployError> {
        self.remove_containers(id).await?;
        self.remove_networks(id).await?;
        for volume in self.engine.volumes(Some(id)).await? {
            self.engine.remove_volume(&volume.name).await?;
        }
        Ok(())
    }

    /// Copies of the config files as injected, under HOSTER_CONFIG_DIR/<deployment>/<service>/,
    /// for the operator to inspect. The containers hold the real ones, so failures only warn.
    pub(super) async fn keep_config_copies(&self, id: &DeploymentId, plan: &Plan) {
        for c in plan.containers() {
            for f in &c.files {
                let path = self
                    .settings
                    .config_dir
                    .join(id.as_str())
                    .join(&c.service)
                    .join(f.path.trim_start_matches('/'));
                if let Err(e) = crate::private_fs::write(&path, f.content.as_bytes()) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot keep a copy of a config file");
                }
            }
        }
    }
}
