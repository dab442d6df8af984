//! The safe-compose policy, trusted templates and resource limits, on a real engine.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::deployments::wait_for_status;
use crate::helpers::*;

fn socket_template(name: &str) -> Value {
    json!({
        "name": name, "version": "1.0.0", "creator_id": "c",
        "compose_spec": "services:\n  panel:\n    image: busybox\n    command: [\"sh\", \"-c\", \"trap exit TERM; sleep 600 & wait\"]\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n"
    })
}

#[tokio::test]
async fn the_docker_socket_never_reaches_a_container_unless_an_admin_trusts_the_template() {
    let h = Hoster::start().await;
    let (status, error) = h
        .request(Method::POST, "/api/v1/templates", Some(&socket_template("panel")))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["details"][0]["path"], "services.panel.volumes[0]", "{error}");
    assert!(
        error["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("is the Docker socket"),
        "{error}"
    );
    assert!(engine_objects(&format!("io.hoster.instance={}", h.instance)).is_empty());

    // Trusted on creation (local mode has admin powers) and deployed, then distrusted: a new
    // deployment is refused at create, and the plan-time check still refuses the existing one
    // before any container exists.
    let (status, trusted) = h
        .request(
            Method::POST,
            "/api/v1/templates?trusted=true",
            Some(&socket_template("panel")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{trusted}");
    assert_eq!(trusted["trusted"], true);
    let template = trusted["id"].as_str().unwrap().to_string();
    h.request(Method::POST, &format!("/api/v1/templates/{template}/publish"), None)
        .await;
    let id = h.create_deployment(&template, "panel").await;
    let (status, _) = h
        .request(Method::DELETE, &format!("/api/v1/templates/{template}/trust"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, error) = h
        .request(
            Method::POST,
            "/api/v1/deployments",
            Some(&json!({"template_id": template, "customer_id": "c", "name": "another panel"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(
        error["error"].as_str().unwrap().contains("is the Docker socket"),
        "{error}"
    );
    let (status, error) = h
        .request(Method::POST, &format!("/api/v1/deployments/{id}/start"), None)
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("policy_violation")),
        "{error}"
    );
    assert!(
        engine_objects(&format!("io.hoster.deployment={id}"))
            .iter()
            .all(|o| !o.ends_with("_panel")),
        "no container was created"
    );

    // Trusted again: the socket is mounted, and the audit log says who allowed it.
    h.request(Method::POST, &format!("/api/v1/templates/{template}/trust"), None)
        .await;
    let running = h.start_deployment(&id).await;
    assert_eq!(running["status"], "running", "{running}");
    let listed = exec(&format!("hoster_{id}_panel"), &["ls", "-l", "/var/run/docker.sock"]);
    assert!(listed.starts_with('s'), "a socket inside the container: {listed}");
    let (_, audit) = h.request(Method::GET, "/api/v1/audit", None).await;
    let actions = audit_actions(&audit);
    for action in ["template.create_trusted", "template.distrust", "template.trust"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    h.delete_deployment(&id).await;
}

#[tokio::test]
async fn limits_default_to_the_operators_and_memory_overuse_is_killed_and_reported() {
    let h = Hoster::start_in(
        tempfile::tempdir().unwrap(),
        &[("HOSTER_DEFAULT_MEMORY", "64m"), ("HOSTER_DEFAULT_PIDS", "100")],
    )
    .await;
    // Runs for a second, then becomes a process that wants 256 MB at once.
    let template = h
        .publish(&json!({
            "name": "hungry", "version": "1.0.0", "creator_id": "c",
            "compose_spec": "services:\n  hog:\n    image: busybox\n    command: [\"sh\", \"-c\", \"sleep 1; exec dd if=/dev/zero of=/dev/null bs=256M count=1\"]\n    mem_limit: 32m\n  idle:\n    image: busybox\n    command: [\"sleep\", \"600\"]\n"
        }))
        .await;
    let id = h.create_deployment(&template, "hungry").await;
    h.start_deployment(&id).await;
    let inspect = docker_inspect;
    let idle = format!("hoster_{id}_idle");
    assert_eq!(
        inspect(
            &idle,
            "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}}"
        ),
        format!("{} 100 1000000000", 64 << 20),
        "a service without limits gets the operator's defaults"
    );
    assert_eq!(
        inspect(&format!("hoster_{id}_hog"), "{{.HostConfig.Memory}}"),
        (32 << 20).to_string()
    );

    let failed = wait_for_status(&h, &id, "failed").await;
    let message = failed["error_message"].as_str().unwrap_or_default();
    assert!(
        message.contains("hog") && message.contains("out of memory"),
        "the engine killed it and Hoster says why: {failed}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.delete_deployment(&id).await;
}

#[tokio::test]
async fn asks_above_the_maximum_and_deployments_beyond_the_cap_are_refused() {
    let h = Hoster::start_in(
        tempfile::tempdir().unwrap(),
        &[
            ("HOSTER_MAX_MEMORY", "1g"),
            ("HOSTER_MAX_DEPLOYMENTS_PER_CUSTOMER", "2"),
        ],
    )
    .await;
    let (status, error) = h
        .request(
            Method::POST,
            "/api/v1/templates",
            Some(&json!({
                "name": "big", "version": "1.0.0", "creator_id": "c",
                "compose_spec": "services:\n  a:\n    image: busybox\n    deploy:\n      resources:\n        limits:\n          memory: 2g\n"
            })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["details"][0]["message"], "2g is over this Hoster's maximum of 1g",
        "{error}"
    );
    let template = h.publish(&template("capped")).await;
    for n in 0..2 {
        h.create_deployment(&template, &format!("site {n}")).await;
    }
    let (status, error) = h
        .request(
            Method::POST,
            "/api/v1/deployments",
            Some(&json!({"template_id": template, "customer_id": "customer-1", "name": "one too many"})),
        )
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::CONFLICT, Some("deployment_limit_reached")),
        "{error}"
    );
}

#[tokio::test]
async fn secrets_and_tokens_never_appear_in_responses_or_logs() {
    let dir = tempfile::tempdir().unwrap();
    let token = mint_token(dir.path(), "admin", "ops");
    let h = Hoster::start_in(dir, &[("HOSTER_AUTH_MODE", "token"), ("HOSTER_LOG", "debug")]).await;
    let secret = "s3cret-hunter2-value";
    let body = json!({
        "name": "with secret", "version": "1.0.0", "creator_id": "c",
        "compose_spec": "services:\n  a:\n    image: busybox\n    environment:\n      P: ${DB_PASSWORD}\n      S: ${SITE}\n",
        "variables": [{"name": "DB_PASSWORD", "default": secret, "secret": true}, {"name": "SITE", "default": "public"}]
    });
    let send = |method: Method, path: &str, body: Option<&Value>| {
        let mut request = h.client.request(method, h.url(path)).bearer_auth(&token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send()
    };
    let created = send(Method::POST, "/api/v1/templates", Some(&body)).await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["variables"][1]["default"], "public");
    let id = created["id"].as_str().unwrap();
    let mut seen = created.to_string();
    for path in [
        format!("/api/v1/templates/{id}"),
        "/api/v1/templates".into(),
        "/api/v1/audit".into(),
        "/api/v1/tokens".into(),
    ] {
        seen.push_str(&send(Method::GET, &path, None).await.unwrap().text().await.unwrap());
    }
    // A wrong token's refusal does not echo it either.
    let refused = h
        .client
        .get(h.url("/api/v1/templates"))
        .bearer_auth(format!("{token}x"))
        .send()
        .await
        .unwrap();
    seen.push_str(&refused.text().await.unwrap());
    assert!(!seen.contains(secret), "a secret default came back: {seen}");
    assert!(!seen.contains(&token[10..]), "a token came back");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = std::fs::read_to_string(h.dir.path().join("hoster.log")).unwrap();
    assert!(log.contains("audit"), "the log is being written");
    assert!(!log.contains(secret), "a secret reached the log");
    assert!(!log.contains(&token[10..]), "a token reached the log");
    // The secret default is sealed in the database and its WAL.
    for file in ["hoster.db", "hoster.db-wal"] {
        let bytes = std::fs::read(h.dir.path().join(file)).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret default is in {file} in the clear"
        );
    }
}

#[tokio::test]
async fn host_namespaces_are_the_policys_to_refuse_and_a_trusted_template_gets_them() {
    let h = Hoster::start().await;
    // volumes_from a service of the same deployment is no way into the host: anyone may.
    let shared = h
        .publish(&json!({
            "name": "shared", "version": "1.0.0", "creator_id": "c",
            "compose_spec": "services:\n  data:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo kept > /data/file; trap exit TERM; sleep 600 & wait\"]\n    volumes: [\"store:/data\"]\n  app:\n    image: busybox\n    command: [\"sh\", \"-c\", \"trap exit TERM; sleep 600 & wait\"]\n    volumes_from: [\"data:ro\"]\nvolumes:\n  store:\n"
        }))
        .await;
    let id = h.create_deployment(&shared, "shared").await;
    h.start_deployment(&id).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let app = format!("hoster_{id}_app");
    assert_eq!(exec(&app, &["cat", "/data/file"]), "kept\n");
    assert!(
        exec(&app, &["sh", "-c", "touch /data/x 2>&1 || true"]).contains("Read-only"),
        "mounted read-only as asked"
    );
    h.delete_deployment(&id).await;

    let namespaces = |name: &str| {
        json!({
            "name": name, "version": "1.0.0", "creator_id": "c",
            "compose_spec": "services:\n  app:\n    image: busybox\n    command: [\"sh\", \"-c\", \"trap exit TERM; sleep 600 & wait\"]\n    uts: host\n    userns_mode: host\n    cgroup: host\n"
        })
    };
    let (status, error) = h
        .request(Method::POST, "/api/v1/templates", Some(&namespaces("ns")))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let refused: Vec<&str> = error["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        refused,
        ["services.app.userns_mode", "services.app.uts", "services.app.cgroup"],
        "{error}"
    );

    let (status, trusted) = h
        .request(Method::POST, "/api/v1/templates?trusted=true", Some(&namespaces("ns")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{trusted}");
    let template = trusted["id"].as_str().unwrap().to_string();
    h.request(Method::POST, &format!("/api/v1/templates/{template}/publish"), None)
        .await;
    let id = h.create_deployment(&template, "ns").await;
    h.start_deployment(&id).await;
    let app = format!("hoster_{id}_app");
    let out = std::process::Command::new("docker")
        .args([
            "inspect",
            "--format",
            "{{.HostConfig.UTSMode}}|{{.HostConfig.UsernsMode}}|{{.HostConfig.CgroupnsMode}}",
            &app,
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "host|host|host");
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        exec(&app, &["hostname"]).trim(),
        host_name.trim(),
        "the host's UTS namespace"
    );
    h.delete_deployment(&id).await;
}
