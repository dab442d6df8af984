//! Templates: what a creator publishes. Validation of every field happens here, at create and
//! update time, so a stored template always parses and plans.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::compose::{self, Compose, Located, interpolate};
use crate::problem::{Problem, Problems};
use crate::slug::slugify;
pub use crate::variables::Variable;
use crate::variables::{self, BuiltIns, Values};

/// Bounds on template fields. Generous for real templates, tight enough that one request
/// cannot exhaust the store.
#[derive(Debug, Clone)]
pub struct Limits {
    pub compose: compose::Limits,
    pub max_config_files: usize,
    pub max_config_file_bytes: usize,
    pub max_variables: usize,
    pub max_tags: usize,
    /// The most CPU, memory and processes a service may ask for.
    pub maxima: compose::policy::Maxima,
    /// The operator's exceptions to the safe-compose policy.
    pub policy: compose::policy::Policy,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            maxima: compose::policy::Maxima::default(),
            policy: compose::policy::Policy::default(),
            compose: compose::Limits::default(),
            max_config_files: 20,
            max_config_file_bytes: 256 * 1024,
            max_variables: 100,
            max_tags: 20,
        }
    }
}

/// A file written into the containers of a deployment, read-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// A label for the file, e.g. `default.conf`.
    pub name: String,
    /// Absolute path inside the container.
    pub path: String,
    pub content: String,
    /// Octal permission bits such as `"0640"`; default `0444`, read-only as Compose mounts configs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Only this service gets the file; every service when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Variables are interpolated in `content` only when this is set: nginx and shell files are
    /// full of `$`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interpolate: bool,
}

impl ConfigFile {
    pub fn mode_bits(&self) -> u32 {
        self.mode
            .as_deref()
            .and_then(|m| u32::from_str_radix(m, 8).ok())
            .unwrap_or(0o444)
    }
}

/// An update that sends a secret variable without a default (as responses show it) keeps the
/// stored one, so reading a template and sending it back loses nothing.
fn keep_secret_defaults(sent: Vec<Variable>, stored: &[Variable]) -> Vec<Variable> {
    sent.into_iter()
        .map(|v| match (&v.default, v.is_secret()) {
            (None, true) => {
                let default = stored
                    .iter()
                    .find(|s| s.is_secret() && s.name == v.name)
                    .and_then(|s| s.default.clone());
                Variable { default, ..v }
            }
            _ => v,
        })
        .collect()
}

/// Template fields as a request supplies them: every field optional, so that one pass can
/// report all that is missing or wrong, and so that an update can name only what changes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TemplateFields {
    pub name: Option<String>,
    /// Semantic version, e.g. `1.0.0`.
    pub version: Option<String>,
    pub description: Option<String>,
    pub creator_id: Option<String>,
    /// A Docker Compose document (YAML).
    pub compose_spec: Option<String>,
    pub config_files: Option<Vec<ConfigFile>>,
    pub variables: Option<Vec<Variable>>,
    /// Monthly price in cents.
    pub price_monthly: Option<i64>,
    pub category: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// A template's content, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSpec {
    pub name: String,
    pub slug: String,
    pub version: String,
    pub description: String,
    pub creator_id: String,
    pub compose_spec: String,
    pub config_files: Vec<ConfigFile>,
    pub variables: Vec<Variable>,
    pub price_monthly: i64,
    pub category: Option<String>,
    pub tags: Vec<String>,
}

impl TemplateFields {
    /// The fields of an update laid over the stored template. The creator cannot change.
    pub fn merged_over(self, current: &TemplateSpec) -> Result<TemplateFields, Problems> {
        if self.creator_id.as_ref().is_some_and(|c| *c != current.creator_id) {
            return Err(Problems(vec![Problem::field("creator_id", "cannot be changed")]));
        }
        Ok(TemplateFields {
            name: self.name.or_else(|| Some(current.name.clone())),
            version: self.version.or_else(|| Some(current.version.clone())),
            description: self.description.or_else(|| Some(current.description.clone())),
            creator_id: Some(current.creator_id.clone()),
            compose_spec: self.compose_spec.or_else(|| Some(current.compose_spec.clone())),
            config_files: self.config_files.or_else(|| Some(current.config_files.clone())),
            variables: Some(match self.variables {
                Some(sent) => keep_secret_defaults(sent, &current.variables),
                None => current.variables.clone(),
            }),
            price_monthly: self.price_monthly.or(Some(current.price_monthly)),
            category: self.category.or_else(|| current.category.clone()),
            tags: self.tags.or_else(|| Some(current.tags.clone())),
        })
    }

