//! Template variables end to end: the spec's PostgreSQL example with a required database name
//! and a generated password, deployed by two customers who each log in with a password only
//! they can reveal, found nowhere else: not in the other's responses, the log, or the database.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::examples::psql;
use crate::helpers::*;

fn postgres_template() -> Value {
    json!({
        "name": "postgres-vars", "version": "1.0.0", "creator_id": "creator",
        "compose_spec": "services:\n  db:\n    image: postgres:15-alpine\n    ports:\n      - \"5432\"\n    environment:\n      POSTGRES_PASSWORD: ${DB_PASSWORD}\n      POSTGRES_USER: app\n      POSTGRES_DB: ${DB_NAME}\n    labels:\n      site: $HOSTER_URL\n",
        "variables": [
            {"name": "DB_NAME", "description": "Database name", "required": true},
            {"name": "DB_PASSWORD", "type": "password", "generate": {"length": 24}}
        ]
    })
}

async fn call(h: &Hoster, token: &str, method: Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
    call_as(&h.client, h.url(path), Some(token), method, body).await
}

fn value_of<'v>(variables: &'v Value, name: &str) -> &'v Value {
    variables["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("{name} is listed: {variables}"))
}

#[tokio::test]
async fn two_customers_each_get_their_own_generated_password() {
    let dir = tempfile::tempdir().unwrap();
    let admin = mint_token(dir.path(), "admin", "ops");
    let alice = mint_token(dir.path(), "customer", "alice");
    let bob = mint_token(dir.path(), "customer", "bob");
    let h = Hoster::start_in(dir, &[("HOSTER_AUTH_MODE", "token"), ("HOSTER_LOG", "debug")]).await;
    let (status, template) = call(
        &h,
        &admin,
        Method::POST,
        "/api/v1/templates",
        Some(&postgres_template()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{template}");
    let template = template["id"].as_str().unwrap().to_string();
    call(
        &h,
        &admin,
        Method::POST,
        &format!("/api/v1/templates/{template}/publish"),
        None,
    )
    .await;

    // A missing required value, an unknown name and a value for a built-in: one 400 naming each.
    let (status, refused) = call(
        &h,
        &alice,
        Method::POST,
        "/api/v1/deployments",
        Some(&json!({"template_id": template, "name": "shop", "variables": {"COLOR": "red", "HOSTER_URL": "x"}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let fields: Vec<&str> = refused["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["variables.COLOR", "variables.HOSTER_URL", "variables.DB_NAME"],
        "{refused}"
    );

    let mut mine = Vec::new();
    for (token, db) in [(&alice, "alicedb"), (&bob, "bobdb")] {
        let (status, d) = call(
            &h,
            token,
            Method::POST,
            "/api/v1/deployments",
            Some(&json!({"template_id": template, "name": format!("{db} site"), "variables": {"DB_NAME": db}})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{d}");
        let id = d["id"].as_str().unwrap().to_string();
        let (status, running) = call(
            &h,
            token,
            Method::POST,
            &format!("/api/v1/deployments/{id}/start"),
            None,
        )
        .await;
        assert_eq!(
            (status, running["status"].as_str()),
            (StatusCode::OK, Some("running")),
            "{running}"
        );
        let (_, hidden) = call(
            &h,
            token,
            Method::GET,
            &format!("/api/v1/deployments/{id}/variables"),
            None,
        )
        .await;
        assert_eq!(value_of(&hidden, "DB_PASSWORD")["value"], Value::Null, "{hidden}");
        assert_eq!(value_of(&hidden, "DB_PASSWORD")["source"], "generated");
        assert_eq!(value_of(&hidden, "DB_NAME")["value"], db);
        let (_, shown) = call(
            &h,
            token,
            Method::GET,
            &format!("/api/v1/deployments/{id}/variables?reveal=true"),
            None,
        )
        .await;
        let password = value_of(&shown, "DB_PASSWORD")["value"].as_str().unwrap().to_string();
        assert_eq!(password.len(), 24);
        assert!(password.chars().all(|c| c.is_ascii_alphanumeric()));
        let port = host_port(&running, "db", 5432);
        assert_eq!(psql(port, "app", &password, db, "select current_database()").await, db);
        // The built-in reached the container as Compose would set it.
        let url = value_of(&shown, "HOSTER_URL")["value"].as_str().unwrap().to_string();
        assert!(url.starts_with("http://") && url.contains(running["domain"].as_str().unwrap()));
        let labels = docker_inspect(&format!("hoster_{id}_db"), "{{index .Config.Labels \"site\"}}");
        assert_eq!(labels.trim(), url);
        mine.push((token.clone(), id, password, port, db));
    }
    let (alice_password, bob_password) = (&mine[0].2, &mine[1].2);
    assert_ne!(alice_password, bob_password);

    // Bob cannot read Alice's variables (not found, as for any deployment not his), and
    // neither password works for the other's database.
    let (status, _) = call(
        &h,
        &bob,
        Method::GET,
        &format!("/api/v1/deployments/{}/variables?reveal=true", mine[0].1),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let wrong = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &mine[0].3.to_string(),
            "-U",
            "app",
            "-d",
            "alicedb",
            "-tAc",
            "select 1",
        ])
        .env("PGPASSWORD", bob_password)
        .env("PGCONNECT_TIMEOUT", "2")
        .output()
        .unwrap();
    assert!(!wrong.status.success(), "Bob's password opened Alice's database");

    // Everything Bob can read, and every plain read by anyone, holds neither password.
    let mut seen = String::new();
    for (token, id) in [(&bob, &mine[1].1), (&alice, &mine[0].1), (&admin, &mine[0].1)] {
        for path in [
            "/api/v1/deployments".to_string(),
            format!("/api/v1/deployments/{id}"),
            format!("/api/v1/deployments/{id}/events"),
            format!("/api/v1/deployments/{id}/variables"),
            format!("/api/v1/templates/{template}"),
            "/api/v1/audit".to_string(),
        ] {
            seen.push_str(&call(&h, token, Method::GET, &path, None).await.1.to_string());
        }
    }
    assert!(
        !seen.contains(alice_password.as_str()) && !seen.contains(bob_password.as_str()),
        "{seen}"
    );
    let (_, audit) = call(&h, &admin, Method::GET, "/api/v1/audit", None).await;
    assert_eq!(
        audit_actions(&audit)
            .iter()
            .filter(|a| **a == "deployment.variables.reveal")
            .count(),
        2
    );

    // A change is checked as at create and applies at the next start.
    let (status, changed) = call(
        &h,
        &alice,
        Method::PATCH,
        &format!("/api/v1/deployments/{}/variables", mine[0].1),
        Some(&json!({"variables": {"DB_NAME": ""}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{changed}");
    let (status, changed) = call(
        &h,
        &alice,
        Method::PATCH,
        &format!("/api/v1/deployments/{}/variables", mine[0].1),
        Some(&json!({"variables": {"DB_NAME": "renamed"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert!(changed["message"].as_str().unwrap().contains("next start"), "{changed}");
    assert_eq!(value_of(&changed, "DB_NAME")["value"], "renamed");

    // Neither the log nor the database file and its WAL hold a password.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = std::fs::read_to_string(h.dir.path().join("hoster.log")).unwrap();
    assert!(log.contains("deployment.variables.reveal"), "the log is being written");
    for password in [alice_password, bob_password] {
        assert!(
            !log.contains(password.as_str()),
            "a password reached the log: {}",
            log.lines()
                .filter(|l| l.contains(password.as_str()))
                .collect::<Vec<_>>()
                .join("\n")
        );
        for file in ["hoster.db", "hoster.db-wal"] {
            let bytes = std::fs::read(h.dir.path().join(file)).unwrap_or_default();
            assert!(
                !bytes.windows(password.len()).any(|w| w == password.as_bytes()),
                "a password is in {file} in the clear"
            );
        }
    }
    for (token, id, ..) in &mine {
        call(&h, token, Method::DELETE, &format!("/api/v1/deployments/{id}"), None).await;
    }
}

#[tokio::test]
async fn a_value_that_would_reach_the_host_is_refused_at_create_naming_the_variable() {
    let h = Hoster::start().await;
    let template = h
        .publish(&json!({
            "name": "data-dir", "version": "1.0.0", "creator_id": "c",
            "compose_spec": "services:\n  app:\n    image: busybox\n    command: [\"sleep\", \"600\"]\n    volumes: [\"${DATA:-appdata}:/data\"]\n    environment:\n      GREETING: ${GREETING}\nvolumes:\n  appdata:\n",
            "variables": [{"name": "DATA"}, {"name": "GREETING", "default": "x\nprivileged: true"}],
        }))
        .await;
    let (status, refused) = h
        .request(
            Method::POST,
            "/api/v1/deployments",
            Some(&json!({"template_id": template, "customer_id": "c", "name": "escape", "variables": {"DATA": "/"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let message = refused["details"][0]["message"].as_str().unwrap();
    assert_eq!(refused["details"][0]["path"], "services.app.volumes[0]", "{refused}");
    assert!(message.ends_with("(with the value of DATA)"), "{refused}");
    let (_, list) = h.request(Method::GET, "/api/v1/deployments", None).await;
    assert_eq!(list["total"], 0, "nothing was stored");
    // A value with a newline stays one string: the container is not privileged.
    let id = h.create_deployment(&template, "fine").await;
    h.start_deployment(&id).await;
    let container = format!("hoster_{id}_app");
    assert_eq!(docker_inspect(&container, "{{.HostConfig.Privileged}}").trim(), "false");
    assert_eq!(
        exec(&container, &["sh", "-c", "printf %s \"$GREETING\""]),
        "x\nprivileged: true"
    );
    h.delete_deployment(&id).await;
}

#[tokio::test]
async fn configs_secrets_and_bound_config_files_are_files_in_the_container() {
    let h = Hoster::start().await;
    let template = h
        .publish(&json!({
            "name": "files", "version": "1.0.0", "creator_id": "c",
            "compose_spec": "services:\n  web:\n    image: nginx:alpine\n    ports: [\"80\"]\n    volumes: [\"./site.conf:/etc/nginx/conf.d/default.conf:ro\"]\n    secrets: [api_token]\n    configs: [{source: motd, target: /srv/motd, mode: 0440}]\nsecrets:\n  api_token:\n    environment: API_TOKEN\nconfigs:\n  motd:\n    content: \"hello ${HOSTER_DEPLOYMENT_NAME}\"\n",
            "config_files": [{"name": "site.conf", "path": "/etc/hoster/site.conf", "interpolate": true,
                              "content": "server { listen 80; location / { return 200 \"${GREETING}\\n\"; } }\n"}],
            "variables": [{"name": "API_TOKEN", "secret": true}, {"name": "GREETING", "default": "bound"}],
        }))
        .await;
    let id = h.create_deployment(&template, "files site").await;
    let running = h.start_deployment(&id).await;
    assert_eq!(running["status"], "running", "{running}");
    let web = format!("hoster_{id}_web");
    let (_, shown) = h
        .request(
            Method::GET,
            &format!("/api/v1/deployments/{id}/variables?reveal=true"),
            None,
        )
        .await;
    let token = value_of(&shown, "API_TOKEN")["value"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 32, "a secret without a default is generated");
    assert_eq!(exec(&web, &["cat", "/run/secrets/api_token"]), token);
    assert_eq!(exec(&web, &["cat", "/srv/motd"]), "hello files site");
    assert_eq!(exec(&web, &["stat", "-c", "%a", "/srv/motd"]).trim(), "440");
    let port = host_port(&running, "web", 80);
    assert_eq!(
        http_text(port, "/").await,
        "bound\n",
        "the bound config file is nginx's site"
    );
    h.delete_deployment(&id).await;
}

#[tokio::test]
async fn the_cli_imports_a_directory_with_the_files_it_binds() {
    let h = Hoster::start().await;
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("docker-compose.yml"),
        "name: site\nservices:\n  web:\n    image: nginx:alpine\n    ports: [\"80\"]\n    environment:\n      PASSWORD: ${SERVICE_PASSWORD_WEB}\n    volumes: [\"./conf/default.conf:/etc/nginx/conf.d/default.conf:ro\"]\n",
    )
    .unwrap();
    std::fs::create_dir(project.path().join("conf")).unwrap();
    std::fs::write(
        project.path().join("conf/default.conf"),
        "server { listen 80; location / { return 200 \"imported\\n\"; } }\n",
    )
    .unwrap();
    let api = h.url("");
    let import = |path: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hoster"))
            .args([
                "template",
                "import",
                path.to_str().unwrap(),
                "--creator",
                "c",
                "--api",
                &api,
            ])
            .output()
            .unwrap()
    };
    let out = import(project.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("converted services.web.volumes[0]: `./conf/default.conf` is the config file `default.conf`"),
        "{stdout}"
    );
    let id = stdout
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    assert!(id.starts_with("tmpl_"), "{stdout}");
    // The imported template deploys: the bound file is nginx's site, the password generated.
    h.request(Method::POST, &format!("/api/v1/templates/{id}/publish"), None)
        .await;
    let d = h.create_deployment(&id, "imported").await;
    let running = h.start_deployment(&d).await;
    assert_eq!(http_text(host_port(&running, "web", 80), "/").await, "imported\n");
    let password = exec(&format!("hoster_{d}_web"), &["printenv", "PASSWORD"]);
    assert_eq!(password.trim().len(), 32);
    h.delete_deployment(&d).await;

    std::fs::write(
        project.path().join("docker-compose.yml"),
        "services:\n  app:\n    build: .\n",
    )
    .unwrap();
    let out = import(&project.path().join("docker-compose.yml"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("refused services.app.build: not supported, use an image"),
        "{stdout}"
    );
}
