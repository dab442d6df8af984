//! Containers: create from a plan's spec, copy files in, start, stop, remove, observe.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, DeviceMapping, EndpointSettings, HealthConfig, HealthStatusEnum, HostConfig,
    HostConfigLogConfig, Mount, MountTypeEnum, NetworkingConfig, PortBinding, ResourcesUlimits, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, LogsOptions, RemoveContainerOptions, StopContainerOptions,
    UploadToContainerOptions,
};
use futures_util::StreamExt;
use hoster_core::compose::{self, Protocol};
use hoster_core::id::DeploymentId;
use hoster_core::plan::{ContainerSpec, FileSpec, MountKind, labels};
use serde::Serialize;
use utoipa::ToSchema;

use super::engine::{Engine, EngineError, is_status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// The container has no healthcheck.
    None,
    Starting,
    Healthy,
    Unhealthy,
}

/// A container's state as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContainerStatus {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    /// A state this Hoster does not know (a newer engine's).
    Unknown,
}

impl ContainerStatus {
    fn parse(engine: &str) -> Self {
        match engine {
            "created" => Self::Created,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "restarting" => Self::Restarting,
            "removing" => Self::Removing,
            "exited" => Self::Exited,
            "dead" => Self::Dead,
            _ => Self::Unknown,
        }
    }

    /// Whether its process has ended (and will not come back by itself).
    pub fn has_stopped(self) -> bool {
        matches!(self, Self::Exited | Self::Dead)
    }
}

/// What the engine says about one container right now.
#[derive(Debug, Clone)]
pub struct ContainerState {
    pub status: ContainerStatus,
    pub exit_code: i64,
    pub oom_killed: bool,
    pub health: Health,
    pub error: Option<String>,
}

impl ContainerState {
    pub fn is_running(&self) -> bool {
        self.status == ContainerStatus::Running
    }
}

/// One of Hoster's containers as the engine lists it.
#[derive(Debug, Clone)]
pub struct ContainerSummary {
    pub id: String,
    pub deployment: String,
    pub service: String,
    /// Its [`labels::REVISION`]: which variable values it was made with.
    pub revision: String,
    pub state: ContainerStatus,
    pub health: Health,
    /// From `Exited (N) ...`; `None` while it runs.
    pub exit_code: Option<i64>,
    /// (container port, host port, protocol) of the published ports.
    pub ports: Vec<(u16, u16, String)>,
}

fn non_empty(items: &[String]) -> Option<Vec<String>> {
    (!items.is_empty()).then(|| items.to_vec())
}

