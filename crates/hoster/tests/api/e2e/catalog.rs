//! The starter catalog: imported by the CLI, listed with search, filters and sorting, and the
//! starters whose images have local stand-ins deployed for real.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

fn cli(h: &Hoster, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hoster"))
        .args(args)
        .env("HOSTER_URL", format!("http://127.0.0.1:{}", h.port))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn names(catalog: &Value) -> Vec<String> {
    catalog["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_starter_catalog_imports_lists_filters_sorts_and_deploys() {
    let h = Hoster::start().await;
    let (ok, out) = cli(&h, &["catalog", "import", "--creator", "starter"]);
    assert!(ok, "{out}");
    assert_eq!(out.matches(": published").count(), 12, "{out}");
    let (ok, again) = cli(&h, &["catalog", "import", "--creator", "starter"]);
    assert!(
        ok && again.matches(": already there").count() == 12,
        "idempotent: {again}"
    );

    let get = |query: &str| {
        let path = format!("/api/v1/catalog{query}");
        let h = &h;
        async move {
            let (status, body) = h.request(Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }
    };
    let all = get("?limit=100").await;
    assert_eq!(all["total"], 12, "{all}");
    let postgres = all["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "PostgreSQL")
        .unwrap();
    assert_eq!(
        postgres["services"],
        json!([{"name": "db", "image": "postgres:15-alpine", "ports": [5432]}])
    );
    let password = postgres["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "DB_PASSWORD")
        .unwrap();
    assert!(password.get("default").is_none_or(Value::is_null), "{password}");

    let mut databases = names(&get("?category=database").await);
    databases.sort();
    assert_eq!(databases, ["MariaDB", "PostgreSQL", "Redis"]);
    assert_eq!(names(&get("?tag=blog").await).len(), 2, "WordPress and Ghost");
    let found = names(&get("?q=s3%20storage").await);
    assert_eq!(found, ["MinIO"]);
    let cheapest = names(&get("?sort=price&limit=2").await);
    assert_eq!(cheapest, ["Adminer", "Static Site"]);
    let (status, body) = h.request(Method::GET, "/api/v1/catalog?sort=random", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Deployed for real, those with local stand-ins; each answers on its port.
    for name in ["Static Site", "PostgreSQL", "Redis", "Adminer"] {
        let entry = all["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap();
        let id = h.create_deployment(entry["template_id"].as_str().unwrap(), name).await;
        let d = h.start_deployment(&id).await;
        assert_eq!(d["status"], "running", "{name}: {d}");
        if name == "Static Site" {
            let port = d["containers"][0]["ports"][0]["host_port"].as_u64().unwrap();
            let page = http_text(u16::try_from(port).unwrap(), "/").await;
            assert!(
                page.contains("<h1>My site</h1>") && page.contains(d["url"].as_str().unwrap()),
                "{page}"
            );
        }
    }
    // Popular: the deployed ones first.
    let popular = get("?sort=popular&limit=4").await;
    assert!(
        popular["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["active_deployments"] == 1),
        "{popular}"
    );

    // A new version replaces its product's entry; deprecating it brings the old one back.
    let site = all["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "Static Site")
        .unwrap();
    let site_id = site["template_id"].as_str().unwrap();
    let (status, v2) = h
        .request(
            Method::POST,
            &format!("/api/v1/templates/{site_id}/versions"),
            Some(&json!({"version": "1.1.0"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v2}");
    let v2 = v2["id"].as_str().unwrap().to_string();
    let listed_version = |catalog: Value| {
        catalog["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "Static Site")
            .map(|e| e["version"].as_str().unwrap().to_string())
    };
    assert_eq!(
        listed_version(get("?limit=100").await).as_deref(),
        Some("1.0.0"),
        "unpublished: not listed"
    );
    h.request(Method::POST, &format!("/api/v1/templates/{v2}/publish"), None)
        .await;
    assert_eq!(listed_version(get("?limit=100").await).as_deref(), Some("1.1.0"));
    let (status, _) = h
        .request(
            Method::POST,
            &format!("/api/v1/templates/{v2}/deprecate"),
            Some(&json!({"message": "use 1.0"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        listed_version(get("?limit=100").await).as_deref(),
        Some("1.0.0"),
        "deprecated: hidden"
    );
    assert_eq!(get("?limit=100").await["total"], 12);
}
