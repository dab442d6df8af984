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
        auth_mode: hoster::config::AuthMode::Local,
        rate_limit: 50,
        proxy_port: None,
        proxy_host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        tls_port: None,
        tls_cert: None,
        tls_key: None,
        tls_dir: Some(db.parent().unwrap().join("certs")),
        acme_directory: None,
        acme_email: None,
        acme_ca_cert: None,
        database_path: db.to_path_buf(),
        secret_key: None,
        base_domain: "apps.localhost".into(),
        docker_host,
        config_dir: Some(db.parent().unwrap().join("configs")),
        // Each test server owns only its own engine objects.
        instance: format!(
            "test-{}",
            db.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .trim_start_matches('.')
        ),
        port_range: hoster::config::PortRange(30000..=39999),
        publish_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        reconcile_interval: std::time::Duration::from_secs(1),
        start_timeout: std::time::Duration::from_secs(60),
        max_body_bytes: 1024 * 1024,
        default_memory: 512 << 20,
        default_cpus: 1.0,
        default_pids: 512,
        max_memory: 4 << 30,
        max_cpus: 2.0,
        max_pids: 4096,
        max_deployments_per_customer: 20,
        log_format: LogFormat::Text,
        backup_dir: Some(db.parent().unwrap().join("backups")),
        backup_s3_url: None,
        db_backup_schedule: None,
        db_backup_keep: 7,
        public_url: None,
        api_hosts: vec!["localhost".into()],
        trusted_proxies: vec![],
        // Tests of verification itself switch it on.
        domain_verification: hoster::config::DomainVerification::None,
        dns_server: None,
        domain_check_interval: std::time::Duration::from_secs(1),
        max_domains_per_deployment: 10,
        allowed_registries: vec![],
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
    spawn_app_with(dir, docker_host, |_| {}).await
}

