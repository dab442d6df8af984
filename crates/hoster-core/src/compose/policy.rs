//! The safe-compose policy: what a template may not ask of the host, and why. Checked when a
//! template is created or updated and again when a deployment is planned; an admin can lift it
//! for one template by marking it trusted.

use super::model::{Compose, MountSource, Resources, Service, VolumesFromSource};
use super::parse::Located;
use super::units::format_bytes;

/// Capabilities Docker grants every container anyway: adding them back (after a `cap_drop`)
/// gives nothing beyond a default container.
pub const ALLOWED_CAPABILITIES: [&str; 14] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// The most a template's services may ask for; `None` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Maxima {
    pub memory_bytes: Option<u64>,
    pub cpus: Option<f64>,
    pub pids: Option<i64>,
}

/// The operator's exceptions to the policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    /// Registries (`host[:port]`, lowercase) that may be pulled from although their host is
    /// loopback, private or an IP address (`HOSTER_ALLOWED_REGISTRIES`).
    pub allowed_registries: Vec<String>,
}

/// Every way `compose` reaches beyond its containers, one problem each, with the service, key
/// and reason.
pub fn violations(compose: &Compose, policy: &Policy) -> Vec<Located> {
    let mut out = Vec::new();
    for s in &compose.services {
        service_violations(s, policy, &mut out);
    }
    out
}

/// The registry an image reference names (`host[:port]`), or `None` for Docker Hub: as the
/// engine reads it, the first path component is a registry when it has a `.` or a `:` or is
/// `localhost`.
pub fn registry_of(image: &str) -> Option<&str> {
    let (first, _) = image.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
}

/// Why pulling from `registry` would make the engine call into the operator's own network
/// (server-side request forgery through the engine), if it would.
fn internal_registry(registry: &str) -> Option<&'static str> {
    let host = match registry.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    let host = host.to_ascii_lowercase();
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Some("an IP address (loopback, private and link-local ones reach this machine's network)");
    }
    if host == "localhost" || host.ends_with(".localhost") {
        return Some("this machine (loopback)");
    }
    if !host.contains('.') {
        return Some("a name on the local network, not a public registry");
    }
    let private_suffixes = [
        ".local",
        ".internal",
        ".localdomain",
        ".lan",
        ".home.arpa",
        ".intranet",
        ".corp",
    ];
    if private_suffixes.iter().any(|s| host.ends_with(s)) {
        return Some("a private network's name, not a public registry");
    }
    None
}

/// Label namespaces that steer other controllers on the host (Hoster's own `io.hoster.` the
/// parser refuses for everyone).
fn reserved_label(key: &str) -> Option<&'static str> {
    let lower = key.to_ascii_lowercase();
    if lower.starts_with("traefik.") || lower == "traefik" {
        Some("traefik labels would configure a Traefik proxy on the host")
    } else if lower.starts_with("com.docker.compose.") {
        Some("com.docker.compose labels would pass the container off as a Compose project's")
    } else if lower == "caddy" || lower.starts_with("caddy.") || lower.starts_with("caddy_") {
        Some("caddy labels would configure a Caddy proxy on the host")
    } else {
        None
    }
}

