//! The `hoster` binary itself: configuration errors, help, graceful shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_hoster");

fn hoster(dir: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .env_clear()
        .env("HOSTER_DATABASE_PATH", dir.join("hoster.db"))
        .env("HOSTER_CONFIG_DIR", dir.join("configs"))
        .env("HOSTER_SERVER_PORT", "0")
        .env("HOSTER_LOG", "info");
    command
}

#[test]
fn a_bad_setting_stops_start_up_with_one_line_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("HOSTER_SERVER_PORT", "not-a-port"),
        ("HOSTER_SERVER_HOST", "localhost:80"),
        ("HOSTER_DOCKER_HOST", "ssh://host"),
        ("HOSTER_DOMAIN_BASE_DOMAIN", "bad domain"),
        ("HOSTER_MAX_BODY_BYTES", "lots"),
    ] {
        let output = hoster(dir.path()).env(var, value).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{var}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.trim_end().lines().count(), 1, "{var}: {stderr}");
        assert!(stderr.contains(var) && stderr.contains(value), "{var}: {stderr}");
    }
    let output = hoster(dir.path())
        .env("HOSTER_DATABASE_PATH", "/nonexistent/dir/hoster.db")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot write /nonexistent/dir") && stderr.contains("set HOSTER_DATABASE_PATH"),
        "{stderr}"
    );
    assert!(
        !std::path::Path::new("/nonexistent").exists(),
        "nothing is created for the database"
    );
}

#[test]
fn help_explains_every_option() {
    let output = Command::new(BIN).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for var in [
        "HOSTER_SERVER_HOST",
        "HOSTER_SERVER_PORT",
        "HOSTER_DATABASE_PATH",
        "HOSTER_DOMAIN_BASE_DOMAIN",
        "HOSTER_DOCKER_HOST",
        "HOSTER_CONFIG_DIR",
        "HOSTER_MAX_BODY_BYTES",
    ] {
        assert!(help.contains(var), "serve --help names {var}");
    }
    let top = Command::new(BIN).arg("--help").output().unwrap();
    assert!(String::from_utf8(top.stdout).unwrap().contains("serve"));
}

/// Starts the binary and reads the port it bound from its log.
fn start(dir: &std::path::Path) -> (Child, u16) {
    let mut child = hoster(dir).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(10);
    let port = loop {
        assert!(Instant::now() < deadline, "hoster did not report its address");
        let line = lines.next().expect("hoster exited early").unwrap();
        if let Some(port) = crate::helpers::bound_port(&line) {
            break port;
        }
    };
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, port)
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish_then_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port) = start(dir.path());
    let body = serde_json::to_string(&crate::helpers::template("in-flight")).unwrap();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = format!(
        "POST /api/v1/templates HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the server waits for the request in flight"
    );
    stream.write_all(tail.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");

    // The row is there after a clean shutdown, and the WAL was checkpointed into the file.
    let (mut child, port) = start(dir.path());
    let list = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/templates"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains("\"in-flight\""), "{list}");
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn local_mode_refuses_to_listen_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let output = hoster(dir.path())
        .env("HOSTER_SERVER_HOST", "0.0.0.0")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("HOSTER_AUTH_MODE=local") && stderr.contains("HOSTER_AUTH_MODE=token"),
        "{stderr}"
    );
}

#[tokio::test]
async fn tokens_made_offline_work_against_the_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let token = |args: &[&str]| {
        let output = Command::new(BIN)
            .arg("token")
            .args(args)
            .env("HOSTER_DATABASE_PATH", dir.path().join("hoster.db"))
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let created = token(&["create", "--role", "customer", "--subject", "customer-1"]);
    let secret = created.lines().last().unwrap().to_string();
    let id = created.split_whitespace().nth(1).unwrap().to_string();
    assert!(
        secret.starts_with("hoster_"),
        "the token alone on the last line: {created}"
    );
    assert!(token(&["list"]).contains(&format!("{id}\tcustomer\tcustomer-1")));

    let mut command = hoster(dir.path());
    command.env("HOSTER_AUTH_MODE", "token");
    let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let port = loop {
        let line = lines.next().expect("hoster exited early").unwrap();
        if let Some(port) = crate::helpers::bound_port(&line) {
            break port;
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/api/v1/deployments");
    let with = client.get(&url).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(with.status(), reqwest::StatusCode::OK);
    assert_eq!(
        client.get(&url).send().await.unwrap().status(),
        reqwest::StatusCode::UNAUTHORIZED
    );
    assert!(token(&["revoke", &id]).contains("revoked"));
    let after = client.get(&url).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(
        after.status(),
        reqwest::StatusCode::UNAUTHORIZED,
        "revoked offline, refused at once"
    );
    let _ = child.kill();
    let _ = child.wait();
}
