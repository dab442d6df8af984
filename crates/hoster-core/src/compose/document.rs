//! Rewrites of a loaded compose document (a `serde_json::Value`) that come before it is
//! interpolated and parsed: walking its strings, `environment:` sources, and taking mounts out.

use serde_json::Value;

/// Calls `visit` with the path of every string scalar under `value` and the string itself.
pub fn for_each_string(value: &mut Value, path: &str, visit: &mut dyn FnMut(&str, &mut String)) {
    match value {
        Value::String(s) => visit(path, s),
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                for_each_string(item, &format!("{path}[{i}]"), visit);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                for_each_string(item, &child, visit);
            }
        }
        _ => {}
    }
}

/// Rewrites the top-level `configs` and `secrets` whose source is `environment: NAME` into
/// `content: ${NAME}`, so that interpolation fills them from the deployment's values.
pub fn environment_sources(doc: &mut Value) {
    for section in ["configs", "secrets"] {
        let Some(Value::Object(entries)) = doc.get_mut(section) else {
            continue;
        };
        for body in entries.values_mut() {
            let Value::Object(fields) = body else { continue };
            if let Some(Value::String(name)) = fields.get("environment").cloned()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.is_empty()
            {
                fields.remove("environment");
                fields.insert("content".into(), Value::String(format!("${{{name}}}")));
            }
        }
    }
}

/// A service's mount as written: short (`SRC:TARGET[:MODE]`) or long form.
pub struct MountText<'d> {
    pub service: &'d str,
    /// `services.NAME.volumes[i]`.
    pub path: String,
    pub source: String,
    pub target: Option<String>,
    /// Long form only: its `type` (`bind`, `volume`, ...).
    pub kind: Option<String>,
    /// Long form only: the one-click catalogs' inline file `content`.
    pub content: Option<String>,
}

/// Offers every service's mounts to `take`; those it takes leave the document (and a service
/// left with none loses its `volumes` key).
pub fn take_mounts(doc: &mut Value, take: &mut dyn FnMut(&MountText) -> bool) {
    let Some(Value::Object(services)) = doc.get_mut("services") else {
        return;
    };
    for (service, body) in services.iter_mut() {
        let Some(Value::Array(volumes)) = body.get_mut("volumes") else {
            continue;
        };
        let mut i = 0;
        volumes.retain(|v| {
            let path = format!("services.{service}.volumes[{i}]");
            i += 1;
            let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
            let mount = match v {
                Value::Object(long) => MountText {
                    service,
                    path,
                    source: text(long.get("source")).unwrap_or_default(),
                    target: text(long.get("target")),
                    kind: text(long.get("type")),
                    content: text(long.get("content")),
                },
                Value::String(short) => {
                    let mut parts = short.splitn(3, ':');
                    MountText {
                        service,
                        path,
                        source: parts.next().unwrap_or_default().to_string(),
                        target: parts.next().map(str::to_string),
                        kind: None,
                        content: None,
                    }
                }
                _ => return true,
            };
            !take(&mount)
        });
        if volumes.is_empty()
            && let Value::Object(map) = body
        {
            map.remove("volumes");
        }
    }
}
