//! Names that point elsewhere in the document: `depends_on`, a service's `networks`, and the
//! check that every reference (service, volume, network, primary label) resolves.

use super::*;

impl Walker<'_> {
    pub(super) fn depends_on(&mut self, path: &str, v: &Value) -> Vec<Dependency> {
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

    pub(super) fn service_networks(&mut self, path: &str, v: &Value) -> Vec<String> {
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
    pub(super) fn cross_check(&mut self, compose: &Compose) {
        let names: BTreeSet<&str> = compose.services.iter().map(|s| s.name.as_str()).collect();
        for s in &compose.services {
            let base = join("services", &s.name);
            for d in &s.depends_on {
                let p = join(&join(&base, "depends_on"), &d.service);
                if d.service == s.name {
                    self.problem(&p, "a service cannot depend on itself");
                } else if d.required && self.not_started.contains(&d.service) {
                    self.problem(
                        &p,
                        format!(
                            "`{}` names profiles, so it is not started; a started service cannot depend on it",
                            d.service
                        ),
                    );
                } else if d.required && !names.contains(d.service.as_str()) {
                    self.problem(&p, format!("no service named `{}`", d.service));
                }
            }
            for (i, link) in s.links.iter().enumerate() {
                if link.service == s.name || !names.contains(link.service.as_str()) {
                    self.problem(
                        &index(&join(&base, "links"), i),
                        format!("no other service named `{}`", link.service),
                    );
                }
            }
            for (i, from) in s.volumes_from.iter().enumerate() {
                if let VolumesFromSource::Service(name) = &from.source
                    && (name == &s.name || !names.contains(name.as_str()))
                {
                    self.problem(
                        &index(&join(&base, "volumes_from"), i),
                        format!("no other service named `{name}` (for another container, write `container:NAME`)"),
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
                format!("depends_on (or volumes_from) forms a cycle among: {}", stuck.join(", ")),
            );
        }
    }
}
