//! YAML → [`Compose`]: a walk over the document that collects every problem with its path.
//! This file has the entry points and the document's top level; each part of a service is
//! parsed in the file named after it, cross-references last (`references.rs`).

mod files;
mod healthcheck;
mod mounts;
mod options;
pub(super) mod ports;
mod references;
mod service;
mod values;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde_json::{Map, Value};

use super::model::*;

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
    check_document(&load(yaml, limits)?, limits, check)
}

/// The YAML document as a value, before interpolation and parsing, within `limits`.
pub fn load(yaml: &str, limits: &Limits) -> Result<Value, Vec<Located>> {
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
    super::yaml::from_str(yaml, budget).map_err(|e| {
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
    })
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

/// Parses an already-decoded document (YAML and JSON share this model).
pub fn parse_value(doc: &Value, limits: &Limits) -> Result<Compose, Vec<Located>> {
    check_document(doc, limits, &|_| Vec::new())
}

/// [`parse_and_check`] for a document already loaded (and interpolated).
pub fn check_document(
    doc: &Value,
    limits: &Limits,
    check: &dyn Fn(&Compose) -> Vec<Located>,
) -> Result<Compose, Vec<Located>> {
    let mut w = Walker {
        problems: Vec::new(),
        limits,
        not_started: BTreeSet::new(),
        configs: BTreeMap::new(),
        secrets: BTreeMap::new(),
    };
    super::engine_rules::nul_characters(doc, "", &mut w.problems);
    let compose = w.document(doc);
    // Rules on the model run once it parses: a list item that did not parse is missing from
    // the model, so a finding's index there would name the wrong item of the document.
    if let Some(compose) = &compose
        && w.problems.is_empty()
    {
        w.problems.extend(super::engine_rules::refusals(compose));
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

struct Walker<'l> {
    problems: Vec<Located>,
    limits: &'l Limits,
    /// Services left out because they name profiles.
    not_started: BTreeSet<String>,
    /// Top-level `configs` and `secrets`: name → content.
    configs: BTreeMap<String, String>,
    secrets: BTreeMap<String, String>,
}

impl Walker<'_> {
    pub(super) fn document(&mut self, doc: &Value) -> Option<Compose> {
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
                "configs" => self.configs = self.inline_sources(files::Section::Configs, value),
                "secrets" => self.secrets = self.inline_sources(files::Section::Secrets, value),
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
            if self.profiled(name, value) {
                self.not_started.insert(name.clone());
            } else if let Some(service) = self.service(name, value) {
                services.push(service);
            }
        }
        // A named volume a service uses but the file does not declare is declared for it, as
        // hosting platforms do (Compose itself refuses such a file).
        for s in &services {
            for m in &s.volumes {
                if let MountSource::Named(v) = &m.source
                    && !volumes.contains(v)
                {
                    volumes.push(v.clone());
                }
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
    pub(super) fn top_level_objects(
        &mut self,
        section: &str,
        v: &Value,
        allowed: &[&str],
        driver: &str,
    ) -> Vec<String> {
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
                        // `external: false` is what every volume and network here is anyway.
                        if k == "external" && matches!(val, Value::Bool(false)) {
                            continue;
                        }
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
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'))
}