fn service_violations(s: &Service, policy: &Policy, out: &mut Vec<Located>) {
    let base = format!("services.{}", s.name);
    let mut refuse = |key: &str, message: String| {
        out.push(Located {
            path: format!("{base}.{key}"),
            message: format!("not allowed: {message}"),
        })
    };
    if let Some(registry) = registry_of(&s.image)
        && !policy
            .allowed_registries
            .iter()
            .any(|a| a.eq_ignore_ascii_case(registry))
        && let Some(why) = internal_registry(registry)
    {
        refuse(
            "image",
            format!("registry `{registry}` is {why}; the operator can allow it with HOSTER_ALLOWED_REGISTRIES"),
        );
    }
    for key in s.labels.keys() {
        if let Some(why) = reserved_label(key) {
            refuse("labels", format!("`{key}`: {why}"));
        }
    }
    let h = &s.host_access;
    if h.privileged {
        refuse(
            "privileged",
            "a privileged container has every capability and every host device, which is root on the host".into(),
        );
    }
    for cap in h.cap_add.iter().filter(|c| !ALLOWED_CAPABILITIES.contains(&c.as_str())) {
        refuse(
            "cap_add",
            format!(
                "`{cap}` goes beyond a default container; only {} may be added back",
                ALLOWED_CAPABILITIES.join(", ")
            ),
        );
    }
    for device in &h.devices {
        refuse(
            "devices",
            format!("`{device}` would hand a host device to the container"),
        );
    }
    if h.pid_host {
        refuse(
            "pid",
            "`pid: host` lets the container see and signal every process on the host".into(),
        );
    }
    if h.ipc_host {
        refuse(
            "ipc",
            "`ipc: host` shares the host's shared memory with the container".into(),
        );
    }
    for (key, asked) in [
        ("userns_mode", h.userns_host),
        ("uts", h.uts_host),
        ("cgroup", h.cgroup_host),
    ] {
        if asked {
            refuse(
                key,
                format!("`{key}: host` would put the container in the host's namespace"),
            );
        }
    }
    if let Some(parent) = &h.cgroup_parent {
        refuse(
            "cgroup_parent",
            format!("`{parent}` would run the container under a cgroup of the host's, outside its limits"),
        );
    }
    for from in &s.volumes_from {
        if let VolumesFromSource::Container(name) = &from.source {
            refuse(
                "volumes_from",
                format!("`container:{name}` reaches into a container outside the deployment"),
            );
        }
    }
    for opt in h.security_opt.iter().filter(|o| !harmless_security_opt(o)) {
        refuse(
            "security_opt",
            format!("`{opt}` would loosen the container's confinement (seccomp, AppArmor, SELinux)"),
        );
    }
    let host_wide: Vec<&str> = h
        .sysctls
        .keys()
        .map(String::as_str)
        .filter(|k| !namespaced_sysctl(k))
        .collect();
    if !host_wide.is_empty() {
        refuse(
            "sysctls",
            format!("{} would change the host's kernel parameters", host_wide.join(", ")),
        );
    }
    let o = &s.options;
    for (host, ip) in &o.extra_hosts {
        if ip == "host-gateway" {
            refuse(
                "extra_hosts",
                format!("`{host}:host-gateway` points the container at the host itself"),
            );
        }
    }
    if let Some(n) = o.oom_score_adj.filter(|n| *n < 0) {
        refuse(
            "oom_score_adj",
            format!("{n} would make the kernel kill other processes on the host before this container"),
        );
    }
    if let Some(l) = &o.logging {
        if !LOG_DRIVERS.contains(&l.driver.as_str()) {
            refuse(
                "logging.driver",
                format!(
                    "`{}` would send logs off the container's own files (to the host or the network); use json-file or local",
                    l.driver
                ),
            );
        }
    }
    for (i, m) in s.volumes.iter().enumerate() {
        if let MountSource::Bind(path) = &m.source {
            let why = match path.trim_end_matches('/') {
                p if p.ends_with("docker.sock") => {
                    format!("`{path}` is the Docker socket: whoever holds it controls every container and the host")
                }
                "" => "`/` would hand the host's whole filesystem to the container".into(),
                _ => format!("`{path}` is a path on the host; use a named volume"),
            };
            refuse(&format!("volumes[{i}]"), why);
        }
    }
}

/// Sysctls that live in the container's own namespaces (its network, IPC and message queues),
/// as the engine lists them: setting one changes nothing outside the container.
fn namespaced_sysctl(key: &str) -> bool {
    key.starts_with("net.")
        || key.starts_with("fs.mqueue.")
        || matches!(
            key,
            "kernel.msgmax"
                | "kernel.msgmnb"
                | "kernel.msgmni"
                | "kernel.sem"
                | "kernel.shmall"
                | "kernel.shmmax"
                | "kernel.shmmni"
                | "kernel.shm_rmid_forced"
        )
}

/// `no-new-privileges` only tightens; everything else can loosen confinement or name a host
/// file (a seccomp profile), so it is refused.
fn harmless_security_opt(opt: &str) -> bool {
    matches!(
        opt,
        "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true"
    )
}

/// Log drivers that keep logs in the container's own files, where `docker logs` reads them.
pub const LOG_DRIVERS: [&str; 2] = ["json-file", "local"];
/// Log options those drivers take, and the largest value each may have.
const LOG_MAX_SIZE: u64 = 100 << 20;
const LOG_MAX_FILES: u64 = 20;
/// The highest open-files limit a container may ask for (the engine's own default hard limit).
const MAX_NOFILE: i64 = 1 << 20;

