//! Crashes of Hoster mid-operation, and changes behind its back: after a restart the engine and
//! the database agree within seconds, with no orphans.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::deployments::wait_for_status;
use crate::helpers::*;

/// Polls until `check` holds, for at most 10 s after a restart.
async fn within_10s(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "not within 10 s: {what}; engine has {:?}",
            engine_objects("io.hoster.managed=true")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `a` becomes healthy after 3 s; `b` waits for that, so a start is slow enough to interrupt.
fn slow_start() -> Value {
    json!({
        "name": "slow start", "version": "1.0.0", "creator_id": "c",
        "compose_spec": "services:\n  a:\n    image: busybox\n    command: [\"sh\", \"-c\", \"sleep 3; touch /tmp/ready; exec sleep 600\"]\n    healthcheck:\n      test: [\"CMD\", \"test\", \"-f\", \"/tmp/ready\"]\n      interval: 500ms\n      start_period: 10s\n  b:\n    image: busybox\n    command: [\"sleep\", \"600\"]\n    depends_on:\n      a:\n        condition: service_healthy\nvolumes:\n  unused:\n"
    })
}

#[tokio::test]
async fn kill_9_in_the_middle_of_a_start_is_rolled_back() {
    let h = Hoster::start().await;
    let template = h.publish(&slow_start()).await;
    let id = h.create_deployment(&template, "interrupted").await;
    let (status, body) = h
        .request(
            Method::POST,
            &format!("/api/v1/deployments/{id}/start?wait=false"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // `a` runs, `b` is created and waiting on a's health.
    let label = format!("io.hoster.deployment={id}");
    within_10s("both containers exist", async || {
        engine_objects(&label)
            .iter()
            .filter(|n| n.ends_with("_a") || n.ends_with("_b"))
            .count()
            == 2
    })
    .await;
    let h = h.crash_and_restart(&[]).await;
    within_10s("the start is rolled back", async || {
        let (_, d) = h.get_deployment(&id).await;
        d["status"] == "failed" && running_or_networked(&label).is_empty()
    })
    .await;
    let (_, d) = h.get_deployment(&id).await;
    assert!(d["error_message"].as_str().unwrap().contains("interrupted"), "{d}");
    // And it can be started again.
    let d = h.start_deployment(&id).await;
    assert_eq!(d["containers"].as_array().unwrap().len(), 2);
    h.delete_deployment(&id).await;
}

#[tokio::test]
async fn kill_9_during_a_delete_still_deletes() {
    let h = Hoster::start().await;
    let template = h
        .publish(&json!({
            "name": "stubborn", "version": "1.0.0", "creator_id": "c",
            "compose_spec": "services:\n  a:\n    image: busybox\n    command: [\"sleep\", \"600\"]\n    stop_grace_period: 30s\n    volumes: [\"data:/data\"]\n  b:\n    image: busybox\n    command: [\"sleep\", \"600\"]\nvolumes:\n  data:\n"
        }))
        .await;
    let id = h.create_deployment(&template, "stubborn").await;
    h.start_deployment(&id).await;
    let client = h.client.clone();
    let url = h.url(&format!("/api/v1/deployments/{id}"));
    let deleting = tokio::spawn(async move { client.delete(url).send().await });
    let label = format!("io.hoster.deployment={id}");
    // A delete no longer waits out the grace period, so it is over within moments: the kill
    // lands wherever it is by then (the half-way state itself is the deployer's unit test
    // `a_delete_interrupted_half_way_is_finished_by_the_reconciler`).
    within_10s("the delete is under way", async || {
        h.get_deployment(&id).await.1["status"] != "running"
    })
    .await;
    let h = h.crash_and_restart(&[]).await;
    let _ = deleting.await;
    within_10s("the delete completes", async || {
        h.get_deployment(&id).await.0 == StatusCode::NOT_FOUND && engine_objects(&label).is_empty()
    })
    .await;
    assert_eq!(
        engine_objects(&format!("io.hoster.instance={}", h.instance)),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn objects_without_a_deployment_are_removed_and_statuses_follow_the_engine() {
    let h = Hoster::start().await;
    let template = h
        .publish(&json!({
            "name": "watched", "version": "1.0.0", "creator_id": "c",
            "compose_spec": "services:\n  a:\n    image: busybox\n    command: [\"sleep\", \"600\"]\n"
        }))
        .await;
    let removed = h.create_deployment(&template, "removed behind its back").await;
    let crashed = h.create_deployment(&template, "crashes later").await;
    h.start_deployment(&removed).await;
    h.start_deployment(&crashed).await;

    // A container removed outside Hoster is noticed.
    let out = std::process::Command::new("docker")
        .args(["rm", "-f", &format!("hoster_{removed}_a")])
        .output()
        .unwrap();
    assert!(out.status.success());
    let d = wait_for_status(&h, &removed, "failed").await;
    assert!(
        d["error_message"].as_str().unwrap().contains("removed outside Hoster"),
        "{d}"
    );

    // A container that dies with an error is noticed, with its exit code.
    let out = std::process::Command::new("docker")
        .args(["kill", "-s", "KILL", &format!("hoster_{crashed}_a")])
        .output()
        .unwrap();
    assert!(out.status.success());
    let d = wait_for_status(&h, &crashed, "failed").await;
    assert!(
        d["error_message"].as_str().unwrap().contains("exited with code 137"),
        "{d}"
    );
    assert!(
        d["containers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "exited"),
        "{d}"
    );
    assert!(running_or_networked(&format!("io.hoster.deployment={crashed}")).is_empty());

    // Objects labelled for this Hoster but owned by no deployment are removed at start-up.
    let orphan = "hoster_depl_orphanorphanorph_a";
    let labels = [
        "--label",
        "io.hoster.managed=true",
        "--label",
        "io.hoster.deployment=depl_orphanorphanorph",
    ];
    let instance = format!("io.hoster.instance={}", h.instance);
    let mut args = vec!["run", "-d", "--name", orphan, "--label", &instance];
    args.extend(labels);
    args.extend(["busybox", "sleep", "600"]);
    assert!(
        std::process::Command::new("docker")
            .args(&args)
            .output()
            .unwrap()
            .status
            .success()
    );
    let mut args = vec!["network", "create", "--label", &instance];
    args.extend(labels);
    args.push("hoster_depl_orphanorphanorph");
    assert!(
        std::process::Command::new("docker")
            .args(&args)
            .output()
            .unwrap()
            .status
            .success()
    );
    let h = h.crash_and_restart(&[]).await;
    within_10s("orphans are removed", async || {
        engine_objects("io.hoster.deployment=depl_orphanorphanorph").is_empty()
    })
    .await;
    for id in [&removed, &crashed] {
        assert_eq!(h.get_deployment(id).await.1["status"], "failed");
    }
}

#[tokio::test]
async fn a_container_its_restart_policy_brings_back_keeps_the_deployment_running() {
    let h = Hoster::start().await;
    // Fails on its first run, then runs: `on-failure` restarts it (the container's files survive).
    let template = h
        .publish(&json!({
            "name": "flaky", "version": "1.0.0", "creator_id": "c",
            "compose_spec": "services:\n  a:\n    image: busybox\n    restart: on-failure\n    command: [\"sh\", \"-c\", \"if [ -f /tmp/once ]; then exec sleep 600; fi; touch /tmp/once; sleep 1; exit 1\"]\n"
        }))
        .await;
    let id = h.create_deployment(&template, "flaky").await;
    h.start_deployment(&id).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let out = std::process::Command::new("docker")
            .args([
                "inspect",
                "--format",
                "{{.RestartCount}} {{.State.Status}}",
                &format!("hoster_{id}_a"),
            ])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).trim() == "1 running" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never restarted: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // a reconcile tick and the die event
    let (_, d) = h.get_deployment(&id).await;
    assert_eq!(d["status"], "running", "{d}");
    assert_eq!(d["containers"][0]["status"], "running", "{d}");
    h.delete_deployment(&id).await;
}

#[tokio::test]
async fn kill_9_in_the_middle_of_an_upgrade_goes_back_to_the_version_it_ran() {
    let h = Hoster::start().await;
    let quick = json!({
        "name": "slow start", "version": "0.9.0", "creator_id": "c",
        "compose_spec": "services:\n  a:\n    image: busybox\n    command: [\"sleep\", \"600\"]\n    stop_grace_period: 1s\n  b:\n    image: busybox\n    command: [\"sleep\", \"600\"]\n    stop_grace_period: 1s\n"
    });
    let v1 = h.publish(&quick).await;
    let v2 = h.publish(&slow_start()).await;
    let id = h.create_deployment(&v1, "upgraded").await;
    h.start_deployment(&id).await;
    let upgrade = {
        let client = h.client.clone();
        let url = h.url(&format!("/api/v1/deployments/{id}/upgrade"));
        tokio::spawn(async move { client.post(url).json(&json!({"template_id": v2})).send().await })
    };
    within_10s("the upgrade is under way", async || {
        let (_, d) = h.get_deployment(&id).await;
        d["status"] == "upgrading"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let h = h.crash_and_restart(&[]).await;
    let _ = upgrade.await;
    within_10s("the upgrade is undone", async || {
        let (_, d) = h.get_deployment(&id).await;
        d["status"] == "running"
    })
    .await;
    let (_, d) = h.get_deployment(&id).await;
    assert_eq!(d["template_id"], v1.as_str(), "{d}");
    assert!(d["error_message"].as_str().unwrap().contains("interrupted"), "{d}");
    let running: Vec<&str> = d["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "running")
        .map(|c| c["service_name"].as_str().unwrap())
        .collect();
    assert_eq!(running, ["a", "b"], "{d}");
    h.delete_deployment(&id).await;
}
