//! One service: its keys, the host access it asks for, restart, labels and resources.

use super::super::units::parse_bytes;
use super::*;

/// Why a service key Hoster does not honour is refused.
fn unsupported_service_key(key: &str) -> String {
    match key {
        "build" => "not supported, use an image".into(),
        "env_file" => "not supported, use environment or template variables".into(),
        "external_links" => "not supported: a deployment reaches no containers outside it".into(),
        "network_mode" => {
            "not supported: every deployment has its own network, and host networking would bypass it".into()
        }
        "extends" | "scale" => "not supported by Hoster".into(),
        _ => "unknown or unsupported key".into(),
    }
}

impl Walker<'_> {
    fn backup_hook(&mut self, path: &str, v: &Value) -> BackupHook {
        let mut hook = BackupHook::default();
        let Some(map) = self.mapping(path, v) else {
            return hook;
        };
        for (key, value) in map {
            let p = join(path, key);
            match key.as_str() {
                "command" => hook.command = self.words(&p, value).filter(|w| !w.is_empty()),
                "stop" => hook.stop = self.boolean(&p, value).unwrap_or(false),
                _ => self.problem(
                    &p,
                    "x-hoster-backup takes `command` (run before the copy) and `stop` (stop instead of pause)",
                ),
            }
        }
        hook
    }

    pub(super) fn service(&mut self, name: &str, v: &Value) -> Option<Service> {
        let path = join("services", name);
        if !valid_name(name) {
            self.problem(
                &path,
                "service names use a-z, 0-9, `_`, `-` and `.`, starting with a letter or digit, at most 63 characters",
            );
        }
        let map = self.mapping(&path, v)?;
        let mut s = Service {
            name: name.to_string(),
            ..Service::default()
        };
        let mut image = None;
        let mut deploy_restart = None;
        for (key, value) in map {
            let p = join(&path, key);
            match key.as_str() {
                "image" => image = self.non_empty_string(&p, value),
                "command" => s.command = self.words(&p, value),
                "entrypoint" => s.entrypoint = self.words(&p, value),
                "environment" => s.environment = self.key_values(&p, value),
                "ports" => s.ports = self.ports(&p, value),
                "expose" => s.expose = self.expose(&p, value),
                "depends_on" => s.depends_on = self.depends_on(&p, value),
                "volumes" => s.volumes = self.mounts(&p, value),
                "healthcheck" => s.healthcheck = self.healthcheck(&p, value),
                "restart" => s.restart = self.restart(&p, value).unwrap_or_default(),
                "labels" => s.labels = self.labels(&p, value),
                "working_dir" => s.working_dir = self.absolute_path(&p, value),
                "user" => s.user = self.non_empty_string(&p, value),
                "hostname" => s.hostname = self.non_empty_string(&p, value),
                "stop_grace_period" => s.stop_grace_period = self.duration(&p, value),
                "deploy" => deploy_restart = self.deploy(&p, value, &mut s),
                "mem_limit" => s.limits.memory_bytes = self.bytes(&p, value),
                "mem_reservation" => s.reservations.memory_bytes = self.bytes(&p, value),
                "cpus" => s.limits.cpus = self.cpus(&p, value),
                "pids_limit" => s.limits.pids = self.pids(&p, value),
                "networks" => s.networks = self.service_networks(&p, value),
                "cap_drop" => s.cap_drop = self.capabilities(&p, value),
                "privileged" => s.host_access.privileged = self.boolean(&p, value).unwrap_or(false),
                "cap_add" => s.host_access.cap_add = self.capabilities(&p, value),
                "devices" => s.host_access.devices = self.string_list(&p, value),
                "security_opt" => s.host_access.security_opt = self.string_list(&p, value),
                "sysctls" => {
                    s.host_access.sysctls = self
                        .key_values(&p, value)
                        .into_iter()
                        .map(|(k, v)| (k, v.unwrap_or_default()))
                        .collect()
                }
                "pid" => s.host_access.pid_host = self.host_namespace(&p, value),
                "ipc" => s.host_access.ipc_host = self.host_namespace(&p, value),
                "userns_mode" => s.host_access.userns_host = self.host_namespace(&p, value),
                "uts" => s.host_access.uts_host = self.host_namespace(&p, value),
                "cgroup" => s.host_access.cgroup_host = self.cgroup(&p, value),
                "cgroup_parent" => s.host_access.cgroup_parent = self.non_empty_string(&p, value),
                "volumes_from" => s.volumes_from = self.volumes_from(&p, value),
                "links" => s.links = self.links(&p, value),
                "configs" => self.service_files(&p, super::files::Section::Configs, value, &mut s.files),
                "secrets" => self.service_files(&p, super::files::Section::Secrets, value, &mut s.files),
                // Checked by `profiled`: a service with profiles is never parsed this far.
                "profiles" => {}
                "x-hoster-backup" => s.backup = self.backup_hook(&p, value),
                k if k.starts_with("x-") => {}
                other => {
                    if !self.option(&p, other, value, &mut s.options) {
                        self.problem(&p, unsupported_service_key(other));
                    }
                }
            }
        }
        match image {
            Some(image) => match super::super::engine_rules::image_reference(&image) {
                Ok(()) => s.image = image,
                Err(why) => self.problem(&join(&path, "image"), why),
            },
            None if !map.contains_key("image") => {
                self.problem(&join(&path, "image"), "required: every service needs an image")
            }
            None => {}
        }
        if !map.contains_key("restart")
            && let Some(restart) = deploy_restart
        {
            s.restart = restart;
        }
        Some(s)
    }

    /// `links`: `service` or `service:alias`. Services reach each other by name anyway; an alias
    /// becomes another name of the linked service on the deployment's network.
    fn links(&mut self, path: &str, v: &Value) -> Vec<Link> {
        let mut out = Vec::new();
        for (i, entry) in self.string_list(path, v).into_iter().enumerate() {
            let (service, alias) = match entry.split_once(':') {
                Some((service, alias)) => (service.to_string(), Some(alias.to_string())),
                None => (entry.clone(), None),
            };
            if alias.as_deref().is_some_and(|a| !valid_name(a)) {
                self.problem(&index(path, i), format!("`{entry}` is not SERVICE or SERVICE:ALIAS"));
                continue;
            }
            out.push(Link { service, alias });
        }
        out
    }

    /// Whether the service names profiles. Hoster activates none, so, as with a plain
    /// `docker compose up`, such a service is not started: it is left out of the model.
    pub(super) fn profiled(&mut self, name: &str, v: &Value) -> bool {
        let Some(profiles) = v.get("profiles") else {
            return false;
        };
        let p = join(&join("services", name), "profiles");
        !self.string_list(&p, profiles).is_empty()
    }

    /// `pid`/`ipc`: `host` is the only mode Hoster knows (and the policy guards it).
    pub(super) fn host_namespace(&mut self, path: &str, v: &Value) -> bool {
        match self.string(path, v).as_deref() {
            Some("host") => true,
            Some(other) => {
                self.problem(path, format!("`{other}` is not supported; only `host` is recognised"));
                false
            }
            None => false,
        }
    }

    /// Capability names, normalised to uppercase without `CAP_`.
    /// `cgroup`: `host`, or `private` (what every container has anyway).
    pub(super) fn cgroup(&mut self, path: &str, v: &Value) -> bool {
        match self.string(path, v).as_deref() {
            Some("host") => true,
            Some("private") | None => false,
            Some(other) => {
                self.problem(path, format!("`{other}` is not a cgroup mode; use `host` or `private`"));
                false
            }
        }
    }

    pub(super) fn capabilities(&mut self, path: &str, v: &Value) -> Vec<String> {
        let names = self.string_list(path, v);
        let mut out = Vec::new();
        for (i, name) in names.into_iter().enumerate() {
            let upper = name.to_ascii_uppercase();
            let bare = upper.strip_prefix("CAP_").unwrap_or(&upper).to_string();
            if bare == "ALL" || (!bare.is_empty() && bare.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')) {
                out.push(bare);
            } else {
                self.problem(&index(path, i), format!("`{name}` is not a capability name"));
            }
        }
        out
    }

    pub(super) fn restart(&mut self, path: &str, v: &Value) -> Option<RestartPolicy> {
        // YAML 1.1 reads an unquoted `no` as false.
        let text = match v {
            Value::Bool(false) => "no".to_string(),
            other => self.string(path, other)?,
        };
        let policy = match text.as_str() {
            "no" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => RestartPolicy::OnFailure { max_retries: None },
            other => match other.strip_prefix("on-failure:").map(str::parse::<u32>) {
                Some(Ok(n)) => RestartPolicy::OnFailure { max_retries: Some(n) },
                _ => {
                    self.problem(
                        path,
                        format!("`{other}` is not a restart policy; use no, always, on-failure[:N] or unless-stopped"),
                    );
                    return None;
                }
            },
        };
        Some(policy)
    }

    pub(super) fn labels(&mut self, path: &str, v: &Value) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (k, val) in self.key_values(path, v) {
            if k == PRIMARY_LABEL {
                if val.as_deref() != Some("true") {
                    self.problem(&join(path, &k), "the only value it takes is \"true\"");
                }
                out.insert(k, "true".to_string());
            } else if k.to_ascii_lowercase().starts_with("io.hoster.") {
                // In any case: the engine's label filters match exactly, but a reader would not.
                self.problem(
                    &join(path, &k),
                    "the io.hoster. prefix is reserved for Hoster's own labels",
                );
            } else {
                out.insert(k, val.unwrap_or_default());
            }
        }
        out
    }

    pub(super) fn bytes(&mut self, path: &str, v: &Value) -> Option<u64> {
        let s = self.string(path, v)?;
        parse_bytes(&s).map_err(|e| self.problem(path, e)).ok()
    }

    pub(super) fn cpus(&mut self, path: &str, v: &Value) -> Option<f64> {
        let s = self.string(path, v)?;
        match s.trim().parse::<f64>() {
            Ok(n) if n > 0.0 && n <= 1024.0 => Some(n),
            _ => {
                self.problem(path, format!("`{s}` is not a CPU count; write it like 0.5 or 2"));
                None
            }
        }
    }

    pub(super) fn pids(&mut self, path: &str, v: &Value) -> Option<i64> {
        let n = self.unsigned(path, v)?;
        match i64::try_from(n) {
            Ok(n) if n > 0 => Some(n),
            _ => {
                self.problem(path, "must be at least 1");
                None
            }
        }
    }

    /// `deploy`: resources, `replicas: 1`, and a `restart_policy` (returned: it applies when the
    /// service sets no `restart`).
    pub(super) fn deploy(&mut self, path: &str, v: &Value, s: &mut Service) -> Option<RestartPolicy> {
        let map = self.mapping(path, v)?;
        let mut restart = None;
        for (k, val) in map {
            let p = join(path, k);
            match k.as_str() {
                "resources" => self.deploy_resources(&p, val, s),
                "replicas" => {
                    if self.unsigned(&p, val).is_some_and(|n| n != 1) {
                        self.problem(&p, "only 1 is supported: a deployment runs one container per service");
                    }
                }
                "restart_policy" => restart = self.restart_policy(&p, val),
                _ => self.problem(
                    &p,
                    "not supported: deploy.resources, deploy.replicas (1) and deploy.restart_policy are honoured",
                ),
            }
        }
        restart
    }

    fn restart_policy(&mut self, path: &str, v: &Value) -> Option<RestartPolicy> {
        let map = self.mapping(path, v)?;
        let mut condition = "any".to_string();
        let mut attempts = None;
        for (k, val) in map {
            let p = join(path, k);
            match k.as_str() {
                "condition" => condition = self.string(&p, val).unwrap_or_default(),
                "max_attempts" => attempts = self.unsigned(&p, val).and_then(|n| u32::try_from(n).ok()),
                _ => self.problem(
                    &p,
                    "not supported: the engine restarts at once; condition and max_attempts are honoured",
                ),
            }
        }
        match (condition.as_str(), attempts) {
            ("none", _) => Some(RestartPolicy::No),
            ("on-failure", max_retries) => Some(RestartPolicy::OnFailure { max_retries }),
            ("any", None) => Some(RestartPolicy::Always),
            ("any", Some(_)) => {
                self.problem(
                    path,
                    "max_attempts needs condition: on-failure (the engine counts failures only)",
                );
                None
            }
            (other, _) => {
                self.problem(
                    &join(path, "condition"),
                    format!("`{other}` is not none, on-failure or any"),
                );
                None
            }
        }
    }

    fn deploy_resources(&mut self, p: &str, val: &Value, s: &mut Service) {
        let Some(resources) = self.mapping(p, val) else {
            return;
        };
        for (rk, rv) in resources {
            let rp = join(p, rk);
            let target = match rk.as_str() {
                "limits" => &mut s.limits,
                "reservations" => &mut s.reservations,
                _ => {
                    self.problem(&rp, "unknown or unsupported key");
                    continue;
                }
            };
            let Some(fields) = self.mapping(&rp, rv) else { continue };
            for (fk, fv) in fields {
                let fp = join(&rp, fk);
                match fk.as_str() {
                    "cpus" => target.cpus = self.cpus(&fp, fv),
                    "memory" => target.memory_bytes = self.bytes(&fp, fv),
                    "pids" if rk == "limits" => target.pids = self.pids(&fp, fv),
                    _ => self.problem(&fp, "unknown or unsupported key"),
                }
            }
        }
    }
}
