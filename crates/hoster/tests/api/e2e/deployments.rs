//! The Deployments API against a real engine: the spec's workflow, ports, bad cases, concurrency.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

fn one_service(name: &str, compose: &str) -> Value {
    json!({"name": name, "version": "1.0.0", "creator_id": "creator-1", "compose_spec": compose})
}

#[tokio::test]
async fn the_complete_workflow_script_passes_as_written() {
    // The script talks to localhost:9090 and publishes 8888, as the spec's README has it.
    let h = Hoster::start_in(tempfile::tempdir().unwrap(), &[("HOSTER_SERVER_PORT", "9090")]).await;
    assert_eq!(h.port, 9090);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/workflow.sh");
    let out = tokio::process::Command::new("bash").arg(script).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("<h1>Welcome to My App!</h1>"), "{stdout}");
    assert!(stdout.contains("\"running\""), "{stdout}");
    assert!(stdout.contains("Cleaned up"), "{stdout}");
    // The script deleted what it made: no deployment, no template, nothing on the engine.
    assert_eq!(h.request(Method::GET, "/api/v1/deployments", None).await.1["total"], 0);
    assert_eq!(h.request(Method::GET, "/api/v1/templates", None).await.1["total"], 0);
    assert_eq!(
        engine_objects(&format!("io.hoster.instance={}", h.instance)),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn two_deployments_of_one_8080_template_both_run() {
    let h = Hoster::start().await;
    let template = h
        .publish(&one_service(
            "twice",
            "services:\n  web:\n    image: nginx:alpine\n    ports:\n      - \"8080:80\"",
        ))
        .await;
    let a = h.create_deployment(&template, "first").await;
    let b = h.create_deployment(&template, "second").await;
    let a = h.start_deployment(&a).await;
    let b = h.start_deployment(&b).await;
    let (pa, pb) = (host_port(&a, "web", 80), host_port(&b, "web", 80));
    assert_ne!(pa, pb);
    assert!(pa == 8080 || pb != 8080, "8080 is honoured when free");
    assert!(
        (40000..=59999).contains(&pb),
        "the second gets a port from HOSTER_PORT_RANGE: {pb}"
    );
    for port in [pa, pb] {
        assert!(http_text(port, "/").await.contains("Welcome to nginx!"));
    }
    assert_ne!(a["domain"], b["domain"]);
    // The template cannot go while deployments use it.
    let (status, body) = h
        .request(Method::DELETE, &format!("/api/v1/templates/{template}"), None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("template_in_use"))
    );
    let (_, list) = h
        .request(
            Method::GET,
            &format!("/api/v1/deployments?template_id={template}&status=running"),
            None,
        )
        .await;
    assert_eq!(list["total"], 2);
    h.delete_deployment(a["id"].as_str().unwrap()).await;
    h.delete_deployment(b["id"].as_str().unwrap()).await;
    let (status, _) = h
        .request(Method::DELETE, &format!("/api/v1/templates/{template}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_port_held_by_another_process_is_not_taken_from_it() {
    let h = Hoster::start().await;
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap().port();
    let template = h
        .publish(&one_service(
            "squat",
            &format!("services:\n  web:\n    image: nginx:alpine\n    ports: [\"{taken}:80\"]"),
        ))
        .await;
    let d = h.create_deployment(&template, "squatted").await;
    let d = h.start_deployment(&d).await;
    let port = host_port(&d, "web", 80);
    assert_ne!(port, taken, "Hoster allocates another port and reports it");
    assert!(http_text(port, "/").await.contains("Welcome to nginx!"));
    drop(squatter);
    h.delete_deployment(d["id"].as_str().unwrap()).await;
}

#[tokio::test]
async fn bad_cases_get_clear_errors_and_leave_nothing_behind() {
    let h = Hoster::start().await;
    // Unknown ids.
    for path in [
        "/api/v1/deployments/depl_aaaaaaaaaaaaaaaa/start",
        "/api/v1/deployments/nope/stop",
    ] {
        let (status, body) = h.request(Method::POST, path, None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("deployment_not_found")),
            "{path}"
        );
    }
    // Deploying an unpublished or unknown template.
    let (_, draft) = h
        .request(
            Method::POST,
            "/api/v1/templates",
            Some(&one_service("draft", "services:\n  a:\n    image: busybox")),
        )
        .await;
    let body = json!({"template_id": draft["id"], "customer_id": "c", "name": "x"});
    let (status, error) = h.request(Method::POST, "/api/v1/deployments", Some(&body)).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::CONFLICT, Some("template_not_published"))
    );
    let body = json!({"template_id": "tmpl_aaaaaaaaaaaaaaaa", "customer_id": "c", "name": "x"});
    let (status, error) = h.request(Method::POST, "/api/v1/deployments", Some(&body)).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("template_not_found"))
    );
    let (status, error) = h
        .request(Method::POST, "/api/v1/deployments", Some(&json!({"name": ""})))
        .await;
    assert_eq!(
        (status, error["details"].as_array().map(Vec::len)),
        (StatusCode::BAD_REQUEST, Some(2)),
        "{error}"
    );

    // Stop of a pending deployment; start twice.
    let sleeper = h
        .publish(&one_service(
            "sleeper",
            "services:\n  a:\n    image: busybox\n    command: [\"sleep\", \"600\"]\n    stop_grace_period: 1s",
        ))
        .await;
    let d = h.create_deployment(&sleeper, "sleeper").await;
    let (status, error) = h
        .request(Method::POST, &format!("/api/v1/deployments/{d}/stop"), None)
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_transition")),
        "{error}"
    );
    h.start_deployment(&d).await;
    let (status, error) = h
        .request(Method::POST, &format!("/api/v1/deployments/{d}/start"), None)
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_running"))
    );
    h.delete_deployment(&d).await;
    let (status, _) = h
        .request(Method::POST, &format!("/api/v1/deployments/{d}/start"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a deleted deployment cannot start");

    // A missing image and a crashing container: failed, with the reason, and nothing left.
    // A missing image fails the start itself: 502, failed, and nothing left.
    let missing = h
        .publish(&one_service(
            "missing",
            "services:\n  a:\n    image: hoster-test/does-not-exist:1",
        ))
        .await;
    let d = h.create_deployment(&missing, "missing").await;
    let (status, error) = h
        .request(Method::POST, &format!("/api/v1/deployments/{d}/start"), None)
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("image_unavailable")),
        "{error}"
    );
    assert!(
        error["error"].as_str().unwrap().contains("could not be pulled"),
        "{error}"
    );
    let now = wait_for_status(&h, &d, "failed").await;
    assert!(
        now["error_message"]
            .as_str()
            .unwrap()
            .contains("hoster-test/does-not-exist:1"),
        "{now}"
    );
    assert_eq!(now["containers"], json!([]), "no container is left behind");
    h.delete_deployment(&d).await;

    // A crashing container: the start answers 502 if the crash came first, else 200 and the
    // reconciler notices within moments. Either way: failed, the reason and last output, nothing left.
    for (name, command) in [
        ("false", "[\"false\"]"),
        ("crash", "[\"sh\", \"-c\", \"echo last words; exit 3\"]"),
    ] {
        let template = h
            .publish(&one_service(
                name,
                &format!("services:\n  a:\n    image: busybox\n    command: {command}"),
            ))
            .await;
        let d = h.create_deployment(&template, name).await;
        let (status, answer) = h
            .request(Method::POST, &format!("/api/v1/deployments/{d}/start"), None)
            .await;
        assert!(
            (status == StatusCode::BAD_GATEWAY && answer["code"] == "runtime_error")
                || (status == StatusCode::OK && answer["status"] == "running"),
            "{status} {answer}"
        );
        let now = wait_for_status(&h, &d, "failed").await;
        let reason = now["error_message"].as_str().unwrap();
        let code = if name == "false" { 1 } else { 3 };
        assert!(
            reason.contains(&format!("service `a` exited with code {code}")),
            "{now}"
        );
        if name == "crash" {
            assert!(
                reason.contains("last words"),
                "the reason carries the last output: {now}"
            );
        }
        let containers = now["containers"].as_array().unwrap();
        assert!(
            containers.iter().all(|c| c["status"] == "exited"),
            "stopped, kept for their output: {now}"
        );
        assert!(running_or_networked(&format!("io.hoster.deployment={d}")).is_empty());
        h.delete_deployment(&d).await;
    }
}

