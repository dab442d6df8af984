//! The normalised compose model the rest of Hoster works with.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

/// The service label by which a template names the service its hostname routes to.
pub const PRIMARY_LABEL: &str = "io.hoster.primary";

#[derive(Debug, Clone, PartialEq)]
pub struct Compose {
    /// Services in document order; the order breaks ties in the start order.
    pub services: Vec<Service>,
    /// Named volumes declared at the top level; each deployment gets its own copy.
    pub volumes: Vec<String>,
    /// Networks declared at the top level. All of a deployment's services share one bridge
    /// network, so these only name what services may list.
    pub networks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Service {
    pub name: String,
    pub image: String,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    /// `None` values are declared without a value (`- KEY` in the list form).
    pub environment: BTreeMap<String, Option<String>>,
    pub ports: Vec<PortMapping>,
    pub expose: Vec<ExposedPort>,
    pub depends_on: Vec<Dependency>,
    pub volumes: Vec<Mount>,
    pub healthcheck: Option<Healthcheck>,
    pub restart: RestartPolicy,
    pub labels: BTreeMap<String, String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub stop_grace_period: Option<Duration>,
    pub limits: Resources,
    pub reservations: Resources,
    pub networks: Vec<String>,
    /// Capabilities taken away (always allowed: it only narrows what the container can do).
    pub cap_drop: Vec<String>,
    /// Other containers whose volumes this one mounts too.
    pub volumes_from: Vec<VolumesFrom>,
    /// What reaches beyond the container; see [`super::policy`].
    pub host_access: HostAccess,
    /// Engine settings Compose passes through as written.
    pub options: ContainerOptions,
    /// Files from the document's `configs` and `secrets`.
    pub files: Vec<InlineFile>,
    /// `links`: services this one names, with the alias it knows them by.
    pub links: Vec<Link>,
    /// `x-hoster-backup`: what a backup of the deployment's volumes does with this service.
    pub backup: BackupHook,
}

/// `x-hoster-backup: {command: [...], stop: true}` on a service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupHook {
    /// Run in the service's container before the volumes are copied (a database's dump, say);
    /// the backup fails when it exits non-zero.
    pub command: Option<Vec<String>>,
    /// Stop the container for the copy (started again after) instead of pausing it.
    pub stop: bool,
}

/// One entry of `links`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub service: String,
    pub alias: Option<String>,
}

/// A file Compose's `configs` or `secrets` put into a service's container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineFile {
    pub target: String,
    pub content: String,
    pub mode: u32,
}

/// Settings Compose passes to the engine for a service beyond its process and resources; the
/// policy bounds those that could reach the host or its resources.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContainerOptions {
    /// `container_name`: a name other services use as a hostname. It becomes a network alias;
    /// the container keeps Hoster's name.
    pub container_name: Option<String>,
    /// `os/arch[/variant]`.
    pub platform: Option<String>,
    pub stop_signal: Option<String>,
    pub tty: bool,
    pub stdin_open: bool,
    pub read_only: bool,
    pub init: bool,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    /// Hostname → IP address (or `host-gateway`, which the policy refuses).
    pub extra_hosts: BTreeMap<String, String>,
    pub group_add: Vec<String>,
    pub shm_size: Option<u64>,
    /// Memory plus swap, in bytes.
    pub memswap_limit: Option<u64>,
    pub cpu_shares: Option<u64>,
    pub oom_score_adj: Option<i64>,
    /// `tmpfs` mounts: target → size in bytes (`None`: the engine's default).
    pub tmpfs: BTreeMap<String, Option<u64>>,
    /// Name → (soft, hard).
    pub ulimits: BTreeMap<String, (i64, i64)>,
    pub logging: Option<Logging>,
}

/// `logging`: the driver and its options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Logging {
    pub driver: String,
    pub options: BTreeMap<String, String>,
}

/// Features that give a container power over the host. Parsed so that a trusted template can
/// use them; the safe-compose policy refuses them everywhere else.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostAccess {
    pub privileged: bool,
    /// Capability names, uppercase, without `CAP_`.
    pub cap_add: Vec<String>,
    /// `HOST[:CONTAINER[:PERMISSIONS]]`
    pub devices: Vec<String>,
    pub pid_host: bool,
    pub ipc_host: bool,
    pub security_opt: Vec<String>,
    pub sysctls: BTreeMap<String, String>,
    /// `userns_mode: host`: no user-namespace remapping, whatever the engine's default.
    pub userns_host: bool,
    /// `uts: host`: the host's hostname and domain name.
    pub uts_host: bool,
    /// `cgroup: host`: the host's cgroup namespace.
    pub cgroup_host: bool,
    /// `cgroup_parent`: a cgroup of the host's to run under.
    pub cgroup_parent: Option<String>,
}

