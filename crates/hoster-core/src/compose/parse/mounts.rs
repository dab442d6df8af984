//! `volumes` of a service: named volumes, anonymous volumes, bind mounts, tmpfs; and
//! `volumes_from`.

use super::*;

impl Walker<'_> {
    pub(super) fn volumes_from(&mut self, path: &str, v: &Value) -> Vec<VolumesFrom> {
        let entries = self.string_list(path, v);
        let mut out = Vec::new();
        for (i, entry) in entries.into_iter().enumerate() {
            let (kind, rest) = match entry.split_once(':') {
                Some(("container", rest)) => (Some(true), rest),
                Some(("service", rest)) => (Some(false), rest),
                _ => (None, entry.as_str()),
            };
            let (name, mode) = rest.split_once(':').unwrap_or((rest, "rw"));
            let read_only = match mode {
                "ro" => true,
                "rw" => false,
                other => {
                    self.problem(&index(path, i), format!("`{other}` is not a mode; use `ro` or `rw`"));
                    continue;
                }
            };
            if name.is_empty() {
                self.problem(&index(path, i), "names no service or container");
                continue;
            }
            let source = match kind {
                Some(true) => VolumesFromSource::Container(name.to_string()),
                _ => VolumesFromSource::Service(name.to_string()),
            };
            out.push(VolumesFrom { source, read_only });
        }
        out
    }

    pub(super) fn mounts(&mut self, path: &str, v: &Value) -> Vec<Mount> {
        let items = self.items(path, v, "a list of volumes");
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = index(path, i);
            let parsed = match item {
                Value::String(s) => parse_mount_short(s),
                Value::Object(m) => self.mount_long(&p, m),
                other => Err(format!("expected a volume, got {}", kind(other))),
            };
            match parsed {
                Ok(mount) => out.push(mount),
                Err(e) => self.problem(&p, e),
            }
        }
        out
    }

    pub(super) fn mount_long(&mut self, path: &str, m: &Map<String, Value>) -> Result<Mount, String> {
        let mut kind_of = None;
        let mut source = None;
        let mut target = None;
        let mut read_only = false;
        for (k, v) in m {
            let kp = join(path, k);
            match k.as_str() {
                "type" => kind_of = self.string(&kp, v),
                "source" => source = self.string(&kp, v),
                "target" => target = self.string(&kp, v),
                "read_only" => read_only = self.boolean(&kp, v).unwrap_or(false),
                _ => self.problem(&kp, "unknown or unsupported key"),
            }
        }
        let target = target.ok_or("target: required")?;
        check_mount_target(&target)?;
        let source = match (kind_of.as_deref(), source) {
            (Some("volume") | None, Some(source)) if !is_host_path(&source) => MountSource::Named(source),
            (Some("volume") | None, None) => MountSource::Anonymous,
            (Some("tmpfs"), None) => MountSource::Tmpfs,
            (Some("tmpfs"), Some(_)) => return Err("a tmpfs mount has no source".into()),
            (Some("bind") | Some("volume") | None, Some(source)) => MountSource::Bind(host_path(&source)?),
            (Some("bind"), None) => return Err("a bind mount needs a source".into()),
            (Some(other), _) => return Err(format!("type `{other}` is not supported; use volume or tmpfs")),
        };
        Ok(Mount {
            source,
            target,
            read_only,
        })
    }
}

/// A bind mount's host path: absolute, no `..`. Relative paths have no meaning on a server.
fn host_path(source: &str) -> Result<String, String> {
    if !source.starts_with('/') {
        return Err(format!(
            "`{source}` is a relative host path; Hoster has no project directory, use a named volume"
        ));
    }
    if source.split('/').any(|part| part == "..") {
        return Err(format!("host path `{source}` must not contain `..`"));
    }
    Ok(source.to_string())
}

fn is_host_path(source: &str) -> bool {
    source.starts_with(['/', '.', '~']) || source.contains('/')
}

fn check_mount_target(target: &str) -> Result<(), String> {
    if !target.starts_with('/') {
        return Err(format!("target `{target}` must be an absolute path"));
    }
    if target.split('/').any(|part| part == "..") {
        return Err(format!("target `{target}` must not contain `..`"));
    }
    Ok(())
}

/// `data:/path[:ro|rw]` or an anonymous `/path`.
fn parse_mount_short(s: &str) -> Result<Mount, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [target] => (None, *target, None),
        [source, target] => (Some(*source), *target, None),
        [source, target, mode] => (Some(*source), *target, Some(*mode)),
        _ => return Err(format!("`{s}` is not SOURCE:TARGET[:ro]")),
    };
    let read_only = match mode {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(other) => return Err(format!("mode `{other}` is not supported; use ro or rw")),
    };
    check_mount_target(target)?;
    let source = match source {
        None => MountSource::Anonymous,
        Some(src) if is_host_path(src) => MountSource::Bind(host_path(src)?),
        Some(src) if valid_name(src) => MountSource::Named(src.to_string()),
        Some(src) => return Err(format!("`{src}` is not a valid volume name")),
    };
    Ok(Mount {
        source,
        target: target.to_string(),
        read_only,
    })
}
