//! YAML → [`Compose`]: a walk over the document that collects every problem with its path.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde_json::{Map, Value};

use super::model::*;
use super::units::{parse_bytes, parse_duration};

/// Bounds on a compose document, checked before and while parsing.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_services: usize,
    /// Most ports one range may expand to.
    pub max_port_range: usize,
    pub max_depth: usize,
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 256 * 1024,
            max_services: 50,
            max_port_range: 100,
            max_depth: 32,
            max_nodes: 20_000,
        }
    }
}

/// A problem at a dotted path inside the document (`services.web.ports[1]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub path: String,
    pub message: String,
}

/// Most problems reported for one document; the rest are counted in a final entry.
const MAX_PROBLEMS: usize = 50;

pub fn parse(yaml: &str, limits: &Limits) -> Result<Compose, Vec<Located>> {
    parse_and_check(yaml, limits, &|_| Vec::new())
}

/// [`parse`], plus `check` run on whatever the document describes, so that its findings (the
/// safe-compose policy, resource maxima) arrive in the same list as syntax problems.
pub fn parse_and_check(
    yaml: &str,
    limits: &Limits,
    check: &dyn Fn(&Compose) -> Vec<Located>,
) -> Result<Compose, Vec<Located>> {
    if yaml.len() > limits.max_bytes {
        return Err(vec![Located {
            path: String::new(),
            message: format!(
                "the document is {} bytes; the limit is {}",
                yaml.len(),
                limits.max_bytes
            ),
        }]);
    }
    let budget = serde_saphyr::budget! {
        max_depth: limits.max_depth,
        max_nodes: limits.max_nodes,
        max_documents: 1,
    };
    let value: Value = super::yaml::from_str(yaml, budget).map_err(|e| {
        let text = e.to_string();
        let detail = first_line(&text).trim_start_matches("error: ");
        let message = if detail.contains("budget breached") || detail.contains("alias") {
            format!(
                "too large: more than {} YAML nodes, {} levels of nesting, or alias expansion ({detail})",
                limits.max_nodes, limits.max_depth
            )
        } else {
            format!("not valid YAML: {detail}")
        };
        vec![Located {
            path: String::new(),
            message,
        }]
    })?;
    check_value(&value, limits, check)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

/// Parses an already-decoded document (YAML and JSON share this model).
pub fn parse_value(doc: &Value, limits: &Limits) -> Result<Compose, Vec<Located>> {
    check_value(doc, limits, &|_| Vec::new())
}

fn check_value(
    doc: &Value,
    limits: &Limits,
    check: &dyn Fn(&Compose) -> Vec<Located>,
) -> Result<Compose, Vec<Located>> {
    let mut w = Walker {
        problems: Vec::new(),
        limits,
    };
    super::engine_rules::nul_characters(doc, "", &mut w.problems);
    let compose = w.document(doc);
    if let Some(compose) = &compose {
        if w.problems.is_empty() {
            w.problems.extend(super::engine_rules::refusals(compose));
        }
        w.problems.extend(check(compose));
    }
    match compose {
        Some(compose) if w.problems.is_empty() => Ok(compose),
        _ => {
            let mut problems = w.problems;
            if problems.is_empty() {
                problems.push(Located {
                    path: String::new(),
                    message: "invalid document".into(),
                });
            }
            if problems.len() > MAX_PROBLEMS {
                let more = problems.len() - MAX_PROBLEMS;
                problems.truncate(MAX_PROBLEMS);
                problems.push(Located {
                    path: String::new(),
                    message: format!("... and {more} more problems"),
                });
            }
            Err(problems)
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Strings, numbers and booleans as Compose turns them into strings.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Why a service key Hoster does not honour is refused.
fn unsupported_service_key(key: &str) -> String {
    match key {
        "build" => "not supported, use an image".into(),
        "container_name" => "not supported: Hoster names containers per deployment".into(),
        "env_file" => "not supported, use environment or template variables".into(),
        "secrets" | "configs" => "not supported, use the template's config_files".into(),
        "links" | "external_links" => {
            "not supported: services reach each other by name on the deployment's network".into()
        }
        "network_mode" => {
            "not supported: every deployment has its own network, and host networking would bypass it".into()
        }
        "userns_mode" | "uts" | "cgroup" | "cgroup_parent" => {
            "not allowed: it would put the container in the host's namespaces or cgroups".into()
        }
        "volumes_from" => "not allowed: it reaches into other containers' volumes".into(),
        "extends" | "profiles" | "scale" => "not supported by Hoster".into(),
        _ => "unknown or unsupported key".into(),
    }
}

struct Walker<'l> {
    problems: Vec<Located>,
    limits: &'l Limits,
}

impl Walker<'_> {
    fn problem(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Located {
            path: path.to_string(),
            message: message.into(),
        });
    }

    fn expected(&mut self, path: &str, what: &str, got: &Value) {
        self.problem(path, format!("expected {what}, got {}", kind(got)));
    }

    fn mapping<'v>(&mut self, path: &str, v: &'v Value) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            other => {
                self.expected(path, "a mapping", other);
                None
            }
        }
    }

    fn string(&mut self, path: &str, v: &Value) -> Option<String> {
        match scalar(v) {
            Some(s) => Some(s),
            None => {
                self.expected(path, "a string", v);
                None
            }
        }
    }

    fn non_empty_string(&mut self, path: &str, v: &Value) -> Option<String> {
        let s = self.string(path, v)?;
        if s.trim().is_empty() {
            self.problem(path, "must not be empty");
            return None;
        }
        Some(s)
    }

    fn boolean(&mut self, path: &str, v: &Value) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s == "true" => Some(true),
            Value::String(s) if s == "false" => Some(false),
            other => {
                self.expected(path, "true or false", other);
                None
            }
        }
    }

    fn unsigned(&mut self, path: &str, v: &Value) -> Option<u64> {
        let parsed = match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.expected(path, "a whole number ≥ 0", v);
        }
        parsed
    }

    fn duration(&mut self, path: &str, v: &Value) -> Option<std::time::Duration> {
        let s = self.string(path, v)?;
        parse_duration(&s).map_err(|e| self.problem(path, e)).ok()
    }

    /// Sequences of strings, or one string split the way a shell would (Compose's rule).
    fn words(&mut self, path: &str, v: &Value) -> Option<Vec<String>> {
        match v {
            Value::String(s) => match shell_words::split(s) {
                Ok(words) => Some(words),
                Err(e) => {
                    self.problem(path, format!("cannot split into words: {e}"));
                    None
                }
            },
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(self.string(&index(path, i), item)?);
                }
                Some(out)
            }
            other => {
                self.expected(path, "a string or a list of strings", other);
                None
            }
        }
    }

    /// `KEY: value` mappings or `KEY=value` lists; `KEY` alone maps to `None`.
    fn key_values(&mut self, path: &str, v: &Value) -> BTreeMap<String, Option<String>> {
        let mut out = BTreeMap::new();
        match v {
            Value::Object(m) => {
                for (k, val) in m {
                    let p = join(path, k);
                    let val = match val {
                        Value::Null => None,
                        other => self.string(&p, other),
                    };
                    if self.check_key(&p, k) {
                        out.insert(k.clone(), val);
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let p = index(path, i);
                    let Some(entry) = self.string(&p, item) else { continue };
                    let (k, val) = match entry.split_once('=') {
                        Some((k, val)) => (k.to_string(), Some(val.to_string())),
                        None => (entry.clone(), None),
                    };
                    if self.check_key(&p, &k) && out.insert(k.clone(), val).is_some() {
                        self.problem(&p, format!("`{k}` is set twice"));
                    }
                }
            }
            other => self.expected(path, "a mapping or a list of KEY=value", other),
        }
        out
    }

    fn check_key(&mut self, path: &str, key: &str) -> bool {
        let ok = !key.is_empty() && !key.contains(['=', '\0']) && !key.chars().any(char::is_whitespace);
        if !ok {
            self.problem(path, format!("`{key}` is not a valid name"));
        }
        ok
    }

    fn document(&mut self, doc: &Value) -> Option<Compose> {
        let Value::Object(top) = doc else {
            self.expected("", "a mapping with a `services` key", doc);
            return None;
        };
        let mut services_value = None;
        let mut volumes = Vec::new();
        let mut networks = Vec::new();
        for (key, value) in top {
            match key.as_str() {
                "services" => services_value = Some(value),
                "volumes" => volumes = self.top_level_objects(key, value, &["driver"], "local"),
                "networks" => networks = self.top_level_objects(key, value, &["driver"], "bridge"),
                // Obsolete in the Compose spec; real files still carry them.
                "version" | "name" => {}
                k if k.starts_with("x-") => {}
                "configs" | "secrets" => self.problem(key, "not supported, use the template's config_files"),
                _ => self.problem(key, "unknown or unsupported top-level key"),
            }
        }
        let Some(services_value) = services_value else {
            self.problem("services", "required: at least one service");
            return None;
        };
        let services_map = self.mapping("services", services_value)?;
        if services_map.is_empty() {
            self.problem("services", "required: at least one service");
        }
        if services_map.len() > self.limits.max_services {
            self.problem(
                "services",
                format!(
                    "{} services; the limit is {}",
                    services_map.len(),
                    self.limits.max_services
                ),
            );
            return None;
        }
        let mut services = Vec::new();
        for (name, value) in services_map {
            if let Some(service) = self.service(name, value) {
                services.push(service);
            }
        }
        let compose = Compose {
            services,
            volumes,
            networks,
        };
        self.cross_check(&compose);
        Some(compose)
    }

    /// Top-level `volumes:`/`networks:`: names mapped to nothing, or to the default driver.
    fn top_level_objects(&mut self, section: &str, v: &Value, allowed: &[&str], driver: &str) -> Vec<String> {
        let Some(map) = self.mapping(section, v) else {
            return Vec::new();
        };
        let mut names = Vec::new();
        for (name, body) in map {
            let p = join(section, name);
            if !valid_name(name) {
                self.problem(
                    &p,
                    "names use a-z, 0-9, `_`, `-` and `.`, starting with a letter or digit",
                );
                continue;
            }
            match body {
                Value::Null => {}
                Value::Object(m) => {
                    for (k, val) in m {
                        let kp = join(&p, k);
                        if !allowed.contains(&k.as_str()) {
                            let why = match k.as_str() {
                                "external" => "not supported: deployments never share volumes or networks",
                                _ => "not supported: Hoster manages these per deployment",
                            };
                            self.problem(&kp, why);
                        } else if scalar(val).as_deref() != Some(driver) {
                            self.problem(&kp, format!("only `{driver}` is supported"));
                        }
                    }
                }
                other => self.expected(&p, "a mapping or nothing", other),
            }
            names.push(name.clone());
        }
        names
    }

    fn service(&mut self, name: &str, v: &Value) -> Option<Service> {
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
                "deploy" => self.deploy(&p, value, &mut s),
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
                k if k.starts_with("x-") => {}
                other => self.problem(&p, unsupported_service_key(other)),
            }
        }
        match image {
            Some(image) => match super::engine_rules::image_reference(&image) {
                Ok(()) => s.image = image,
                Err(why) => self.problem(&join(&path, "image"), why),
            },
            None if !map.contains_key("image") => {
                self.problem(&join(&path, "image"), "required: every service needs an image")
            }
            None => {}
        }
        Some(s)
    }

    /// `pid`/`ipc`: `host` is the only mode Hoster knows (and the policy guards it).
    fn host_namespace(&mut self, path: &str, v: &Value) -> bool {
        match self.string(path, v).as_deref() {
            Some("host") => true,
            Some(other) => {
                self.problem(path, format!("`{other}` is not supported; only `host` is recognised"));
                false
            }
            None => false,
        }
    }

    fn string_list(&mut self, path: &str, v: &Value) -> Vec<String> {
        let Value::Array(items) = v else {
            self.expected(path, "a list of strings", v);
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.non_empty_string(&index(path, i), item))
            .collect()
    }

    /// Capability names, normalised to uppercase without `CAP_`.
    fn capabilities(&mut self, path: &str, v: &Value) -> Vec<String> {
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

    fn absolute_path(&mut self, path: &str, v: &Value) -> Option<String> {
        let s = self.string(path, v)?;
        if !s.starts_with('/') {
            self.problem(path, format!("`{s}` must be an absolute path"));
            return None;
        }
        Some(s)
    }

    fn ports(&mut self, path: &str, v: &Value) -> Vec<PortMapping> {
        let Value::Array(items) = v else {
            self.expected(path, "a list of ports", v);
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = index(path, i);
            let parsed = match item {
                Value::Object(m) => self.port_long(&p, m),
                other => match scalar(other) {
                    Some(s) => parse_port_short(&s, self.limits.max_port_range),
                    None => Err(format!("expected a port, got {}", kind(other))),
                },
            };
            match parsed {
                Ok(mappings) => out.extend(mappings),
                Err(e) => self.problem(&p, e),
            }
        }
        out
    }

    fn port_long(&mut self, path: &str, m: &Map<String, Value>) -> Result<Vec<PortMapping>, String> {
        let mut target = None;
        let mut published = None;
        let mut host_ip = None;
        let mut protocol = Protocol::Tcp;
        for (k, v) in m {
            let text = scalar(v).ok_or_else(|| format!("{k}: expected a string or number, got {}", kind(v)))?;
            match k.as_str() {
                "target" => target = Some(parse_port_range(&text)?),
                "published" => published = Some(parse_port_range(&text)?),
                "host_ip" => {
                    host_ip = Some(
                        text.parse::<IpAddr>()
                            .map_err(|_| format!("host_ip: `{text}` is not an IP address"))?,
                    )
                }
                "protocol" => protocol = parse_protocol(&text)?,
                "name" | "app_protocol" => {}
                "mode" if text == "host" || text == "ingress" => {}
                other => {
                    self.problem(&join(path, other), "unknown or unsupported key");
                }
            }
        }
        let target = target.ok_or("target: required")?;
        expand_ports(host_ip, published, target, protocol, self.limits.max_port_range)
    }

    fn expose(&mut self, path: &str, v: &Value) -> Vec<ExposedPort> {
        let Value::Array(items) = v else {
            self.expected(path, "a list of ports", v);
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = index(path, i);
            let Some(text) = self.string(&p, item) else { continue };
            let (ports, proto) = match text.split_once('/') {
                Some((ports, proto)) => (ports, parse_protocol(proto)),
                None => (text.as_str(), Ok(Protocol::Tcp)),
            };
            match (parse_port_range(ports), proto) {
                (Ok((lo, hi)), Ok(protocol)) if usize::from(hi - lo) < self.limits.max_port_range => {
                    out.extend((lo..=hi).map(|port| ExposedPort { port, protocol }))
                }
                (Ok(_), Ok(_)) => self.problem(
                    &p,
                    format!("ranges are limited to {} ports", self.limits.max_port_range),
                ),
                (Err(e), _) | (_, Err(e)) => self.problem(&p, e),
            }
        }
        out
    }

    fn depends_on(&mut self, path: &str, v: &Value) -> Vec<Dependency> {
        let mut out = Vec::new();
        match v {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(service) = self.non_empty_string(&index(path, i), item) {
                        out.push(Dependency {
                            service,
                            condition: Condition::Started,
                            required: true,
                        });
                    }
                }
            }
            Value::Object(m) => {
                for (service, body) in m {
                    let p = join(path, service);
                    let mut dep = Dependency {
                        service: service.clone(),
                        condition: Condition::Started,
                        required: true,
                    };
                    if let Some(body) = self.mapping(&p, body) {
                        for (k, val) in body {
                            let kp = join(&p, k);
                            match k.as_str() {
                                "condition" => match scalar(val).as_deref() {
                                    Some("service_started") => dep.condition = Condition::Started,
                                    Some("service_healthy") => dep.condition = Condition::Healthy,
                                    Some("service_completed_successfully") => {
                                        dep.condition = Condition::CompletedSuccessfully
                                    }
                                    _ => self.problem(
                                        &kp,
                                        "expected service_started, service_healthy or service_completed_successfully",
                                    ),
                                },
                                "required" => dep.required = self.boolean(&kp, val).unwrap_or(true),
                                _ => self.problem(&kp, "unknown or unsupported key"),
                            }
                        }
                    }
                    out.push(dep);
                }
            }
            other => self.expected(path, "a list of service names or a mapping", other),
        }
        out
    }

    fn mounts(&mut self, path: &str, v: &Value) -> Vec<Mount> {
        let Value::Array(items) = v else {
            self.expected(path, "a list of volumes", v);
            return Vec::new();
        };
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

    fn mount_long(&mut self, path: &str, m: &Map<String, Value>) -> Result<Mount, String> {
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

    fn healthcheck(&mut self, path: &str, v: &Value) -> Option<Healthcheck> {
        let map = self.mapping(path, v)?;
        let mut h = Healthcheck::default();
        for (k, val) in map {
            let p = join(path, k);
            match k.as_str() {
                "test" => h.test = self.health_test(&p, val),
                "interval" => h.interval = self.duration(&p, val),
                "timeout" => h.timeout = self.duration(&p, val),
                "start_period" => h.start_period = self.duration(&p, val),
                "retries" => h.retries = self.unsigned(&p, val).and_then(|n| u32::try_from(n).ok()),
                "disable" => h.disable = self.boolean(&p, val).unwrap_or(false),
                _ => self.problem(&p, "unknown or unsupported key"),
            }
        }
        if h.test
            .as_deref()
            .is_some_and(|t| t.first().map(String::as_str) == Some("NONE"))
        {
            h = Healthcheck {
                disable: true,
                ..Healthcheck::default()
            };
        }
        if h.disable {
            h = Healthcheck {
                disable: true,
                ..Healthcheck::default()
            };
        }
        Some(h)
    }

    fn health_test(&mut self, path: &str, v: &Value) -> Option<Vec<String>> {
        match v {
            Value::String(s) if s.trim().is_empty() => {
                self.problem(path, "must not be empty");
                None
            }
            Value::String(s) => Some(vec!["CMD-SHELL".into(), s.clone()]),
            Value::Array(_) => {
                let words = self.words(path, v)?;
                match words.first().map(String::as_str) {
                    Some("NONE") => Some(words),
                    Some("CMD") if words.len() > 1 => Some(words),
                    Some("CMD-SHELL") if words.len() == 2 => Some(words),
                    Some("CMD-SHELL") => {
                        self.problem(path, "CMD-SHELL takes exactly one command string");
                        None
                    }
                    _ => {
                        self.problem(
                            path,
                            "a list test starts with CMD, CMD-SHELL or NONE, followed by the command",
                        );
                        None
                    }
                }
            }
            other => {
                self.expected(path, "a string or a list", other);
                None
            }
        }
    }

    fn restart(&mut self, path: &str, v: &Value) -> Option<RestartPolicy> {
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

    fn labels(&mut self, path: &str, v: &Value) -> BTreeMap<String, String> {
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

    fn bytes(&mut self, path: &str, v: &Value) -> Option<u64> {
        let s = self.string(path, v)?;
        parse_bytes(&s).map_err(|e| self.problem(path, e)).ok()
    }

    fn cpus(&mut self, path: &str, v: &Value) -> Option<f64> {
        let s = self.string(path, v)?;
        match s.trim().parse::<f64>() {
            Ok(n) if n > 0.0 && n <= 1024.0 => Some(n),
            _ => {
                self.problem(path, format!("`{s}` is not a CPU count; write it like 0.5 or 2"));
                None
            }
        }
    }

    fn pids(&mut self, path: &str, v: &Value) -> Option<i64> {
        let n = self.unsigned(path, v)?;
        match i64::try_from(n) {
            Ok(n) if n > 0 => Some(n),
            _ => {
                self.problem(path, "must be at least 1");
                None
            }
        }
    }

    fn deploy(&mut self, path: &str, v: &Value, s: &mut Service) {
        let Some(map) = self.mapping(path, v) else { return };
        for (k, val) in map {
            let p = join(path, k);
            if k != "resources" {
                self.problem(&p, "not supported: only deploy.resources is honoured");
                continue;
            }
            let Some(resources) = self.mapping(&p, val) else {
                continue;
            };
            for (rk, rv) in resources {
                let rp = join(&p, rk);
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

    fn service_networks(&mut self, path: &str, v: &Value) -> Vec<String> {
        match v {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| self.non_empty_string(&index(path, i), item))
                .collect(),
            Value::Object(m) => {
                for (name, body) in m {
                    if !matches!(body, Value::Null) && !matches!(body, Value::Object(o) if o.is_empty()) {
                        self.problem(
                            &join(path, name),
                            "network options are not supported: all services share the deployment's network",
                        );
                    }
                }
                m.keys().cloned().collect()
            }
            other => {
                self.expected(path, "a list of network names", other);
                Vec::new()
            }
        }
    }

    /// References between parts of the document: dependencies, volumes, networks.
    fn cross_check(&mut self, compose: &Compose) {
        let names: BTreeSet<&str> = compose.services.iter().map(|s| s.name.as_str()).collect();
        for s in &compose.services {
            let base = join("services", &s.name);
            for d in &s.depends_on {
                let p = join(&join(&base, "depends_on"), &d.service);
                if d.service == s.name {
                    self.problem(&p, "a service cannot depend on itself");
                } else if d.required && !names.contains(d.service.as_str()) {
                    self.problem(&p, format!("no service named `{}`", d.service));
                }
            }
            for (i, m) in s.volumes.iter().enumerate() {
                if let MountSource::Named(v) = &m.source
                    && !compose.volumes.contains(v)
                {
                    self.problem(
                        &index(&join(&base, "volumes"), i),
                        format!("volume `{v}` is not declared under the top-level volumes"),
                    );
                }
            }
            for n in &s.networks {
                if n != "default" && !compose.networks.contains(n) {
                    self.problem(
                        &join(&base, "networks"),
                        format!("network `{n}` is not declared under the top-level networks"),
                    );
                }
            }
        }
        let marked: Vec<&Service> = compose
            .services
            .iter()
            .filter(|s| s.labels.contains_key(PRIMARY_LABEL))
            .collect();
        if marked.len() > 1 {
            let names: Vec<&str> = marked.iter().map(|s| s.name.as_str()).collect();
            self.problem(
                "services",
                format!(
                    "only one service may carry {PRIMARY_LABEL}; found it on {}",
                    names.join(", ")
                ),
            );
        }
        for s in marked {
            if !s.ports.iter().any(|p| p.protocol == Protocol::Tcp) {
                self.problem(
                    &join(&join(&join("services", &s.name), "labels"), PRIMARY_LABEL),
                    "the primary service must publish a TCP port for the proxy to route to",
                );
            }
        }
        if let Err(stuck) = compose.start_waves() {
            self.problem(
                "services",
                format!("depends_on forms a cycle among: {}", stuck.join(", ")),
            );
        }
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

fn parse_protocol(s: &str) -> Result<Protocol, String> {
    match s {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        other => Err(format!("protocol `{other}` is not supported; use tcp or udp")),
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("`{s}` is not a port number (1-65535)")),
    }
}

/// `80` or `8000-8005`, as an inclusive range.
fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    match s.split_once('-') {
        Some((lo, hi)) => {
            let (lo, hi) = (parse_port(lo)?, parse_port(hi)?);
            if lo > hi {
                return Err(format!("range `{s}` ends before it starts"));
            }
            Ok((lo, hi))
        }
        None => parse_port(s).map(|p| (p, p)),
    }
}

fn expand_ports(
    host_ip: Option<IpAddr>,
    host: Option<(u16, u16)>,
    container: (u16, u16),
    protocol: Protocol,
    max_range: usize,
) -> Result<Vec<PortMapping>, String> {
    let count = usize::from(container.1 - container.0) + 1;
    if count > max_range {
        return Err(format!("ranges are limited to {max_range} ports"));
    }
    if let Some((lo, hi)) = host
        && usize::from(hi - lo) + 1 != count
    {
        return Err("the host and container ranges must have the same length".into());
    }
    Ok((0..count as u16)
        .map(|i| PortMapping {
            host_ip,
            host_port: host.map(|(lo, _)| lo + i),
            container_port: container.0 + i,
            protocol,
        })
        .collect())
}

/// Compose's short port syntax: `[[IP:]HOST:]CONTAINER[/PROTOCOL]`, where HOST and CONTAINER
/// may be ranges and an IPv6 address is written in brackets.
pub(crate) fn parse_port_short(s: &str, max_range: usize) -> Result<Vec<PortMapping>, String> {
    let (spec, protocol) = match s.rsplit_once('/') {
        Some((spec, proto)) => (spec, parse_protocol(proto)?),
        None => (s, Protocol::Tcp),
    };
    let (host_ip, rest) = if let Some(after) = spec.strip_prefix('[') {
        let (ip, rest) = after
            .split_once("]:")
            .ok_or_else(|| format!("`{s}` has an unclosed IPv6 address"))?;
        let ip: IpAddr = ip.parse().map_err(|_| format!("`{ip}` is not an IP address"))?;
        (Some(ip), rest)
    } else {
        match spec.matches(':').count() {
            0 | 1 => (None, spec),
            2 => {
                let (ip, rest) = spec.split_once(':').expect("two colons");
                let ip: IpAddr = ip.parse().map_err(|_| format!("`{ip}` is not an IP address"))?;
                (Some(ip), rest)
            }
            _ => return Err(format!("`{s}` is not [IP:][HOST:]CONTAINER[/PROTOCOL]")),
        }
    };
    let (host, container) = match rest.split_once(':') {
        Some(("", container)) => (None, container),
        Some((host, container)) => (Some(parse_port_range(host)?), container),
        None if host_ip.is_some() => return Err(format!("`{s}` names an IP but no ports")),
        None => (None, rest),
    };
    expand_ports(host_ip, host, parse_port_range(container)?, protocol, max_range)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'))
}
