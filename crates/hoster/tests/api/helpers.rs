//! `spawn_app()`: a server on port 0 with its own temporary database.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use hoster::config::{Config, DockerHost, LogFormat};
use hoster::server::Application;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: Client,
    pub dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

pub fn config(db: &Path, docker_host: DockerHost) -> Config {
    Config {
        server_host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        server_port: 0,
        database_path: db.to_path_buf(),
        base_domain: "apps.localhost".into(),
        docker_host,
        config_dir: db.parent().unwrap().join("configs"),
        port_range: hoster::config::PortRange(30000..=39999),
        publish_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        reconcile_interval: std::time::Duration::from_secs(1),
        start_timeout: std::time::Duration::from_secs(60),
        max_body_bytes: 1024 * 1024,
        log_format: LogFormat::Text,
    }
}

/// Fails loudly, with the fix, when the engine the test needs is not there.
pub fn require_docker() {
    assert!(
        Path::new(DOCKER_SOCKET).exists(),
        "this test needs a Docker engine at {DOCKER_SOCKET}: run `testenv/setup.sh` (or `make test`, which runs it)"
    );
}

pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    spawn_app_in(dir, DockerHost::Unix(DOCKER_SOCKET.into())).await
}

pub async fn spawn_app_in(dir: TempDir, docker_host: DockerHost) -> TestApp {
    let config = config(&dir.path().join("hoster.db"), docker_host);
    let app = Application::build(&config).await.expect("the server starts");
    let addr = app.local_addr();
    let (stop, stopped) = oneshot::channel();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        client: Client::new(),
        dir,
        stop: Some(stop),
        server: Some(server),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("hoster.db")
    }

    /// Graceful shutdown; hands back the directory so a new server can reopen the database.
    pub async fn stop(mut self) -> TempDir {
        self.stop.take().unwrap().send(()).unwrap();
        self.server.take().unwrap().await.unwrap().unwrap();
        self.dir
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.unwrap()
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Response {
        self.client.put(self.url(path)).json(body).send().await.unwrap()
    }

    pub async fn post(&self, path: &str) -> Response {
        self.client.post(self.url(path)).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client.delete(self.url(path)).send().await.unwrap()
    }

    /// Creates a template from `body`, asserting success; returns the response body.
    pub async fn create_template(&self, body: &Value) -> Value {
        let response = self.post_json("/api/v1/templates", body).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }
}

/// The status and JSON body of a response.
pub async fn status_json(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, body)
}

/// Asserts an error response: status, code, and that it has a human sentence.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    let (got, body) = status_json(response).await;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    body
}

pub fn template(name: &str) -> Value {
    json!({
        "name": name,
        "version": "1.0.0",
        "creator_id": "user-1",
        "compose_spec": "services:\n  web:\n    image: nginx:alpine\n    ports:\n      - \"8080:80\""
    })
}

/// The spec's ten example templates, as their curl calls send them.
pub fn examples() -> Vec<(String, Value)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/examples");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(|c: char| c.is_ascii_digit())
        })
        .map(|p| {
            let body = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p.file_stem().unwrap().to_string_lossy().into_owned(), body)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(out.len(), 10, "the spec has ten examples");
    out
}