/// `HOST[:CONTAINER[:PERMISSIONS]]`, as `docker run --device` reads it.
fn device(text: &str) -> DeviceMapping {
    let mut parts = text.splitn(3, ':');
    let host = parts.next().unwrap_or_default().to_string();
    let container = parts.next().map_or_else(|| host.clone(), str::to_string);
    DeviceMapping {
        path_on_host: Some(host),
        path_in_container: Some(container),
        cgroup_permissions: Some(parts.next().unwrap_or("rwm").to_string()),
    }
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn port_key(port: u16, protocol: Protocol) -> String {
    format!("{port}/{}", protocol.as_str())
}

fn restart_policy(policy: compose::RestartPolicy) -> RestartPolicy {
    let (name, maximum_retry_count) = match policy {
        compose::RestartPolicy::No => (RestartPolicyNameEnum::NO, None),
        compose::RestartPolicy::Always => (RestartPolicyNameEnum::ALWAYS, None),
        compose::RestartPolicy::UnlessStopped => (RestartPolicyNameEnum::UNLESS_STOPPED, None),
        compose::RestartPolicy::OnFailure { max_retries } => {
            (RestartPolicyNameEnum::ON_FAILURE, max_retries.map(i64::from))
        }
    };
    RestartPolicy {
        name: Some(name),
        maximum_retry_count,
    }
}

/// The engine's container configuration for a planned container.
fn create_body(spec: &ContainerSpec, network: &str) -> ContainerCreateBody {
    let o = &spec.options;
    let mut exposed: HashMap<String, HashMap<(), ()>> = HashMap::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for (port, protocol) in &spec.exposed {
        exposed.insert(port_key(*port, *protocol), HashMap::new());
    }
    for p in &spec.ports {
        let key = port_key(p.container_port, p.protocol);
        exposed.insert(key.clone(), HashMap::new());
        bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some(p.host_ip.to_string()),
                host_port: Some(p.host_port.to_string()),
            });
    }
    let mounts = spec
        .mounts
        .iter()
        .map(|m| Mount {
            target: Some(m.target.clone()),
            source: match &m.kind {
                MountKind::Volume(name) | MountKind::Bind(name) => Some(name.clone()),
                MountKind::Anonymous | MountKind::Tmpfs => None,
            },
            typ: Some(match m.kind {
                MountKind::Tmpfs => MountTypeEnum::TMPFS,
                MountKind::Bind(_) => MountTypeEnum::BIND,
                MountKind::Volume(_) | MountKind::Anonymous => MountTypeEnum::VOLUME,
            }),
            read_only: Some(m.read_only),
            ..Default::default()
        })
        .collect();
    let healthcheck = spec.healthcheck.as_ref().map(|h| {
        if h.disable {
            HealthConfig {
                test: Some(vec!["NONE".into()]),
                ..Default::default()
            }
        } else {
            HealthConfig {
                test: h.test.clone(),
                interval: h.interval.map(nanos),
                timeout: h.timeout.map(nanos),
                start_period: h.start_period.map(nanos),
                start_interval: h.start_interval.map(nanos),
                retries: h.retries.map(i64::from),
            }
        }
    });
    let host_config = HostConfig {
        port_bindings: Some(bindings),
        mounts: Some(mounts),
        restart_policy: Some(restart_policy(spec.restart)),
        network_mode: Some(network.to_string()),
        memory: spec.limits.memory_bytes.and_then(|b| i64::try_from(b).ok()),
        // A memory limit is the limit: no swap on top of it, unless memswap_limit says so.
        memory_swap: o
            .memswap_limit
            .or(spec.limits.memory_bytes)
            .and_then(|b| i64::try_from(b).ok()),
        memory_reservation: spec.reservations.memory_bytes.and_then(|b| i64::try_from(b).ok()),
        nano_cpus: spec.limits.cpus.map(|c| (c * 1e9) as i64),
        pids_limit: spec.limits.pids,
        cap_drop: non_empty(&spec.cap_drop),
        // Only a trusted template's containers get past the planner with any of these.
        privileged: Some(spec.host_access.privileged),
        cap_add: non_empty(&spec.host_access.cap_add),
        devices: non_empty(&spec.host_access.devices).map(|devices| devices.iter().map(|d| device(d)).collect()),
        pid_mode: spec.host_access.pid_host.then(|| "host".to_string()),
        ipc_mode: spec.host_access.ipc_host.then(|| "host".to_string()),
        userns_mode: spec.host_access.userns_host.then(|| "host".to_string()),
        uts_mode: spec.host_access.uts_host.then(|| "host".to_string()),
        cgroupns_mode: spec
            .host_access
            .cgroup_host
            .then_some(bollard::models::HostConfigCgroupnsModeEnum::HOST),
        cgroup_parent: spec.host_access.cgroup_parent.clone(),
        volumes_from: non_empty(&spec.volumes_from),
        security_opt: non_empty(&spec.host_access.security_opt),
        sysctls: (!spec.host_access.sysctls.is_empty()).then(|| {
            spec.host_access
                .sysctls
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }),
        readonly_rootfs: Some(o.read_only),
        init: o.init.then_some(true),
        dns: non_empty(&o.dns),
        dns_search: non_empty(&o.dns_search),
        extra_hosts: (!o.extra_hosts.is_empty())
            .then(|| o.extra_hosts.iter().map(|(host, ip)| format!("{host}:{ip}")).collect()),
        group_add: non_empty(&o.group_add),
        shm_size: o.shm_size.and_then(|b| i64::try_from(b).ok()),
        cpu_shares: o.cpu_shares.and_then(|n| i64::try_from(n).ok()),
        oom_score_adj: o.oom_score_adj,
        tmpfs: (!o.tmpfs.is_empty()).then(|| {
            o.tmpfs
                .iter()
                .map(|(target, size)| (target.clone(), size.map(|b| format!("size={b}")).unwrap_or_default()))
                .collect()
        }),
        ulimits: (!o.ulimits.is_empty()).then(|| {
            o.ulimits
                .iter()
                .map(|(name, (soft, hard))| ResourcesUlimits {
                    name: Some(name.clone()),
                    soft: Some(*soft),
                    hard: Some(*hard),
                })
                .collect()
        }),
        log_config: o.logging.as_ref().map(|l| HostConfigLogConfig {
            typ: Some(l.driver.clone()),
            config: Some(l.options.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        }),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: spec.command.clone(),
        entrypoint: spec.entrypoint.clone(),
        env: Some(spec.env.clone()),
        labels: Some(spec.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        exposed_ports: Some(exposed),
        working_dir: spec.working_dir.clone(),
        user: spec.user.clone(),
        hostname: spec.hostname.clone(),
        healthcheck,
        stop_timeout: spec.stop_timeout.map(|d| d.as_secs().max(1) as i64),
        stop_signal: o.stop_signal.clone(),
        tty: Some(o.tty),
        open_stdin: Some(o.stdin_open),
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network.to_string(),
                EndpointSettings {
                    aliases: Some(spec.aliases.clone()),
                    ..Default::default()
                },
            )])),
        }),
        ..Default::default()
    }
}

