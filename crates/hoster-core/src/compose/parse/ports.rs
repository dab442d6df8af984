//! `ports` and `expose`, short and long syntax, ranges expanded.

use super::*;

impl Walker<'_> {
    pub(super) fn ports(&mut self, path: &str, v: &Value) -> Vec<PortMapping> {
        let items = self.items(path, v, "a list of ports");
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = index(path, i);
            let parsed = match item {
                Value::Object(m) => self.port_long(&p, m),
                other => match scalar(other) {
                    Some(s) => parse_port_short(&s, self.limits.max_port_range),
                    None => Err(format!("expected a port, got {}", kind(other))),
                },
            };
            match parsed {
                Ok(mappings) => out.extend(mappings),
                Err(e) => self.problem(&p, e),
            }
        }
        out
    }

    pub(super) fn port_long(&mut self, path: &str, m: &Map<String, Value>) -> Result<Vec<PortMapping>, String> {
        let mut target = None;
        let mut published = None;
        let mut host_ip = None;
        let mut protocol = Protocol::Tcp;
        for (k, v) in m {
            let text = scalar(v).ok_or_else(|| format!("{k}: expected a string or number, got {}", kind(v)))?;
            match k.as_str() {
                "target" => target = Some(parse_port_range(&text)?),
                "published" => published = Some(parse_port_range(&text)?),
                "host_ip" => {
                    host_ip = Some(
                        text.parse::<IpAddr>()
                            .map_err(|_| format!("host_ip: `{text}` is not an IP address"))?,
                    )
                }
                "protocol" => protocol = parse_protocol(&text)?,
                "name" | "app_protocol" => {}
                "mode" if text == "host" || text == "ingress" => {}
                other => {
                    self.problem(&join(path, other), "unknown or unsupported key");
                }
            }
        }
        let target = target.ok_or("target: required")?;
        expand_ports(host_ip, published, target, protocol, self.limits.max_port_range)
    }

    pub(super) fn expose(&mut self, path: &str, v: &Value) -> Vec<ExposedPort> {
        let items = self.items(path, v, "a list of ports");
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = index(path, i);
            let Some(text) = self.string(&p, item) else { continue };
            let (ports, proto) = match text.split_once('/') {
                Some((ports, proto)) => (ports, parse_protocol(proto)),
                None => (text.as_str(), Ok(Protocol::Tcp)),
            };
            match (parse_port_range(ports), proto) {
                (Ok((lo, hi)), Ok(protocol)) if usize::from(hi - lo) < self.limits.max_port_range => {
                    out.extend((lo..=hi).map(|port| ExposedPort { port, protocol }))
                }
                (Ok(_), Ok(_)) => self.problem(
                    &p,
                    format!("ranges are limited to {} ports", self.limits.max_port_range),
                ),
                (Err(e), _) | (_, Err(e)) => self.problem(&p, e),
            }
        }
        out
    }
}

fn parse_protocol(s: &str) -> Result<Protocol, String> {
    match s {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        other => Err(format!("protocol `{other}` is not supported; use tcp or udp")),
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("`{s}` is not a port number (1-65535)")),
    }
}

/// `80` or `8000-8005`, as an inclusive range.
fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    match s.split_once('-') {
        Some((lo, hi)) => {
            let (lo, hi) = (parse_port(lo)?, parse_port(hi)?);
            if lo > hi {
                return Err(format!("range `{s}` ends before it starts"));
            }
            Ok((lo, hi))
        }
        None => parse_port(s).map(|p| (p, p)),
    }
}

fn expand_ports(
    host_ip: Option<IpAddr>,
    host: Option<(u16, u16)>,
    container: (u16, u16),
    protocol: Protocol,
    max_range: usize,
) -> Result<Vec<PortMapping>, String> {
    let count = usize::from(container.1 - container.0) + 1;
    if count > max_range {
        return Err(format!("ranges are limited to {max_range} ports"));
    }
    if let Some((lo, hi)) = host
        && usize::from(hi - lo) + 1 != count
    {
        return Err("the host and container ranges must have the same length".into());
    }
    Ok((0..count as u16)
        .map(|i| PortMapping {
            host_ip,
            host_port: host.map(|(lo, _)| lo + i),
            container_port: container.0 + i,
            protocol,
        })
        .collect())
}

/// Compose's short port syntax: `[[IP:]HOST:]CONTAINER[/PROTOCOL]`, where HOST and CONTAINER
/// may be ranges and an IPv6 address is written in brackets.
pub(crate) fn parse_port_short(s: &str, max_range: usize) -> Result<Vec<PortMapping>, String> {
    let (spec, protocol) = match s.rsplit_once('/') {
        Some((spec, proto)) => (spec, parse_protocol(proto)?),
        None => (s, Protocol::Tcp),
    };
    let (host_ip, rest) = if let Some(after) = spec.strip_prefix('[') {
        let (ip, rest) = after
            .split_once("]:")
            .ok_or_else(|| format!("`{s}` has an unclosed IPv6 address"))?;
        let ip: IpAddr = ip.parse().map_err(|_| format!("`{ip}` is not an IP address"))?;
        (Some(ip), rest)
    } else {
        match spec.matches(':').count() {
            0 | 1 => (None, spec),
            2 => {
                let (ip, rest) = spec.split_once(':').expect("two colons");
                let ip: IpAddr = ip.parse().map_err(|_| format!("`{ip}` is not an IP address"))?;
                (Some(ip), rest)
            }
            _ => return Err(format!("`{s}` is not [IP:][HOST:]CONTAINER[/PROTOCOL]")),
        }
    };
    let (host, container) = match rest.split_once(':') {
        Some(("", container)) => (None, container),
        Some((host, container)) => (Some(parse_port_range(host)?), container),
        None if host_ip.is_some() => return Err(format!("`{s}` names an IP but no ports")),
        None => (None, rest),
    };
    expand_ports(host_ip, host, parse_port_range(container)?, protocol, max_range)
}