    /// Checks every field and the compose document (the safe-compose policy included),
    /// reporting all problems at once.
    pub fn validate(self, limits: &Limits) -> Result<(TemplateSpec, Compose), Problems> {
        self.validate_with(limits, false)
    }

    /// Checks everything but the safe-compose policy, for a template an admin trusts.
    pub fn validate_trusted(self, limits: &Limits) -> Result<(TemplateSpec, Compose), Problems> {
        self.validate_with(limits, true)
    }

    fn validate_with(self, limits: &Limits, trusted: bool) -> Result<(TemplateSpec, Compose), Problems> {
        let mut p = Vec::new();
        let name = required(&mut p, "name", self.name).map(|n| n.trim().to_string());
        if let Some(name) = &name {
            check_len(&mut p, "name", name, 1, 100);
            if slugify(name).is_empty() {
                p.push(Problem::field("name", "must contain at least one letter or digit"));
            }
        }
        let version = required(&mut p, "version", self.version);
        if let Some(v) = &version
            && semver::Version::parse(v).is_err()
        {
            p.push(Problem::field(
                "version",
                format!("`{v}` is not a semantic version such as 1.0.0"),
            ));
        }
        let description = self.description.unwrap_or_default();
        check_len(&mut p, "description", &description, 0, 10_000);
        let creator_id = required(&mut p, "creator_id", self.creator_id);
        if let Some(c) = &creator_id {
            crate::access::Subject::check(&mut p, "creator_id", c);
        }
        let price_monthly = self.price_monthly.unwrap_or(0);
        if !(0..=100_000_000).contains(&price_monthly) {
            p.push(Problem::field(
                "price_monthly",
                "must be a whole number of cents from 0 to 100000000",
            ));
        }
        if let Some(c) = &self.category {
            check_len(&mut p, "category", c, 1, 50);
        }
        let tags = self.tags.unwrap_or_default();
        check_tags(&mut p, &tags, limits.max_tags);
        let variables = self.variables.unwrap_or_default();
        variables::check_declarations(&mut p, &variables, limits.max_variables);
        let compose_spec = required(&mut p, "compose_spec", self.compose_spec);
        let config_files = self.config_files.unwrap_or_default();
        let document = compose_spec.as_deref().and_then(|spec| {
            compose::load(spec, &limits.compose)
                .map_err(|errs| p.extend(errs.into_iter().map(|e| Problem::at("compose_spec", e.path, e.message))))
                .ok()
        });
        let compose = document.and_then(|mut document| {
            compose::document::environment_sources(&mut document);
            let mut used = BTreeMap::new();
            let (references, malformed) = interpolate::document_references(&document);
            let mut malformed: Vec<Problem> = malformed
                .into_iter()
                .map(|e| Problem::at("compose_spec", e.path, e.message))
                .collect();
            for (path, r) in references {
                used.entry(r.name).or_insert_with(|| ("compose_spec".to_string(), path));
            }
            for (i, f) in config_files.iter().enumerate().filter(|(_, f)| f.interpolate) {
                match interpolate::references(&f.content) {
                    Ok(references) => {
                        for r in references {
                            used.entry(r.name)
                                .or_insert_with(|| (format!("config_files[{i}].content"), String::new()));
                        }
                    }
                    Err(e) => malformed.push(Problem::field(format!("config_files[{i}].content"), e)),
                }
            }
            variables::check_usage(&mut p, &variables, &used);
            // A reference that does not parse would fail the interpolation below again.
            if !malformed.is_empty() {
                p.extend(malformed);
                return None;
            }
            let values = variables::placeholders(&variables);
            let placeholders = BuiltIns::placeholder();
            instantiate(
                &document,
                &config_files,
                &variables,
                &values,
                &placeholders,
                limits,
                trusted,
            )
            .map(|(compose, _)| compose)
            .map_err(|errs| p.extend(errs))
            .ok()
        });
        check_config_files(&mut p, &config_files, compose.as_ref(), limits);
        match (p.is_empty(), name, version, creator_id, compose_spec, compose) {
            (true, Some(name), Some(version), Some(creator_id), Some(compose_spec), Some(compose)) => Ok((
                TemplateSpec {
                    slug: slugify(&name),
                    name,
                    version,
                    description,
                    creator_id,
                    compose_spec,
                    config_files,
                    variables,
                    price_monthly,
                    category: self.category,
                    tags,
                },
                compose,
            )),
            _ => Err(Problems(p)),
        }
    }
}