/// A tar archive of the files, rooted at `/`; the engine creates missing parent directories.
fn archive(files: &[FileSpec]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for f in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(f.content.len() as u64);
        header.set_mode(f.mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        builder.append_data(&mut header, f.path.trim_start_matches('/'), f.content.as_bytes())?;
    }
    builder.into_inner()
}

fn health_from_status(status: &str) -> Health {
    if status.contains("(healthy)") {
        Health::Healthy
    } else if status.contains("(unhealthy)") {
        Health::Unhealthy
    } else if status.contains("(health: starting)") {
        Health::Starting
    } else {
        Health::None
    }
}

fn exit_code_from_status(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    rest.split(')').next()?.parse().ok()
}

impl Engine {
    /// Creates the container (replacing a leftover of the same name) and copies its files in.
    pub(super) async fn create_container(&self, spec: &ContainerSpec, network: &str) -> Result<String, EngineError> {
        let docker = self.client().await?;
        // An engine before API 1.44 would take the field and silently not honour it.
        let api = docker.client_version();
        if spec.healthcheck.as_ref().is_some_and(|h| h.start_interval.is_some())
            && (api.major_version, api.minor_version) < (1, 44)
        {
            return Err(EngineError::Unsupported(format!(
                "service `{}`: healthcheck.start_interval needs Docker 25 or later (API 1.44); this engine speaks API {}.{}",
                spec.service, api.major_version, api.minor_version
            )));
        }
        let options = CreateContainerOptions {
            name: Some(spec.name.clone()),
            platform: spec.options.platform.clone().unwrap_or_default(),
        };
        let created = match docker
            .create_container(Some(options.clone()), create_body(spec, network))
            .await
        {
            Err(e) if is_status(&e, 409) => {
                self.remove_container(&spec.name).await?;
                docker.create_container(Some(options), create_body(spec, network)).await
            }
            other => other,
        }
        .map_err(EngineError::from_docker)?;
        if !spec.files.is_empty() {
            let tar =
                archive(&spec.files).map_err(|e| EngineError::Docker(format!("cannot pack config files: {e}")))?;
            let options = UploadToContainerOptions {
                path: "/".into(),
                ..Default::default()
            };
            docker
                .upload_to_container(&created.id, Some(options), bollard::body_full(tar.into()))
                .await
                .map_err(EngineError::from_docker)?;
        }
        Ok(created.id)
    }

