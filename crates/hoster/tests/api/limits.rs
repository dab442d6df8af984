//! Hostile and malformed requests get a quick, clear 4xx and the server stays up.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

const QUICK: Duration = Duration::from_secs(2);

async fn still_up(app: &TestApp) {
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn malformed_json_and_wrong_content_types() {
    let app = spawn_app().await;
    let url = app.url("/api/v1/templates");
    let send = |body: &'static str, content_type: Option<&'static str>| {
        let mut request = app.client.post(&url).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        request.send()
    };
    for body in ["{", "{\"name\": }", "nul", "\u{0}", ""] {
        let error = assert_error(
            send(body, Some("application/json")).await.unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        )
        .await;
        assert!(
            error["error"]
                .as_str()
                .unwrap()
                .starts_with("the request body is not valid JSON")
        );
    }
    for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
        let response = send("{}", content_type).await.unwrap();
        assert_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    }
    let response = send("{}", Some("application/json; charset=utf-8")).await.unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "validation_error").await;
    still_up(&app).await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = spawn_app().await;
    let mut body = template("huge");
    body["description"] = json!("x".repeat(1024 * 1024 + 1));
    let start = Instant::now();
    let response = app.post_json("/api/v1/templates", &body).await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert!(start.elapsed() < QUICK);
    still_up(&app).await;
}

#[tokio::test]
async fn a_ten_thousand_key_yaml_is_refused_quickly() {
    let app = spawn_app().await;
    let keys: String = (0..10_000).map(|i| format!("      K{i}: v\n")).collect();
    let mut body = template("wide");
    body["compose_spec"] = json!(format!("services:\n  web:\n    image: x\n    environment:\n{keys}"));
    let start = Instant::now();
    let error = assert_error(
        app.post_json("/api/v1/templates", &body).await,
        StatusCode::BAD_REQUEST,
        "validation_error",
    )
    .await;
    assert!(start.elapsed() < QUICK, "{:?}", start.elapsed());
    assert_eq!(error["details"][0]["field"], "compose_spec");
    assert!(
        error["details"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("too large"),
        "{error}"
    );
    still_up(&app).await;
}

#[tokio::test]
async fn a_yaml_alias_bomb_is_refused_quickly() {
    let app = spawn_app().await;
    let mut bomb = String::from("x-a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]\n");
    let levels = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for pair in levels.windows(2) {
        let refs = vec![format!("*{}", pair[0]); 10].join(",");
        bomb.push_str(&format!("x-{}: &{} [{refs}]\n", pair[1], pair[1]));
    }
    bomb.push_str("services:\n  web:\n    image: x\n    labels: *i\n");
    let mut body = template("bomb");
    body["compose_spec"] = json!(bomb);
    let start = Instant::now();
    let error = assert_error(
        app.post_json("/api/v1/templates", &body).await,
        StatusCode::BAD_REQUEST,
        "validation_error",
    )
    .await;
    assert!(start.elapsed() < QUICK, "{:?}", start.elapsed());
    assert!(
        error["details"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("too large"),
        "{error}"
    );
    still_up(&app).await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_json() {
    let app = spawn_app().await;
    assert_error(app.get("/api/v1/nothing").await, StatusCode::NOT_FOUND, "not_found").await;
    let response = app.client.patch(app.url("/api/v1/templates")).send().await.unwrap();
    assert_error(response, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
}