/// A server whose settings `customize` adjusts first.
pub async fn spawn_app_with(dir: TempDir, docker_host: DockerHost, customize: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = config(&dir.path().join("hoster.db"), docker_host);
    customize(&mut config);
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

/// A real `hoster serve` process with its own database, engine instance and port range.
pub struct Hoster {
    pub child: std::process::Child,
    pub port: u16,
    pub client: Client,
    pub dir: TempDir,
    pub instance: String,
}

const BIN: &str = env!("CARGO_BIN_EXE_hoster");

impl Hoster {
    pub async fn start() -> Hoster {
        Self::start_in(tempfile::tempdir().unwrap(), &[]).await
    }

    /// Starts `hoster serve` on the database in `dir`, with extra `HOSTER_*` settings.
    pub async fn start_in(dir: TempDir, env: &[(&str, &str)]) -> Hoster {
        require_docker();
        let instance = format!(
            "e2e{}",
            dir.path()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .trim_start_matches('.')
        );
        // Parallel test servers draw host ports from disjoint ranges, so they never race for one.
        let offset: u32 = instance.bytes().map(u32::from).sum::<u32>() % 200;
        let range = format!("{}-{}", 40000 + offset * 100, 40000 + offset * 100 + 99);
        let mut command = std::process::Command::new(BIN);
        command
            .arg("serve")
            .env("HOSTER_DATABASE_PATH", dir.path().join("hoster.db"))
            .env("HOSTER_CONFIG_DIR", dir.path().join("configs"))
            .env("HOSTER_BACKUP_DIR", dir.path().join("backups"))
            .env("HOSTER_SERVER_PORT", "0")
            .env("HOSTER_INSTANCE", &instance)
            .env("HOSTER_PORT_RANGE", &range)
            .env("HOSTER_RECONCILE_INTERVAL", "1s")
            // Tests of domain verification run their own DNS server and switch it on.
            .env("HOSTER_DOMAIN_VERIFICATION", "none")
            .env("HOSTER_LOG", "info")
            .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let port = read_port(&mut child, dir.path().join("hoster.log"));
        Hoster {
            child,
            port,
            client: Client::new(),
            dir,
            instance,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// `kill -9`: no shutdown code runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills this process and starts a new one on the same database and instance.
    pub async fn crash_and_restart(mut self, env: &[(&str, &str)]) -> Hoster {
        self.kill();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        let instance = self.instance.clone();
        self.instance = String::new(); // the new process owns the engine objects now
        let mut next = Hoster::start_in(dir, env).await;
        assert_eq!(next.instance, instance);
        next.client = Client::new();
        next
    }

    pub async fn request(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            },
        )
    }

    /// Creates and publishes a template, asserting success; returns its id.
    pub async fn publish(&self, template: &Value) -> String {
        let (status, created) = self
            .request(reqwest::Method::POST, "/api/v1/templates", Some(template))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        let (status, body) = self
            .request(reqwest::Method::POST, &format!("/api/v1/templates/{id}/publish"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        id
    }

    /// Creates a deployment of the template; returns its id.
    pub async fn create_deployment(&self, template_id: &str, name: &str) -> String {
        let body = json!({"template_id": template_id, "customer_id": "customer-1", "name": name});
        let (status, created) = self
            .request(reqwest::Method::POST, "/api/v1/deployments", Some(&body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["status"], "pending");
        created["id"].as_str().unwrap().to_string()
    }

    /// Start, asserting it runs; returns the deployment.
    pub async fn start_deployment(&self, id: &str) -> Value {
        let (status, body) = self
            .request(reqwest::Method::POST, &format!("/api/v1/deployments/{id}/start"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "running", "{body}");
        body
    }

    pub async fn stop_deployment(&self, id: &str) -> Value {
        let (status, body) = self
            .request(reqwest::Method::POST, &format!("/api/v1/deployments/{id}/stop"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "stopped", "{body}");
        body
    }

    pub async fn add_domain(&self, id: &str, domain: &str) -> (StatusCode, Value) {
        self.request(
            reqwest::Method::POST,
            &format!("/api/v1/deployments/{id}/domains"),
            Some(&serde_json::json!({"domain": domain})),
        )
        .await
    }

    pub async fn get_deployment(&self, id: &str) -> (StatusCode, Value) {
        self.request(reqwest::Method::GET, &format!("/api/v1/deployments/{id}"), None)
            .await
    }

    /// Deletes, then asserts nothing of the deployment is left on the engine or in the API.
    pub async fn delete_deployment(&self, id: &str) {
        let (status, body) = self
            .request(reqwest::Method::DELETE, &format!("/api/v1/deployments/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert_eq!(self.get_deployment(id).await.0, StatusCode::NOT_FOUND);
        assert_eq!(
            engine_objects(&format!("io.hoster.deployment={id}")),
            Vec::<String>::new()
        );
    }

    /// Template → published → deployment → running, from one of the spec's examples.
    pub async fn deploy_example(&self, example: &str) -> Value {
        let body = examples().into_iter().find(|(name, _)| name == example).unwrap().1;
        let template = self.publish(&body).await;
        let id = self.create_deployment(&template, &format!("{example} test")).await;
        self.start_deployment(&id).await
    }
}

impl Drop for Hoster {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.path().join("hoster.log")).unwrap_or_default();
            eprintln!("---- hoster serve log ----\n{log}");
        }
        if !self.instance.is_empty() {
            remove_engine_objects(&format!("io.hoster.instance={}", self.instance));
        }
    }
}

/// The `action` of each entry of a `GET /audit` answer, newest first.
pub fn audit_actions(audit: &Value) -> Vec<&str> {
    audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The port in hoster's "hoster is listening addr=127.0.0.1:PORT" log line.
pub fn bound_port(line: &str) -> Option<u16> {
    let addr = line.split("addr=").nth(1)?.split_whitespace().next()?;
    addr.rsplit(':').next()?.parse().ok()
}

fn read_port(child: &mut std::process::Child, log: PathBuf) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Copy the log to a file (kept with the test's directory) and report the bound address.
    std::thread::spawn(move || {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = writeln!(file, "{line}");
            if let Some(port) = bound_port(&line) {
                let _ = tx.send(port);
            }
        }
    });
    rx.recv_timeout(std::time::Duration::from_secs(20))
        .expect("hoster serve reports its address")
}

pub fn docker(args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a failed deployment may keep (`key=value` label): only stopped containers, for their
/// output, and volumes. Returns the running containers and the networks, which should be none.
pub fn running_or_networked(label: &str) -> Vec<String> {
    let filter = format!("label={label}");
    [
        docker(&["ps", "--filter", &filter, "--format", "{{.Names}}"]),
        docker(&["network", "ls", "--filter", &filter, "--format", "{{.Name}}"]),
    ]
    .iter()
    .flat_map(|out| out.lines().map(str::to_string))
    .collect()
}

/// The statuses a deployment went through, from its events (the `state` rows).
pub fn status_path(events: &Value) -> Vec<&str> {
    events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "state")
        .map(|e| e["to"].as_str().unwrap())
        .collect()
}

/// Names of containers, networks and volumes with this label (`key=value`).
pub fn engine_objects(label: &str) -> Vec<String> {
    let filter = format!("label={label}");
    [
        docker(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"]),
        docker(&["network", "ls", "--filter", &filter, "--format", "{{.Name}}"]),
        docker(&["volume", "ls", "--filter", &filter, "--format", "{{.Name}}"]),
    ]
    .iter()
    .flat_map(|out| out.lines().map(str::to_string))
    .collect()
}

fn remove_engine_objects(label: &str) {
    let filter = format!("label={label}");
    for id in docker(&["ps", "-aq", "--filter", &filter]).lines() {
        docker(&["rm", "-f", "-v", id]);
    }
    for id in docker(&["network", "ls", "-q", "--filter", &filter]).lines() {
        docker(&["network", "rm", id]);
    }
    for id in docker(&["volume", "ls", "-q", "--filter", &filter]).lines() {
        docker(&["volume", "rm", "-f", id]);
    }
}

/// The host port published for `service`'s `container_port`.
pub fn host_port(deployment: &Value, service: &str, container_port: u16) -> u16 {
    deployment["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["service_name"] == service)
        .flat_map(|c| c["ports"].as_array().unwrap().iter())
        .find(|p| p["container_port"] == container_port)
        .unwrap_or_else(|| panic!("{service}:{container_port} is not published: {deployment}"))["host_port"]
        .as_u64()
        .unwrap() as u16
}

/// GETs `http://127.0.0.1:port/path`, retrying while the service comes up (up to 30 s).
pub async fn http_text(port: u16, path: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match reqwest::get(format!("http://127.0.0.1:{port}{path}")).await {
            Ok(r) => return r.text().await.unwrap(),
            Err(e) if std::time::Instant::now() > deadline => panic!("127.0.0.1:{port}{path} never answered: {e}"),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
}

/// A request with an optional bearer token: status and body (JSON, or the text as a string).
pub async fn call_as(
    client: &Client,
    url: String,
    token: Option<&str>,
    method: reqwest::Method,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Mints a token with `hoster token create` on the database in `dir`; the token.
pub fn mint_token(dir: &Path, role: &str, subject: &str) -> String {
    let out = std::process::Command::new(BIN)
        .args(["token", "create", "--role", role, "--subject", subject])
        .env("HOSTER_DATABASE_PATH", dir.join("hoster.db"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string()
}

/// `docker inspect --format FORMAT CONTAINER`, trimmed.
pub fn docker_inspect(container: &str, format: &str) -> String {
    docker(&["inspect", "--format", format, container]).trim().to_string()
}

/// Runs a command in a container; its stdout.
pub fn exec(container: &str, command: &[&str]) -> String {
    let mut args = vec!["exec", container];
    args.extend(command);
    docker(&args)
}

pub fn container_logs(container: &str) -> String {
    let out = std::process::Command::new("docker")
        .args(["logs", container])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Sends `request` verbatim (a hostile client's bytes) and reads to the end: status and body.
pub async fn raw_http(addr: SocketAddr, request: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A deployment's container ids by service.
pub fn container_ids(d: &Value) -> std::collections::BTreeMap<String, String> {
    d["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["service_name"].as_str().unwrap().to_string(),
                c["container_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}
