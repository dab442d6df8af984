//! What the Docker engine would refuse at start for a reason the template controls, refused at
//! create instead, with its path. A template that validates then fails at start only for
//! runtime reasons (a port, an image, a health check), never for its own content.

use std::time::Duration;

use serde_json::Value;

use super::model::{Compose, Resources, Service};
use super::parse::Located;

/// The engine's smallest memory limit and reservation.
pub const MIN_MEMORY_BYTES: u64 = 6 << 20;

/// Paths the engine (or the runtime) will not mount over, or that it manages itself.
pub fn reserved_container_path(path: &str) -> Option<&'static str> {
    let p = path.trim_end_matches('/');
    let under = |root: &str| p == root || p.starts_with(&format!("{root}/"));
    if p.is_empty() {
        Some("`/` is the container's root filesystem")
    } else if under("/proc") || under("/sys") || p == "/dev" {
        Some("the runtime mounts this kernel filesystem itself")
    } else if matches!(p, "/etc/hosts" | "/etc/resolv.conf" | "/etc/hostname") {
        Some("Docker writes this file itself and would silently replace it")
    } else {
        None
    }
}

/// Strings with a NUL character, anywhere in the document: no engine API can pass them on.
pub fn nul_characters(doc: &Value, path: &str, out: &mut Vec<Located>) {
    let refuse = |out: &mut Vec<Located>, path: String| {
        out.push(Located {
            path,
            message: "contains a NUL character, which the engine cannot pass on".into(),
        })
    };
    match doc {
        Value::String(s) if s.contains('\0') => refuse(out, path.to_string()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                nul_characters(item, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (key, value) in map {
                let at = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if key.contains('\0') {
                    refuse(out, at.clone());
                }
                nul_characters(value, &at, out);
            }
        }
        _ => {}
    }
}

/// Every engine refusal the model would meet.
pub fn refusals(compose: &Compose) -> Vec<Located> {
    let mut out = Vec::new();
    for s in &compose.services {
        service(s, &mut out);
    }
    out
}

fn service(s: &Service, out: &mut Vec<Located>) {
    let base = format!("services.{}", s.name);
    let mut refuse = |key: &str, message: String| {
        out.push(Located {
            path: format!("{base}.{key}"),
            message,
        })
    };
    if let Some(h) = &s.hostname
        && !valid_hostname(h)
    {
        refuse(
            "hostname",
            format!("`{h}` is not a hostname: labels of letters, digits and `-`, at most 63 characters in all"),
        );
    }
    for key in s.environment.keys() {
        if key.is_empty() || key.contains('=') {
            refuse(
                "environment",
                format!("`{key}` is not a variable name (empty, or contains `=`)"),
            );
        }
    }
    let mut targets = std::collections::BTreeSet::new();
    for (i, m) in s.volumes.iter().enumerate() {
        if let Some(why) = reserved_container_path(&m.target) {
            refuse(
                &format!("volumes[{i}]"),
                format!("target `{}` cannot be mounted: {why}", m.target),
            );
        }
        if !targets.insert(m.target.trim_end_matches('/')) {
            refuse(&format!("volumes[{i}]"), format!("`{}` is mounted twice", m.target));
        }
    }
    for (kind, r) in [("limits", &s.limits), ("reservations", &s.reservations)] {
        resources(kind, r, &mut refuse);
    }
    if let (Some(limit), Some(reserved)) = (s.limits.memory_bytes, s.reservations.memory_bytes)
        && reserved > limit
    {
        refuse(
            "deploy.resources.reservations.memory",
            "is more than the memory limit; the engine refuses that".into(),
        );
    }
    if let Some(h) = &s.healthcheck {
        for (key, d) in [
            ("interval", h.interval),
            ("timeout", h.timeout),
            ("start_period", h.start_period),
        ] {
            if let Some(d) = d
                && !d.is_zero()
                && d < Duration::from_millis(1)
            {
                refuse(&format!("healthcheck.{key}"), "must be at least 1ms (or 0)".into());
            }
        }
    }
}

fn resources(kind: &str, r: &Resources, refuse: &mut impl FnMut(&str, String)) {
    if let Some(memory) = r.memory_bytes
        && memory > 0
        && memory < MIN_MEMORY_BYTES
    {
        refuse(
            &format!("deploy.resources.{kind}.memory"),
            format!("{memory} bytes is below the engine's minimum of 6m"),
        );
    }
    if let Some(cpus) = r.cpus
        && cpus > 0.0
        && cpus < 0.01
    {
        refuse(
            &format!("deploy.resources.{kind}.cpus"),
            format!("{cpus} is below the engine's minimum of 0.01"),
        );
    }
}

/// RFC 1123 hostname as the engine checks it, within the kernel's 64-byte limit.
fn valid_hostname(h: &str) -> bool {
    h.len() <= 63 && h.split('.').all(crate::hostname::valid_label)
}

/// Docker's reference grammar: `[host[:port]/]path[:tag][@digest]`, the path lowercase.
pub fn image_reference(image: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("`{image}` is not an image reference: {why}"));
    if image.len() > 255 {
        return bad("longer than 255 characters");
    }
    let (rest, digest) = match image.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (image, None),
    };
    if let Some(d) = digest {
        let ok = d.split_once(':').is_some_and(|(alg, hex)| {
            !alg.is_empty()
                && alg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
                && hex.len() >= 32
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
        });
        if !ok {
            return bad("the digest is not `algorithm:hex`");
        }
    }
    // A tag is after the last `:` that comes after the last `/`.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(tag) = tag {
        let ok = (1..=128).contains(&tag.len())
            && tag
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
            && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !ok {
            return bad("the tag must be 1-128 letters, digits, `_`, `.` or `-`");
        }
    }
    let mut components: Vec<&str> = name.split('/').collect();
    if components.len() > 1 && super::policy::registry_of(name).is_some() {
        components.remove(0);
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && c.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
    };
    if !components.iter().all(|c| component_ok(c)) {
        return bad("repository names are lowercase letters, digits and separators");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_follow_the_engine_grammar() {
        for ok in [
            "nginx",
            "nginx:alpine",
            "library/nginx:1.25-alpine",
            "traefik/whoami:latest",
            "registry.example.com/owner/app:v1.2.3",
            "registry.example.com:5000/team/app",
            "postgres@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "my_app.v2",
        ] {
            assert_eq!(image_reference(ok), Ok(()), "{ok}");
        }
        for bad in [
            "Nginx",
            "nginx:",
            "nginx:-x",
            "a//b",
            "nginx@md5",
            "-x",
            "x-",
            &"a".repeat(300),
        ] {
            assert!(image_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reserved_paths() {
        for p in [
            "/",
            "/proc",
            "/proc/sys",
            "/sys/",
            "/dev",
            "/etc/hosts",
            "/etc/resolv.conf",
            "/etc/hostname",
        ] {
            assert!(reserved_container_path(p).is_some(), "{p}");
        }
        for p in ["/data", "/dev/shm", "/etc/nginx/nginx.conf", "/process", "/system"] {
            assert!(reserved_container_path(p).is_none(), "{p}");
        }
    }

    #[test]
    fn hostnames() {
        assert!(valid_hostname("db"));
        assert!(valid_hostname("web-1.internal"));
        assert!(!valid_hostname(&"a".repeat(64)));
        assert!(!valid_hostname("a_b"));
        assert!(!valid_hostname("-a"));
        assert!(!valid_hostname(""));
    }
}
