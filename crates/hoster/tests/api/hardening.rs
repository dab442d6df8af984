//! What a hostile tenant tries: taking the API's hostname, claiming domains it does not own,
//! making the engine call into the operator's network, content the engine would refuse late,
//! spoofed forwarding headers, odd HTTP, and what a reconcile pass must survive.

use std::os::unix::fs::PermissionsExt;

use hoster::config::{DockerHost, DomainVerification};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::dns_server::DnsServer;
use crate::helpers::*;

fn get(path: &str, host_lines: &str) -> String {
    format!("GET {path} HTTP/1.1\r\n{host_lines}Accept: application/json\r\nConnection: close\r\n\r\n")
}

async fn app_with(customize: impl FnOnce(&mut hoster::config::Config)) -> TestApp {
    spawn_app_with(
        tempfile::tempdir().unwrap(),
        DockerHost::Unix(DOCKER_SOCKET.into()),
        customize,
    )
    .await
}

/// Publishes the created template `template_id` and makes a pending deployment of it.
async fn deployment_of(app: &TestApp, template_id: &str, customer: &str, name: &str) -> Value {
    assert_eq!(
        app.post(&format!("/api/v1/templates/{template_id}/publish"))
            .await
            .status(),
        StatusCode::OK
    );
    let (status, d) = status_json(
        app.post_json(
            "/api/v1/deployments",
            &json!({"template_id": template_id, "customer_id": customer, "name": name}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    d
}

/// A template from `body`, published, and a pending deployment of it (nothing on the engine).
async fn deploy(app: &TestApp, body: &Value, customer: &str, name: &str) -> Value {
    let created = app.create_template(body).await;
    deployment_of(app, created["id"].as_str().unwrap(), customer, name).await
}

async fn pending_deployment(app: &TestApp, customer: &str, name: &str) -> Value {
    deploy(app, &template(&format!("site {name}")), customer, name).await
}

/// Starts the deployment: the status and the answer.
async fn start(app: &TestApp, d: &Value) -> (StatusCode, Value) {
    let id = d["id"].as_str().unwrap();
    status_json(app.post(&format!("/api/v1/deployments/{id}/start")).await).await
}

async fn add_domain(app: &TestApp, deployment: &str, domain: &str) -> (StatusCode, Value) {
    status_json(
        app.post_json(
            &format!("/api/v1/deployments/{deployment}/domains"),
            &json!({"domain": domain}),
        )
        .await,
    )
    .await
}

#[tokio::test]
async fn the_api_answers_only_on_its_own_hostnames() {
    let app = app_with(|c| c.public_url = Some("https://Hoster.Example.com".into())).await;
    let d = pending_deployment(&app, "customer-1", "shop").await;
    let id = d["id"].as_str().unwrap();
    // No spelling of an API hostname, a name under one, or an IP literal can be a custom domain.
    for reserved in [
        "hoster.example.com",
        "HOSTER.EXAMPLE.COM.",
        "api.hoster.example.com",
        "localhost",
        "api.localhost",
        "Api.LocalHost.",
        "127.0.0.1",
        "10.0.0.1",
        "[::1]",
        "::1",
    ] {
        let (status, body) = add_domain(&app, id, reserved).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{reserved}: {body}");
        assert_eq!(body["code"], "domain_reserved", "{reserved}: {body}");
    }
    // API hosts reach the API; any other name (DNS rebinding: evil.example resolving to
    // 127.0.0.1) gets 421, never the API.
    for api in [
        "Host: localhost\r\n",
        "Host: hoster.example.com:443\r\n",
        "Host: 127.0.0.1\r\n",
        "Host: [::1]:1\r\n",
    ] {
        let (status, body) = raw_http(app.addr, &get("/api/v1/templates", api)).await;
        assert_eq!(status, 200, "{api:?}: {body}");
    }
    for foreign in [
        "Host: evil.example\r\n",
        "Host: EVIL.example.:9090\r\n",
        "Host: api.localhost\r\n",
        "Host: 10.1.2.3\r\n",
    ] {
        let (status, body) = raw_http(app.addr, &get("/api/v1/templates", foreign)).await;
        assert_eq!(status, 421, "{foreign:?}: {body}");
        assert!(body.contains("unknown_host") && !body.contains("templates\""), "{body}");
    }
    // The request target's authority wins over Host (RFC 9112 §3.2.2), both ways.
    let (status, _) = raw_http(
        app.addr,
        &get("http://evil.example/api/v1/templates", "Host: localhost\r\n"),
    )
    .await;
    assert_eq!(status, 421);
    let (status, _) = raw_http(app.addr, &get("http://localhost/health", "Host: evil.example\r\n")).await;
    assert_eq!(status, 200);
    // Two Host headers, or none: the client's mistake.
    let (status, body) = raw_http(app.addr, &get("/health", "Host: localhost\r\nHost: evil.example\r\n")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("bad_host"), "{body}");
    // CONNECT is not served, cleanly.
    let (status, body) = raw_http(
        app.addr,
        "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 405, "{body}");
    // HTTP/2 (prior knowledge): `:authority` decides the same way.
    let port = app.addr.port();
    // The server runs in this test's runtime: curl must not block it.
    let curl = |host: &str, path: &str| {
        tokio::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{http_version}",
                "--http2-prior-knowledge",
            ])
            .args(["--resolve", &format!("{host}:{port}:127.0.0.1")])
            .arg(format!("http://{host}:{port}{path}"))
            .output()
    };
    let answer = |out: std::io::Result<std::process::Output>| {
        String::from_utf8_lossy(&out.expect("curl runs (testenv/setup.sh installs it)").stdout).to_string()
    };
    assert_eq!(answer(curl("evil.example", "/api/v1/templates").await), "421 2");
    assert_eq!(answer(curl("localhost", "/api/v1/templates").await), "200 2");
}

#[tokio::test]
async fn custom_domains_route_only_once_dns_proves_control() {
    let dns = DnsServer::start().await;
    let app = app_with(|c| {
        c.domain_verification = DomainVerification::Dns;
        c.dns_server = Some(dns.addr());
        c.max_domains_per_deployment = 3;
    })
    .await;
    let squatter = pending_deployment(&app, "customer-1", "squat").await;
    let owner = pending_deployment(&app, "customer-2", "owner").await;
    let (sid, oid) = (squatter["id"].as_str().unwrap(), owner["id"].as_str().unwrap());

    // A claim without proof stays pending and routes nothing.
    let (status, claim) = add_domain(&app, sid, "shop.example.com").await;
    assert_eq!(status, StatusCode::CREATED, "{claim}");
    assert_eq!(claim["status"], "pending");
    assert_eq!(claim["verification"]["txt_name"], "_hoster.shop.example.com");
    assert!(
        claim["check_error"].as_str().unwrap().contains("no TXT record"),
        "{claim}"
    );
    let (status, _) = raw_http(app.addr, &get("/", "Host: shop.example.com\r\n")).await;
    assert_eq!(status, 421, "a pending name is not routed");

    // The real owner may claim it too, and proves control with the TXT record.
    let (status, mine) = add_domain(&app, oid, "Shop.Example.com.").await;
    assert_eq!(status, StatusCode::CREATED, "{mine}");
    let token = mine["verification"]["txt_value"].as_str().unwrap();
    assert_ne!(
        token,
        claim["verification"]["txt_value"].as_str().unwrap(),
        "tokens are per claim"
    );
    dns.set_txt("_hoster.shop.example.com", &["unrelated", token]);
    let (status, verified) = status_json(
        app.post(&format!("/api/v1/deployments/{oid}/domains/shop.example.com/verify"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    assert_eq!(verified["status"], "verified");
    // Verified beats unproven: the squatter's claim is gone, and it cannot claim it again.
    let (_, theirs) = status_json(app.get(&format!("/api/v1/deployments/{sid}/domains")).await).await;
    assert_eq!(theirs, json!([]));
    let (status, body) = add_domain(&app, sid, "shop.example.com").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("domain_taken"))
    );
    // Now it routes, to the owner's deployment (pending, so the proxy says so).
    let (status, body) = raw_http(app.addr, &get("/", "Host: shop.example.com\r\n")).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("owner.apps.localhost") || body.contains("shop.example.com"),
        "{body}"
    );

    // A CNAME to the deployment's own hostname proves it too, found by the periodic check.
    let (status, _) = add_domain(&app, oid, "www.example.org").await;
    assert_eq!(status, StatusCode::CREATED);
    dns.set_cname("www.example.org", owner["domain"].as_str().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (_, list) = status_json(app.get(&format!("/api/v1/deployments/{oid}/domains")).await).await;
        if list[1]["status"] == "verified" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never verified: {list}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // At most HOSTER_MAX_DOMAINS_PER_DEPLOYMENT names, however many arrive at once.
    let adds = (0..8).map(|i| add_domain(&app, oid, Box::leak(format!("n{i}.example.net").into_boxed_str())));
    let results = futures_util::future::join_all(adds).await;
    let created = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    assert_eq!(created, 1, "2 of 3 were taken already: {results:?}");
    assert!(
        results
            .iter()
            .filter(|(s, _)| *s == StatusCode::CONFLICT)
            .all(|(_, b)| b["code"] == "domain_limit_reached")
    );
}

#[tokio::test]
async fn only_one_of_many_concurrent_claims_is_verified() {
    let dns = DnsServer::start().await;
    let app = app_with(|c| {
        c.domain_verification = DomainVerification::Dns;
        c.dns_server = Some(dns.addr());
        c.max_deployments_per_customer = 100;
    })
    .await;
    let mut claims = Vec::new();
    for i in 0..8 {
        let d = pending_deployment(&app, "customer-1", &format!("racer {i}")).await;
        let id = d["id"].as_str().unwrap().to_string();
        let (status, claim) = add_domain(&app, &id, "contested.example.com").await;
        assert_eq!(status, StatusCode::CREATED, "{claim}");
        claims.push((id, claim["verification"]["txt_value"].as_str().unwrap().to_string()));
    }
    // DNS vouches for every one of them; they all ask at once.
    let tokens: Vec<&str> = claims.iter().map(|(_, t)| t.as_str()).collect();
    dns.set_txt("_hoster.contested.example.com", &tokens);
    let verifies = claims.iter().map(|(id, _)| {
        let url = app.url(&format!(
            "/api/v1/deployments/{id}/domains/contested.example.com/verify"
        ));
        let client = app.client.clone();
        async move { client.post(url).send().await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(verifies).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT || *s == StatusCode::NOT_FOUND),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn the_engine_is_never_pointed_at_the_operators_network() {
    let app = app_with(|c| c.allowed_registries = vec!["registry.internal:5000".into()]).await;
    for image in [
        "127.0.0.1:19190/x:latest",
        "localhost:5000/x",
        "localhost/x",
        "registry:5000/x",
        "[::1]:5000/x",
        "10.0.0.1/x",
        "169.254.169.254/x",
        "mirror.local/x",
        "svc.cluster.internal/x",
    ] {
        let mut body = template(&format!("ssrf {image}"));
        body["compose_spec"] = json!(format!("services:\n  web:\n    image: \"{image}\"\n"));
        let (status, answer) = status_json(app.post_json("/api/v1/templates", &body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{image}: {answer}");
        assert!(answer.to_string().contains("HOSTER_ALLOWED_REGISTRIES"), "{answer}");
    }
    let mut allowed = template("allowed registry");
    allowed["compose_spec"] = json!("services:\n  web:\n    image: registry.internal:5000/team/app:1\n");
    app.create_template(&allowed).await;
    let mut public = template("public registry");
    public["compose_spec"] = json!("services:\n  web:\n    image: registry.example.com/owner/app:1\n");
    app.create_template(&public).await;
}

#[tokio::test]
async fn labels_that_steer_hoster_or_other_controllers_are_refused() {
    let app = spawn_app().await;
    for label in [
        "io.hoster.deployment",
        "IO.HOSTER.managed",
        "Io.Hoster.Primary",
        "traefik.enable",
        "com.docker.compose.project",
        "caddy",
        "caddy.reverse_proxy",
    ] {
        let mut body = template(&format!("labels {label}"));
        body["compose_spec"] = json!(format!(
            "services:\n  web:\n    image: nginx:alpine\n    ports: [\"80\"]\n    labels:\n      {label}: \"true\"\n"
        ));
        let (status, answer) = status_json(app.post_json("/api/v1/templates", &body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{label}: {answer}");
    }
    let mut primary = template("labels primary");
    primary["compose_spec"] = json!(
        "services:\n  web:\n    image: nginx:alpine\n    ports: [\"80\"]\n    labels:\n      io.hoster.primary: \"true\"\n"
    );
    app.create_template(&primary).await;
}

#[tokio::test]
async fn odd_http_gets_the_json_error_shape() {
    let app = spawn_app().await;
    // Trailing data after the JSON value.
    for trailing in ["{} {}", "{}x", "{\"name\": \"a\"} ]"] {
        let response = app
            .client
            .post(app.url("/api/v1/templates"))
            .header("content-type", "application/json")
            .body(trailing)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_json").await;
    }
    // Offsets past anything are an empty page, whatever their size.
    let (status, audit) = status_json(app.get("/api/v1/audit?offset=18446744073709551615").await).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    assert_eq!(audit, json!([]));
    // A path segment that is not UTF-8.
    let d = pending_deployment(&app, "customer-1", "paths").await;
    let response = app
        .delete(&format!(
            "/api/v1/deployments/{}/domains/%FF",
            d["id"].as_str().unwrap()
        ))
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_path").await;
}

#[tokio::test]
async fn requests_without_a_valid_token_are_limited_per_address() {
    let app = app_with(|c| {
        c.auth_mode = hoster::config::AuthMode::Token;
        c.rate_limit = 5;
    })
    .await;
    let mut limited = 0;
    for i in 0..60 {
        let token = format!("hoster_{}", format!("{i:0>52}").replace('0', "a"));
        let response = app
            .client
            .get(app.url("/api/v1/templates"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        match response.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => panic!("{other}"),
        }
    }
    assert!(limited >= 40, "a burst of 10 then 5/s: {limited} of 60 limited");
    // Probes stay reachable.
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_state_machine_holds_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = hoster::store::Store::open(&dir.path().join("hoster.db")).await.unwrap();
    let id = hoster_core::id::DeploymentId::from_random([7; 10]);
    use hoster_core::deployment::Status;
    let refused = store
        .transition(
            &id,
            Status::Pending,
            Status::Running,
            None,
            &"2026-01-01T00:00:00Z".parse().unwrap(),
        )
        .await;
    assert!(
        matches!(refused, Err(hoster::store::StoreError::IllegalTransition { .. })),
        "{refused:?}"
    );
    store.close().await;
}

/// Owner-only: the database and its WAL, the directories Hoster makes and what it puts there.
#[tokio::test]
async fn what_hoster_keeps_on_disk_is_owner_only() {
    require_docker();
    let app = spawn_app().await;
    let mut body = template("private files");
    body["compose_spec"] =
        json!("services:\n  web:\n    image: busybox\n    command: [sleep, \"60\"]\n    stop_grace_period: 1s\n");
    body["config_files"] = json!([{"name": "app.env", "path": "/etc/app/app.env", "content": "PASSWORD=hunter2"}]);
    let d = deploy(&app, &body, "c", "private").await;
    let id = d["id"].as_str().unwrap().to_string();
    let (status, started) = start(&app, &d).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let db = app.db_path();
    assert_eq!(mode(&db), 0o600, "{}", db.display());
    assert_eq!(mode(&db.with_file_name("hoster.db-wal")), 0o600);
    let configs = app.dir.path().join("configs");
    assert_eq!(mode(&configs), 0o700);
    assert_eq!(mode(&configs.join(&id)), 0o700);
    assert_eq!(mode(&configs.join(&id).join("web/etc/app/app.env")), 0o600);
    app.delete(&format!("/api/v1/deployments/{id}")).await;
}

/// An engine object that will not go does not stop the pass: the others are still removed.
#[tokio::test]
async fn a_reconcile_pass_goes_on_past_what_it_cannot_remove() {
    require_docker();
    let app = spawn_app().await;
    let instance = format!(
        "test-{}",
        app.dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches('.')
    );
    let orphan = "depl_orphanorphanorph";
    let labels = [
        "--label".to_string(),
        "io.hoster.managed=true".to_string(),
        "--label".to_string(),
        format!("io.hoster.instance={instance}"),
        "--label".to_string(),
        format!("io.hoster.deployment={orphan}"),
    ];
    let docker = |args: &[&str]| {
        let out = std::process::Command::new("docker").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // An orphaned network that a container outside Hoster still uses: it cannot be removed.
    let network = format!("hoster_{orphan}_{instance}");
    let mut args = vec!["network", "create"];
    args.extend(labels.iter().map(String::as_str));
    args.push(&network);
    docker(&args);
    let squatter = format!("squatter-{instance}");
    docker(&[
        "run",
        "-d",
        "--name",
        &squatter,
        "--network",
        &network,
        "busybox",
        "sleep",
        "120",
    ]);
    // And an orphaned volume after it, which can.
    let volume = format!("hoster_{orphan}_data_{instance}");
    let mut args = vec!["volume", "create"];
    args.extend(labels.iter().map(String::as_str));
    args.push(&volume);
    docker(&args);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !engine_objects(&format!("io.hoster.instance={instance}"))
        .iter()
        .all(|o| *o == network)
    {
        assert!(std::time::Instant::now() < deadline, "the volume was never removed");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // The pass keeps running: a deployment created now is reconciled as usual.
    assert_eq!(app.get("/ready").await.status(), StatusCode::OK);
    docker(&["rm", "-f", &squatter]);
    let _ = std::process::Command::new("docker")
        .args(["network", "rm", &network])
        .output();
}

/// Starts a one-service busybox-based template; the running deployment.
async fn run(app: &TestApp, name: &str, compose: &str) -> Value {
    let mut body = template(name);
    body["compose_spec"] = json!(compose);
    let d = deploy(app, &body, "c", name).await;
    let (status, started) = start(app, &d).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    started
}

#[tokio::test]
async fn the_upstream_sees_the_public_host_and_only_addresses_hoster_vouches_for() {
    require_docker();
    let app = spawn_app().await;
    let d = run(
        &app,
        "who",
        "services:\n  who:\n    image: traefik/whoami\n    ports: [\"80\"]\n",
    )
    .await;
    let domain = d["domain"].as_str().unwrap();
    let port = app.addr.port();
    // The server runs in this test's runtime: curl must not block it.
    let ask = |extra: &'static str| {
        tokio::process::Command::new("curl")
            .args([
                "-s",
                "--retry",
                "20",
                "--retry-all-errors",
                "--retry-delay",
                "1",
                "--max-time",
                "10",
            ])
            .arg(extra)
            .args([
                "-H",
                "X-Forwarded-For: 6.6.6.6",
                "-H",
                "X-Real-IP: 6.6.6.6",
                "-H",
                "Forwarded: for=6.6.6.6",
            ])
            .args(["--resolve", &format!("{domain}:{port}:127.0.0.1")])
            .arg(format!("http://{domain}:{port}/"))
            .output()
    };
    for (version, flags) in [("HTTP/1.1", "--http1.1"), ("HTTP/2", "--http2-prior-knowledge")] {
        let seen = String::from_utf8_lossy(&ask(flags).await.unwrap().stdout).to_lowercase();
        assert!(seen.contains(&format!("host: {domain}:{port}")), "{version}: {seen}");
        assert!(seen.contains("x-forwarded-for: 127.0.0.1\n"), "{version}: {seen}");
        assert!(seen.contains("x-real-ip: 127.0.0.1"), "{version}: {seen}");
        assert!(
            !seen.contains("6.6.6.6"),
            "{version}: client claims are replaced: {seen}"
        );
    }
    app.delete(&format!("/api/v1/deployments/{}", d["id"].as_str().unwrap()))
        .await;
}

#[tokio::test]
async fn privileged_and_own_host_ports_are_not_honoured() {
    require_docker();
    let app = spawn_app().await;
    let own = app.addr.port();
    let d = run(
        &app,
        "low ports",
        &format!("services:\n  web:\n    image: busybox\n    command: [httpd, -f, -p, \"80\"]\n    ports: [\"80:80\", \"{own}:81\"]\n"),
    )
    .await;
    for (container, refused) in [(80, 80), (81, own)] {
        let got = host_port(&d, "web", container);
        assert_ne!(got, refused);
        assert!((30000..=39999).contains(&got), "{got}");
    }
    app.delete(&format!("/api/v1/deployments/{}", d["id"].as_str().unwrap()))
        .await;
}

#[tokio::test]
async fn values_reach_the_container_as_written_and_engine_messages_do_not_reach_tenants() {
    require_docker();
    let app = spawn_app().await;
    let d = run(
        &app,
        "scalars",
        "services:\n  web:\n    image: busybox\n    command: [sleep, \"60\"]\n    stop_grace_period: 1s\n    environment: {A: n, B: yes, C: off, F: 010, H: 1e3}\n",
    )
    .await;
    let container = d["containers"][0]["container_id"].as_str().unwrap();
    let env = exec(container, &["env"]);
    for pair in ["A=n", "B=yes", "C=off", "F=010", "H=1e3"] {
        assert!(env.lines().any(|l| l == pair), "{pair} in {env}");
    }
    app.delete(&format!("/api/v1/deployments/{}", d["id"].as_str().unwrap()))
        .await;

    // A command missing from the image: the engine's answer names host paths; the tenant gets
    // a code and a short reason.
    let mut body = template("missing command");
    body["compose_spec"] = json!("services:\n  web:\n    image: busybox\n    command: [/nonexistent/bin]\n");
    let d = deploy(&app, &body, "c", "missing").await;
    let id = d["id"].as_str().unwrap();
    let (status, failed) = start(&app, &d).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{failed}");
    assert_eq!(failed["code"], "runtime_error");
    let (_, row) = status_json(app.get(&format!("/api/v1/deployments/{id}")).await).await;
    for text in [
        failed["error"].as_str().unwrap(),
        row["error_message"].as_str().unwrap(),
    ] {
        assert!(
            !text.contains("/var/lib/docker") && !text.contains("OCI runtime"),
            "{text}"
        );
    }
    assert!(row["error_message"].as_str().unwrap().contains("not found"), "{row}");
    // A failed deployment keeps its containers for their output: delete it, or they stay.
    let gone = app.delete(&format!("/api/v1/deployments/{id}")).await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
}

/// Any template that validates, with its images present, starts: whatever it says cannot make
/// the engine refuse it late. Bounded: a fixed number of generated templates.
#[tokio::test(flavor = "multi_thread")]
async fn a_template_that_validates_starts() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    require_docker();
    let app = spawn_app().await;
    let handle = tokio::runtime::Handle::current();
    // Each field mostly takes a value the engine accepts, sometimes one it would refuse.
    fn field(valid: &'static [&'static str], refused: &'static [&'static str]) -> BoxedStrategy<&'static str> {
        prop_oneof![6 => proptest::sample::select(valid), 1 => proptest::sample::select(refused)].boxed()
    }
    let strategy = (
        field(
            &["/data", "/tmp/a", "/var/lib/x", "/srv/y"],
            &["/", "/proc", "/proc/x", "/sys/x", "/dev", "/etc/hosts"],
        ),
        field(&["ok", "", "n", "010", "1e3", "a b"], &["x\\0y"]),
        field(
            &["web", "a-b.c", "h1"],
            &[
                "-x",
                "a_b",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            ],
        ),
        field(&["6m", "64m", "7000000", "1g"], &["1", "1b", "5m"]),
        field(&["0.01", "0.5", "1"], &["0.001"]),
        field(
            &["/etc/app.conf", "/tmp/x.conf", "/srv/c"],
            &["/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/proc/x"],
        ),
        field(&["/app", "/", "/tmp"], &["/proc"]),
        field(&["0", "65534"], &["0:0"]),
    );
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let started = std::sync::atomic::AtomicUsize::new(0);
    let refused = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&strategy, |(target, env, hostname, memory, cpus, config, workdir, user)| {
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                let compose = format!(
                    "services:\n  web:\n    image: busybox\n    command: [sleep, \"60\"]\n    stop_grace_period: 1s\n    volumes: [\"{target}\"]\n    \
                     environment: {{E: \"{env}\"}}\n    hostname: \"{hostname}\"\n    mem_limit: {memory}\n    cpus: {cpus}\n    \
                     working_dir: {workdir}\n    user: \"{user}\"\n"
                );
                let mut body = template(&format!("prop {}", rand_suffix()));
                body["compose_spec"] = json!(compose);
                body["config_files"] = json!([{"name": "c", "path": config, "content": "x"}]);
                let (status, created) = status_json(app.post_json("/api/v1/templates", &body).await).await;
                if status == StatusCode::BAD_REQUEST {
                    refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return Ok(());
                }
                prop_assert_eq!(status, StatusCode::CREATED, "{}", created);
                let d = deployment_of(&app, created["id"].as_str().unwrap(), "c", "prop").await;
                let (status, answer) = start(&app, &d).await;
                app.delete(&format!("/api/v1/deployments/{}", d["id"].as_str().unwrap())).await;
                prop_assert_eq!(status, StatusCode::OK, "{} failed to start: {}", compose, answer);
                started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            })
        })
    });
    result.unwrap();
    eprintln!(
        "{} of 24 generated templates validated and started",
        started.into_inner()
    );
}

fn rand_suffix() -> String {
    format!("{:x}", rand::random::<u64>())
}

#[tokio::test]
async fn every_request_has_an_id_in_its_answer_its_error_body_and_its_log_lines() {
    let h = Hoster::start_in(tempfile::tempdir().unwrap(), &[("HOSTER_LOG", "info,tower_http=debug")]).await;
    let missing = h
        .client
        .get(h.url("/api/v1/deployments/depl_aaaaaaaaaaaaaaaa"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), reqwest::StatusCode::NOT_FOUND);
    assert_eq!(missing.headers()["x-request-id"], "trace-me-123");
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["request_id"], "trace-me-123", "{body}");

    for forged in ["a b", "<x>", &"z".repeat(129)] {
        let response = h
            .client
            .get(h.url("/health"))
            .header("x-request-id", forged)
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_ne!(id, forged);
        assert_eq!(id.len(), 32, "a new id: {id}");
    }
    let fresh = h.client.get(h.url("/health")).send().await.unwrap();
    assert_eq!(fresh.headers()["x-request-id"].len(), 32);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let log = std::fs::read_to_string(h.dir.path().join("hoster.log")).unwrap_or_default();
        if log.lines().any(|l| l.contains("trace-me-123")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the id is in the request's log lines: {log}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
