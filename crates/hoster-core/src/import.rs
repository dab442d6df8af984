//! A compose file as found, turned into a template: every `${VAR}` becomes a declared variable
//! (a default from `:-`/`-`, required from `:?`/`?`), the one-click catalogs' magic variables
//! become Hoster's (`SERVICE_PASSWORD_*`, `SERVICE_USER_*`, `SERVICE_BASE64_*` generated secrets,
//! `SERVICE_FQDN_*` and `SERVICE_URL_*` the deployment's domain and URL), and files the compose
//! file carries or binds (`volumes[].content`, `./nginx.conf` given beside it) become config files.
//! What stays refused is the template validation's to report, with paths.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::compose::{self, document, interpolate};
use crate::problem::Problem;
use crate::template::ConfigFile;
use crate::variables::{Charset, Generate, Kind, Variable};

/// One change the import made, at its path in the compose file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Converted {
    pub path: String,
    pub note: String,
}

/// The template fields a compose file becomes, and what was changed to get there.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversion {
    /// The compose file to store (YAML), with references renamed and inline files taken out.
    pub compose_spec: String,
    pub config_files: Vec<ConfigFile>,
    pub variables: Vec<Variable>,
    /// The document's own `name:`, a natural template name.
    pub name: Option<String>,
    pub converted: Vec<Converted>,
}

/// What a magic variable of the one-click catalogs stands for.
fn magic(name: &str) -> Option<Magic> {
    let sized = |rest: &str| -> (usize, String) {
        match rest.split_once('_') {
            Some((n, tail)) if n.parse::<usize>().is_ok_and(|n| (8..=256).contains(&n)) => {
                (n.parse().unwrap_or(32), tail.to_string())
            }
            _ => (0, rest.to_string()),
        }
    };
    if let Some(rest) = name.strip_prefix("SERVICE_PASSWORD_") {
        let (length, _) = sized(rest);
        return Some(Magic::Generated(
            Kind::Password,
            Charset::Alphanumeric,
            if length > 0 { length } else { 32 },
        ));
    }
    if let Some(rest) = name.strip_prefix("SERVICE_BASE64_") {
        let (length, _) = sized(rest);
        return Some(Magic::Generated(
            Kind::String,
            Charset::Base64url,
            if length > 0 { length } else { 32 },
        ));
    }
    if name.starts_with("SERVICE_USER_") {
        return Some(Magic::Generated(Kind::String, Charset::Lowercase, 16));
    }
    if name.starts_with("SERVICE_FQDN_") {
        return Some(Magic::BuiltIn("HOSTER_DOMAIN"));
    }
    if name.starts_with("SERVICE_URL_") {
        return Some(Magic::BuiltIn("HOSTER_URL"));
    }
    None
}