#[tokio::test]
async fn start_and_stop_without_waiting_answer_202() {
    let h = Hoster::start().await;
    let template = h
        .publish(&one_service(
            "async",
            "services:\n  web:\n    image: nginx:alpine\n    ports: [\"80\"]",
        ))
        .await;
    let d = h.create_deployment(&template, "async").await;
    let (status, body) = h
        .request(Method::POST, &format!("/api/v1/deployments/{d}/start?wait=false"), None)
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::ACCEPTED, Some("starting")),
        "{body}"
    );
    wait_for_status(&h, &d, "running").await;
    let (status, body) = h
        .request(Method::POST, &format!("/api/v1/deployments/{d}/stop?wait=false"), None)
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::ACCEPTED, Some("stopping")),
        "{body}"
    );
    wait_for_status(&h, &d, "stopped").await;
    h.delete_deployment(&d).await;
}

pub async fn wait_for_status(h: &Hoster, id: &str, status: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, now) = h.get_deployment(id).await;
        if now["status"] == status {
            return now;
        }
        assert!(std::time::Instant::now() < deadline, "never {status}: {now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn fifty_concurrent_operations_on_five_deployments_stay_consistent() {
    let h = Hoster::start().await;
    let template = h.publish(&one_service(
        "busy",
        "services:\n  web:\n    image: nginx:alpine\n    ports: [\"80\"]\n  side:\n    image: busybox\n    command: [\"sleep\", \"600\"]\n    stop_grace_period: 1s",
    ))
    .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(h.create_deployment(&template, &format!("busy {i}")).await);
    }
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (method, path) = match i % 5 {
            0 | 3 => (Method::POST, format!("/api/v1/deployments/{}/start", ids[i % 5])),
            1 | 4 => (Method::POST, format!("/api/v1/deployments/{}/stop", ids[(i + 1) % 5])),
            _ => (Method::DELETE, format!("/api/v1/deployments/{}", ids[(i / 5) % 5])),
        };
        let client = h.client.clone();
        let url = h.url(&path);
        tasks.push(tokio::spawn(async move {
            client.request(method, url).send().await.unwrap().status()
        }));
    }
    for task in tasks {
        let status = task.await.unwrap();
        assert!(status.is_success() || [404, 409].contains(&status.as_u16()), "{status}");
    }
    for id in &ids {
        let (status, d) = h.get_deployment(id).await;
        let containers = engine_objects(&format!("io.hoster.deployment={id}"))
            .into_iter()
            .filter(|n| n.ends_with("_web") || n.ends_with("_side"))
            .count();
        match status {
            StatusCode::NOT_FOUND => assert_eq!(containers, 0, "{id} deleted but containers remain"),
            _ => {
                let expected = match d["status"].as_str().unwrap() {
                    "running" | "stopped" => 2,
                    "pending" | "failed" => 0,
                    other => panic!("{id} left {other}"),
                };
                assert_eq!(containers, expected, "{d}");
                assert_eq!(d["containers"].as_array().unwrap().len(), expected, "{d}");
            }
        }
    }
}

