//! Every route and error of the Templates API.

use hoster::config::DockerHost;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn health_and_readiness() {
    require_docker();
    let app = spawn_app().await;
    let (status, body) = status_json(app.get("/health").await).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, body) = status_json(app.get("/ready").await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"status": "ready", "database": "ok", "docker": "ok"}));
}

#[tokio::test]
async fn readiness_names_the_engine_when_it_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("no-docker.sock");
    let app = spawn_app_in(dir, hoster::config::DockerHost::Unix(socket)).await;
    let (status, body) = status_json(app.get("/ready").await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["database"], "ok");
    assert!(
        body["docker"]
            .as_str()
            .unwrap()
            .contains("cannot reach the Docker engine"),
        "{body}"
    );
}

#[tokio::test]
async fn the_spec_examples_are_all_accepted() {
    let app = spawn_app().await;
    for (name, body) in examples() {
        let created = app.create_template(&body).await;
        assert_eq!(created["name"], body["name"], "{name}");
        assert_eq!(
            created["slug"], body["name"],
            "{name}: the example names are already slugs"
        );
        assert_eq!(created["compose_spec"], body["compose_spec"]);
        assert_eq!(created["published"], false);
        assert!(created["id"].as_str().unwrap().starts_with("tmpl_"));
    }
    let (_, list) = status_json(app.get("/api/v1/templates").await).await;
    assert_eq!(list["total"], 10);
}

#[tokio::test]
async fn create_returns_every_field_and_get_reads_it_back() {
    let app = spawn_app().await;
    let body = json!({
        "name": "My Web App",
        "version": "2.1.0",
        "creator_id": "creator-7",
        "description": "A site",
        "compose_spec": "services:\n  web:\n    image: nginx:alpine\n",
        "config_files": [{"name": "index.html", "path": "/usr/share/nginx/html/index.html", "content": "<h1>${SITE_TITLE}</h1>", "interpolate": true}],
        "variables": [{"name": "SITE_TITLE", "description": "Title", "type": "string", "default": "Hi", "required": false, "secret": false}],
        "price_monthly": 500,
        "category": "web",
        "tags": ["nginx", "static"]
    });
    let response = app.post_json("/api/v1/templates", &body).await;
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let (status, created) = status_json(response).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        location,
        format!("/api/v1/templates/{}", created["id"].as_str().unwrap())
    );
    for key in [
        "name",
        "version",
        "creator_id",
        "description",
        "compose_spec",
        "config_files",
        "variables",
        "price_monthly",
        "category",
        "tags",
    ] {
        assert_eq!(created[key], body[key], "{key}");
    }
    assert_eq!(created["slug"], "my-web-app");
    assert_eq!(created["created_at"], created["updated_at"]);
    let (status, fetched) = status_json(app.get(&location).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, created);
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_not_found() {
    let app = spawn_app().await;
    for id in [
        "tmpl_aaaaaaaaaaaaaaaa",
        "nope",
        "tmpl_..%2F..%2Fetc",
        "depl_aaaaaaaaaaaaaaaa",
    ] {
        let path = format!("/api/v1/templates/{id}");
        assert_error(app.get(&path).await, StatusCode::NOT_FOUND, "template_not_found").await;
        assert_error(
            app.put_json(&path, &json!({"price_monthly": 1})).await,
            StatusCode::NOT_FOUND,
            "template_not_found",
        )
        .await;
        assert_error(app.delete(&path).await, StatusCode::NOT_FOUND, "template_not_found").await;
        assert_error(
            app.post(&format!("{path}/publish")).await,
            StatusCode::NOT_FOUND,
            "template_not_found",
        )
        .await;
    }
}

