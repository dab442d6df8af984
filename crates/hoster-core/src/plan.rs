//! The planner: (compose model, config files, deployment, port assignments) → what to create
//! on the engine and in which order. Pure; the runtime executes plans, it does not decide them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use crate::compose::{
    Compose, Condition, ContainerOptions, Healthcheck, HostAccess, MountSource, Protocol, Resources, RestartPolicy,
    VolumesFromSource, policy,
};
use crate::id::{DeploymentId, TemplateId};
use crate::template::ConfigFile;

/// Labels every engine object of Hoster's carries; they, not the database, say what exists.
pub mod labels {
    pub const MANAGED: &str = "io.hoster.managed";
    /// Which Hoster owns the object, so that several can share one engine.
    pub const INSTANCE: &str = "io.hoster.instance";
    pub const DEPLOYMENT: &str = "io.hoster.deployment";
    pub const TEMPLATE: &str = "io.hoster.template";
    pub const SERVICE: &str = "io.hoster.service";
    /// The revision of the deployment's variable values the container was made with
    /// ([`crate::variables::revision`]).
    pub const REVISION: &str = "io.hoster.revision";
}

/// Engine object names: `hoster_<deployment>` and `hoster_<deployment>_<service|volume>`.
pub fn network_name(deployment: &DeploymentId) -> String {
    format!("hoster_{deployment}")
}

pub fn object_name(deployment: &DeploymentId, part: &str) -> String {
    format!("hoster_{deployment}_{part}")
}

/// A host port bound to one container port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortAssignment {
    pub service: String,
    pub container_port: u16,
    pub protocol: Protocol,
    pub host_port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortError {
    /// Every port of the range is taken.
    Exhausted { range: RangeInclusive<u16> },
}

impl std::fmt::Display for PortError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortError::Exhausted { range } => {
                write!(f, "no free host port left in {}-{}", range.start(), range.end())
            }
        }
    }
}

/// Chooses a host port for every published port of the deployment. For each, in order of
/// preference: the port it had before (stable across restarts), the port the template asks for,
/// then the first free port of `range`. `taken` says whether a port is unavailable (used by
/// another deployment, or bound on the host by someone else).
/// Host ports below this one are never handed to a deployment as asked.
pub const FIRST_UNPRIVILEGED_PORT: u16 = 1024;