impl Service {
    /// The services this one must come after: its `depends_on`, and the services it takes
    /// volumes from (their containers must exist when this one is created).
    pub fn needs(&self) -> impl Iterator<Item = &str> {
        let from = self.volumes_from.iter().filter_map(|v| match &v.source {
            VolumesFromSource::Service(name) => Some(name.as_str()),
            VolumesFromSource::Container(_) => None,
        });
        self.depends_on.iter().map(|d| d.service.as_str()).chain(from)
    }
}

/// One `volumes_from` entry: `service[:ro|rw]`, `service:NAME[:ro|rw]` or `container:NAME[:ro|rw]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumesFrom {
    pub source: VolumesFromSource,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumesFromSource {
    /// A service of the same deployment.
    Service(String),
    /// Any container on the engine, by name (the policy refuses it).
    Container(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Protocol::Tcp, Protocol::Udp].into_iter().find(|p| p.as_str() == s)
    }
}

crate::problem::try_from_text!(Protocol, "protocol");

/// One published port. Ranges in the source are expanded to one mapping per port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortMapping {
    pub host_ip: Option<IpAddr>,
    /// `None`: any free host port.
    pub host_port: Option<u16>,
    pub container_port: u16,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExposedPort {
    pub port: u16,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Condition {
    #[default]
    Started,
    Healthy,
    CompletedSuccessfully,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Started => "service_started",
            Condition::Healthy => "service_healthy",
            Condition::CompletedSuccessfully => "service_completed_successfully",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub service: String,
    pub condition: Condition,
    /// Compose's `required: false` lets the dependent start when the dependency is absent.
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// A volume declared at the top level, private to the deployment.
    Named(String),
    /// A fresh volume that lives as long as the container.
    Anonymous,
    Tmpfs,
    /// A path on the host (the policy refuses it unless the template is trusted).
    Bind(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub source: MountSource,
    pub target: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Healthcheck {
    /// Docker's form: `["CMD", ...]`, `["CMD-SHELL", "..."]`; `None` keeps the image's test.
    pub test: Option<Vec<String>>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    /// How often to check during `start_period` (engine API 1.44 and later).
    pub start_interval: Option<Duration>,
    pub retries: Option<u32>,
    /// `disable: true` or `test: ["NONE"]`: turns off the image's own healthcheck.
    pub disable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    OnFailure {
        max_retries: Option<u32>,
    },
    UnlessStopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Resources {
    pub cpus: Option<f64>,
    pub memory_bytes: Option<u64>,
    pub pids: Option<i64>,
}

impl Compose {
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The service a deployment's hostname routes to: the one labelled [`PRIMARY_LABEL`], else
    /// the first, in start order, that publishes a TCP port. `None` when none publishes one.
    pub fn primary_service(&self) -> Option<&Service> {
        let publishes_tcp = |s: &&Service| s.ports.iter().any(|p| p.protocol == Protocol::Tcp);
        if let Some(marked) = self.services.iter().find(|s| s.labels.contains_key(PRIMARY_LABEL)) {
            return Some(marked).filter(publishes_tcp);
        }
        let waves = self.start_waves().ok()?;
        waves.into_iter().flatten().find(publishes_tcp)
    }

    /// Services grouped into start waves: each wave needs ([`Service::needs`]) only earlier waves, so its
    /// services can start in parallel. Within a wave, document order. `Err` names a cycle.
    pub fn start_waves(&self) -> Result<Vec<Vec<&Service>>, Vec<String>> {
        let mut placed: Vec<Option<usize>> = vec![None; self.services.len()];
        let mut waves: Vec<Vec<&Service>> = Vec::new();
        let index_of = |name: &str| self.services.iter().position(|s| s.name == name);
        loop {
            let wave: Vec<usize> = (0..self.services.len())
                .filter(|&i| placed[i].is_none())
                .filter(|&i| {
                    self.services[i]
                        .needs()
                        .filter_map(index_of)
                        .all(|j| placed[j].is_some())
                })
                .collect();
            if wave.is_empty() {
                break;
            }
            for &i in &wave {
                placed[i] = Some(waves.len());
            }
            waves.push(wave.into_iter().map(|i| &self.services[i]).collect());
        }
        let stuck: Vec<String> = (0..self.services.len())
            .filter(|&i| placed[i].is_none())
            .map(|i| self.services[i].name.clone())
            .collect();
        if stuck.is_empty() { Ok(waves) } else { Err(stuck) }
    }
}
