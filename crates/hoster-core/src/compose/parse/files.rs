//! Top-level `configs` and `secrets` with inline `content`, and the services' `configs` and
//! `secrets` that put them into containers as files (`/<name>` and `/run/secrets/<name>` unless
//! a `target` says otherwise). `environment:` sources become `content: ${VAR}` before
//! interpolation ([`super::super::document::environment_sources`]); file and external sources stay refused.

use super::*;

/// Which of the two sections, and where its files go by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Section {
    Configs,
    Secrets,
}

impl Section {
    pub(super) fn key(self) -> &'static str {
        match self {
            Section::Configs => "configs",
            Section::Secrets => "secrets",
        }
    }

    fn default_target(self, name: &str) -> String {
        match self {
            Section::Configs => format!("/{name}"),
            Section::Secrets => format!("/run/secrets/{name}"),
        }
    }
}

impl Walker<'_> {
    /// A top-level section: name → content.
    pub(super) fn inline_sources(&mut self, section: Section, v: &Value) -> BTreeMap<String, String> {
        let key = section.key();
        let mut out = BTreeMap::new();
        let Some(map) = self.mapping(key, v) else { return out };
        for (name, body) in map {
            let p = join(key, name);
            if !valid_name(name) {
                self.problem(
                    &p,
                    "names use a-z, 0-9, `_`, `-` and `.`, starting with a letter or digit",
                );
                continue;
            }
            let Some(fields) = self.mapping(&p, body) else { continue };
            let mut content = None;
            for (k, val) in fields {
                let kp = join(&p, k);
                match k.as_str() {
                    "content" => content = self.string(&kp, val),
                    "name" => {}
                    "file" => self.problem(
                        &kp,
                        "not supported: a file on the host; write it as `content`, or use the template's config_files",
                    ),
                    "external" => self.problem(&kp, "not supported: deployments never share configs or secrets"),
                    "environment" => self.problem(
                        &kp,
                        "an environment source names a template variable, filled in when the template is deployed",
                    ),
                    _ => self.problem(&kp, "unknown or unsupported key"),
                }
            }
            match content {
                Some(content) => {
                    out.insert(name.clone(), content);
                }
                None if !fields
                    .keys()
                    .any(|k| matches!(k.as_str(), "file" | "external" | "environment")) =>
                {
                    self.problem(&p, "give its `content`")
                }
                None => {}
            }
        }
        out
    }

    /// A service's `configs` or `secrets`: names, or `{source, target, mode}`.
    pub(super) fn service_files(&mut self, path: &str, section: Section, v: &Value, out: &mut Vec<InlineFile>) {
        let sources = match section {
            Section::Configs => &self.configs,
            Section::Secrets => &self.secrets,
        }
        .clone();
        for (i, item) in self.items(path, v, "a list").iter().enumerate() {
            let p = index(path, i);
            let (source, target, mode) = match item {
                Value::Object(m) => {
                    let mut source = None;
                    let mut target = None;
                    let mut mode = None;
                    for (k, val) in m {
                        let kp = join(&p, k);
                        match k.as_str() {
                            "source" => source = self.non_empty_string(&kp, val),
                            "target" => target = self.non_empty_string(&kp, val),
                            "mode" => mode = self.file_mode(&kp, val),
                            _ => self.problem(&kp, "not supported: source, target and mode are"),
                        }
                    }
                    (source, target, mode)
                }
                other => (self.non_empty_string(&p, other), None, None),
            };
            let Some(source) = source else {
                self.problem(&p, "names a source");
                continue;
            };
            let Some(content) = sources.get(&source) else {
                self.problem(&p, format!("no top-level {} entry named `{source}`", section.key()));
                continue;
            };
            let target = match target {
                Some(t) if t.starts_with('/') => t,
                Some(t) if section == Section::Secrets => format!("/run/secrets/{t}"),
                Some(t) => {
                    self.problem(&p, format!("target `{t}` must be an absolute path"));
                    continue;
                }
                None => section.default_target(&source),
            };
            if let Some(why) = super::super::engine_rules::reserved_container_path(&target) {
                self.problem(&p, format!("target `{target}` cannot be a file: {why}"));
                continue;
            }
            out.push(InlineFile {
                target,
                content: content.clone(),
                mode: mode.unwrap_or(0o444),
            });
        }
    }

    /// Octal modes are written as numbers (`0440`, read by YAML 1.2 as 440) or strings.
    fn file_mode(&mut self, path: &str, v: &Value) -> Option<u32> {
        let text = scalar(v)?;
        match u32::from_str_radix(text.trim_start_matches("0o"), 8) {
            Ok(mode) if mode <= 0o777 => Some(mode),
            _ => {
                self.problem(path, format!("`{text}` is not an octal mode such as 0440"));
                None
            }
        }
    }
}
