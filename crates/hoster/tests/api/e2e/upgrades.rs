//! Versions of a template on a running deployment: upgrade, automatic undo, rollback.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

/// A version of the two-service product: `app` (with a volume) and `side`.
fn version(version: &str, app_image: &str, greeting: &str, app_command: &str) -> Value {
    json!({
        "name": "Upgradable", "version": version, "creator_id": "c",
        "compose_spec": format!(
            "services:\n  app:\n    image: {app_image}\n    command: [\"sh\", \"-c\", {}]\n    environment:\n      GREETING: {greeting}\n    volumes: [\"data:/data\"]\n    stop_grace_period: 1s\n  side:\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n    stop_grace_period: 1s\nvolumes:\n  data: {{}}\n",
            serde_json::to_string(app_command).unwrap()
        )
    })
}

fn ids(d: &Value) -> std::collections::BTreeMap<String, String> {
    d["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["service_name"].as_str().unwrap().to_string(),
                c["container_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_upgrade_replaces_only_what_changed_undoes_a_broken_version_and_rolls_back() {
    let h = Hoster::start().await;
    docker(&["tag", "busybox:latest", "hoster-e2e/busybox:1.1"]);
    let v1 = h.publish(&version("1.0.0", "busybox", "hello", "sleep 3600")).await;
    let v11 = h
        .publish(&version("1.1.0", "hoster-e2e/busybox:1.1", "bonjour", "sleep 3600"))
        .await;
    let v12 = h
        .publish(&version(
            "1.2.0",
            "hoster-e2e/busybox:1.1",
            "bonjour",
            "echo broken; exit 3",
        ))
        .await;
    let id = h.create_deployment(&v1, "upgradable").await;
    let d = h.start_deployment(&id).await;
    let before = ids(&d);
    let app = |d: &Value| ids(d)["app"].clone();
    exec(&app(&d), &["sh", "-c", "echo kept > /data/file"]);

    let upgrade = |template: &str, dry_run: bool| {
        let path = format!("/api/v1/deployments/{id}/upgrade?dry_run={dry_run}");
        let body = json!({"template_id": template});
        let h = &h;
        async move { h.request(Method::POST, &path, Some(&body)).await }
    };
    let (status, plan) = upgrade(&v11, true).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["dry_run"], true);
    assert_eq!(
        plan["changes"],
        json!([
            {"service": "app", "change": "replaced", "reasons": ["image", "environment"]},
            {"service": "side", "change": "unchanged", "reasons": []}
        ]),
        "{plan}"
    );
    let (_, unchanged) = h.get_deployment(&id).await;
    assert_eq!(
        (ids(&unchanged), &unchanged["template_id"]),
        (before.clone(), &json!(v1)),
        "a dry run changes nothing"
    );

    let (status, done) = upgrade(&v11, false).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let d = &done["deployment"];
    assert_eq!(
        (d["status"].as_str(), d["template_id"].as_str()),
        (Some("running"), Some(v11.as_str())),
        "{d}"
    );
    assert_ne!(app(d), before["app"], "app is replaced");
    assert_eq!(ids(d)["side"], before["side"], "side keeps running, untouched");
    assert_eq!(
        exec(&app(d), &["cat", "/data/file"]).trim(),
        "kept",
        "the named volume stays"
    );
    assert_eq!(exec(&app(d), &["sh", "-c", "echo $GREETING"]).trim(), "bonjour");
    let upgraded = d.clone();

    // A version whose app exits at once is undone: 1.1.0 runs on, and says why.
    let (status, body) = upgrade(&v12, false).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "upgrade_rolled_back");
    assert!(body["error"].as_str().unwrap().contains("exited with code 3"), "{body}");
    let (_, d) = h.get_deployment(&id).await;
    assert_eq!(
        (d["status"].as_str(), d["template_id"].as_str()),
        (Some("running"), Some(v11.as_str())),
        "{d}"
    );
    assert!(d["error_message"].as_str().unwrap().starts_with("rolled_back:"), "{d}");
    assert_eq!(ids(&d)["side"], before["side"], "side was never touched");
    assert_eq!(exec(&app(&d), &["cat", "/data/file"]).trim(), "kept");
    let (_, events) = h
        .request(Method::GET, &format!("/api/v1/deployments/{id}/events"), None)
        .await;
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "action" && e["message"].as_str().unwrap_or("").starts_with("rolled_back:")),
        "{events}"
    );

    // Rollback: back to the version it ran before 1.1.0.
    let (status, back) = h
        .request(Method::POST, &format!("/api/v1/deployments/{id}/rollback"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{back}");
    let d = &back["deployment"];
    assert_eq!(
        (d["status"].as_str(), d["template_id"].as_str()),
        (Some("running"), Some(v1.as_str())),
        "{d}"
    );
    assert_eq!(
        (back["from_version"].as_str(), back["to_version"].as_str()),
        (Some("1.1.0"), Some("1.0.0"))
    );
    assert_ne!(app(d), app(&upgraded));
    assert_eq!(ids(d)["side"], before["side"]);
    assert_eq!(
        exec(&app(d), &["sh", "-c", "echo $GREETING; cat /data/file"]).trim(),
        "hello\nkept"
    );

    // Not a version of this product, or not running: clear refusals.
    let other = h
        .publish(&json!({"name": "Other", "version": "1.0.0", "creator_id": "c",
                         "compose_spec": "services:\n  x:\n    image: busybox\n"}))
        .await;
    let (status, body) = upgrade(&other, false).await;
    assert_eq!(
        (status, body["details"][0]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("template_id")),
        "{body}"
    );
    h.delete_deployment(&id).await;
}
