//! The canonical form of a parsed document: long syntax everywhere, one way to write each
//! value. Parsing it again gives the same model, which is what "normalised" means here.

use serde_json::{Map, Value, json};

use super::model::*;
use super::units::format_duration;

impl Compose {
    pub fn to_canonical(&self) -> Value {
        let services: Map<String, Value> = self
            .services
            .iter()
            .map(|s| (s.name.clone(), s.to_canonical()))
            .collect();
        let names =
            |names: &[String]| -> Map<String, Value> { names.iter().map(|n| (n.clone(), Value::Null)).collect() };
        // Each service's files as top-level configs of their own, named after the service.
        let configs: Map<String, Value> = self
            .services
            .iter()
            .flat_map(|s| {
                s.files
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (file_source(&s.name, i), json!({"content": f.content})))
            })
            .collect();
        json!({
            "services": services,
            "volumes": names(&self.volumes),
            "networks": names(&self.networks),
            "configs": configs,
        })
    }
}

fn file_source(service: &str, i: usize) -> String {
    format!("{service}-file-{i}")
}

fn resources(r: &Resources) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(cpus) = r.cpus {
        m.insert("cpus".into(), json!(cpus));
    }
    if let Some(memory) = r.memory_bytes {
        m.insert("memory".into(), json!(memory.to_string()));
    }
    if let Some(pids) = r.pids {
        m.insert("pids".into(), json!(pids));
    }
    m
}

impl Service {
    fn to_canonical(&self) -> Value {
        let mut m = Map::new();
        m.insert("image".into(), json!(self.image));
        if let Some(c) = &self.command {
            m.insert("command".into(), json!(c));
        }
        if let Some(e) = &self.entrypoint {
            m.insert("entrypoint".into(), json!(e));
        }
        m.insert("environment".into(), json!(self.environment));
        let ports: Vec<Value> = self
            .ports
            .iter()
            .map(|p| {
                let mut port = Map::new();
                port.insert("target".into(), json!(p.container_port));
                if let Some(h) = p.host_port {
                    port.insert("published".into(), json!(h));
                }
                if let Some(ip) = p.host_ip {
                    port.insert("host_ip".into(), json!(ip.to_string()));
                }
                port.insert("protocol".into(), json!(p.protocol.as_str()));
                Value::Object(port)
            })
            .collect();
        m.insert("ports".into(), Value::Array(ports));
        let expose: Vec<String> = self
            .expose
            .iter()
            .map(|e| format!("{}/{}", e.port, e.protocol.as_str()))
            .collect();
        m.insert("expose".into(), json!(expose));
        let deps: Map<String, Value> = self
            .depends_on
            .iter()
            .map(|d| {
                (
                    d.service.clone(),
                    json!({"condition": d.condition.as_str(), "required": d.required}),
                )
            })
            .collect();
        m.insert("depends_on".into(), Value::Object(deps));
        let volumes: Vec<Value> = self
            .volumes
            .iter()
            .map(|v| match &v.source {
                MountSource::Named(n) => {
                    json!({"type": "volume", "source": n, "target": v.target, "read_only": v.read_only})
                }
                MountSource::Anonymous => json!({"type": "volume", "target": v.target, "read_only": v.read_only}),
                MountSource::Tmpfs => json!({"type": "tmpfs", "target": v.target, "read_only": v.read_only}),
                MountSource::Bind(path) => {
                    json!({"type": "bind", "source": path, "target": v.target, "read_only": v.read_only})
                }
            })
            .collect();
        m.insert("volumes".into(), Value::Array(volumes));
        if let Some(h) = &self.healthcheck {
            let mut hc = Map::new();
            if let Some(t) = &h.test {
                hc.insert("test".into(), json!(t));
            }
            for (key, d) in [
                ("interval", h.interval),
                ("timeout", h.timeout),
                ("start_period", h.start_period),
                ("start_interval", h.start_interval),
            ] {
                if let Some(d) = d {
                    hc.insert(key.into(), json!(format_duration(d)));
                }
            }
            if let Some(r) = h.retries {
                hc.insert("retries".into(), json!(r));
            }
            hc.insert("disable".into(), json!(h.disable));
            m.insert("healthcheck".into(), Value::Object(hc));
        }
        let restart = match self.restart {
            RestartPolicy::No => "no".to_string(),
            RestartPolicy::Always => "always".into(),
            RestartPolicy::UnlessStopped => "unless-stopped".into(),
            RestartPolicy::OnFailure { max_retries: None } => "on-failure".into(),
            RestartPolicy::OnFailure { max_retries: Some(n) } => format!("on-failure:{n}"),
        };
        m.insert("restart".into(), json!(restart));
        m.insert("labels".into(), json!(self.labels));
        for (key, value) in [
            ("working_dir", &self.working_dir),
            ("user", &self.user),
            ("hostname", &self.hostname),
        ] {
            if let Some(v) = value {
                m.insert(key.into(), json!(v));
            }
        }
        if let Some(d) = self.stop_grace_period {
            m.insert("stop_grace_period".into(), json!(format_duration(d)));
        }
        if self.backup != BackupHook::default() {
            let mut hook = Map::new();
            if let Some(command) = &self.backup.command {
                hook.insert("command".into(), json!(command));
            }
            hook.insert("stop".into(), json!(self.backup.stop));
            m.insert("x-hoster-backup".into(), Value::Object(hook));
        }
        m.insert(
            "deploy".into(),
            json!({"resources": {"limits": resources(&self.limits), "reservations": resources(&self.reservations)}}),
        );
        m.insert("networks".into(), json!(self.networks));
        m.insert("cap_drop".into(), json!(self.cap_drop));
        let h = &self.host_access;
        m.insert("privileged".into(), json!(h.privileged));
        m.insert("cap_add".into(), json!(h.cap_add));
        m.insert("devices".into(), json!(h.devices));
        m.insert("security_opt".into(), json!(h.security_opt));
        m.insert("sysctls".into(), json!(h.sysctls));
        for (key, host) in [("pid", h.pid_host), ("ipc", h.ipc_host)] {
            if host {
                m.insert(key.into(), json!("host"));
            }
        }
        self.options.render(&mut m);
        let files: Vec<Value> = self
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| json!({"source": file_source(&self.name, i), "target": f.target, "mode": format!("{:04o}", f.mode)}))
            .collect();
        m.insert("configs".into(), Value::Array(files));
        let links: Vec<String> = self
            .links
            .iter()
            .map(|l| match &l.alias {
                Some(alias) => format!("{}:{alias}", l.service),
                None => l.service.clone(),
            })
            .collect();
        m.insert("links".into(), json!(links));
        Value::Object(m)
    }
}