/// The compose model a deployment runs: the template's document interpolated with its values,
/// then parsed and checked as at create (resource maxima, and the safe-compose policy unless the
/// template is trusted). A problem in an interpolated value names the variables it came from.
pub fn instantiate(
    document: &serde_json::Value,
    files: &[ConfigFile],
    declared: &[Variable],
    values: &Values,
    built_ins: &BuiltIns,
    limits: &Limits,
    trusted: bool,
) -> Result<(Compose, Vec<ConfigFile>), Vec<Problem>> {
    let lookup = |name: &str| variables::lookup(declared, values, built_ins, name);
    let mut document = document.clone();
    compose::document::environment_sources(&mut document);
    let mut files = files.to_vec();
    let (bound, mut refused) = bind_config_files(&mut document, &files);
    files.extend(bound);
    let files = instantiate_config_files(&files, declared, values, built_ins)?;
    let document = &document;
    let located = |errs: Vec<Located>| {
        let (references, _) = interpolate::document_references(document);
        errs.into_iter()
            .map(|e| {
                let mut names: Vec<&str> = references
                    .iter()
                    .filter(|(path, _)| !e.path.is_empty() && (within(path, &e.path) || within(&e.path, path)))
                    .map(|(_, r)| r.name.as_str())
                    .collect();
                names.dedup();
                let message = match names.as_slice() {
                    [] => e.message,
                    names => format!("{} (with the value of {})", e.message, names.join(", ")),
                };
                Problem::at("compose_spec", e.path, message)
            })
            .collect::<Vec<_>>()
    };
    let document = interpolate::interpolate_document(document, &lookup).map_err(located)?;
    let check = |compose: &Compose| {
        let mut refused = compose::policy::over_maxima(compose, &limits.maxima);
        if !trusted {
            refused.extend(compose::policy::violations(compose, &limits.policy));
        }
        refused
    };
    match compose::check_document(&document, &limits.compose, &check).map_err(located) {
        Ok(compose) if refused.is_empty() => Ok((compose, files)),
        Ok(_) => Err(refused),
        Err(problems) => {
            refused.extend(problems);
            Err(refused)
        }
    }
}

/// Relative bind mounts of the template's own config files (`./nginx.conf:/etc/nginx/nginx.conf:ro`,
/// or a long-form bind): each becomes a copy of that file at the mount's target, for that
/// service, and leaves the document, since Hoster has no project directory to bind from. Other
/// relative binds stay for the parser to refuse.
fn bind_config_files(document: &mut serde_json::Value, files: &[ConfigFile]) -> (Vec<ConfigFile>, Vec<Problem>) {
    let mut bound = Vec::new();
    let mut p = Vec::new();
    compose::document::take_mounts(document, &mut |m| {
        let Some(relative) = m.source.strip_prefix("./") else {
            return false;
        };
        let file = files
            .iter()
            .find(|f| relative == f.name || relative.ends_with(&format!("/{}", f.name)));
        let (Some(file), Some(target)) = (file, m.target.clone()) else {
            return false;
        };
        if m.kind.as_deref().is_some_and(|k| k != "bind") {
            return false;
        }
        match check_container_path(&target) {
            Ok(()) => bound.push(ConfigFile {
                path: target,
                service: Some(m.service.to_string()),
                ..file.clone()
            }),
            Err(e) => p.push(Problem::at("compose_spec", m.path.clone(), e)),
        }
        true
    });
    (bound, p)
}