pub fn assign_ports(
    compose: &Compose,
    previous: &[PortAssignment],
    range: RangeInclusive<u16>,
    taken: &mut dyn FnMut(u16, Protocol) -> bool,
) -> Result<Vec<PortAssignment>, PortError> {
    let mut chosen: BTreeSet<(u16, Protocol)> = BTreeSet::new();
    let mut out = Vec::new();
    for service in &compose.services {
        for mapping in &service.ports {
            // The same container port may be published twice (`8080:80`, `8443:80`): each mapping
            // takes the first earlier assignment not yet taken by a sibling.
            let before = previous.iter().find(|p| {
                p.service == service.name
                    && p.container_port == mapping.container_port
                    && p.protocol == mapping.protocol
                    && !chosen.contains(&(p.host_port, p.protocol))
            });
            let mut free = |port: u16, chosen: &BTreeSet<(u16, Protocol)>| {
                !chosen.contains(&(port, mapping.protocol)) && !taken(port, mapping.protocol)
            };
            // Privileged ports are the host's own services' (and Hoster's proxy's): a template
            // asking for one gets a port from the range instead.
            let preferred =
                [before.map(|p| p.host_port), mapping.host_port].map(|p| p.filter(|&p| p >= FIRST_UNPRIVILEGED_PORT));
            let port = match preferred.into_iter().flatten().find(|&p| free(p, &chosen)) {
                Some(port) => port,
                None => range
                    .clone()
                    .find(|&p| free(p, &chosen))
                    .ok_or(PortError::Exhausted { range: range.clone() })?,
            };
            chosen.insert((port, mapping.protocol));
            out.push(PortAssignment {
                service: service.name.clone(),
                container_port: mapping.container_port,
                protocol: mapping.protocol,
                host_port: port,
            });
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObjectSpec {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortBinding {
    pub container_port: u16,
    pub protocol: Protocol,
    pub host_ip: IpAddr,
    pub host_port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// The engine name of the deployment's copy of a named volume.
    Volume(String),
    Anonymous,
    Tmpfs,
    /// A host path; only trusted templates get this far with one.
    Bind(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    pub kind: MountKind,
    pub target: String,
    pub read_only: bool,
}

/// A config file to copy into the container before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    pub path: String,
    pub content: String,
    pub mode: u32,
}

/// A condition on another container that must hold before this one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    pub service: String,
    pub container: String,
    pub condition: Condition,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    pub name: String,
    pub service: String,
    pub image: String,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=value`; keys declared without a value are left out (Hoster has no shell to take them from).
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub ports: Vec<PortBinding>,
    pub exposed: Vec<(u16, Protocol)>,
    pub mounts: Vec<MountSpec>,
    pub files: Vec<FileSpec>,
    pub healthcheck: Option<Healthcheck>,
    pub restart: RestartPolicy,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub stop_timeout: Option<Duration>,
    pub limits: Resources,
    pub reservations: Resources,
    pub cap_drop: Vec<String>,
    /// Empty unless the template is trusted (the policy refuses it otherwise).
    pub host_access: HostAccess,
    /// The names other services reach this one by on the deployment's network: its service
    /// name, its `container_name`, and the aliases other services' `links` give it.
    pub aliases: Vec<String>,
    /// `CONTAINER[:ro]` entries whose volumes this container mounts too.
    pub volumes_from: Vec<String>,
    /// Engine settings as the service wrote them, logs capped when the service names a log
    /// driver without a size.
    pub options: ContainerOptions,
    pub waits_for: Vec<Wait>,
}

/// The aliases other services' `links` give `service`.
fn linked_as<'c>(compose: &'c Compose, service: &'c str) -> impl Iterator<Item = String> + 'c {
    compose
        .services
        .iter()
        .flat_map(|s| &s.links)
        .filter(move |l| l.service == service)
        .filter_map(|l| l.alias.clone())
}

/// The size a service's logs are capped at when it names a log driver without one.
const DEFAULT_LOG_SIZE: &str = "10m";

fn with_log_cap(mut options: ContainerOptions) -> ContainerOptions {
    if let Some(l) = &mut options.logging {
        l.options
            .entry("max-size".into())
            .or_insert_with(|| DEFAULT_LOG_SIZE.into());
    }
    options
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub network: ObjectSpec,
    pub volumes: Vec<ObjectSpec>,
    /// Containers in start waves: a wave starts once the previous wave's conditions hold, and
    /// the containers of one wave start in parallel.
    pub waves: Vec<Vec<ContainerSpec>>,
}

impl Plan {
    pub fn containers(&self) -> impl Iterator<Item = &ContainerSpec> {
        self.waves.iter().flatten()
    }

    /// Whether a start may start the containers a stop left (`present`: their services and
    /// [`labels::REVISION`]s) instead of creating them anew. Reusing keeps what lives in them
    /// and in the anonymous volumes images declare (postgres's data directory) across
    /// stop/start; fresh containers only when the plan changed: another set of services, other
    /// host ports, or other variable values than they were made with.
    pub fn reuses(
        &self,
        present: &[(&str, &str)],
        ports_before: &[PortAssignment],
        ports_now: &[PortAssignment],
    ) -> bool {
        let planned: std::collections::BTreeSet<(&str, &str)> = self
            .containers()
            .map(|c| {
                (
                    c.service.as_str(),
                    c.labels.get(labels::REVISION).map_or("", String::as_str),
                )
            })
            .collect();
        // A container made before revisions were labelled is taken as made with this one.
        let present_set: std::collections::BTreeSet<(&str, &str)> = present
            .iter()
            .map(|&(service, spec)| match spec {
                "" => planned
                    .iter()
                    .find(|(s, _)| *s == service)
                    .copied()
                    .unwrap_or((service, spec)),
                _ => (service, spec),
            })
            .collect();
        ports_before == ports_now && present.len() == planned.len() && present_set == planned
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// What the safe-compose policy refuses, as `path: reason`.
    Policy(Vec<String>),
    /// Services whose depends_on form a cycle.
    Cycle(Vec<String>),
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::Policy(refused) => {
                write!(f, "the template breaks the safe-compose policy: {}", refused.join("; "))
            }
            PlanError::Cycle(services) => write!(f, "depends_on forms a cycle among {}", services.join(", ")),
        }
    }
}

pub struct PlanInput<'a> {
    /// The `HOSTER_INSTANCE` this Hoster runs as.
    pub instance: &'a str,
    pub deployment: &'a DeploymentId,
    pub template: &'a TemplateId,
    pub compose: &'a Compose,
    pub config_files: &'a [ConfigFile],
    pub ports: &'a [PortAssignment],
    /// Where published ports bind (`HOSTER_PUBLISH_ADDRESS`), whatever the template asks.
    pub publish_address: IpAddr,
    /// Whether an admin lifted the safe-compose policy for the template.
    pub trusted: bool,
    /// The operator's exceptions to the policy.
    pub policy: &'a policy::Policy,
    /// Limits for what a service does not bound itself (`HOSTER_DEFAULT_*`).
    pub default_limits: Resources,
    /// Which variable values the containers are made with ([`crate::variables::revision`]).
    pub revision: &'a str,
}

fn base_labels(input: &PlanInput<'_>) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::MANAGED.to_string(), "true".to_string()),
        (labels::INSTANCE.to_string(), input.instance.to_string()),
        (labels::DEPLOYMENT.to_string(), input.deployment.to_string()),
        (labels::TEMPLATE.to_string(), input.template.to_string()),
    ])
}

/// Builds the plan. Fails if the compose document breaks the safe-compose policy (checked again
/// here, whatever was stored) and the template is not trusted, or has a dependency cycle; the
/// error says which.
pub fn plan(input: &PlanInput<'_>) -> Result<Plan, PlanError> {
    if !input.trusted {
        let refused: Vec<String> = policy::violations(input.compose, input.policy)
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect();
        if !refused.is_empty() {
            return Err(PlanError::Policy(refused));
        }
    }
    let labels = base_labels(input);
    let network = ObjectSpec {
        name: network_name(input.deployment),
        labels: labels.clone(),
    };
    let volumes = input
        .compose
        .volumes
        .iter()
        .map(|v| ObjectSpec {
            name: object_name(input.deployment, v),
            labels: labels.clone(),
        })
        .collect();
    let waves = input
        .compose
        .start_waves()
        .map_err(PlanError::Cycle)?
        .into_iter()
        .map(|wave| {
            wave.into_iter()
                .map(|s| {
                    let mut container_labels = s.labels.clone();
                    container_labels.extend(labels.clone());
                    container_labels.insert(labels::SERVICE.to_string(), s.name.clone());
                    let mut spec = ContainerSpec {
                        name: object_name(input.deployment, &s.name),
                        service: s.name.clone(),
                        image: s.image.clone(),
                        command: s.command.clone(),
                        entrypoint: s.entrypoint.clone(),
                        env: s
                            .environment
                            .iter()
                            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                            .collect(),
                        labels: container_labels,
                        ports: input
                            .ports
                            .iter()
                            .filter(|p| p.service == s.name)
                            .map(|p| PortBinding {
                                container_port: p.container_port,
                                protocol: p.protocol,
                                host_ip: input.publish_address,
                                host_port: p.host_port,
                            })
                            .collect(),
                        exposed: s.expose.iter().map(|e| (e.port, e.protocol)).collect(),
                        mounts: s
                            .volumes
                            .iter()
                            .map(|m| MountSpec {
                                kind: match &m.source {
                                    MountSource::Named(v) => MountKind::Volume(object_name(input.deployment, v)),
                                    MountSource::Anonymous => MountKind::Anonymous,
                                    MountSource::Tmpfs => MountKind::Tmpfs,
                                    MountSource::Bind(path) => MountKind::Bind(path.clone()),
                                },
                                target: m.target.clone(),
                                read_only: m.read_only,
                            })
                            .collect(),
                        files: input
                            .config_files
                            .iter()
                            .filter(|f| f.service.as_ref().is_none_or(|only| *only == s.name))
                            .map(|f| FileSpec {
                                path: f.path.clone(),
                                content: f.content.clone(),
                                mode: f.mode_bits(),
                            })
                            .chain(s.files.iter().map(|f| FileSpec {
                                path: f.target.clone(),
                                content: f.content.clone(),
                                mode: f.mode,
                            }))
                            .collect(),
                        healthcheck: s.healthcheck.clone(),
                        restart: s.restart,
                        working_dir: s.working_dir.clone(),
                        user: s.user.clone(),
                        hostname: s.hostname.clone(),
                        stop_timeout: s.stop_grace_period,
                        limits: Resources {
                            cpus: s.limits.cpus.or(input.default_limits.cpus),
                            memory_bytes: s.limits.memory_bytes.or(input.default_limits.memory_bytes),
                            pids: s.limits.pids.or(input.default_limits.pids),
                        },
                        reservations: s.reservations,
                        cap_drop: s.cap_drop.clone(),
                        host_access: s.host_access.clone(),
                        aliases: std::iter::once(s.name.clone())
                            .chain(s.options.container_name.clone())
                            .chain(linked_as(input.compose, &s.name))
                            .collect(),
                        options: with_log_cap(s.options.clone()),
                        volumes_from: s
                            .volumes_from
                            .iter()
                            .map(|from| {
                                let name = match &from.source {
                                    VolumesFromSource::Service(service) => object_name(input.deployment, service),
                                    VolumesFromSource::Container(name) => name.clone(),
                                };
                                if from.read_only { format!("{name}:ro") } else { name }
                            })
                            .collect(),
                        waits_for: s
                            .depends_on
                            .iter()
                            .filter(|d| input.compose.service(&d.service).is_some())
                            .map(|d| Wait {
                                service: d.service.clone(),
                                container: object_name(input.deployment, &d.service),
                                condition: d.condition,
                            })
                            .collect(),
                    };
                    spec.labels
                        .insert(labels::REVISION.to_string(), input.revision.to_string());
                    spec
                })
                .collect()
        })
        .collect();
    Ok(Plan {
        network,
        volumes,
        waves,
    })
}

mod changes;
pub use changes::{Change, ServiceChange, changes, differences};

#[cfg(test)]
mod tests;
