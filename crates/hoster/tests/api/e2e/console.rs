//! The web console in a real browser (headless Chromium over WebDriver), against the real
//! binary and Docker engine, in token mode: what customers, creators and admins do with it,
//! and what it refuses.

use reqwest::Method;
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::helpers::*;

/// Starts Hoster in token mode with tokens minted for `who` (role, subject); their tokens.
async fn hoster_with(who: &[(&str, &str)]) -> (Hoster, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = who
        .iter()
        .map(|(role, subject)| mint_token(dir.path(), role, subject))
        .collect();
    let h = Hoster::start_in(dir, &[("HOSTER_AUTH_MODE", "token")]).await;
    (h, tokens)
}

/// The deployment as the API shows it to `token`: status and body.
async fn deployment(h: &Hoster, token: &str, id: &str) -> (reqwest::StatusCode, Value) {
    call_as(
        &h.client,
        h.url(&format!("/api/v1/deployments/{id}")),
        Some(token),
        Method::GET,
        None,
    )
    .await
}

async fn sign_in(b: &Browser, h: &Hoster, token: &str) {
    b.goto(&h.url("/ui/")).await;
    assert!(
        b.url().await.contains("/ui/sign-in"),
        "a signed-out browser is sent to sign in"
    );
    b.fill("#token", token).await;
    b.click("button[type=submit]").await;
    b.find("header .who").await;
}

