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
    let before = container_ids(&d);
    let app = |d: &Value| container_ids(d)["app"].clone();
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
        (container_ids(&unchanged), &unchanged["template_id"]),
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
    assert_eq!(
        container_ids(d)["side"],
        before["side"],
        "side keeps running, untouched"
    );
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
    assert_eq!(container_ids(&d)["side"], before["side"], "side was never touched");
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

    let (_, history) = h
        .request(Method::GET, &format!("/api/v1/deployments/{id}/versions"), None)
        .await;
    assert_eq!(history["current"]["version"], "1.1.0", "{history}");
    let past: Vec<&str> = history["past"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(past, ["1.0.0"], "the undone upgrade left no trace in the history");

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
    assert_eq!(container_ids(d)["side"], before["side"]);
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

/// The exact usage figures of one deployment: whole seconds of each (price, start, end) period
/// inside `[from, to)`, amount rounded once, half up, over a 30-day month.
fn by_hand(periods: &[(i64, i64, i64)]) -> (i64, i64) {
    let seconds: Vec<(i64, i64)> = periods
        .iter()
        .map(|&(price, a, b)| (price, (b - a).max(0) / 1000))
        .collect();
    let total: i64 = seconds.iter().map(|(_, s)| s).sum();
    let cent_seconds: i128 = seconds.iter().map(|&(p, s)| i128::from(p) * i128::from(s)).sum();
    let month = 30 * 86_400_i128;
    (total, i64::try_from((cent_seconds * 2 + month) / (month * 2)).unwrap())
}

fn millis(rfc3339: &str) -> i64 {
    let t = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339).unwrap();
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap()
}

#[tokio::test]
async fn usage_follows_the_recorded_timeline_across_restarts_upgrades_and_deletion() {
    let h = Hoster::start().await;
    let priced = |version: &str, price: i64| {
        json!({"name": "Priced", "version": version, "creator_id": "maker", "price_monthly": price,
               "compose_spec": "services:\n  app:\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n    stop_grace_period: 1s\n"})
    };
    // High prices, so a few seconds cost whole cents.
    let (p1, p2) = (100_000_000, 50_000_000);
    let v1 = h.publish(&priced("1.0.0", p1)).await;
    let v2 = h.publish(&priced("2.0.0", p2)).await;
    let id = h.create_deployment(&v1, "billed").await;
    let window_start = "2020-01-01T00:00:00Z";
    h.start_deployment(&id).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    h.stop_deployment(&id).await;
    h.start_deployment(&id).await;
    let h = h.crash_and_restart(&[]).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (status, body) = h
        .request(
            Method::POST,
            &format!("/api/v1/deployments/{id}/upgrade"),
            Some(&json!({"template_id": v2})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;

    // The hand computation, from the recorded transitions: charged from the first `running`
    // (the stop does not pause it), the price switching when the upgrade reached `running`.
    let (_, events) = h
        .request(Method::GET, &format!("/api/v1/deployments/{id}/events"), None)
        .await;
    let to_running: Vec<i64> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "state" && e["to"] == "running")
        .map(|e| millis(e["at"].as_str().unwrap()))
        .collect();
    let (first_start, upgraded) = (to_running[0], *to_running.last().unwrap());
    let window_end = time::OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let to = window_end
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let end = millis(&to);
    let expected = by_hand(&[(p1, first_start, upgraded), (p2, upgraded, end)]);
    assert!(expected.1 > 100, "a figure worth checking: {expected:?}");
    let usage_path = format!("/api/v1/usage?customer_id=customer-1&from={window_start}&to={to}");
    let (status, usage) = h.request(Method::GET, &usage_path, None).await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    let mine = &usage["deployments"][0];
    assert_eq!(mine["deployment_id"], id.as_str());
    assert_eq!(
        (
            mine["seconds"].as_i64().unwrap(),
            mine["amount_cents"].as_i64().unwrap()
        ),
        expected,
        "{usage}"
    );
    assert_eq!(usage["total_cents"], expected.1);
    let prices: Vec<i64> = mine["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["price_monthly"].as_i64().unwrap())
        .collect();
    assert_eq!(prices, [p1, p2], "the price switched at the upgrade");
    let (status, earned) = h
        .request(
            Method::GET,
            &format!("/api/v1/creators/maker/earnings?from={window_start}&to={to}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{earned}");
    let per_version: i64 = earned["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["amount_cents"].as_i64().unwrap())
        .sum();
    assert_eq!(per_version, earned["total_cents"].as_i64().unwrap());
    assert!(
        (per_version - expected.1).abs() <= 1,
        "each version's share rounded once: {earned}"
    );

    // The operator's export says the same.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hoster"))
        .args([
            "usage",
            "export",
            "--from",
            window_start,
            "--to",
            &to,
            "--format",
            "csv",
        ])
        .env("HOSTER_URL", format!("http://127.0.0.1:{}", h.port))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        csv,
        format!(
            "deployment_id,deployment_name,customer_id,seconds,amount_cents\n{id},billed,customer-1,{},{}\n",
            expected.0, expected.1
        )
    );

    // Deleted and restarted: the same window says the same; the usage is kept.
    h.delete_deployment(&id).await;
    let h = h.crash_and_restart(&[]).await;
    let (_, again) = h.request(Method::GET, &usage_path, None).await;
    assert_eq!(
        again["deployments"][0]["amount_cents"], usage["deployments"][0]["amount_cents"],
        "{again}"
    );
    assert_eq!(again["total_cents"], usage["total_cents"]);
    assert!(
        again["deployments"][0]["periods"][1]["ended_at"].is_string(),
        "deletion ended it: {again}"
    );
    let (status, body) = h
        .request(Method::GET, "/api/v1/usage?from=2026-01-01T00:00:00Z", None)
        .await;
    assert_eq!(
        (status, body["details"][0]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("to")),
        "{body}"
    );
}
