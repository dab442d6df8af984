//! `healthcheck`: the test in its three forms, intervals, retries.

use super::*;

impl Walker<'_> {
    pub(super) fn healthcheck(&mut self, path: &str, v: &Value) -> Option<Healthcheck> {
        let map = self.mapping(path, v)?;
        let mut h = Healthcheck::default();
        for (k, val) in map {
            let p = join(path, k);
            match k.as_str() {
                "test" => h.test = self.health_test(&p, val),
                "interval" => h.interval = self.duration(&p, val),
                "timeout" => h.timeout = self.duration(&p, val),
                "start_period" => h.start_period = self.duration(&p, val),
                "start_interval" => h.start_interval = self.duration(&p, val),
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

    pub(super) fn health_test(&mut self, path: &str, v: &Value) -> Option<Vec<String>> {
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
}
