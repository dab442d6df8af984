//! The safe-compose policy: what a template may not ask of the host, and why. Checked when a
//! template is created or updated and again when a deployment is planned; an admin can lift it
//! for one template by marking it trusted.

use super::model::{Compose, MountSource, Resources, Service};
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

/// Every way `compose` reaches beyond its containers, one problem each, with the service, key
/// and reason.
pub fn violations(compose: &Compose) -> Vec<Located> {
    let mut out = Vec::new();
    for s in &compose.services {
        service_violations(s, &mut out);
    }
    out
}

fn service_violations(s: &Service, out: &mut Vec<Located>) {
    let base = format!("services.{}", s.name);
    let mut refuse = |key: &str, message: String| {
        out.push(Located {
            path: format!("{base}.{key}"),
            message: format!("not allowed: {message}"),
        })
    };
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
    for opt in h.security_opt.iter().filter(|o| !harmless_security_opt(o)) {
        refuse(
            "security_opt",
            format!("`{opt}` would loosen the container's confinement (seccomp, AppArmor, SELinux)"),
        );
    }
    if !h.sysctls.is_empty() {
        let names: Vec<&str> = h.sysctls.keys().map(String::as_str).collect();
        refuse(
            "sysctls",
            format!("{} would change kernel parameters", names.join(", ")),
        );
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

/// `no-new-privileges` only tightens; everything else can loosen confinement or name a host
/// file (a seccomp profile), so it is refused.
fn harmless_security_opt(opt: &str) -> bool {
    matches!(
        opt,
        "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true"
    )
}

/// Resource asks above the operator's maxima.
pub fn over_maxima(compose: &Compose, max: &Maxima) -> Vec<Located> {
    let mut out = Vec::new();
    for s in &compose.services {
        for (kind, r) in [("limits", &s.limits), ("reservations", &s.reservations)] {
            check_resources(&s.name, kind, r, max, &mut out);
        }
    }
    out
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