enum Magic {
    /// A secret generated per deployment: its kind, charset and length.
    Generated(Kind, Charset, usize),
    /// One of Hoster's built-ins.
    BuiltIn(&'static str),
}

/// The variable a plain reference declares: UPPER_SNAKE_CASE as Hoster names them.
fn declared_name(name: &str) -> String {
    name.to_ascii_uppercase()
}

/// Converts `compose` (YAML as found). `beside` holds files given with it by relative path
/// (`nginx.conf`), for relative binds.
pub fn import(
    compose: &str,
    beside: &BTreeMap<String, String>,
    limits: &compose::Limits,
) -> Result<Conversion, Vec<Problem>> {
    let located = |errs: Vec<compose::Located>| {
        errs.into_iter()
            .map(|e| Problem::at("compose", e.path, e.message))
            .collect::<Vec<_>>()
    };
    let mut doc = compose::load(compose, limits).map_err(located)?;
    let mut converted = Vec::new();
    let mut config_files = Vec::new();
    take_files(&mut doc, beside, &mut config_files, &mut converted);
    mark_public_service(&mut doc, &mut converted);
    document::environment_sources(&mut doc);

    let (references, malformed) = interpolate::document_references(&doc);
    if !malformed.is_empty() {
        return Err(located(malformed));
    }
    // Each referenced name: a variable to declare, or a built-in to rename to.
    let mut variables: BTreeMap<String, Variable> = BTreeMap::new();
    let mut renames: BTreeMap<String, String> = BTreeMap::new();
    for (path, r) in &references {
        if crate::variables::BUILT_INS.contains(&r.name.as_str()) {
            continue;
        }
        match magic(&r.name) {
            Some(Magic::BuiltIn(to)) => {
                if renames.insert(r.name.clone(), to.to_string()).is_none() {
                    converted.push(Converted {
                        path: path.clone(),
                        note: format!("`{}` is the deployment's {to}", r.name),
                    });
                }
            }
            Some(Magic::Generated(kind, charset, length)) => {
                let name = declared_name(&r.name);
                renames.insert(r.name.clone(), name.clone());
                variables.entry(name.clone()).or_insert_with(|| {
                    converted.push(Converted {
                        path: path.clone(),
                        note: format!(
                            "`{}` is generated for each deployment ({length} {charset:?} characters)",
                            r.name
                        ),
                    });
                    Variable {
                        name,
                        description: format!("Generated for each deployment (was {})", r.name),
                        kind,
                        secret: true,
                        generate: Some(Generate { length, charset }),
                        ..Variable::default()
                    }
                });
            }
            None => {
                let name = declared_name(&r.name);
                if name != r.name {
                    renames.insert(r.name.clone(), name.clone());
                }
                let v = variables.entry(name.clone()).or_insert_with(|| {
                    converted.push(Converted {
                        path: path.clone(),
                        note: format!("`${{{}}}` is the variable {name}", r.name),
                    });
                    Variable {
                        name,
                        ..Variable::default()
                    }
                });
                use interpolate::Operator::*;
                match r.operator {
                    Some(DefaultIfEmpty | DefaultIfUnset) => {
                        if v.default.is_none()
                            && let Some(default) = r.argument.as_deref().filter(|a| !a.contains('$'))
                        {
                            v.default = Some(default.to_string());
                        }
                    }
                    Some(RequireNonEmpty | RequireSet) => {
                        v.required = true;
                        if v.description.is_empty() {
                            v.description = r.argument.clone().unwrap_or_default();
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    // Hoster's variables are named once: a renamed reference is rewritten where it is used.
    // Every string parsed above, so renaming cannot fail; config files taken from the document
    // are not interpolated and keep their text as written.
    if !renames.is_empty() {
        let rename = |name: &str| renames.get(name).cloned();
        document::for_each_string(&mut doc, "", &mut |_, text| {
            if let Ok(renamed) = interpolate::rename(text, &rename) {
                *text = renamed;
            }
        });
    }
    let name = doc.get("name").and_then(Value::as_str).map(str::to_string);
    if let Value::Object(top) = &mut doc {
        top.remove("name");
        top.remove("version");
    }
    let compose_spec = serde_saphyr::to_string(&doc).map_err(|e| vec![Problem::field("compose", e.to_string())])?;
    Ok(Conversion {
        compose_spec,
        config_files,
        variables: variables.into_values().collect(),
        name,
        converted,
    })
}

/// The catalogs' way of naming the service the public address leads to: an environment entry
/// `SERVICE_FQDN_<NAME>[_<PORT>]` (or `SERVICE_URL_...`) without a value. It becomes Hoster's
/// primary-service label on the first such service, its port published when named and not yet.
fn mark_public_service(doc: &mut Value, converted: &mut Vec<Converted>) {
    let Some(Value::Object(services)) = doc.get_mut("services") else {
        return;
    };
    let mut marked = false;
    for (service, body) in services.iter_mut() {
        let Value::Object(fields) = body else { continue };
        let is_marker = |key: &str| key.starts_with("SERVICE_FQDN_") || key.starts_with("SERVICE_URL_");
        let mut markers = Vec::new();
        match fields.get_mut("environment") {
            Some(Value::Array(entries)) => entries.retain(|e| match e.as_str() {
                Some(key) if is_marker(key) => {
                    markers.push(key.to_string());
                    false
                }
                _ => true,
            }),
            Some(Value::Object(map)) => {
                let keys: Vec<String> = map
                    .iter()
                    .filter(|(k, v)| is_marker(k) && v.is_null())
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in keys {
                    map.remove(&key);
                    markers.push(key);
                }
            }
            _ => {}
        }
        let Some(marker) = markers.first() else { continue };
        let path = format!("services.{service}.environment");
        if marked {
            converted.push(Converted {
                path,
                note: format!("`{marker}` dropped: another service already has the deployment's address"),
            });
            continue;
        }
        marked = true;
        let port = marker.rsplit('_').next().and_then(|p| p.parse::<u16>().ok());
        if let Some(port) = port {
            let ports = fields.entry("ports").or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(ports) = ports
                && !ports.iter().any(|p| {
                    p.as_str()
                        .is_some_and(|p| p.rsplit(':').next() == Some(&port.to_string()))
                })
            {
                ports.push(Value::String(port.to_string()));
            }
        }
        let labels = fields
            .entry("labels")
            .or_insert_with(|| Value::Object(Default::default()));
        match labels {
            Value::Object(map) => {
                map.insert(compose::PRIMARY_LABEL.into(), Value::String("true".into()));
            }
            Value::Array(list) => list.push(Value::String(format!("{}=true", compose::PRIMARY_LABEL))),
            _ => {}
        }
        converted.push(Converted {
            path,
            note: match port {
                Some(port) => {
                    format!("`{marker}`: this service, on port {port}, is what the deployment's address leads to")
                }
                None => format!("`{marker}`: this service is what the deployment's address leads to"),
            },
        });
    }
}

/// Long-form volumes with inline `content` (the one-click catalogs' way to ship a file), and
/// relative binds of files given beside the compose file, become config files for their service.
fn take_files(
    doc: &mut Value,
    beside: &BTreeMap<String, String>,
    files: &mut Vec<ConfigFile>,
    converted: &mut Vec<Converted>,
) {
    document::take_mounts(doc, &mut |m| {
        let relative = m.source.trim_start_matches("./");
        let content = m.content.clone().or_else(|| {
            m.source
                .starts_with("./")
                .then(|| beside.get(relative).cloned())
                .flatten()
        });
        let (Some(target), Some(content)) = (m.target.clone(), content) else {
            return false;
        };
        let name = relative.rsplit('/').next().unwrap_or(relative);
        let name = if name.is_empty() { "file" } else { name };
        converted.push(Converted {
            path: m.path.clone(),
            note: format!("`{}` is the config file `{name}` at {target}", m.source),
        });
        files.push(ConfigFile {
            name: name.to_string(),
            path: target,
            content,
            mode: None,
            service: Some(m.service.to_string()),
            interpolate: false,
        });
        true
    });
}

#[cfg(test)]
mod tests;
