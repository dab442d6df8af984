//! `hoster doctor`: what an operator gets wrong, checked with the same settings `hoster serve`
//! reads. Each line is `ok` with what was found, or the problem and its fix; the exit status
//! is non-zero when there is a problem.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

use crate::config::{Config, DockerHost};
use crate::runtime::Engine;

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok(String),
    Problem { what: String, fix: String },
}

fn problem(what: impl Into<String>, fix: impl Into<String>) -> Verdict {
    Verdict::Problem {
        what: what.into(),
        fix: fix.into(),
    }
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub check: String,
    pub verdict: Verdict,
}

/// Runs every check; the findings in order.
pub async fn run(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut add = |check: &str, verdict: Verdict| {
        out.push(Finding {
            check: check.to_string(),
            verdict,
        })
    };
    let engine = Engine::new(config.docker_host.clone(), config.instance.clone());
    let described = tokio::time::timeout(Duration::from_secs(10), engine.describe()).await;
    let info = match described {
        Ok(Ok(info)) => {
            add(
                "engine",
                Verdict::Ok(format!(
                    "Docker {} at {} (API {})",
                    info.version, config.docker_host, info.api_version
                )),
            );
            Some(info)
        }
        Ok(Err(e)) => {
            add("engine", problem(e.to_string(), engine_fix(&config.docker_host)));
            None
        }
        Err(_) => {
            add(
                "engine",
                problem(
                    format!("{} did not answer within 10s", config.docker_host),
                    engine_fix(&config.docker_host),
                ),
            );
            None
        }
    };
    add("address pools", address_pools(&config.docker_host));
    for (name, setting, host, port) in [
        (
            "API port",
            "HOSTER_SERVER_PORT",
            config.server_host,
            Some(config.server_port),
        ),
        ("proxy port", "HOSTER_PROXY_PORT", config.proxy_host, config.proxy_port),
        ("TLS port", "HOSTER_TLS_PORT", config.proxy_host, config.tls_port),
    ] {
        if let Some(port) = port.filter(|p| *p != 0) {
            add(
                name,
                port_verdict(SocketAddr::new(host, port), setting, config.server_port).await,
            );
        }
    }
    for (dir, create, setting) in config.writable_dirs() {
        let verdict = match crate::paths::check(&dir, create, setting) {
            Ok(()) => Verdict::Ok(format!("{} is writable", dir.display())),
            Err(line) => problem(line, format!("create it for this user, or set {setting}")),
        };
        add(&format!("path {setting}"), verdict);
    }
    add(
        "disk",
        disk(info.as_ref().and_then(|i| i.data_root.as_deref()), &config.docker_host),
    );
    if let Some(url) = &config.public_url {
        add("public URL", public_url(url).await);
    }
    out
}

/// Prints the findings, a line each; whether all were ok.
pub fn print(findings: &[Finding]) -> bool {
    let mut healthy = true;
    for f in findings {
        match &f.verdict {
            Verdict::Ok(detail) => println!("ok       {}: {detail}", f.check),
            Verdict::Problem { what, fix } => {
                healthy = false;
                println!("PROBLEM  {}: {what}\n         fix: {fix}", f.check);
            }
        }
    }
    healthy
}

fn engine_fix(host: &DockerHost) -> String {
    match host {
        DockerHost::Unix(path) => format!(
            "start the engine (`systemctl start docker`, or `make engine`), and make sure this user may use {} \
             (the `docker` group), or set HOSTER_DOCKER_HOST",
            path.display()
        ),
        DockerHost::Tcp(_) => "check that the engine listens there, or set HOSTER_DOCKER_HOST".into(),
    }
}

/// Where the engine's address pools can be read: its daemon.json and dockerd's command line.
/// Only for an engine on this machine.
fn address_pools(host: &DockerHost) -> Verdict {
    if matches!(host, DockerHost::Tcp(_)) {
        return Verdict::Ok("a remote engine: check its default-address-pools yourself".into());
    }
    let daemon_json = std::fs::read_to_string("/etc/docker/daemon.json").ok();
    let dockerd_args: Vec<Vec<String>> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|p| std::fs::read(p.path().join("cmdline")).ok())
        .map(|raw| {
            raw.split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
        })
        .filter(|args| args.first().is_some_and(|a| a.ends_with("dockerd")))
        .collect();
    pools_verdict(daemon_json.as_deref(), &dockerd_args)
}

/// With the engine's default pools, about 30 bridge networks fit: one per deployment.
pub fn pools_verdict(daemon_json: Option<&str>, dockerd_args: &[Vec<String>]) -> Verdict {
    let in_json = daemon_json
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .is_some_and(|v| v["default-address-pools"].as_array().is_some_and(|p| !p.is_empty()));
    let on_command_line = dockerd_args
        .iter()
        .flatten()
        .any(|a| a.starts_with("--default-address-pool"));
    if in_json || on_command_line {
        Verdict::Ok("the engine has its own default-address-pools".into())
    } else {
        problem(
            "the engine uses Docker's default address pools, which fit about 30 deployment networks",
            r#"add {"default-address-pools": [{"base": "10.201.0.0/16", "size": 24}]} to /etc/docker/daemon.json (256 networks) and restart dockerd"#,
        )
    }
}