impl ContainerOptions {
    fn render(&self, m: &mut Map<String, Value>) {
        for (key, value) in [
            ("container_name", &self.container_name),
            ("platform", &self.platform),
            ("stop_signal", &self.stop_signal),
        ] {
            if let Some(v) = value {
                m.insert(key.into(), json!(v));
            }
        }
        for (key, on) in [
            ("tty", self.tty),
            ("stdin_open", self.stdin_open),
            ("read_only", self.read_only),
            ("init", self.init),
        ] {
            m.insert(key.into(), json!(on));
        }
        m.insert("dns".into(), json!(self.dns));
        m.insert("dns_search".into(), json!(self.dns_search));
        m.insert("extra_hosts".into(), json!(self.extra_hosts));
        m.insert("group_add".into(), json!(self.group_add));
        for (key, bytes) in [("shm_size", self.shm_size), ("memswap_limit", self.memswap_limit)] {
            if let Some(b) = bytes {
                m.insert(key.into(), json!(b.to_string()));
            }
        }
        if let Some(n) = self.cpu_shares {
            m.insert("cpu_shares".into(), json!(n));
        }
        if let Some(n) = self.oom_score_adj {
            m.insert("oom_score_adj".into(), json!(n));
        }
        let tmpfs: Vec<String> = self
            .tmpfs
            .iter()
            .map(|(target, size)| match size {
                Some(size) => format!("{target}:size={size}"),
                None => target.clone(),
            })
            .collect();
        m.insert("tmpfs".into(), json!(tmpfs));
        let ulimits: Map<String, Value> = self
            .ulimits
            .iter()
            .map(|(name, (soft, hard))| (name.clone(), json!({"soft": soft, "hard": hard})))
            .collect();
        m.insert("ulimits".into(), Value::Object(ulimits));
        if let Some(l) = &self.logging {
            m.insert("logging".into(), json!({"driver": l.driver, "options": l.options}));
        }
    }
}
