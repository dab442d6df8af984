//! `hoster doctor`: each check, in the outcome it finds here and in the one it reports as a
//! problem (address pools and disk space are decided by pure functions, unit-tested both ways;
//! here they must be ok on the test engine).

use std::process::Command;

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_hoster");

/// Runs `hoster doctor` with a private database and config directory, plus `env`; its exit
/// status and output.
fn doctor(env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(BIN);
    command
        .arg("doctor")
        .env("HOSTER_DATABASE_PATH", dir.path().join("hoster.db"))
        .env("HOSTER_CONFIG_DIR", dir.path().join("configs"))
        .env("HOSTER_SERVER_PORT", free_port().to_string());
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn line<'a>(output: &'a str, check: &str) -> &'a str {
    output
        .lines()
        .find(|l| l.contains(&format!(" {check}: ")))
        .unwrap_or_else(|| panic!("no `{check}` line in:\n{output}"))
}

#[test]
fn on_a_healthy_machine_every_check_is_ok() {
    require_docker();
    let (ok, out) = doctor(&[("HOSTER_PUBLIC_URL", "http://localhost:9090")]);
    assert!(ok, "{out}");
    for check in [
        "engine",
        "address pools",
        "API port",
        "path HOSTER_DATABASE_PATH",
        "path HOSTER_CONFIG_DIR",
        "disk",
        "public URL",
    ] {
        assert!(line(&out, check).starts_with("ok "), "{check}: {out}");
    }
    assert!(line(&out, "engine").contains("API 1."), "{out}");
}

#[test]
fn an_unreachable_engine_is_a_problem_with_its_fix() {
    let (ok, out) = doctor(&[("HOSTER_DOCKER_HOST", "unix:///nonexistent/docker.sock")]);
    assert!(!ok);
    assert!(line(&out, "engine").starts_with("PROBLEM"), "{out}");
    assert!(out.contains("HOSTER_DOCKER_HOST"), "{out}");
}

#[tokio::test]
async fn a_port_is_free_held_by_hoster_or_a_problem() {
    require_docker();
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = other.local_addr().unwrap().port().to_string();
    let (ok, out) = tokio::task::spawn_blocking(move || doctor(&[("HOSTER_SERVER_PORT", &taken)]))
        .await
        .unwrap();
    assert!(!ok);
    assert!(line(&out, "API port").contains("in use by another program"), "{out}");
    let app = spawn_app().await;
    let mine = app.addr.port().to_string();
    let (ok, out) = tokio::task::spawn_blocking(move || doctor(&[("HOSTER_SERVER_PORT", &mine)]))
        .await
        .unwrap();
    assert!(ok, "{out}");
    assert!(line(&out, "API port").contains("held by a running Hoster"), "{out}");
}

#[test]
fn an_unwritable_path_names_its_setting() {
    let (ok, out) = doctor(&[("HOSTER_CONFIG_DIR", "/dev/null/configs")]);
    assert!(!ok);
    let problem = line(&out, "path HOSTER_CONFIG_DIR");
    assert!(
        problem.starts_with("PROBLEM") && problem.contains("set HOSTER_CONFIG_DIR"),
        "{out}"
    );
}

#[test]
fn a_public_url_elsewhere_is_a_problem() {
    let (ok, out) = doctor(&[("HOSTER_PUBLIC_URL", "https://192.0.2.1")]);
    assert!(!ok);
    assert!(line(&out, "public URL").starts_with("PROBLEM"), "{out}");
}
