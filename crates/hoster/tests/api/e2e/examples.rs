//! Each of the spec's ten examples deployed, checked for what it promises, stopped, started
//! again and deleted.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

fn container(deployment: &serde_json::Value, service: &str) -> String {
    format!("hoster_{}_{service}", deployment["id"].as_str().unwrap())
}

/// Stop, check everything is stopped, start again, return the running deployment.
async fn stop_and_restart(h: &Hoster, d: &serde_json::Value) -> serde_json::Value {
    let id = d["id"].as_str().unwrap();
    let stopped = h.stop_deployment(id).await;
    for c in stopped["containers"].as_array().unwrap() {
        assert_eq!(c["status"], "exited", "{stopped}");
    }
    let again = h.start_deployment(id).await;
    assert_eq!(
        again["containers"].as_array().unwrap().len(),
        d["containers"].as_array().unwrap().len()
    );
    again
}

#[tokio::test]
async fn e01_nginx_serves_its_page_on_the_host_port() {
    let h = Hoster::start().await;
    let d = h.deploy_example("01-nginx-simple").await;
    assert_eq!(d["containers"][0]["service_name"], "web");
    assert_eq!(d["containers"][0]["status"], "running");
    let port = host_port(&d, "web", 80);
    assert!(http_text(port, "/").await.contains("Welcome to nginx!"));
    let d = stop_and_restart(&h, &d).await;
    assert_eq!(host_port(&d, "web", 80), port, "the host port is kept across a restart");
    assert!(http_text(port, "/").await.contains("Welcome to nginx!"));
    h.delete_deployment(d["id"].as_str().unwrap()).await;
}

pub(super) async fn psql(port: u16, user: &str, password: &str, db: &str, sql: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = std::process::Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                user,
                "-d",
                db,
                "-tAc",
                sql,
            ])
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "2")
            .output()
            .expect("psql is installed by testenv/setup.sh");
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "postgres never accepted {user}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn e02_postgres_accepts_the_given_credentials() {
    let h = Hoster::start().await;
    let d = h.deploy_example("02-postgres-db").await;
    let port = host_port(&d, "db", 5432);
    assert_eq!(
        psql(
            port,
            "app",
            "secret",
            "appdb",
            "select current_user || '@' || current_database()"
        )
        .await,
        "app@appdb"
    );
    let wrong = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "app",
            "-d",
            "appdb",
            "-c",
            "select 1",
        ])
        .env("PGPASSWORD", "wrong")
        .output()
        .unwrap();
    assert!(!wrong.status.success(), "a wrong password is refused");
    psql(
        port,
        "app",
        "secret",
        "appdb",
        "create table notes (body text); insert into notes values ('kept')",
    )
    .await;
    // The data lives in the image's anonymous volume: a restart must keep it.
    let d = stop_and_restart(&h, &d).await;
    assert_eq!(
        psql(
            host_port(&d, "db", 5432),
            "app",
            "secret",
            "appdb",
            "select body from notes"
        )
        .await,
        "kept"
    );
    h.delete_deployment(d["id"].as_str().unwrap()).await;
}