/// The spec's "Complete Workflow" template, published by `creator`.
async fn publish_workflow(h: &Hoster, token: &str) -> String {
    let template = json!({
        "name": "my-webapp",
        "version": "1.0.0",
        "creator_id": "admin",
        "description": "The README's complete workflow: nginx with its own page.",
        "category": "web",
        "tags": ["static"],
        "compose_spec": "services:\n  web:\n    image: nginx:alpine\n    ports:\n      - \"8888:80\"",
        "config_files": [{
            "name": "index.html",
            "path": "/usr/share/nginx/html/index.html",
            "content": "<h1>Welcome to My App!</h1>"
        }]
    });
    let (status, created) = call_as(
        &h.client,
        h.url("/api/v1/templates"),
        Some(token),
        Method::POST,
        Some(&template),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (status, _) = call_as(
        &h.client,
        h.url(&format!("/api/v1/templates/{id}/publish")),
        Some(token),
        Method::POST,
        None,
    )
    .await;
    assert_eq!(status, 200);
    id
}

#[tokio::test]
async fn a_customer_deploys_the_complete_workflow_watches_it_and_removes_it() {
    let (h, tokens) = hoster_with(&[("creator", "admin"), ("customer", "customer-123")]).await;
    let template = publish_workflow(&h, &tokens[0]).await;
    // The starter templates beside it, as an operator's catalog would have them.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hoster"))
        .args(["catalog", "import", "--creator", "admin"])
        .env("HOSTER_URL", h.url(""))
        .env("HOSTER_TOKEN", &tokens[0])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let b = Browser::start().await;
    sign_in(&b, &h, &tokens[1]).await;

    // The catalog: search finds it, the template page shows what it runs.
    b.wait_for_text("main", "13 templates", 10).await;
    b.screenshots("catalog").await;
    b.fill("#q", "webapp").await;
    b.click(".filters button").await;
    b.wait_for_url("q=webapp").await;
    b.wait_for_text("main", "1 template", 10).await;
    b.click(&format!("a[href='/ui/templates/{template}']")).await;
    let page = b.body().await;
    assert!(
        page.contains("nginx:alpine") && page.contains("80") && page.contains("Free"),
        "{page}"
    );
    b.screenshots("deploy-form").await;

    // Deploying through the form: a name is required, then it starts.
    b.click("form[action$='/deploy'] button[type=submit]").await;
    assert!(
        b.url().await.contains("/ui/templates/"),
        "an empty name is refused by the browser or the server"
    );
    b.fill("#f-name", "production-site").await;
    b.click("form[action$='/deploy'] button[type=submit]").await;
    let url = b.wait_for_url("/ui/deployments/depl_").await;
    let id = url
        .split("/ui/deployments/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    b.wait_for_text("#status", "running", 60).await;
    b.wait_for_text("#live-containers", "running", 10).await;

    // The link opens the app through the proxy.
    let link = b.find("#open-link").await.attr("href").await.unwrap().unwrap();
    assert!(
        link.starts_with("http://production-site.") && link.ends_with(&format!(":{}", h.port)),
        "{link}"
    );
    b.goto(&link).await;
    assert_eq!(b.text("h1").await, "Welcome to My App!");
    b.client.back().await.unwrap();
    b.wait_for_text("#status", "running", 10).await;
    b.screenshots("deployment").await;

    // A request made now shows up in the open log view, without a reload.
    let (_, d) = deployment(&h, &tokens[1], &id).await;
    let port = host_port(&d, "web", 80);
    let probe = format!("/?probe={}", rand_word());
    let _ = http_text(port, &probe).await;
    b.wait_for_text("#logs", &probe, 15).await;

    // Stop, start, delete (the name asked first).
    b.click("#stop").await;
    b.wait_for_text("#status", "stopped", 30).await;
    assert!(b.body().await.contains("Stopped."));
    b.click("#start").await;
    b.wait_for_text("#status", "running", 60).await;
    b.fill("#confirm", "not-its-name").await;
    b.click("#delete").await;
    b.wait_for_text("#confirm-error", "production-site", 10).await;
    assert_eq!(
        deployment(&h, &tokens[1], &id).await.0,
        200,
        "a wrong name deletes nothing"
    );
    b.fill("#confirm", "production-site").await;
    b.click("#delete").await;
    b.wait_for_text("main", "Deployment deleted.", 30).await;
    assert_eq!(deployment(&h, &tokens[1], &id).await.0, 404);
    assert!(
        running_or_networked(&id).is_empty(),
        "its containers and network are gone"
    );
    b.close().await;
}

fn rand_word() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[tokio::test]
async fn a_creator_sees_a_policy_error_at_its_line_fixes_it_and_publishes() {
    let (h, tokens) = hoster_with(&[("creator", "ada")]).await;
    let b = Browser::start().await;
    sign_in(&b, &h, &tokens[0]).await;
    b.click("nav a[href='/ui/studio']").await;
    b.click("#new-template").await;
    b.fill("#f-name", "Privileged web").await;
    b.fill("#f-version", "1.0.0").await;
    // Line 4 reaches into the host.
    let compose = "services:\n  web:\n    image: nginx:alpine\n    privileged: true\n    environment:\n      GREETING: ${GREETING}\n    ports:\n      - \"80\"\n";
    b.fill("#compose", compose).await;
    b.fill("#var-0-name", "GREETING").await;
    b.fill("#var-0-default", "hello").await;
    b.click("#save").await;
    let problems = b.wait_for_text("#problems", "compose line 4", 10).await;
    assert!(problems.contains("privileged"), "{problems}");
    assert_eq!(b.text(".gutter .bad").await, "4", "the gutter marks line 4");
    // What was typed is kept.
    assert_eq!(
        b.find("#var-0-name").await.prop("value").await.unwrap().as_deref(),
        Some("GREETING")
    );
    b.client
        .execute(
            "document.querySelector('.code-editor').scrollIntoView({block: 'center'});",
            vec![],
        )
        .await
        .unwrap();
    b.screenshots("studio-policy-error").await;

    // The problem's link selects its line in the editor.
    b.click("#problems a[data-line='4']").await;
    let selected = b
        .client
        .execute(
            "const a = document.getElementById('compose'); return a.value.substring(a.selectionStart, a.selectionEnd);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(selected, Value::from("    privileged: true"));

    b.fill("#compose", &compose.replace("    privileged: true\n", "")).await;
    b.click("#save").await;
    b.wait_for_text("main", "Template created.", 10).await;
    let id = b
        .url()
        .await
        .split("/ui/studio/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    b.click("#publish").await;
    b.wait_for_text("main", "Template published", 10).await;
    let (status, t) = call_as(
        &h.client,
        h.url(&format!("/api/v1/templates/{id}")),
        Some(&tokens[0]),
        Method::GET,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (t["published"].as_bool(), t["creator_id"].as_str()),
        (Some(true), Some("ada"))
    );
    assert_eq!(t["variables"][0]["default"], "hello");
    b.close().await;
}

/// Serves one page on another loopback port: a form that posts itself to `action`.
async fn foreign_site(action: String, fields: Vec<(String, String)>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let inputs: String = fields
        .iter()
        .map(|(k, v)| format!("<input type=hidden name=\"{k}\" value=\"{v}\">"))
        .collect();
    let page = format!(
        "<!doctype html><html><body><form id=f method=post action=\"{action}\">{inputs}</form>\
         <script>document.getElementById('f').submit()</script></body></html>"
    );
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    port
}

#[tokio::test]
async fn the_console_shows_each_role_its_own_and_refuses_forms_from_elsewhere() {
    let (h, tokens) = hoster_with(&[("admin", "ops"), ("customer", "alice"), ("customer", "bob")]).await;
    let (admin, alice, bob) = (&tokens[0], &tokens[1], &tokens[2]);
    let template = publish_workflow(&h, admin).await;
    let body = json!({"template_id": template, "name": "alices-site"});
    let (status, d) = call_as(
        &h.client,
        h.url("/api/v1/deployments"),
        Some(alice),
        Method::POST,
        Some(&body),
    )
    .await;
    assert_eq!(status, 201, "{d}");
    let alices = d["id"].as_str().unwrap().to_string();

    // Bob sees his (empty) list and a 404 page for Alice's deployment, even by its URL.
    let b = Browser::start().await;
    sign_in(&b, &h, bob).await;
    assert!(
        b.body().await.contains("my-webapp"),
        "customers see the published catalog"
    );
    b.goto(&h.url("/ui/deployments")).await;
    assert!(!b.body().await.contains("alices-site"));
    assert!(
        b.client
            .find(fantoccini::Locator::Css("nav a[href='/ui/operator']"))
            .await
            .is_err(),
        "no operator link for customers"
    );
    b.goto(&h.url(&format!("/ui/deployments/{alices}"))).await;
    assert_eq!(b.text("h1").await, "Not found");
    b.goto(&h.url("/ui/operator/tokens")).await;
    assert_eq!(b.text("h1").await, "Not allowed");
    b.close().await;

    // Alice is signed in; a page on another origin posts a delete form to Hoster. Her session
    // cookie goes with it (same host, so the same site), but the form is refused.
    let b = Browser::start().await;
    sign_in(&b, &h, alice).await;
    b.goto(&h.url(&format!("/ui/deployments/{alices}"))).await;
    let csrf = b.find("input[name=csrf]").await.prop("value").await.unwrap().unwrap();
    let port = foreign_site(
        h.url(&format!("/ui/deployments/{alices}/delete")),
        vec![("csrf".into(), csrf), ("confirm".into(), "alices-site".into())],
    )
    .await;
    b.goto(&format!("http://127.0.0.1:{port}/")).await;
    let refused = b.wait_for_text("#refused", "another site", 10).await;
    assert!(refused.contains("only accepts forms from its own pages"), "{refused}");
    assert_eq!(deployment(&h, alice, &alices).await.0, 200, "nothing was deleted");
    // Signing out ends the session: the next page asks to sign in again.
    b.goto(&h.url("/ui/deployments")).await;
    b.click("header form[action='/ui/sign-out'] button").await;
    b.wait_for_text("main", "Signed out.", 10).await;
    b.goto(&h.url("/ui/deployments")).await;
    assert!(b.url().await.contains("/ui/sign-in"));
    b.close().await;

    // The operator's pages, and a revoked token's session ends at once.
    let b = Browser::start().await;
    sign_in(&b, &h, admin).await;
    b.click("nav a[href='/ui/operator']").await;
    b.wait_for_text("#ready", "ready", 10).await;
    b.screenshots("operator").await;
    b.goto(&h.url("/ui/deployments")).await;
    assert!(b.body().await.contains("alices-site"), "admins see every deployment");
    b.screenshots("deployments").await;
    b.goto(&h.url("/ui/operator/tokens")).await;
    b.fill("#t-subject", "carol").await;
    b.click("form[action='/ui/operator/tokens'] button[type=submit]").await;
    let minted = b.text("#minted").await;
    assert!(minted.starts_with("hoster_"), "{minted}");
    let (status, _) = call_as(
        &h.client,
        h.url("/api/v1/deployments"),
        Some(&minted),
        Method::GET,
        None,
    )
    .await;
    assert_eq!(status, 200, "the minted token works on the API");
    let b2 = Browser::start().await;
    sign_in(&b2, &h, &minted).await;
    b.goto(&h.url("/ui/operator/tokens")).await;
    let rows = b.client.find_all(fantoccini::Locator::Css("tbody tr")).await.unwrap();
    let mut revoked = false;
    for row in rows {
        if row.text().await.unwrap().contains("carol") {
            row.find(fantoccini::Locator::Css("button"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            revoked = true;
            break;
        }
    }
    assert!(revoked, "carol's token is listed with a revoke button");
    b.wait_for_text("main", "Token revoked.", 10).await;
    b2.goto(&h.url("/ui/deployments")).await;
    assert!(
        b2.url().await.contains("/ui/sign-in"),
        "a revoked token's session is over"
    );
    b2.close().await;
    b.close().await;
}