/// Resource asks above the operator's maxima; they apply to trusted templates too.
pub fn over_maxima(compose: &Compose, max: &Maxima) -> Vec<Located> {
    let mut out = Vec::new();
    for s in &compose.services {
        for (kind, r) in [("limits", &s.limits), ("reservations", &s.reservations)] {
            check_resources(&s.name, kind, r, max, &mut out);
        }
        check_options(s, max, &mut out);
    }
    out
}

fn check_options(s: &Service, max: &Maxima, out: &mut Vec<Located>) {
    let mut over = |key: String, message: String| {
        out.push(Located {
            path: format!("services.{}.{key}", s.name),
            message,
        })
    };
    let o = &s.options;
    let memory = max.memory_bytes;
    let mut sizes: Vec<(String, u64)> = Vec::new();
    sizes.extend(o.shm_size.map(|b| ("shm_size".to_string(), b)));
    sizes.extend(o.memswap_limit.map(|b| ("memswap_limit".to_string(), b)));
    sizes.extend(
        o.tmpfs
            .iter()
            .filter_map(|(t, size)| size.map(|b| (format!("tmpfs.{t}"), b))),
    );
    for (key, bytes) in sizes {
        if let Some(most) = memory.filter(|most| bytes > *most) {
            over(
                key,
                format!(
                    "{} is over this Hoster's memory maximum of {}",
                    format_bytes(bytes),
                    format_bytes(most)
                ),
            );
        }
    }
    if let (Some(swap), Some(limit)) = (o.memswap_limit, s.limits.memory_bytes)
        && swap < limit
    {
        over(
            "memswap_limit".into(),
            "is memory plus swap, so it cannot be below the memory limit".into(),
        );
    }
    for (name, (_, hard)) in &o.ulimits {
        let bound = match name.as_str() {
            "nofile" => Some(MAX_NOFILE),
            "nproc" => Some(max.pids.unwrap_or(i64::MAX)),
            "memlock" | "stack" | "core" | "fsize" => Some(memory.map_or(i64::MAX, |m| m as i64)),
            _ => None,
        };
        match bound {
            None => over(
                format!("ulimits.{name}"),
                "not supported: nofile, nproc, memlock, stack, core and fsize are".into(),
            ),
            Some(most) if *hard > most => over(
                format!("ulimits.{name}"),
                format!("{hard} is over this Hoster's maximum of {most}"),
            ),
            Some(_) => {}
        }
    }
    if let Some(l) = &o.logging {
        for (key, value) in &l.options {
            let (most, what) = match key.as_str() {
                "max-size" => (LOG_MAX_SIZE, super::units::parse_bytes(value).ok()),
                "max-file" => (LOG_MAX_FILES, value.parse().ok()),
                "compress" if value == "true" || value == "false" => continue,
                _ => {
                    over(
                        format!("logging.options.{key}"),
                        "not supported: max-size, max-file and compress are".into(),
                    );
                    continue;
                }
            };
            match what {
                Some(n) if (1..=most).contains(&n) => {}
                _ => over(
                    format!("logging.options.{key}"),
                    format!(
                        "`{value}` must be 1 to {}",
                        if key == "max-size" {
                            format_bytes(most)
                        } else {
                            most.to_string()
                        }
                    ),
                ),
            }
        }
    }
}

fn check_resources(service: &str, kind: &str, r: &Resources, max: &Maxima, out: &mut Vec<Located>) {
    let path = |key: &str| format!("services.{service}.deploy.resources.{kind}.{key}");
    if let (Some(asked), Some(most)) = (r.memory_bytes, max.memory_bytes)
        && asked > most
    {
        out.push(Located {
            path: path("memory"),
            message: format!(
                "{} is over this Hoster's maximum of {}",
                format_bytes(asked),
                format_bytes(most)
            ),
        });
    }
    if let (Some(asked), Some(most)) = (r.cpus, max.cpus)
        && asked > most
    {
        out.push(Located {
            path: path("cpus"),
            message: format!("{asked} is over this Hoster's maximum of {most}"),
        });
    }
    if let (Some(asked), Some(most)) = (r.pids, max.pids)
        && (asked > most || asked < 0)
    {
        out.push(Located {
            path: path("pids"),
            message: format!("{asked} is over this Hoster's maximum of {most}"),
        });
    }
}