/// PING over the wire, retrying while redis comes up (the port accepts before redis listens).
async fn redis_ping(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let attempt = async {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
            stream.write_all(b"PING\r\n").await?;
            let mut buf = [0u8; 7];
            stream.read_exact(&mut buf).await?;
            std::io::Result::Ok(String::from_utf8_lossy(&buf).into_owned())
        };
        match attempt.await {
            Ok(answer) => return answer,
            Err(e) => assert!(Instant::now() < deadline, "redis on {port} never answered: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn e03_redis_answers_ping() {
    let h = Hoster::start().await;
    let d = h.deploy_example("03-redis-cache").await;
    assert_eq!(redis_ping(host_port(&d, "redis", 6379)).await, "+PONG\r\n");
    let d = stop_and_restart(&h, &d).await;
    assert_eq!(redis_ping(host_port(&d, "redis", 6379)).await, "+PONG\r\n");
    h.delete_deployment(d["id"].as_str().unwrap()).await;
}

#[tokio::test]
async fn e04_web_reaches_db_by_name() {
    let h = Hoster::start().await;
    let d = h.deploy_example("04-web-with-db").await;
    assert!(http_text(host_port(&d, "web", 8080), "/").await.contains("Adminer"));
    let resolved = exec(&container(&d, "web"), &["nslookup", "db"]);
    assert!(
        resolved.contains("Address") && resolved.lines().count() > 2,
        "db resolves from web: {resolved}"
    );
    let d = stop_and_restart(&h, &d).await;
    assert!(http_text(host_port(&d, "web", 8080), "/").await.contains("Adminer"));
    h.delete_deployment(d["id"].as_str().unwrap()).await;
}

#[tokio::test]
async fn e05_the_injected_config_file_answers() {
    let h = Hoster::start().await;
    let d = h.deploy_example("05-nginx-custom").await;
    let port = host_port(&d, "web", 80);
    assert_eq!(http_text(port, "/").await, "Hello from Hoster!");
    assert_eq!(http_text(port, "/health").await, "ok");
    // Read-only by default, and a copy kept for the operator.
    let mode = exec(
        &container(&d, "web"),
        &["stat", "-c", "%a", "/etc/nginx/conf.d/default.conf"],
    );
    assert_eq!(mode.trim(), "444");
    let copy = h
        .dir
        .path()
        .join("configs")
        .join(d["id"].as_str().unwrap())
        .join("web/etc/nginx/conf.d/default.conf");
    assert!(std::fs::read_to_string(&copy).unwrap().contains("Hello from Hoster!"));
    let d = stop_and_restart(&h, &d).await;
    assert_eq!(http_text(host_port(&d, "web", 80), "/").await, "Hello from Hoster!");
    h.delete_deployment(d["id"].as_str().unwrap()).await;
    assert!(!copy.exists(), "delete removes the config file copies");
}

#[tokio::test]
async fn e06_three_tiers_start_in_order_and_resolve_each_other() {
    let h = Hoster::start().await;
    let d = h.deploy_example("06-three-tier-app").await;
    let services: Vec<&str> = d["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["service_name"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["api", "db", "web"]);
    assert!(
        http_text(host_port(&d, "web", 80), "/")
            .await
            .contains("Welcome to nginx!")
    );
    let whoami = exec(&container(&d, "web"), &["curl", "-s", "http://api/"]);
    assert!(whoami.starts_with("Hostname: "), "api answers web by name: {whoami}");
    let ping = exec(&container(&d, "api"), &["ping", "-c", "1", "db"]);
    assert!(ping.contains("1 packets received"), "db resolves from api: {ping}");
    let events = h
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/deployments/{}/events", d["id"].as_str().unwrap()),
            None,
        )
        .await
        .1;
    assert_eq!(status_path(&events), ["pending", "scheduled", "starting", "running"]);
    let d = stop_and_restart(&h, &d).await;
    assert!(exec(&container(&d, "web"), &["curl", "-s", "http://api/"]).starts_with("Hostname: "));
    h.delete_deployment(d["id"].as_str().unwrap()).await;
}

#[tokio::test]
async fn e07_volume_data_survives_stop_and_start_but_not_delete() {
    let h = Hoster::start().await;
    let d = h.deploy_example("07-nginx-persistent").await;
    let port = host_port(&d, "web", 80);
    assert!(
        http_text(port, "/").await.contains("Welcome to nginx!"),
        "the empty volume is seeded from the image"
    );
    exec(
        &container(&d, "web"),
        &["sh", "-c", "echo kept > /usr/share/nginx/html/kept.txt"],
    );
    assert_eq!(http_text(port, "/kept.txt").await, "kept\n");
    let d = stop_and_restart(&h, &d).await;
    assert_eq!(http_text(host_port(&d, "web", 80), "/kept.txt").await, "kept\n");
    let id = d["id"].as_str().unwrap().to_string();
    h.delete_deployment(&id).await;

    let template = d["template_id"].as_str().unwrap();
    let fresh = h.create_deployment(template, "fresh").await;
    let fresh = h.start_deployment(&fresh).await;
    let text = http_text(host_port(&fresh, "web", 80), "/kept.txt").await;
    assert!(
        text.contains("404"),
        "a new deployment starts with a new volume: {text}"
    );
    h.delete_deployment(fresh["id"].as_str().unwrap()).await;
}

#[tokio::test]
async fn e08_the_healthcheck_reports_healthy() {
    let h = Hoster::start().await;
    let d = h.deploy_example("08-nginx-healthcheck").await;
    let id = d["id"].as_str().unwrap();
    assert_eq!(d["containers"][0]["health"], "starting");
    // The example checks every 30 s, so the first result arrives after 30 s.
    let deadline = Instant::now() + Duration::from_secs(50);
    loop {
        let (_, now) = h.get_deployment(id).await;
        if now["containers"][0]["health"] == "healthy" {
            break;
        }
        assert!(Instant::now() < deadline, "never healthy: {now}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    h.delete_deployment(id).await;
}

#[tokio::test]
async fn e09_both_ports_answer() {
    let h = Hoster::start().await;
    let d = h.deploy_example("09-multi-port").await;
    let ports: Vec<u64> = d["containers"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["host_port"].as_u64().unwrap())
        .collect();
    assert_eq!(ports.len(), 2, "{d}");
    assert_ne!(ports[0], ports[1]);
    for port in &ports {
        assert!(http_text(*port as u16, "/").await.contains("Welcome to nginx!"));
    }
    let d = stop_and_restart(&h, &d).await;
    let again: Vec<u64> = d["containers"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["host_port"].as_u64().unwrap())
        .collect();
    assert_eq!(again, ports, "both ports are kept across a restart");
    h.delete_deployment(d["id"].as_str().unwrap()).await;
}

#[tokio::test]
async fn e10_the_environment_reaches_the_process() {
    let h = Hoster::start().await;
    let d = h.deploy_example("10-app-with-env").await;
    let logs = container_logs(&container(&d, "app"));
    for line in ["APP_NAME=myapp", "DEBUG=true", "MAX_CONNECTIONS=100"] {
        assert!(logs.lines().any(|l| l == line), "{line} in {logs}");
    }
    // `env` exits 0 at once: a finished one-shot service is not a failure.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, now) = h.get_deployment(d["id"].as_str().unwrap()).await;
    assert_eq!(now["status"], "running", "{now}");
    assert_eq!(now["containers"][0]["status"], "exited");
    h.delete_deployment(d["id"].as_str().unwrap()).await;
}