#[tokio::test]
async fn compose_settings_reach_the_engine() {
    let h = Hoster::start().await;
    let template = h
        .publish(&one_service(
            "settings",
            r#"services:
  app:
    image: busybox
    entrypoint: ["sh", "-c"]
    command: ["pwd > /tmp/pwd; id -u > /tmp/uid; exec sleep 600"]
    working_dir: /srv
    user: "65534"
    hostname: box
    labels: {com.example.team: web}
    restart: unless-stopped
    stop_grace_period: 3s
    deploy:
      resources:
        limits: {memory: 64m, cpus: "0.5", pids: 50}
"#,
        ))
        .await;
    let id = h.create_deployment(&template, "settings").await;
    h.start_deployment(&id).await;
    let name = format!("hoster_{id}_app");
    let format = "{{.Config.WorkingDir}}|{{.Config.User}}|{{.Config.Hostname}}|{{index .Config.Labels \"com.example.team\"}}|{{.HostConfig.RestartPolicy.Name}}|{{.Config.StopTimeout}}|{{.HostConfig.Memory}}|{{.HostConfig.NanoCpus}}|{{.HostConfig.PidsLimit}}";
    assert_eq!(
        docker_inspect(&name, format),
        format!("/srv|65534|box|web|unless-stopped|3|{}|500000000|50", 64 << 20)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(exec(&name, &["cat", "/tmp/pwd", "/tmp/uid"]), "/srv\n65534\n");
    h.delete_deployment(&id).await;
}
