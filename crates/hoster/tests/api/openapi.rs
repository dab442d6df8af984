//! The served OpenAPI document matches the routes the server answers.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::*;

pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/templates"),
    ("post", "/api/v1/templates"),
    ("get", "/api/v1/templates/{id}"),
    ("put", "/api/v1/templates/{id}"),
    ("delete", "/api/v1/templates/{id}"),
    ("post", "/api/v1/templates/{id}/publish"),
    ("post", "/api/v1/templates/import"),
    ("post", "/api/v1/templates/{id}/trust"),
    ("delete", "/api/v1/templates/{id}/trust"),
    ("get", "/api/v1/deployments"),
    ("post", "/api/v1/deployments"),
    ("get", "/api/v1/deployments/{id}"),
    ("delete", "/api/v1/deployments/{id}"),
    ("post", "/api/v1/deployments/{id}/start"),
    ("post", "/api/v1/deployments/{id}/stop"),
    ("get", "/api/v1/deployments/{id}/events"),
    ("get", "/api/v1/deployments/{id}/logs"),
    ("get", "/api/v1/events"),
    ("get", "/metrics"),
    ("post", "/api/v1/deployments/{id}/restart"),
    ("get", "/api/v1/deployments/{id}/stats"),
    ("get", "/api/v1/deployments/{id}/variables"),
    ("patch", "/api/v1/deployments/{id}/variables"),
    ("get", "/api/v1/deployments/{id}/domains"),
    ("post", "/api/v1/deployments/{id}/domains"),
    ("delete", "/api/v1/deployments/{id}/domains/{domain}"),
    ("post", "/api/v1/deployments/{id}/domains/{domain}/verify"),
    ("get", "/api/v1/tokens"),
    ("post", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{id}"),
    ("get", "/api/v1/audit"),
    ("get", "/api/v1/templates/{id}/versions"),
    ("post", "/api/v1/templates/{id}/versions"),
    ("post", "/api/v1/templates/{id}/deprecate"),
    ("post", "/api/v1/deployments/{id}/upgrade"),
    ("post", "/api/v1/deployments/{id}/rollback"),
    ("get", "/api/v1/usage"),
    ("get", "/api/v1/catalog"),
    ("get", "/api/v1/deployments/{id}/versions"),
    ("get", "/api/v1/creators/{id}/earnings"),
    ("get", "/api/v1/deployments/{id}/backups"),
    ("post", "/api/v1/deployments/{id}/backups"),
    ("delete", "/api/v1/deployments/{id}/backups/{bid}"),
    ("post", "/api/v1/deployments/{id}/backups/{bid}/restore"),
    ("get", "/api/v1/deployments/{id}/backup-schedule"),
    ("put", "/api/v1/deployments/{id}/backup-schedule"),
    ("delete", "/api/v1/deployments/{id}/backup-schedule"),
];

#[tokio::test]
async fn every_route_is_documented_and_every_documented_route_is_served() {
    let app = spawn_app().await;
    let (status, doc) = status_json(app.get("/api/v1/openapi.json").await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (m.clone(), path.clone())))
        .collect();
    let expected: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(documented, expected);

    for (method, path) in &expected {
        let url = app.url(
            &path
                .replace("{id}", "tmpl_aaaaaaaaaaaaaaaa")
                .replace("{domain}", "www.example.com"),
        );
        let response = app
            .client
            .request(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(), url)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_ne!(
            body["code"], "not_found",
            "{method} {path} is documented but not routed"
        );
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
}

#[tokio::test]
async fn operations_document_their_errors() {
    let doc = hoster::api::openapi();
    let app = spawn_app().await;
    let (_, served) = status_json(app.get("/api/v1/openapi.json").await).await;
    assert_eq!(doc, served, "the tested document is the served one");
    assert!(doc["components"]["securitySchemes"].get("bearer").is_some());
    assert!(
        doc["paths"]["/api/v1/deployments"]["post"]["responses"]["201"]["links"]
            .get("get_deployment")
            .is_some()
    );
    let create = &doc["paths"]["/api/v1/templates"]["post"];
    for code in ["201", "400", "409", "413", "415"] {
        assert!(
            create["responses"].get(code).is_some(),
            "POST /templates documents {code}"
        );
    }
    assert!(doc["components"]["schemas"].get("ErrorBody").is_some());
    // Every code an error can carry is listed, so clients can match on them.
    let codes: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode is an enum schema")
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for code in hoster_core::error_code::ErrorCode::ALL {
        assert!(codes.contains(&code.as_str()), "{code} in {codes:?}");
    }
    assert!(doc["components"]["schemas"].get("TemplateFields").is_some());
    assert!(doc["components"]["schemas"].get("Template").is_some());
}
