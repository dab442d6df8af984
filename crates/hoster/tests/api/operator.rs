//! An operator's first hour: Hoster runs as an ordinary user in the `docker` group with no
//! settings, says which setting to change when a path is not writable, and ships a systemd unit
//! that systemd itself accepts.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_hoster");
const USER: &str = "hoster-nonroot";

/// An ordinary user in the `docker` group (created once; needs root, as the test setup is).
fn ordinary_user() -> String {
    let exists = Command::new("id").arg(USER).output().unwrap().status.success();
    if !exists {
        let made = Command::new("useradd")
            .args(["--create-home", "--groups", "docker", "--shell", "/bin/sh", USER])
            .status()
            .expect("useradd runs");
        // 9: a test running alongside created it first.
        assert!(
            made.success() || made.code() == Some(9),
            "creating {USER} needs root: run the tests as the test setup does"
        );
    }
    let home = String::from_utf8(
        Command::new("sh")
            .args(["-c", &format!("getent passwd {USER} | cut -d: -f6")])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    home.trim().to_string()
}

/// The hoster binary where that user may run it, and a working directory it owns.
fn stage() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::Builder::new().prefix("hoster-nonroot-").tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("hoster");
    std::fs::copy(BIN, &bin).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let chown = Command::new("chown")
        .args([&format!("{USER}:{USER}"), work.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(chown.success());
    (dir, bin)
}

fn as_user(bin: &std::path::Path, home: &str, work: &std::path::Path, env: &[(&str, &str)]) -> Command {
    // setpriv execs (no process in between), so killing the child kills hoster.
    let mut command = Command::new("setpriv");
    command
        .args([
            &format!("--reuid={USER}"),
            &format!("--regid={USER}"),
            "--init-groups",
            "env",
            "-i",
        ])
        .arg(format!("HOME={home}"))
        .arg(format!("USER={USER}"))
        .arg("PATH=/usr/bin:/bin")
        .arg("HOSTER_SERVER_PORT=0")
        .args(env.iter().map(|(k, v)| format!("{k}={v}")))
        .arg(bin)
        .arg("serve")
        .current_dir(work);
    command
}

#[tokio::test]
async fn an_ordinary_user_in_the_docker_group_runs_hoster_without_settings() {
    require_docker();
    let home = ordinary_user();
    let (dir, bin) = stage();
    let work = dir.path().join("work");
    // A fresh state directory, so that what this start creates is seen.
    let _ = std::fs::remove_dir_all(format!("{home}/.local/state/hoster"));
    let mut child = as_user(&bin, &home, &work, &[]).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(15);
    let port = loop {
        assert!(Instant::now() < deadline, "hoster did not report its address");
        let line = lines.next().expect("hoster exited early").unwrap();
        if let Some(port) = bound_port(&line) {
            break port;
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let ready = reqwest::get(format!("http://127.0.0.1:{port}/ready")).await.unwrap();
    let status = ready.status();
    let body = ready.text().await.unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        status, 200,
        "the engine through the docker group, the database in the working directory: {body}"
    );
    assert!(work.join("hoster.db").exists());
    let state = std::path::Path::new(&home).join(".local/state/hoster");
    assert!(
        state.join("configs").is_dir(),
        "config copies go to the XDG state directory"
    );
    assert_eq!(std::fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o700);
}

#[test]
fn a_path_it_cannot_write_is_one_line_naming_the_setting() {
    let home = ordinary_user();
    let (dir, bin) = stage();
    let work = dir.path().join("work");
    let out = as_user(&bin, &home, &work, &[("HOSTER_CONFIG_DIR", "/root/not-yours")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("/root/not-yours") && errors[0].contains("set HOSTER_CONFIG_DIR"),
        "{stderr}"
    );
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../dist/systemd/hoster.service"
    ))
    .unwrap();
    for required in [
        "User=hoster",
        "SupplementaryGroups=docker",
        "StateDirectory=hoster",
        "EnvironmentFile=-/etc/hoster/hoster.env",
        "Restart=on-failure",
        "KillSignal=SIGTERM",
        "ExecStart=/usr/local/bin/hoster serve",
        "ReadWritePaths=-/run/docker.sock -/var/run/docker.sock",
    ] {
        assert!(unit.lines().any(|l| l == required), "the unit has `{required}`");
    }
    // Graceful stop: longer than the server's own drain (30 s for TLS connections).
    let stop: u64 = unit
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .and_then(|v| v.trim_end_matches('s').parse().ok())
        .expect("TimeoutStopSec in seconds");
    assert!(stop > 30, "{stop}");
    // systemd checks the binary exists: point it at the one just built.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hoster.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/hoster", BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", path.to_str().unwrap()])
        .output()
        .expect("systemd-analyze runs (testenv/setup.sh installs systemd)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.trim().is_empty(), "systemd warns about the unit: {stderr}");
}
