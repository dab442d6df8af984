//! The web console over plain HTTP, in local mode: every page renders with its headers, forms
//! are refused unless they come from the console's own pages, a refused deploy form keeps what
//! was typed (but never a secret). The browser flows are in `e2e::console`.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use serde_json::json;

use crate::helpers::*;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn page(app: &TestApp, path: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let r = no_redirects().get(app.url(path)).send().await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

/// The form token a page carries.
fn form_token(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("the page has a form") + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_string()
}

async fn publish(app: &TestApp, body: serde_json::Value) -> String {
    let id = app.create_template(&body).await["id"].as_str().unwrap().to_string();
    assert_eq!(app.post(&format!("/api/v1/templates/{id}/publish")).await.status(), 200);
    id
}

fn with_variables() -> serde_json::Value {
    json!({
        "name": "configurable",
        "version": "1.0.0",
        "creator_id": "ada",
        "category": "web",
        "compose_spec": "services:\n  web:\n    image: nginx:alpine\n    environment:\n      PORT: ${PORT}\n      MODE: ${MODE}\n      DB_PASSWORD: ${DB_PASSWORD}\n",
        "variables": [
            {"name": "PORT", "type": "number", "required": true},
            {"name": "MODE", "type": "enum", "options": ["fast", "safe"], "default": "safe"},
            {"name": "DB_PASSWORD", "type": "password"}
        ]
    })
}

#[tokio::test]
async fn every_page_renders_with_a_strict_policy_and_hashed_assets() {
    let app = spawn_app().await;
    let template = publish(&app, with_variables()).await;
    let body = json!({"template_id": template, "customer_id": "c1", "name": "site", "variables": {"PORT": 8080}});
    let (status, d) = status_json(app.post_json("/api/v1/deployments", &body).await).await;
    assert_eq!(status, 201, "{d}");
    let deployment = d["id"].as_str().unwrap();

    let (status, headers, _) = page(&app, "/").await;
    assert_eq!(
        (status, headers[LOCATION].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/ui/")
    );
    let pages = [
        "/ui/".to_string(),
        "/ui/?q=config&category=web&sort=price".into(),
        format!("/ui/templates/{template}"),
        "/ui/deployments".into(),
        "/ui/deployments?status=pending&customer_id=c1".into(),
        format!("/ui/deployments/{deployment}"),
        "/ui/studio".into(),
        "/ui/studio/new".into(),
        format!("/ui/studio/{template}"),
        "/ui/operator".into(),
        "/ui/operator/tokens".into(),
        "/ui/operator/audit".into(),
    ];
    let mut css = String::new();
    for path in &pages {
        let (status, headers, html) = page(&app, path).await;
        assert_eq!(status, 200, "{path}: {html}");
        assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8", "{path}");
        let policy = headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            policy.contains("default-src 'none'") && policy.contains("script-src 'self'"),
            "{path}: {policy}"
        );
        assert_eq!(headers[CACHE_CONTROL], "no-store", "{path}");
        assert!(
            html.contains("<html lang=\"en\">") && html.contains("local mode"),
            "{path}"
        );
        let at = html.find("/ui/assets/console.").unwrap();
        css = html[at..].split('"').next().unwrap().to_string();
    }
    let (_, _, one) = page(&app, &format!("/ui/deployments/{deployment}")).await;
    assert!(
        one.contains("site") && one.contains("pending") && one.contains("8080"),
        "{one}"
    );

    let (status, headers, text) = page(&app, &css).await;
    assert_eq!(
        (status, headers[CONTENT_TYPE].to_str().unwrap()),
        (StatusCode::OK, "text/css; charset=utf-8")
    );
    assert!(headers[CACHE_CONTROL].to_str().unwrap().contains("immutable"));
    assert!(text.contains(".status"));
    let (status, _, text) = page(&app, "/ui/assets/console.000000000000.css").await;
    assert_eq!(status, 404);
    assert!(text.contains("older version"), "{text}");
    let (status, _, html) = page(&app, "/ui/no/such/page").await;
    assert_eq!(status, 404);
    assert!(html.contains("Not found"), "{html}");
    let (status, _, html) = page(&app, "/ui/deployments/depl_unknown").await;
    assert_eq!(status, 404);
    assert!(html.contains("no deployment"), "{html}");
    // The API keeps its JSON answers beside the console.
    let (status, _, text) = page(&app, "/api/v1/nope").await;
    assert_eq!(status, 404);
    assert!(text.contains("\"code\":\"not_found\""), "{text}");
}

#[tokio::test]
async fn forms_need_this_origin_and_the_pages_form_token() {
    let app = spawn_app().await;
    let template = publish(&app, template("plain")).await;
    let (_, _, html) = page(&app, &format!("/ui/templates/{template}")).await;
    let token = form_token(&html);
    let origin = format!("http://{}", app.addr);
    let action = app.url(&format!("/ui/templates/{template}/deploy"));
    let post = |origin: Option<&str>, form: Vec<(&str, &str)>| {
        let mut r = no_redirects().post(&action).form(&form);
        if let Some(o) = origin {
            r = r.header("Origin", o);
        }
        async move {
            let r = r.send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let form = |csrf| vec![("csrf", csrf), ("name", "site"), ("customer_id", "c1")];

    let (status, text) = post(None, form(&token)).await;
    assert_eq!(status, 403, "no Origin, no Sec-Fetch-Site: {text}");
    let (status, text) = post(Some("http://site.apps.localhost:9090"), form(&token)).await;
    assert_eq!(status, 403);
    assert!(text.contains("another site"), "{text}");
    let (status, text) = post(Some(&origin), form("forged")).await;
    assert_eq!(status, 403);
    assert!(text.contains("expired"), "{text}");
    let none: Vec<serde_json::Value> = Vec::new();
    let (_, listed) = status_json(app.get("/api/v1/deployments").await).await;
    assert_eq!(listed["deployments"].as_array().unwrap(), &none, "nothing was created");

    let too_big = "x".repeat(2 << 20);
    let (status, _) = post(Some(&origin), vec![("csrf", &token), ("name", &too_big)]).await;
    assert_eq!(status, 413);
    let (status, _) = post(Some(&origin), form(&token)).await;
    assert_eq!(status, 303);
    let (_, listed) = status_json(app.get("/api/v1/deployments").await).await;
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["deployments"][0]["customer_id"], "c1");
}

#[tokio::test]
async fn a_refused_deploy_form_shows_each_error_beside_its_field_and_never_a_secret() {
    let app = spawn_app().await;
    let template = publish(&app, with_variables()).await;
    let (_, _, html) = page(&app, &format!("/ui/templates/{template}")).await;
    assert!(
        html.contains("type=\"password\""),
        "a password variable gets a password input"
    );
    assert!(html.contains("<option value=\"fast\""), "an enum is a select");
    assert!(html.contains("Generated for you when left empty."));
    let send = |name: &'static str| {
        let form = [
            ("csrf", form_token(&html)),
            ("name", name.to_string()),
            ("customer_id", "c1".into()),
            ("var.PORT", "not a number".into()),
            ("var.MODE", "fast".into()),
            ("var.DB_PASSWORD", "hunter2-very-secret".into()),
        ];
        let request = no_redirects()
            .post(app.url(&format!("/ui/templates/{template}/deploy")))
            .header("Origin", format!("http://{}", app.addr))
            .form(&form);
        async move {
            let r = request.send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let (status, html) = send("").await;
    assert_eq!(status, 400);
    assert!(html.contains("id=\"f-name-error\""), "{html}");
    let (status, html) = send("site").await;
    assert_eq!(status, 400);
    assert!(html.contains("id=\"v-PORT-error\""), "{html}");
    assert!(html.contains("value=\"not a number\""), "what was typed is kept");
    assert!(html.contains("<option value=\"fast\" selected>"), "the choice is kept");
    assert!(!html.contains("hunter2-very-secret"), "a secret is not sent back");
}

#[tokio::test]
async fn secrets_show_only_when_asked_and_the_reveal_is_audited() {
    let app = spawn_app().await;
    let template = publish(&app, with_variables()).await;
    let body = json!({"template_id": template, "customer_id": "c1", "name": "site", "variables": {"PORT": 1}});
    let (_, d) = status_json(app.post_json("/api/v1/deployments", &body).await).await;
    let id = d["id"].as_str().unwrap();
    let (_, values) = status_json(
        app.get(&format!("/api/v1/deployments/{id}/variables?reveal=true"))
            .await,
    )
    .await;
    let password = values["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "DB_PASSWORD")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(password.len(), 32, "generated");

    let (_, _, html) = page(&app, &format!("/ui/deployments/{id}")).await;
    assert!(!html.contains(&password), "a secret is not on the page until asked for");
    assert!(html.contains("id=\"reveal\""));
    let r = no_redirects()
        .post(app.url(&format!("/ui/deployments/{id}/secrets")))
        .header("Origin", format!("http://{}", app.addr))
        .form(&[("csrf", form_token(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains(&password));
    let (_, audit) = status_json(app.get("/api/v1/audit?limit=100").await).await;
    let reveals = audit_actions(&audit)
        .into_iter()
        .filter(|a| *a == "deployment.variables.reveal")
        .count();
    assert_eq!(reveals, 2, "the API's reveal and the console's: {audit}");
}

#[tokio::test]
async fn a_deployments_page_backs_it_up_and_restores_it() {
    let app = spawn_app().await;
    let compose = "services:\n  app:\n    image: busybox\n    command: [\"sh\", \"-c\", \"[ -e /data/f ] || echo first > /data/f; exec sleep 3600\"]\n    stop_grace_period: 1s\n    volumes:\n      - data:/data\nvolumes:\n  data: {}\n";
    let template = publish(
        &app,
        json!({"name": "kept", "version": "1.0.0", "creator_id": "ada", "compose_spec": compose}),
    )
    .await;
    let body = json!({"template_id": template, "customer_id": "c1", "name": "kept"});
    let (_, d) = status_json(app.post_json("/api/v1/deployments", &body).await).await;
    let id = d["id"].as_str().unwrap().to_string();
    let (status, started) = status_json(app.post(&format!("/api/v1/deployments/{id}/start")).await).await;
    assert_eq!(status, 200, "{started}");
    let (_, _, html) = page(&app, &format!("/ui/deployments/{id}")).await;
    assert!(html.contains("id=\"back-up\"") && html.contains("None yet."), "{html}");
    let post = |path: String, token: String| {
        let request = no_redirects()
            .post(app.url(&path))
            .header("Origin", format!("http://{}", app.addr))
            .form(&[("csrf", token)]);
        async move { request.send().await.unwrap() }
    };
    let r = post(format!("/ui/deployments/{id}/backups"), form_token(&html)).await;
    assert_eq!(r.status(), 303);
    assert!(r.headers()[LOCATION].to_str().unwrap().ends_with("notice=backed_up"));
    let (_, _, html) = page(&app, &format!("/ui/deployments/{id}?notice=backed_up")).await;
    assert!(
        html.contains("Backup taken.") && html.contains("<td>data</td>"),
        "{html}"
    );
    let (_, listed) = status_json(app.get(&format!("/api/v1/deployments/{id}/backups")).await).await;
    let bid = listed[0]["id"].as_str().unwrap();
    assert!(html.contains(&format!("/backups/{bid}/restore")));
    let r = post(format!("/ui/deployments/{id}/backups/{bid}/restore"), form_token(&html)).await;
    assert_eq!(r.status(), 303);
    assert!(r.headers()[LOCATION].to_str().unwrap().ends_with("notice=restored"));
    let (_, d) = status_json(app.get(&format!("/api/v1/deployments/{id}")).await).await;
    assert_eq!(d["status"], "running");
    assert!(
        app.delete(&format!("/api/v1/deployments/{id}"))
            .await
            .status()
            .is_success()
    );
}