#[tokio::test]
async fn validation_reports_every_problem_with_its_path() {
    let app = spawn_app().await;
    let body = json!({
        "name": "",
        "version": "one",
        "creator_id": "user-1",
        "price_monthly": -5,
        "compose_spec": "services:\n  web:\n    build: .\n    image: nginx\n  db:\n    image: postgres\n    cpus: lots\n"
    });
    let error = assert_error(
        app.post_json("/api/v1/templates", &body).await,
        StatusCode::BAD_REQUEST,
        "validation_error",
    )
    .await;
    let details: Vec<String> = error["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{} {} {}",
                d["field"].as_str().unwrap(),
                d["path"].as_str().unwrap_or("-"),
                d["message"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        details,
        vec![
            "name - required",
            "version - `one` is not a semantic version such as 1.0.0",
            "price_monthly - must be a whole number of cents from 0 to 100000000",
            "compose_spec services.web.build not supported, use an image",
            "compose_spec services.db.cpus `lots` is not a CPU count; write it like 0.5 or 2",
        ]
    );
    assert!(error["error"].as_str().unwrap().contains("and 4 more problems"));
}

#[tokio::test]
async fn unknown_fields_and_wrong_types_are_rejected() {
    let app = spawn_app().await;
    let mut body = template("typo");
    body["descripton"] = json!("misspelled");
    let error = assert_error(
        app.post_json("/api/v1/templates", &body).await,
        StatusCode::BAD_REQUEST,
        "validation_error",
    )
    .await;
    assert!(
        error["error"].as_str().unwrap().contains("unknown field `descripton`"),
        "{error}"
    );
    let mut body = template("wrong-type");
    body["price_monthly"] = json!("free");
    let error = assert_error(
        app.post_json("/api/v1/templates", &body).await,
        StatusCode::BAD_REQUEST,
        "validation_error",
    )
    .await;
    assert_eq!(error["details"][0]["field"], "price_monthly", "{error}");
    let mut body = template("nested");
    body["config_files"] = json!([{"name": "a", "path": "/a", "content": "", "owner": "root"}]);
    let error = assert_error(
        app.post_json("/api/v1/templates", &body).await,
        StatusCode::BAD_REQUEST,
        "validation_error",
    )
    .await;
    assert_eq!(error["details"][0]["field"], "config_files[0].owner", "{error}");
    assert_error(
        app.post_json("/api/v1/templates", &json!([1, 2])).await,
        StatusCode::BAD_REQUEST,
        "validation_error",
    )
    .await;
}

#[tokio::test]
async fn slug_and_version_are_unique_and_a_new_version_is_a_new_template() {
    let app = spawn_app().await;
    let first = app.create_template(&template("Site")).await;
    assert_error(
        app.post_json("/api/v1/templates", &template("site")).await,
        StatusCode::CONFLICT,
        "template_exists",
    )
    .await;
    let mut next = template("Site");
    next["version"] = json!("1.1.0");
    let second = app.create_template(&next).await;
    assert_eq!(second["slug"], first["slug"]);
    assert_ne!(second["id"], first["id"]);
}

#[tokio::test]
async fn update_is_partial_and_refused_once_published() {
    let app = spawn_app().await;
    let created = app.create_template(&template("editable")).await;
    let path = format!("/api/v1/templates/{}", created["id"].as_str().unwrap());
    let (status, updated) = status_json(
        app.put_json(
            &path,
            &json!({"description": "Updated description", "price_monthly": 500}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["description"], "Updated description");
    assert_eq!(updated["price_monthly"], 500);
    assert_eq!(updated["name"], "editable");
    assert_eq!(updated["compose_spec"], created["compose_spec"]);
    assert_eq!(status_json(app.get(&path).await).await.1, updated);

    let bad = app
        .put_json(&path, &json!({"compose_spec": "services:\n  web:\n    build: ."}))
        .await;
    assert_error(bad, StatusCode::BAD_REQUEST, "validation_error").await;
    let steal = app.put_json(&path, &json!({"creator_id": "someone-else"})).await;
    assert_error(steal, StatusCode::BAD_REQUEST, "validation_error").await;

    let (status, published) = status_json(app.post(&format!("{path}/publish")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(published["published"], true);
    let refused = app.put_json(&path, &json!({"description": "again"})).await;
    assert_error(refused, StatusCode::CONFLICT, "template_published").await;
    assert_eq!(
        status_json(app.get(&path).await).await.1["description"],
        "Updated description"
    );
    assert_error(
        app.post(&format!("{path}/publish")).await,
        StatusCode::CONFLICT,
        "already_published",
    )
    .await;
}

#[tokio::test]
async fn delete_is_refused_while_a_deployment_references_the_template() {
    let app = spawn_app().await;
    let created = app.create_template(&template("in-use")).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v1/templates/{id}");
    // The Deployments API arrives with the runtime; the row it would write is enough here.
    let db = sqlx::SqlitePool::connect(&format!("sqlite:{}", app.db_path().display()))
        .await
        .unwrap();
    sqlx::query("INSERT INTO deployments (id, name, template_id, customer_id, status, created_at, updated_at) VALUES ('depl_aaaaaaaaaaaaaaaa', 'd', ?1, 'c', 'pending', 'now', 'now')")
        .bind(id)
        .execute(&db)
        .await
        .unwrap();
    let error = assert_error(app.delete(&path).await, StatusCode::CONFLICT, "template_in_use").await;
    assert!(error["error"].as_str().unwrap().contains("1 deployment"), "{error}");
    assert_eq!(app.get(&path).await.status(), StatusCode::OK);
    sqlx::query("DELETE FROM deployments").execute(&db).await.unwrap();
    let response = app.delete(&path).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.text().await.unwrap().is_empty());
    assert_error(app.get(&path).await, StatusCode::NOT_FOUND, "template_not_found").await;
    assert_error(app.delete(&path).await, StatusCode::NOT_FOUND, "template_not_found").await;
}

async fn list(app: &TestApp, query: &str) -> Value {
    let (status, body) = status_json(app.get(&format!("/api/v1/templates{query}")).await).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body
}

fn names(list: &Value) -> Vec<String> {
    list["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn list_pages_newest_first_with_true_totals_and_filters() {
    let app = spawn_app().await;
    for i in 0..25 {
        let mut body = template(&format!("app {i:02}"));
        body["creator_id"] = json!(if i % 5 == 0 { "alice" } else { "bob" });
        body["description"] = json!(if i == 7 { "has 100%_discount" } else { "plain" });
        let created = app.create_template(&body).await;
        if i % 2 == 0 {
            app.post(&format!(
                "/api/v1/templates/{}/publish",
                created["id"].as_str().unwrap()
            ))
            .await;
        }
    }
    let first = list(&app, "").await;
    assert_eq!(
        (
            first["total"].as_u64(),
            first["limit"].as_u64(),
            first["offset"].as_u64()
        ),
        (Some(25), Some(20), Some(0))
    );
    assert_eq!(names(&first).len(), 20);
    assert_eq!(names(&first)[0], "app 24", "newest first");
    let last = list(&app, "?limit=10&offset=20").await;
    assert_eq!(names(&last), vec!["app 04", "app 03", "app 02", "app 01", "app 00"]);
    assert_eq!(last["total"], 25);
    let past = list(&app, "?offset=1000").await;
    assert_eq!((names(&past).len(), past["total"].as_u64()), (0, Some(25)));
    let max = list(&app, "?limit=100").await;
    assert_eq!(names(&max).len(), 25);

    assert_error(
        app.get("/api/v1/templates?limit=0").await,
        StatusCode::BAD_REQUEST,
        "validation_error",
    )
    .await;
    assert_error(
        app.get("/api/v1/templates?limit=101").await,
        StatusCode::BAD_REQUEST,
        "validation_error",
    )
    .await;
    assert_error(
        app.get("/api/v1/templates?limit=-1").await,
        StatusCode::BAD_REQUEST,
        "validation_error",
    )
    .await;
    assert_error(
        app.get("/api/v1/templates?offset=x").await,
        StatusCode::BAD_REQUEST,
        "validation_error",
    )
    .await;
    assert_error(
        app.get("/api/v1/templates?creator=alice").await,
        StatusCode::BAD_REQUEST,
        "validation_error",
    )
    .await;

    let alice = list(&app, "?creator_id=alice").await;
    assert_eq!(alice["total"], 5);
    assert_eq!(names(&alice), vec!["app 20", "app 15", "app 10", "app 05", "app 00"]);
    let published = list(&app, "?published=true&limit=5").await;
    assert_eq!((published["total"].as_u64(), names(&published).len()), (Some(13), 5));
    assert_eq!(list(&app, "?published=false").await["total"], 12);
    let both = list(&app, "?published=true&creator_id=alice").await;
    assert_eq!(names(&both), vec!["app 20", "app 10", "app 00"]);
    assert_eq!(
        names(&list(&app, "?q=APP%2007").await),
        vec!["app 07"],
        "q matches names case-insensitively"
    );
    assert_eq!(
        names(&list(&app, "?q=100%25_").await),
        vec!["app 07"],
        "q matches descriptions; % and _ are literal"
    );
    assert_eq!(list(&app, "?q=%25").await["total"], 1);
    assert_eq!(list(&app, "?q=zzz").await["total"], 0);
}

#[tokio::test]
async fn rows_survive_a_restart_of_the_server() {
    let app = spawn_app().await;
    let created = app.create_template(&template("durable")).await;
    let id = created["id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/templates/{id}/publish")).await;
    let dir = app.stop().await;
    let app = spawn_app_in(dir, hoster::config::DockerHost::Unix(DOCKER_SOCKET.into())).await;
    let (status, fetched) = status_json(app.get(&format!("/api/v1/templates/{id}")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["name"], "durable");
    assert_eq!(fetched["published"], true);
    assert_eq!(list(&app, "").await["total"], 1);
}

#[tokio::test]
async fn totals_follow_every_write() {
    let app = spawn_app().await;
    let total = async |query: &str| list(&app, query).await["total"].as_u64().unwrap();
    assert_eq!(
        (total("").await, total("?published=true").await, total("?q=fresh").await),
        (0, 0, 0)
    );
    let created = app.create_template(&template("fresh one")).await;
    let path = format!("/api/v1/templates/{}", created["id"].as_str().unwrap());
    assert_eq!(
        (total("").await, total("?published=true").await, total("?q=fresh").await),
        (1, 0, 1)
    );
    app.put_json(&path, &json!({"name": "renamed"})).await;
    assert_eq!((total("?q=fresh").await, total("?q=renamed").await), (0, 1));
    app.post(&format!("{path}/publish")).await;
    assert_eq!(
        (total("?published=true").await, total("?published=false").await),
        (1, 0)
    );
    assert_eq!(app.delete(&path).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        (
            total("").await,
            total("?published=true").await,
            total("?q=renamed").await
        ),
        (0, 0, 0)
    );
}

/// Listed pages are served from memory between writes; each write must show at once.
#[tokio::test]
async fn listed_pages_follow_every_write() {
    let app = spawn_app().await;
    let created = app.create_template(&template("cached")).await;
    let path = format!("/api/v1/templates/{}", created["id"].as_str().unwrap());
    let first_listed = async || list(&app, "?limit=5").await["templates"][0].clone();
    let current = async || status_json(app.get(&path).await).await.1;
    assert_eq!(first_listed().await, current().await);
    assert_eq!(first_listed().await, current().await, "a second read, from the cache");
    let writes: [(&str, Option<Value>); 4] = [
        ("PUT", Some(json!({"name": "renamed", "tags": ["x"]}))),
        ("POST /trust", None),
        ("POST /publish", None),
        ("DELETE /trust", None),
    ];
    for (write, body) in writes {
        let response = match (write, body) {
            ("PUT", Some(body)) => app.put_json(&path, &body).await,
            ("POST /trust", _) => app.post(&format!("{path}/trust")).await,
            ("POST /publish", _) => app.post(&format!("{path}/publish")).await,
            _ => app.delete(&format!("{path}/trust")).await,
        };
        assert!(response.status().is_success(), "{write}: {}", response.status());
        assert_eq!(first_listed().await, current().await, "after {write}");
    }
    let listed = first_listed().await;
    assert_eq!(
        (&listed["name"], &listed["published"], &listed["trusted"]),
        (&json!("renamed"), &json!(true), &json!(false))
    );
}

#[tokio::test]
async fn import_turns_a_compose_file_as_found_into_a_template() {
    let app = spawn_app().await;
    let compose = "name: wiki
services:
  wiki:
    image: nginx:alpine
    ports: [\"8080:80\"]
    environment:
      DB_PASS: ${SERVICE_PASSWORD_DB}
      SITE: ${SERVICE_URL_WIKI}
      TITLE: ${WIKI_TITLE:-My wiki}
    volumes:
      - ./default.conf:/etc/nginx/conf.d/default.conf:ro
";
    let response = app
        .post_json(
            "/api/v1/templates/import",
            &json!({"compose": compose, "files": {"default.conf": "server { listen 80; }\n"}, "creator_id": "importer"}),
        )
        .await;
    let (status, report) = status_json(response).await;
    assert_eq!(status, StatusCode::CREATED, "{report}");
    let template = &report["template"];
    assert_eq!(template["name"], "wiki");
    assert_eq!(template["published"], false);
    let names: Vec<&str> = template["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["SERVICE_PASSWORD_DB", "WIKI_TITLE"]);
    assert_eq!(template["config_files"][0]["path"], "/etc/nginx/conf.d/default.conf");
    assert!(template["compose_spec"].as_str().unwrap().contains("${HOSTER_URL}"));
    let paths: Vec<&str> = report["converted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "services.wiki.volumes[0]",
            "services.wiki.environment.DB_PASS",
            "services.wiki.environment.SITE",
            "services.wiki.environment.TITLE"
        ]
    );

    // What stays refused is listed with its path and reason, and nothing is stored.
    let refused =
        "services:\n  app:\n    build: .\n    image: x\n    privileged: true\n    volumes: [\"./data:/data\"]\n";
    let (status, report) = status_json(
        app.post_json(
            "/api/v1/templates/import",
            &json!({"compose": refused, "name": "refused", "creator_id": "importer"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
    assert_eq!(report["template"], serde_json::Value::Null);
    let refusals: Vec<&str> = report["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap_or_else(|| panic!("{report}")))
        .collect();
    assert_eq!(
        refusals,
        // The policy (privileged) speaks once the document parses.
        ["services.app.build", "services.app.volumes[0]"],
        "{report}"
    );
    let (_, list) = status_json(app.get("/api/v1/templates").await).await;
    assert_eq!(list["total"], 1);
}

#[tokio::test]
async fn a_lost_key_is_a_clear_error_and_the_right_key_opens_everything_again() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_in(dir, DockerHost::Unix(DOCKER_SOCKET.into())).await;
    let created = app
        .create_template(&json!({
            "name": "keyed", "version": "1.0.0", "creator_id": "c",
            "compose_spec": "services:\n  web:\n    image: nginx:alpine\n    environment:\n      K: ${API_KEY}\n      P: ${PASSWORD}\n",
            "variables": [{"name": "API_KEY", "secret": true, "default": "creator-key"}, {"name": "PASSWORD", "type": "password"}]
        }))
        .await;
    let template = created["id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/templates/{template}/publish")).await;
    let (status, d) = status_json(
        app.post_json(
            "/api/v1/deployments",
            &json!({"template_id": template, "customer_id": "c", "name": "keyed"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let id = d["id"].as_str().unwrap().to_string();
    let reveal = format!("/api/v1/deployments/{id}/variables?reveal=true");
    let (_, before) = status_json(app.get(&reveal).await).await;
    let db = app.db_path();
    let dir = app.stop().await;
    let key_file = format!("{}.key", db.display());
    let key = std::fs::read_to_string(&key_file).unwrap();

    // Another key: the sealed values do not open, and the answer says which setting to fix.
    std::fs::write(&key_file, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap();
    let app = spawn_app_in(dir, DockerHost::Unix(DOCKER_SOCKET.into())).await;
    let (status, error) = status_json(app.get(&reveal).await).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{error}");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("HOSTER_SECRET_KEY or the key file"),
        "{error}"
    );
    let (status, _) = status_json(app.get(&format!("/api/v1/templates/{template}")).await).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);

    // The right key back: everything reads as before.
    let dir = app.stop().await;
    std::fs::write(&key_file, key).unwrap();
    let app = spawn_app_in(dir, DockerHost::Unix(DOCKER_SOCKET.into())).await;
    let (status, after) = status_json(app.get(&reveal).await).await;
    assert_eq!(status, StatusCode::OK);
    // The template's two variables as before (HOSTER_URL names the new server's port).
    assert_eq!(after["variables"][0], before["variables"][0]);
    assert_eq!(after["variables"][1], before["variables"][1]);
}

#[tokio::test]
async fn versions_of_one_product_are_listed_copied_deprecated_and_offered_as_upgrades() {
    let app = spawn_app().await;
    let blog = |version: &str, creator: &str| {
        json!({"name": "Blog", "version": version, "creator_id": creator,
               "compose_spec": "services:\n  web:\n    image: nginx:alpine\n"})
    };
    let create = |body: Value| {
        let app = &app;
        async move { status_json(app.post_json("/api/v1/templates", &body).await).await }
    };
    let (status, v1) = create(blog("1.0.0", "c1")).await;
    assert_eq!(status, StatusCode::CREATED, "{v1}");
    let v1_id = v1["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.post(&format!("/api/v1/templates/{v1_id}/publish")).await.status(),
        StatusCode::OK
    );

    // A copy to edit, newer than every version.
    let versions = format!("/api/v1/templates/{v1_id}/versions");
    let (status, body) = status_json(app.post_json(&versions, &json!({"version": "1.0.0"})).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("version_not_newer")),
        "{body}"
    );
    let (status, body) = status_json(app.post_json(&versions, &json!({})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, v2) = status_json(app.post_json(&versions, &json!({"version": "1.10.0"})).await).await;
    assert_eq!(status, StatusCode::CREATED, "{v2}");
    assert_eq!(
        (v2["slug"].as_str(), v2["published"].as_bool()),
        (Some("blog"), Some(false))
    );
    assert_eq!(v2["compose_spec"], v1["compose_spec"], "a copy");
    let v2_id = v2["id"].as_str().unwrap().to_string();

    // A create with the same name is another version of the creator's product; another
    // creator cannot take the name.
    let (status, old) = create(blog("1.9.0", "c1")).await;
    assert_eq!(status, StatusCode::CREATED, "{old}");
    let (status, body) = create(blog("3.0.0", "c2")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("template_exists")),
        "{body}"
    );
    let (status, listed) = status_json(app.get(&versions).await).await;
    assert_eq!(status, StatusCode::OK);
    let order: Vec<&str> = listed["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        ["1.10.0", "1.9.0", "1.0.0"],
        "newest first in semver order, not text order"
    );

    // A deployment of 1.0.0 is offered the newest published version once there is one.
    let (status, d) = status_json(
        app.post_json(
            "/api/v1/deployments",
            &json!({"template_id": v1_id, "customer_id": "alice", "name": "my blog"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let d_path = format!("/api/v1/deployments/{}", d["id"].as_str().unwrap());
    assert_eq!(
        (d["upgrade_available"].clone(), d["template_deprecated"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(
        app.post(&format!("/api/v1/templates/{v2_id}/publish")).await.status(),
        StatusCode::OK
    );
    let (_, d) = status_json(app.get(&d_path).await).await;
    assert_eq!(
        d["upgrade_available"],
        json!({"template_id": v2_id, "version": "1.10.0"}),
        "{d}"
    );

    // Deprecation: the deployment says so; new deployments of that version are refused.
    let deprecate = format!("/api/v1/templates/{v1_id}/deprecate");
    let (status, _) = status_json(app.post_json(&deprecate, &json!({"message": " "})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, t) = status_json(
        app.post_json(&deprecate, &json!({"message": "1.0 leaks memory; upgrade to 1.10"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["deprecation_message"], "1.0 leaks memory; upgrade to 1.10");
    assert!(t["deprecated_at"].is_string());
    let (_, d) = status_json(app.get(&d_path).await).await;
    assert_eq!(d["template_deprecated"], "1.0 leaks memory; upgrade to 1.10");
    let (_, page) = status_json(app.get("/api/v1/deployments").await).await;
    assert_eq!(
        page["deployments"][0]["upgrade_available"]["version"], "1.10.0",
        "lists say it too"
    );
    let (status, body) = status_json(
        app.post_json(
            "/api/v1/deployments",
            &json!({"template_id": v1_id, "customer_id": "bob", "name": "late"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "template_deprecated");
    assert!(body["error"].as_str().unwrap().contains("leaks memory"), "{body}");
    // An unpublished version cannot be deprecated (it can be deleted).
    let (status, body) = status_json(
        app.post_json(
            &format!("/api/v1/templates/{}/deprecate", old["id"].as_str().unwrap()),
            &json!({"message": "old"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("template_not_published"))
    );
}
