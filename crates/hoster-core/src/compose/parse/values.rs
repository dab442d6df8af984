//! Scalars, lists and mappings as Compose reads them, each problem at its path.

use super::super::units::parse_duration;
use super::*;

impl Walker<'_> {
    /// The items of a list; none, and a problem, when `v` is something else.
    pub(super) fn items<'v>(&mut self, path: &str, v: &'v Value, what: &str) -> &'v [Value] {
        match v {
            Value::Array(items) => items,
            other => {
                self.expected(path, what, other);
                &[]
            }
        }
    }

    pub(super) fn problem(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Located {
            path: path.to_string(),
            message: message.into(),
        });
    }

    pub(super) fn expected(&mut self, path: &str, what: &str, got: &Value) {
        self.problem(path, format!("expected {what}, got {}", kind(got)));
    }

    pub(super) fn mapping<'v>(&mut self, path: &str, v: &'v Value) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            other => {
                self.expected(path, "a mapping", other);
                None
            }
        }
    }

    pub(super) fn string(&mut self, path: &str, v: &Value) -> Option<String> {
        match scalar(v) {
            Some(s) => Some(s),
            None => {
                self.expected(path, "a string", v);
                None
            }
        }
    }

    pub(super) fn non_empty_string(&mut self, path: &str, v: &Value) -> Option<String> {
        let s = self.string(path, v)?;
        if s.trim().is_empty() {
            self.problem(path, "must not be empty");
            return None;
        }
        Some(s)
    }

    pub(super) fn boolean(&mut self, path: &str, v: &Value) -> Option<bool> {
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

    pub(super) fn unsigned(&mut self, path: &str, v: &Value) -> Option<u64> {
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

    pub(super) fn duration(&mut self, path: &str, v: &Value) -> Option<std::time::Duration> {
        let s = self.string(path, v)?;
        parse_duration(&s).map_err(|e| self.problem(path, e)).ok()
    }

    /// Sequences of strings, or one string split the way a shell would (Compose's rule).
    pub(super) fn words(&mut self, path: &str, v: &Value) -> Option<Vec<String>> {
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
    pub(super) fn key_values(&mut self, path: &str, v: &Value) -> BTreeMap<String, Option<String>> {
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

    pub(super) fn check_key(&mut self, path: &str, key: &str) -> bool {
        let ok = !key.is_empty() && !key.contains(['=', '\0']) && !key.chars().any(char::is_whitespace);
        if !ok {
            self.problem(path, format!("`{key}` is not a valid name"));
        }
        ok
    }

    pub(super) fn string_list(&mut self, path: &str, v: &Value) -> Vec<String> {
        let items = self.items(path, v, "a list of strings");
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.non_empty_string(&index(path, i), item))
            .collect()
    }

    pub(super) fn absolute_path(&mut self, path: &str, v: &Value) -> Option<String> {
        let s = self.string(path, v)?;
        if !s.starts_with('/') {
            self.problem(path, format!("`{s}` must be an absolute path"));
            return None;
        }
        Some(s)
    }
}
