//! Engine settings Compose passes through: `container_name` (as an alias), `platform`,
//! `stop_signal`, `tty`, `stdin_open`, `read_only`, `init`, `dns`, `dns_search`, `extra_hosts`,
//! `group_add`, `shm_size`, `memswap_limit`, `cpu_shares`, `oom_score_adj`, `tmpfs`, `ulimits`,
//! `logging`. Each is checked for form here; `policy.rs` bounds what could reach the host.

use std::net::IpAddr;

use super::super::units::parse_bytes;
use super::*;

/// A DNS name: labels of letters, digits and `-`, dot-separated.
fn dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .trim_end_matches('.')
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

impl Walker<'_> {
    /// Parses `key` if it is one of the settings this file knows; `false` when it is not.
    pub(super) fn option(&mut self, path: &str, key: &str, v: &Value, o: &mut ContainerOptions) -> bool {
        match key {
            "container_name" => {
                if let Some(name) = self.non_empty_string(path, v) {
                    if dns_name(&name) {
                        o.container_name = Some(name);
                    } else {
                        self.problem(path, format!("`{name}` is not a name other services can resolve"));
                    }
                }
            }
            "platform" => o.platform = self.platform(path, v),
            "stop_signal" => o.stop_signal = self.signal(path, v),
            "tty" => o.tty = self.boolean(path, v).unwrap_or(false),
            "stdin_open" => o.stdin_open = self.boolean(path, v).unwrap_or(false),
            "read_only" => o.read_only = self.boolean(path, v).unwrap_or(false),
            "init" => o.init = self.boolean(path, v).unwrap_or(false),
            "dns" => o.dns = self.addresses(path, v),
            "dns_search" => o.dns_search = self.dns_names(path, v),
            "extra_hosts" => o.extra_hosts = self.extra_hosts(path, v),
            "group_add" => o.group_add = self.groups(path, v),
            "shm_size" => o.shm_size = self.bytes(path, v),
            "memswap_limit" => o.memswap_limit = self.bytes(path, v),
            "cpu_shares" => o.cpu_shares = self.bounded(path, v, 2, 262_144),
            "oom_score_adj" => o.oom_score_adj = self.oom_score_adj(path, v),
            "tmpfs" => o.tmpfs = self.tmpfs(path, v),
            "ulimits" => o.ulimits = self.ulimits(path, v),
            "logging" => o.logging = self.logging(path, v),
            _ => return false,
        }
        true
    }

    fn one_or_many(&mut self, path: &str, v: &Value) -> Vec<String> {
        match v {
            Value::String(_) => self.non_empty_string(path, v).into_iter().collect(),
            other => self.string_list(path, other),
        }
    }

    fn platform(&mut self, path: &str, v: &Value) -> Option<String> {
        let p = self.non_empty_string(path, v)?;
        let parts: Vec<&str> = p.split('/').collect();
        let part_ok = |s: &&str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if (2..=3).contains(&parts.len()) && parts.iter().all(part_ok) {
            Some(p)
        } else {
            self.problem(path, format!("`{p}` is not a platform such as linux/amd64"));
            None
        }
    }

    fn signal(&mut self, path: &str, v: &Value) -> Option<String> {
        let s = self.non_empty_string(path, v)?;
        let name = s.strip_prefix("SIG").unwrap_or(&s);
        let ok = match name.parse::<u32>() {
            Ok(n) => (1..=64).contains(&n),
            Err(_) => name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'+' || b == b'-'),
        };
        if ok {
            Some(s)
        } else {
            self.problem(path, format!("`{s}` is not a signal such as SIGTERM or 15"));
            None
        }
    }

    fn addresses(&mut self, path: &str, v: &Value) -> Vec<String> {
        let mut out = Vec::new();
        for (i, a) in self.one_or_many(path, v).into_iter().enumerate() {
            match a.parse::<IpAddr>() {
                Ok(ip) => out.push(ip.to_string()),
                Err(_) => self.problem(&index(path, i), format!("`{a}` is not an IP address")),
            }
        }
        out
    }

    fn dns_names(&mut self, path: &str, v: &Value) -> Vec<String> {
        let mut out = Vec::new();
        for (i, name) in self.one_or_many(path, v).into_iter().enumerate() {
            if dns_name(&name) {
                out.push(name);
            } else {
                self.problem(&index(path, i), format!("`{name}` is not a domain name"));
            }
        }
        out
    }

    /// `host:ip` / `host=ip` lists or `host: ip` mappings.
    fn extra_hosts(&mut self, path: &str, v: &Value) -> BTreeMap<String, String> {
        let entries: Vec<(String, String, String)> = match v {
            Value::Object(m) => m
                .iter()
                .filter_map(|(host, ip)| {
                    let p = join(path, host);
                    self.string(&p, ip).map(|ip| (p, host.clone(), ip))
                })
                .collect(),
            other => self
                .string_list(path, other)
                .into_iter()
                .enumerate()
                .filter_map(|(i, entry)| {
                    let p = index(path, i);
                    // `host:ip`; an IPv6 address has colons of its own, so split at the first.
                    match entry.split_once('=').or_else(|| entry.split_once(':')) {
                        Some((host, ip)) => Some((p, host.to_string(), ip.to_string())),
                        None => {
                            self.problem(&p, format!("`{entry}` is not HOST:IP"));
                            None
                        }
                    }
                })
                .collect(),
        };
        let mut out = BTreeMap::new();
        for (p, host, ip) in entries {
            let ip = ip.trim_start_matches('[').trim_end_matches(']').to_string();
            if !dns_name(&host) {
                self.problem(&p, format!("`{host}` is not a hostname"));
            } else if ip != "host-gateway" && ip.parse::<IpAddr>().is_err() {
                self.problem(&p, format!("`{ip}` is not an IP address"));
            } else {
                out.insert(host, ip);
            }
        }
        out
    }

    fn groups(&mut self, path: &str, v: &Value) -> Vec<String> {
        let mut out = Vec::new();
        for (i, g) in self.items(path, v, "a list of groups").iter().enumerate() {
            let p = index(path, i);
            if let Some(g) = self.non_empty_string(&p, g) {
                if g.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                    out.push(g);
                } else {
                    self.problem(&p, format!("`{g}` is not a group name or id"));
                }
            }
        }
        out
    }

    fn bounded(&mut self, path: &str, v: &Value, min: u64, max: u64) -> Option<u64> {
        let n = self.unsigned(path, v)?;
        if (min..=max).contains(&n) {
            Some(n)
        } else {
            self.problem(path, format!("must be {min} to {max}"));
            None
        }
    }

    fn oom_score_adj(&mut self, path: &str, v: &Value) -> Option<i64> {
        let parsed = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        match parsed {
            Some(n) if (-1000..=1000).contains(&n) => Some(n),
            _ => {
                self.problem(path, "must be a whole number from -1000 to 1000");
                None
            }
        }
    }

    /// `/path` or `/path:size=64m[,mode=...]`, one or a list.
    fn tmpfs(&mut self, path: &str, v: &Value) -> BTreeMap<String, Option<u64>> {
        let mut out = BTreeMap::new();
        for (i, entry) in self.one_or_many(path, v).into_iter().enumerate() {
            let p = index(path, i);
            let (target, options) = entry.split_once(':').unwrap_or((&entry, ""));
            if !target.starts_with('/') {
                self.problem(&p, format!("`{target}` must be an absolute path"));
                continue;
            }
            let mut size = None;
            for option in options.split(',').filter(|o| !o.is_empty()) {
                match option.split_once('=') {
                    Some(("size", value)) => match parse_bytes(value) {
                        Ok(bytes) => size = Some(bytes),
                        Err(e) => self.problem(&p, e),
                    },
                    Some(("mode", mode)) if u32::from_str_radix(mode, 8).is_ok() => {}
                    _ => self.problem(&p, format!("`{option}` is not supported; use size= (and mode=)")),
                }
            }
            out.insert(target.to_string(), size);
        }
        out
    }

    /// `name: n` or `name: {soft: n, hard: n}`.
    fn ulimits(&mut self, path: &str, v: &Value) -> BTreeMap<String, (i64, i64)> {
        let mut out = BTreeMap::new();
        let Some(map) = self.mapping(path, v) else { return out };
        for (name, limit) in map {
            let p = join(path, name);
            let number = |w: &mut Self, p: &str, v: &Value| w.unsigned(p, v).and_then(|n| i64::try_from(n).ok());
            let pair = match limit {
                Value::Object(m) => {
                    let soft = m.get("soft").and_then(|s| number(self, &join(&p, "soft"), s));
                    let hard = m.get("hard").and_then(|h| number(self, &join(&p, "hard"), h));
                    if m.keys().any(|k| k != "soft" && k != "hard") {
                        self.problem(&p, "takes soft and hard only");
                    }
                    soft.zip(hard)
                }
                other => number(self, &p, other).map(|n| (n, n)),
            };
            match pair {
                Some((soft, hard)) if soft <= hard => {
                    out.insert(name.clone(), (soft, hard));
                }
                Some(_) => self.problem(&p, "soft must not exceed hard"),
                None => self.problem(&p, "give a number, or soft and hard"),
            }
        }
        out
    }

    fn logging(&mut self, path: &str, v: &Value) -> Option<Logging> {
        let map = self.mapping(path, v)?;
        let mut logging = Logging {
            driver: "json-file".into(),
            options: BTreeMap::new(),
        };
        for (k, val) in map {
            let p = join(path, k);
            match k.as_str() {
                "driver" => logging.driver = self.non_empty_string(&p, val).unwrap_or_default(),
                "options" => {
                    logging.options = self
                        .key_values(&p, val)
                        .into_iter()
                        .map(|(k, v)| (k, v.unwrap_or_default()))
                        .collect()
                }
                _ => self.problem(&p, "unknown or unsupported key"),
            }
        }
        Some(logging)
    }
}