/// Free, held by a running Hoster, or taken by something else.
async fn port_verdict(addr: SocketAddr, setting: &str, api_port: u16) -> Verdict {
    match TcpListener::bind(addr) {
        Ok(_) => Verdict::Ok(format!("{addr} is free")),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => problem(
            format!("{addr} needs privileges this user does not have"),
            format!("grant CAP_NET_BIND_SERVICE (the systemd unit does), or set {setting} to a port of 1024 or more"),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            if hoster_answers(api_port).await {
                Verdict::Ok(format!("{addr} is held by a running Hoster"))
            } else {
                problem(
                    format!("{addr} is in use by another program"),
                    format!("stop that program, or set {setting} to a free port"),
                )
            }
        }
        Err(e) => problem(format!("cannot listen on {addr}: {e}"), format!("set {setting}")),
    }
}

/// Whether a Hoster answers its health probe on this machine's `port`.
pub(crate) async fn hoster_answers(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        Some(String::from_utf8_lossy(&answer).contains("{\"status\":\"ok\"}"))
    };
    tokio::time::timeout(Duration::from_secs(3), probe)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

fn disk(data_root: Option<&str>, host: &DockerHost) -> Verdict {
    let Some(root) = data_root else {
        return Verdict::Ok("the engine's data root is unknown (engine unreachable)".into());
    };
    if matches!(host, DockerHost::Tcp(_)) {
        return Verdict::Ok(format!("{root} is on the remote engine's machine"));
    }
    match rustix::fs::statvfs(Path::new(root)) {
        Ok(s) => disk_verdict(root, s.f_bavail * s.f_frsize, s.f_blocks * s.f_frsize),
        Err(e) => problem(
            format!("cannot read the free space of {root}: {e}"),
            "run doctor as a user who may read the engine's data root",
        ),
    }
}

/// Images and volumes fill the engine's data root: below 2 GiB free, pulls and volume writes
/// soon fail. An absolute floor, not a share: 11 GiB free of a 250 GiB disk is plenty for
/// images, though it is under 5%.
pub fn disk_verdict(root: &str, free: u64, total: u64) -> Verdict {
    let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
    let detail = format!("{:.1} GiB free of {:.1} GiB on {root}", gib(free), gib(total));
    if free < 2 << 30 {
        problem(
            detail,
            "free space there (`docker system prune` removes unused images and volumes)",
        )
    } else {
        Verdict::Ok(detail)
    }
}

/// The public URL's host must resolve to an address of this machine.
async fn public_url(url: &str) -> Verdict {
    let Some(host) = crate::config::public_url_host(url) else {
        return problem(
            format!("`{url}` has no host"),
            "set HOSTER_PUBLIC_URL to a URL such as https://hoster.example.com",
        );
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let addrs: Vec<IpAddr> = match tokio::net::lookup_host((bare.as_str(), 80)).await {
        Ok(addrs) => addrs.map(|a| a.ip()).collect(),
        Err(e) => {
            return problem(
                format!("{host} does not resolve: {e}"),
                "create its DNS record (A/AAAA) pointing at this machine",
            );
        }
    };
    public_url_verdict(&host, &addrs, &|ip| {
        ip.is_loopback() || std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
    })
}

/// `is_local` says whether an address belongs to this machine (it can be bound).
pub fn public_url_verdict(host: &str, addrs: &[IpAddr], is_local: &dyn Fn(IpAddr) -> bool) -> Verdict {
    let listed = addrs.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(", ");
    if addrs.iter().any(|ip| is_local(*ip)) {
        Verdict::Ok(format!("{host} resolves to this machine ({listed})"))
    } else {
        problem(
            format!("{host} resolves to {listed}, none of them this machine's"),
            "point its DNS record at this machine (or at the load balancer in front of it)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_problem(v: &Verdict) -> bool {
        matches!(v, Verdict::Problem { .. })
    }

    #[test]
    fn address_pools_from_daemon_json_or_the_command_line() {
        let dockerd = |args: &[&str]| vec![args.iter().map(|a| a.to_string()).collect::<Vec<_>>()];
        assert!(is_problem(&pools_verdict(None, &dockerd(&["dockerd"]))));
        assert!(is_problem(&pools_verdict(Some("{\"debug\": true}"), &[])));
        assert!(is_problem(&pools_verdict(Some("{\"default-address-pools\": []}"), &[])));
        assert!(!is_problem(&pools_verdict(
            Some(r#"{"default-address-pools": [{"base": "10.201.0.0/16", "size": 24}]}"#),
            &[]
        )));
        assert!(!is_problem(&pools_verdict(
            None,
            &dockerd(&[
                "/usr/sbin/dockerd",
                "--default-address-pool",
                "base=10.201.0.0/16,size=24"
            ])
        )));
    }

    #[test]
    fn disk_needs_two_gib_free() {
        assert!(!is_problem(&disk_verdict("/var/lib/docker", 50 << 30, 100 << 30)));
        assert!(is_problem(&disk_verdict("/var/lib/docker", 1 << 30, 100 << 30)));
        assert!(is_problem(&disk_verdict("/var/lib/docker", (2 << 30) - 1, 4 << 30)));
        // A large disk with little of it free but gigabytes left is fine.
        assert!(!is_problem(&disk_verdict("/var/lib/docker", 11 << 30, 252 << 30)));
    }

    #[test]
    fn the_public_url_must_resolve_here() {
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let remote: IpAddr = "192.0.2.1".parse().unwrap();
        let here = |ip: IpAddr| ip == local;
        assert!(!is_problem(&public_url_verdict("h", &[remote, local], &here)));
        assert!(is_problem(&public_url_verdict("h", &[remote], &here)));
        assert!(is_problem(&public_url_verdict("h", &[], &here)));
    }
}