/// Whether the value at `inner` is part of the one at `outer` (`a.b[0]` is within `a.b`).
fn within(inner: &str, outer: &str) -> bool {
    inner
        .strip_prefix(outer)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// The config files a deployment gets: those marked `interpolate` with its values filled in.
fn instantiate_config_files(
    files: &[ConfigFile],
    declared: &[Variable],
    values: &Values,
    built_ins: &BuiltIns,
) -> Result<Vec<ConfigFile>, Vec<Problem>> {
    let lookup = |name: &str| variables::lookup(declared, values, built_ins, name);
    let mut p = Vec::new();
    let files = files
        .iter()
        .enumerate()
        .map(|(i, f)| match f.interpolate {
            false => f.clone(),
            true => match interpolate::interpolate(&f.content, &lookup) {
                Ok(content) => ConfigFile { content, ..f.clone() },
                Err(e) => {
                    p.push(Problem::field(format!("config_files[{i}].content"), e));
                    f.clone()
                }
            },
        })
        .collect();
    match p.is_empty() {
        true => Ok(files),
        false => Err(p),
    }
}

fn required(p: &mut Vec<Problem>, field: &str, value: Option<String>) -> Option<String> {
    match value {
        Some(v) if !v.trim().is_empty() => Some(v),
        _ => {
            p.push(Problem::field(field, "required"));
            None
        }
    }
}

fn check_len(p: &mut Vec<Problem>, field: &str, value: &str, min: usize, max: usize) {
    let n = value.chars().count();
    if n < min || n > max {
        p.push(Problem::field(
            field,
            format!("must be {min} to {max} characters long (is {n})"),
        ));
    }
}

fn check_tags(p: &mut Vec<Problem>, tags: &[String], max: usize) {
    if tags.len() > max {
        p.push(Problem::field("tags", format!("at most {max} tags")));
    }
    let mut seen = BTreeSet::new();
    for (i, tag) in tags.iter().enumerate() {
        let field = format!("tags[{i}]");
        check_len(p, &field, tag, 1, 30);
        if !seen.insert(tag) {
            p.push(Problem::field(field, format!("`{tag}` is listed twice")));
        }
    }
}

fn check_config_files(p: &mut Vec<Problem>, files: &[ConfigFile], compose: Option<&Compose>, limits: &Limits) {
    if files.len() > limits.max_config_files {
        p.push(Problem::field(
            "config_files",
            format!("at most {} files", limits.max_config_files),
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, f) in files.iter().enumerate() {
        let field = |k: &str| format!("config_files[{i}].{k}");
        if f.name.is_empty() || f.name.len() > 255 || f.name.contains(['/', '\0']) {
            p.push(Problem::field(field("name"), "must be 1 to 255 characters without `/`"));
        }
        if let Err(e) = check_container_path(&f.path) {
            p.push(Problem::field(field("path"), e));
        }
        if f.content.len() > limits.max_config_file_bytes {
            p.push(Problem::field(
                field("content"),
                format!(
                    "is {} bytes; the limit is {}",
                    f.content.len(),
                    limits.max_config_file_bytes
                ),
            ));
        }
        if let Some(mode) = &f.mode
            && !u32::from_str_radix(mode, 8).is_ok_and(|m| m <= 0o777)
        {
            p.push(Problem::field(
                field("mode"),
                format!("`{mode}` is not an octal mode such as 0644"),
            ));
        }
        if let (Some(service), Some(compose)) = (&f.service, compose)
            && compose.service(service).is_none()
        {
            p.push(Problem::field(
                field("service"),
                format!("no service named `{service}` in compose_spec"),
            ));
        }
        if !seen.insert((f.service.clone(), f.path.clone())) {
            p.push(Problem::field(field("path"), format!("`{}` is written twice", f.path)));
        }
    }
}

/// A config file's destination: absolute, normalised, and not a directory the container needs.
fn check_container_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("`{path}` must be an absolute path"));
    }
    if path.len() > 4096 || path.contains('\0') {
        return Err("must be at most 4096 characters without NUL".into());
    }
    if path.ends_with('/') {
        return Err(format!("`{path}` names a directory; give a file path"));
    }
    if path.split('/').any(|part| part == ".." || part == ".") {
        return Err(format!("`{path}` must not contain `.` or `..` segments"));
    }
    if path.contains("//") {
        return Err(format!("`{path}` must not contain empty segments"));
    }
    if let Some(why) = compose::engine_rules::reserved_container_path(path) {
        return Err(format!("`{path}` cannot be a config file: {why}"));
    }
    Ok(())
}

/// Of a product's versions (item, version), the newest one newer than `current`: what a
/// deployment on `current` could upgrade to. Versions that do not parse are passed over.
/// Pure.
pub fn newest_after<'a, T>(current: &str, versions: &'a [(T, String)]) -> Option<&'a (T, String)> {
    let current = semver::Version::parse(current).ok()?;
    versions
        .iter()
        .filter_map(|entry| Some((semver::Version::parse(&entry.1).ok()?, entry)))
        // A pre-release is offered only to a deployment on a pre-release.
        .filter(|(v, _)| *v > current && (v.pre.is_empty() || !current.pre.is_empty()))
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, entry)| entry)
}

/// Semantic version order; a version that does not parse sorts before every one that does.
pub fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    semver::Version::parse(a).ok().cmp(&semver::Version::parse(b).ok())
}

/// Whether `version` is newer than every one of `existing` (semantic version order).
pub fn is_newest(version: &str, existing: &[&str]) -> bool {
    let Ok(version) = semver::Version::parse(version) else {
        return false;
    };
    existing
        .iter()
        .filter_map(|v| semver::Version::parse(v).ok())
        .all(|v| v < version)
}

#[cfg(test)]
mod tests;