    pub(super) async fn start_container(&self, name: &str) -> Result<(), EngineError> {
        let docker = self.client().await?;
        match docker
            .start_container(name, None::<bollard::query_parameters::StartContainerOptions>)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_status(&e, 304) => Ok(()),
            Err(e) => Err(EngineError::from_docker(e)),
        }
    }

    /// Stops the container, giving it `timeout` (its own stop timeout when `None`) before SIGKILL.
    pub(super) async fn stop_container(&self, name: &str, timeout: Option<Duration>) -> Result<(), EngineError> {
        let docker = self.client().await?;
        let options = timeout.map(|t| StopContainerOptions {
            t: Some(t.as_secs() as i32),
            ..Default::default()
        });
        match docker.stop_container(name, options).await {
            Ok(()) => Ok(()),
            Err(e) if is_status(&e, 304) || is_status(&e, 404) => Ok(()),
            Err(e) => Err(EngineError::from_docker(e)),
        }
    }

    /// Removes the container and its anonymous volumes; a container already gone is fine.
    pub(super) async fn remove_container(&self, name: &str) -> Result<(), EngineError> {
        let docker = self.client().await?;
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match docker.remove_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_status(&e, 404) => Ok(()),
            // Removal already under way (409 "is already in progress").
            Err(e) if is_status(&e, 409) => Ok(()),
            Err(e) => Err(EngineError::from_docker(e)),
        }
    }

    pub(super) async fn inspect_container(&self, name: &str) -> Result<Option<ContainerState>, EngineError> {
        let docker = self.client().await?;
        let inspect = match docker
            .inspect_container(name, None::<bollard::query_parameters::InspectContainerOptions>)
            .await
        {
            Ok(i) => i,
            Err(e) if is_status(&e, 404) => return Ok(None),
            Err(e) => return Err(EngineError::from_docker(e)),
        };
        let state = inspect.state.unwrap_or_default();
        Ok(Some(ContainerState {
            status: ContainerStatus::parse(&state.status.map(|s| s.to_string()).unwrap_or_default()),
            exit_code: state.exit_code.unwrap_or(0),
            oom_killed: state.oom_killed.unwrap_or(false),
            health: match state.health.and_then(|h| h.status) {
                Some(HealthStatusEnum::HEALTHY) => Health::Healthy,
                Some(HealthStatusEnum::UNHEALTHY) => Health::Unhealthy,
                Some(HealthStatusEnum::STARTING) => Health::Starting,
                _ => Health::None,
            },
            error: state.error.filter(|e| !e.is_empty()),
        }))
    }

    /// Hoster's containers, of one deployment or all, running or not.
    pub(super) async fn managed_containers(
        &self,
        deployment: Option<&DeploymentId>,
    ) -> Result<Vec<ContainerSummary>, EngineError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(self.label_filter(deployment)),
            ..Default::default()
        };
        let containers = self
            .client()
            .await?
            .list_containers(Some(options))
            .await
            .map_err(EngineError::from_docker)?;
        Ok(containers
            .into_iter()
            .filter(|c| {
                c.labels
                    .as_ref()
                    .is_none_or(|l| !l.contains_key(super::volumes::HELPER))
            })
            .map(|c| {
                let labels = c.labels.unwrap_or_default();
                let status = c.status.unwrap_or_default();
                let mut ports: Vec<(u16, u16, String)> = c
                    .ports
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|p| {
                        let protocol = p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into());
                        Some((p.private_port, p.public_port?, protocol))
                    })
                    .collect();
                // The engine lists a binding once per address family.
                ports.sort();
                ports.dedup();
                ContainerSummary {
                    id: c.id.unwrap_or_default(),
                    deployment: labels.get(labels::DEPLOYMENT).cloned().unwrap_or_default(),
                    service: labels.get(labels::SERVICE).cloned().unwrap_or_default(),
                    revision: labels.get(labels::REVISION).cloned().unwrap_or_default(),
                    state: ContainerStatus::parse(&c.state.map(|s| s.to_string()).unwrap_or_default()),
                    health: health_from_status(&status),
                    exit_code: exit_code_from_status(&status),
                    ports,
                }
            })
            .collect())
    }

    /// The last `lines` lines the container wrote, stdout and stderr together.
    pub(super) async fn logs_tail(&self, name: &str, lines: usize) -> Result<String, EngineError> {
        let docker = self.client().await?;
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        };
        let mut stream = docker.logs(name, Some(options));
        let mut out = String::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(output) => out.push_str(&String::from_utf8_lossy(&output.into_bytes())),
                Err(e) if is_status(&e, 404) => break,
                Err(e) => return Err(EngineError::from_docker(e)),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::ContainerStatus;

    #[test]
    fn engine_states_read_as_statuses() {
        assert_eq!(ContainerStatus::parse("running"), ContainerStatus::Running);
        assert!(ContainerStatus::parse("exited").has_stopped());
        assert!(ContainerStatus::parse("dead").has_stopped());
        assert!(!ContainerStatus::parse("restarting").has_stopped());
        assert_eq!(ContainerStatus::parse("hibernating"), ContainerStatus::Unknown);
        assert_eq!(serde_json::to_value(ContainerStatus::Exited).unwrap(), "exited");
    }
}
