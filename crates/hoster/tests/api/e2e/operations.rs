//! Day-2 operations on running deployments: logs, stats, restarts.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// A one-service busybox template running `script` with `sh -c`.
fn shell_template(name: &str, script: &str) -> Value {
    json!({
        "name": name, "version": "1.0.0", "creator_id": "c",
        "compose_spec": format!("services:\n  app:\n    image: busybox\n    command: [\"sh\", \"-c\", {}]\n", serde_json::to_string(script).unwrap())
    })
}

async fn logs(h: &Hoster, id: &str, query: &str, accept: &str) -> (StatusCode, String) {
    let response = h
        .client
        .get(h.url(&format!("/api/v1/deployments/{id}/logs{query}")))
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// Reads server-sent events until `done` holds for the text so far; fails after 15 s.
async fn read_events_until(response: &mut reqwest::Response, seen: &mut String, done: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done(seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("not seen within 15 s: {seen}"))
            .unwrap();
        match chunk {
            Some(chunk) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            None => panic!("the stream ended first: {seen}"),
        }
    }
}

#[tokio::test]
async fn the_logs_of_example_10_show_its_environment_as_text_json_and_events() {
    let h = Hoster::start().await;
    let d = h.deploy_example("10-app-with-env").await;
    let id = d["id"].as_str().unwrap();
    let started = Instant::now();
    let text = loop {
        let (status, text) = logs(&h, id, "", "*/*").await;
        assert_eq!(status, StatusCode::OK, "{text}");
        if text.contains("MAX_CONNECTIONS") || started.elapsed() > Duration::from_secs(10) {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for line in ["app | APP_NAME=myapp", "app | DEBUG=true", "app | MAX_CONNECTIONS=100"] {
        assert!(text.lines().any(|l| l == line), "{line} in {text}");
    }

    let (_, stamped) = logs(&h, id, "?timestamps=true&tail=1", "*/*").await;
    let only: Vec<&str> = stamped.lines().collect();
    assert_eq!(only.len(), 1, "{stamped}");
    assert!(only[0].starts_with("app | 20"), "a time before the line: {stamped}");

    let (_, ndjson) = logs(&h, id, "?service=app", "application/x-ndjson").await;
    let lines: Vec<Value> = ndjson.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let debug = lines
        .iter()
        .find(|l| l["line"] == "DEBUG=true")
        .expect("the DEBUG line");
    assert_eq!(debug["service"], "app");
    assert_eq!(debug["stream"], "stdout");
    assert!(debug["time"].as_str().unwrap().ends_with('Z'), "{debug}");

    // Following a container that has exited: its lines, then the end of the stream.
    let mut response = h
        .client
        .get(h.url(&format!("/api/v1/deployments/{id}/logs?follow=true")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut seen = String::new();
    read_events_until(&mut response, &mut seen, |s| s.contains("APP_NAME=myapp")).await;
    assert!(seen.contains("event: log"), "{seen}");
    let rest = tokio::time::timeout(Duration::from_secs(10), response.text()).await;
    assert!(rest.is_ok(), "the stream ends once every container has stopped");

    for (query, field) in [
        ("?tail=10001", "tail"),
        ("?since=yesterday", "since"),
        ("?until=5x", "until"),
        ("?service=nope", "service"),
    ] {
        let (status, body) = logs(&h, id, query, "*/*").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["details"][0]["field"], field, "{query}: {body}");
    }
    let (status, _) = logs(&h, id, "?tail=-1", "*/*").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    h.delete_deployment(id).await;
}

#[tokio::test]
async fn following_a_ticking_service_streams_lines_as_they_are_written() {
    let h = Hoster::start().await;
    let template = h
        .publish(&shell_template(
            "ticker",
            "i=0; while true; do echo tick $$i; i=$$((i+1)); sleep 1; done",
        ))
        .await;
    let id = h.create_deployment(&template, "ticker").await;
    h.start_deployment(&id).await;

    let mut response = h
        .client
        .get(h.url(&format!("/api/v1/deployments/{id}/logs?follow=true&tail=0")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut seen = String::new();
    read_events_until(&mut response, &mut seen, |s| s.contains("\"line\":\"tick")).await;
    let first_at = Instant::now();
    let first = seen.clone();
    read_events_until(&mut response, &mut seen, |s| s.matches("\"line\":\"tick").count() >= 3).await;
    assert!(
        first_at.elapsed() >= Duration::from_millis(1500),
        "two more lines took {:?}: they came as written, not all at once",
        first_at.elapsed()
    );
    let followed: Vec<u64> = seen
        .split("\"line\":\"tick ")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        followed.windows(2).all(|w| w[1] == w[0] + 1),
        "in order, none twice: {followed:?}"
    );
    assert!(!first.is_empty());
    let open = |scraped: &[_]| sample(scraped, "hoster_streams_open", &[]);
    assert_eq!(
        open(&scrape(&h, "").await),
        1.0,
        "the followed logs are one open stream"
    );
    drop(response);
    // The client left: the stream, and the engine's log streams it read, are dropped.
    let left = Instant::now();
    while open(&scrape(&h, "").await) != 0.0 {
        assert!(
            left.elapsed() < Duration::from_secs(2),
            "the stream outlived its client"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The history that follows on from a tail has no gap and no repeat.
    let (_, text) = logs(&h, &id, "", "*/*").await;
    let ticks: Vec<u64> = text
        .lines()
        .map(|l| l.strip_prefix("app | tick ").unwrap().parse().unwrap())
        .collect();
    assert!(ticks.len() >= 3, "{text}");
    assert!(ticks.windows(2).all(|w| w[1] == w[0] + 1), "{ticks:?}");
    h.delete_deployment(&id).await;
}

#[tokio::test]
async fn a_failed_deployment_keeps_its_last_lines() {
    let h = Hoster::start().await;
    let template = h
        .publish(&shell_template(
            "crasher",
            "echo starting up; echo 'fatal: no configuration found' >&2; exit 3",
        ))
        .await;
    let id = h.create_deployment(&template, "crasher").await;
    // The start fails if the exit comes before its check, else the reconciler fails it.
    h.request(reqwest::Method::POST, &format!("/api/v1/deployments/{id}/start"), None)
        .await;
    super::deployments::wait_for_status(&h, &id, "failed").await;

    let (status, text) = logs(&h, &id, "", "*/*").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("app | starting up"), "{text}");
    assert!(text.contains("app | fatal: no configuration found"), "{text}");
    let (_, ndjson) = logs(&h, &id, "", "application/x-ndjson").await;
    assert!(ndjson.contains("\"stream\":\"stderr\""), "{ndjson}");
    h.delete_deployment(&id).await;
}

#[tokio::test]
async fn stats_of_a_running_nginx_show_its_memory_and_stream_every_second() {
    let h = Hoster::start().await;
    let d = h.deploy_example("01-nginx-simple").await;
    let id = d["id"].as_str().unwrap();
    let (status, stats) = h
        .request(reqwest::Method::GET, &format!("/api/v1/deployments/{id}/stats"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    let containers = stats["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1, "{stats}");
    let web = &containers[0];
    assert_eq!(web["service_name"], "web");
    assert!(web["memory_bytes"].as_u64().unwrap() > 0, "{web}");
    assert!(
        web["memory_limit_bytes"].as_u64().unwrap() >= web["memory_bytes"].as_u64().unwrap(),
        "{web}"
    );
    assert!(web["pids"].as_u64().unwrap() >= 1, "{web}");
    assert!(web["cpu_percent"].as_f64().unwrap() >= 0.0, "{web}");

    let mut response = h
        .client
        .get(h.url(&format!("/api/v1/deployments/{id}/stats?stream=true")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut seen = String::new();
    let started = Instant::now();
    read_events_until(&mut response, &mut seen, |s| s.matches("event: stats").count() >= 3).await;
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "a sample a second, not a burst"
    );
    assert!(seen.contains("\"memory_bytes\""), "{seen}");
    drop(response);
    h.delete_deployment(id).await;
}

#[tokio::test]
async fn restarting_one_service_replaces_only_its_container() {
    let h = Hoster::start().await;
    let d = h.deploy_example("06-three-tier-app").await;
    let id = d["id"].as_str().unwrap();
    let before = container_ids(&d);
    assert_eq!(before.len(), 3, "{d}");
    let restart = |query: &'static str| {
        let path = format!("/api/v1/deployments/{id}/restart{query}");
        let h = &h;
        async move { h.request(reqwest::Method::POST, &path, None).await }
    };

    let (status, after) = restart("?service=api").await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["status"], "running");
    let after_ids = container_ids(&after);
    for (service, id_before) in &before {
        if service == "api" {
            assert_ne!(&after_ids[service], id_before, "api has a new container");
        } else {
            assert_eq!(&after_ids[service], id_before, "{service} is untouched");
        }
    }
    assert_eq!(after["domain"], d["domain"]);
    let ports = |d: &Value| {
        d["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["ports"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ports(&after), ports(&d), "the same host ports");

    // All of it: stopped and started again, the same containers.
    let (status, whole) = restart("").await;
    assert_eq!(status, StatusCode::OK, "{whole}");
    assert_eq!(container_ids(&whole), after_ids);
    let (_, events) = h
        .request(reqwest::Method::GET, &format!("/api/v1/deployments/{id}/events"), None)
        .await;
    let messages: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(messages.contains(&"service `api` restarted"), "{events}");
    assert!(messages.contains(&"restart requested"), "{events}");
    let tos = status_path(&events);
    assert!(
        tos.ends_with(&["running", "stopping", "stopped", "starting", "running"]),
        "{tos:?}"
    );

    let (status, body) = restart("?service=nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["details"][0]["field"], "service");
    h.stop_deployment(id).await;
    let (status, body) = restart("").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    h.delete_deployment(id).await;
}

/// `/metrics` with `token`, parsed with a Prometheus text parser: (name, labels, value).
async fn scrape(h: &Hoster, token: &str) -> Vec<(String, std::collections::BTreeMap<String, String>, f64)> {
    let response = h.client.get(h.url("/metrics")).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scraped = prometheus_parse::Scrape::parse(lines).expect("the exposition parses");
    scraped
        .samples
        .into_iter()
        .map(|s| {
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                prometheus_parse::Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
                prometheus_parse::Value::Summary(_) => 0.0,
            };
            let labels = s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            (s.metric, labels, value)
        })
        .collect()
}

fn sample(
    scraped: &[(String, std::collections::BTreeMap<String, String>, f64)],
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    scraped
        .iter()
        .filter(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
        .map(|(_, _, v)| v)
        .sum()
}

#[tokio::test]
async fn metrics_parse_and_move_with_traffic_for_admin_and_metrics_tokens_only() {
    let dir = tempfile::tempdir().unwrap();
    let admin = mint_token(dir.path(), "admin", "ops");
    let scraper = mint_token(dir.path(), "metrics", "prometheus");
    let customer = mint_token(dir.path(), "customer", "alice");
    let h = Hoster::start_in(dir, &[("HOSTER_AUTH_MODE", "token")]).await;
    let as_admin = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let (h, admin, path) = (&h, admin.clone(), path.to_string());
        async move { call_as(&h.client, h.url(&path), Some(&admin), method, body.as_ref()).await }
    };

    let (status, _) = call_as(
        &h.client,
        h.url("/metrics"),
        Some(&customer),
        reqwest::Method::GET,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call_as(&h.client, h.url("/metrics"), None, reqwest::Method::GET, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call_as(
        &h.client,
        h.url("/api/v1/templates"),
        Some(&scraper),
        reqwest::Method::GET,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a metrics token reads metrics only");

    let before = scrape(&h, &scraper).await;
    assert_eq!(sample(&before, "hoster_build_info", &[]), 1.0, "{before:?}");
    let listed = |s: &[_]| {
        sample(
            s,
            "hoster_http_requests_total",
            &[("route", "/api/v1/templates"), ("status", "200")],
        )
    };

    let (status, template) = as_admin(
        reqwest::Method::POST,
        "/api/v1/templates",
        Some(json!({"name": "m", "version": "1.0.0", "creator_id": "ops",
            "compose_spec": "services:\n  web:\n    image: nginx:alpine\n    ports: [\"80\"]\n"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{template}");
    let template = template["id"].as_str().unwrap().to_string();
    as_admin(
        reqwest::Method::POST,
        &format!("/api/v1/templates/{template}/publish"),
        None,
    )
    .await;
    for _ in 0..3 {
        as_admin(reqwest::Method::GET, "/api/v1/templates", None).await;
    }
    let (status, d) = as_admin(
        reqwest::Method::POST,
        "/api/v1/deployments",
        Some(json!({"template_id": template, "customer_id": "alice", "name": "measured"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let id = d["id"].as_str().unwrap().to_string();
    let (status, d) = as_admin(reqwest::Method::POST, &format!("/api/v1/deployments/{id}/start"), None).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    let domain = d["domain"].as_str().unwrap().to_string();
    let started = Instant::now();
    // A connection of its own: one that has carried API requests stays with the full stack,
    // where bytes are not counted.
    let visitor = reqwest::Client::new();
    loop {
        let r = visitor.get(h.url("/")).header("host", &domain).send().await.unwrap();
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "the site answers");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let after = scrape(&h, &scraper).await;
    assert_eq!(listed(&after) - listed(&before), 3.0, "three listings counted");
    assert!(
        after
            .iter()
            .all(|(n, l, _)| !n.starts_with("hoster_http") || !l["route"].contains("depl_")),
        "routes are templates, never raw paths"
    );
    assert_eq!(sample(&after, "hoster_deployments", &[("status", "running")]), 1.0);
    assert!(
        sample(
            &after,
            "hoster_operation_duration_seconds_count",
            &[("operation", "start"), ("outcome", "ok")]
        ) >= 1.0
    );
    assert!(sample(&after, "hoster_proxy_requests_total", &[("host", &domain)]) >= 1.0);
    assert!(sample(&after, "hoster_proxy_response_bytes_total", &[("host", &domain)]) > 100.0);
    assert!(sample(&after, "hoster_reconcile_passes_total", &[]) >= 1.0);
    let (status, _) = call_as(&h.client, h.url("/metrics"), Some(&admin), reqwest::Method::GET, None).await;
    assert_eq!(status, StatusCode::OK, "admins read metrics too");
    as_admin(reqwest::Method::DELETE, &format!("/api/v1/deployments/{id}"), None).await;
}

#[tokio::test]
async fn a_container_killed_behind_hosters_back_shows_in_the_event_stream_within_two_seconds() {
    let h = Hoster::start().await;
    let d = h.deploy_example("01-nginx-simple").await;
    let id = d["id"].as_str().unwrap().to_string();
    let (_, rows) = h
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/deployments/{id}/events?limit=2"),
            None,
        )
        .await;
    let rows = rows.as_array().unwrap().clone();
    assert_eq!(rows.len(), 2, "a page of two");
    assert_eq!(rows[0]["kind"], "state");
    let second = rows[1]["seq"].as_i64().unwrap();
    let (_, next) = h
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/deployments/{id}/events?after={second}&limit=1000"),
            None,
        )
        .await;
    let next = next.as_array().unwrap();
    assert!(next.iter().all(|e| e["seq"].as_i64().unwrap() > second), "{next:?}");
    assert!(
        next.iter()
            .any(|e| e["kind"] == "container" && e["message"] == "the container of service `web` started"),
        "the engine's start event is in the history: {next:?}"
    );
    let last = next.last().unwrap()["seq"].as_i64().unwrap();
    // The newest page: the last two rows, oldest first; not for a followed stream.
    let (_, newest) = h
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/deployments/{id}/events?newest=true&limit=2"),
            None,
        )
        .await;
    let seqs: Vec<i64> = newest
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    let all: Vec<i64> = rows
        .iter()
        .chain(next.iter())
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, all[all.len() - 2..]);
    let (status, refused) = h
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/deployments/{id}/events?newest=true&follow=true"),
            None,
        )
        .await;
    assert_eq!(
        (status.as_u16(), refused["details"][0]["field"].as_str()),
        (400, Some("newest"))
    );

    let follow = |path: String| {
        let client = h.client.clone();
        let url = h.url(&path);
        async move { client.get(url).send().await.unwrap() }
    };
    let mut one = follow(format!("/api/v1/deployments/{id}/events?follow=true&after={last}")).await;
    let mut all = follow(format!("/api/v1/events?follow=true&after={last}")).await;
    assert_eq!(one.headers()["content-type"], "text/event-stream");

    let killed_at = Instant::now();
    let out = std::process::Command::new("docker")
        .args(["kill", &format!("hoster_{id}_web")])
        .output()
        .unwrap();
    assert!(out.status.success());
    for stream in [&mut one, &mut all] {
        let mut seen = String::new();
        read_events_until(stream, &mut seen, |s| {
            s.contains("exited with code 137") && s.contains("\"to\":\"failed\"")
        })
        .await;
        assert!(
            seen.contains("event: deployment") && seen.contains(&format!("\"deployment_id\":\"{id}\"")),
            "{seen}"
        );
    }
    assert!(
        killed_at.elapsed() < Duration::from_secs(2),
        "the kill and the failure were told within 2 s, took {:?}",
        killed_at.elapsed()
    );
    assert_eq!(h.get_deployment(&id).await.1["status"], "failed");

    let (status, body) = h.request(reqwest::Method::GET, "/api/v1/events?limit=0", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    h.delete_deployment(&id).await;
}

/// Runs `hoster ARGS` against `h`; (exit success, stdout, stderr).
fn hoster_cli(h: &Hoster, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hoster"))
        .args(args)
        .env("HOSTER_URL", format!("http://127.0.0.1:{}", h.port))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_deploys_lists_follows_restarts_and_removes_through_the_api() {
    let h = Hoster::start().await;
    let template = h
        .publish(&json!({
            "name": "greeter", "version": "1.0.0", "creator_id": "c",
            "variables": [
                {"name": "GREETING", "type": "string", "default": "hello"},
                {"name": "TIMES", "type": "number", "default": 1}
            ],
            "compose_spec": "services:\n  app:\n    image: busybox\n    stop_grace_period: 1s\n    environment:\n      GREETING: ${GREETING}\n      TIMES: ${TIMES}\n    command: [\"sh\", \"-c\", \"while true; do echo \\\"$$GREETING x$$TIMES\\\"; sleep 1; done\"]\n"
        }))
        .await;

    let (ok, out, err) = hoster_cli(
        &h,
        &[
            "deploy",
            &template,
            "--name",
            "cli site",
            "--customer",
            "c1",
            "--var",
            "GREETING=bonjour",
            "--var",
            "TIMES=3",
            "--json",
        ],
    );
    assert!(ok, "{err}");
    let d: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["status"], "running", "{d}");
    let id = d["id"].as_str().unwrap().to_string();
    assert_eq!(
        err.lines().collect::<Vec<_>>(),
        ["app: pending", "app: creating", "app: starting", "app: running"],
        "plain progress lines on standard error when it is not a terminal"
    );

    let (ok, table, err) = hoster_cli(&h, &["ps"]);
    assert!(ok, "{err}");
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("ID") && header.contains("STATUS") && header.contains("URL"),
        "{table}"
    );
    let line = table
        .lines()
        .find(|l| l.starts_with(&id))
        .expect("the deployment is listed");
    assert!(
        line.contains("cli site") && line.contains("running") && line.contains("1/1 running"),
        "{table}"
    );
    let (_, listed, _) = hoster_cli(&h, &["ps", "--json"]);
    assert_eq!(serde_json::from_str::<Value>(&listed).unwrap()["total"], 1);

    // Following prints lines as they come, with the variables applied.
    let mut follow = std::process::Command::new(env!("CARGO_BIN_EXE_hoster"))
        .args(["logs", &id, "-f", "--tail", "1"])
        .env("HOSTER_URL", format!("http://127.0.0.1:{}", h.port))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(follow.stdout.take().unwrap()));
    for _ in 0..2 {
        assert_eq!(lines.next().unwrap().unwrap(), "app | bonjour x3");
    }
    follow.kill().unwrap();
    let _ = follow.wait();

    let (ok, out, err) = hoster_cli(&h, &["restart", &id, "--service", "app", "--json"]);
    assert!(ok, "{err}");
    assert!(
        err.contains("app: creating") && err.ends_with("app: running\n"),
        "{err}"
    );
    let restarted: Value = serde_json::from_str(&out).unwrap();
    assert_ne!(
        restarted["containers"][0]["container_id"],
        d["containers"][0]["container_id"]
    );
    let (ok, out, _) = hoster_cli(&h, &["stop", &id]);
    assert!(ok && out.contains("stopped"), "{out}");
    let (ok, _, err) = hoster_cli(&h, &["restart", &id]);
    assert!(!ok && err.contains("invalid_transition"), "a clear refusal: {err}");
    let (ok, out, _) = hoster_cli(&h, &["rm", &id]);
    assert!(ok && out.contains(&format!("deleted {id}")), "{out}");

    let (ok, _, err) = hoster_cli(
        &h,
        &[
            "deploy",
            &template,
            "--name",
            "bad",
            "--customer",
            "c1",
            "--var",
            "TIMES=many",
        ],
    );
    assert!(!ok, "a wrong type is refused");
    assert!(
        err.contains("variables.TIMES"),
        "the API's reason, naming the variable: {err}"
    );
    let (ok, _, err) = hoster_cli(&h, &["logs", "depl_aaaaaaaaaaaaaaaa"]);
    assert!(!ok && err.contains("deployment_not_found"), "{err}");
}

/// An image only the loopback registry of testenv/setup.sh has: busybox with a layer of
/// `bytes` random bytes, pushed there and removed from the engine, so a start must pull it.
fn image_to_pull(bytes: usize) -> String {
    let registry = "127.0.0.1:5000";
    assert!(
        std::net::TcpStream::connect(registry).is_ok(),
        "no registry on {registry}: run testenv/setup.sh, which starts Debian's docker-registry there"
    );
    let tag = format!("{registry}/hoster-e2e/pulled:{}", rand::random::<u32>());
    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        format!("FROM busybox:latest\nRUN head -c {bytes} /dev/urandom > /blob\n"),
    )
    .unwrap();
    let docker = |args: &[&str]| {
        let out = std::process::Command::new("docker")
            .args(args)
            .env("DOCKER_BUILDKIT", "0")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    docker(&["build", "-q", "-t", &tag, context.path().to_str().unwrap()]);
    docker(&["push", "-q", &tag]);
    docker(&["rmi", &tag]);
    tag
}

/// The `data` of each server-sent event named `kind` in `text`.
fn sse_data(text: &str, kind: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter(|block| block.lines().any(|l| l == format!("event: {kind}")))
        .filter_map(|block| block.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect()
}

#[tokio::test]
async fn a_start_shows_each_services_progress_pull_bytes_and_health_wait_included() {
    let dir = tempfile::tempdir().unwrap();
    let h = Hoster::start_in(dir, &[("HOSTER_ALLOWED_REGISTRIES", "127.0.0.1:5000")]).await;
    let image = image_to_pull(4_000_000);
    let template = h
        .publish(&json!({
            "name": "progress", "version": "1.0.0", "creator_id": "c",
            "compose_spec": format!("services:\n  web:\n    image: {image}\n    command: [\"sleep\", \"3600\"]\n    stop_grace_period: 1s\n    depends_on:\n      db:\n        condition: service_healthy\n  db:\n    image: busybox\n    command: [\"sh\", \"-c\", \"sleep 1; touch /ready; sleep 3600\"]\n    stop_grace_period: 1s\n    healthcheck:\n      test: [\"CMD\", \"test\", \"-f\", \"/ready\"]\n      interval: 1s\n      retries: 20\n")
        }))
        .await;
    let id = h.create_deployment(&template, "progress").await;
    let mut events = h
        .client
        .get(h.url(&format!("/api/v1/deployments/{id}/events?follow=true")))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);

    let started = h
        .client
        .post(h.url(&format!("/api/v1/deployments/{id}/start?wait=false")))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    // The deployment itself carries its progress while it starts.
    let mut shown = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, d) = h.get_deployment(&id).await;
        if shown.is_none() && d["progress"].is_object() {
            shown = Some(d["progress"].clone());
        }
        if d["status"] != "starting" {
            assert_eq!(d["status"], "running", "{d}");
            assert!(d.get("progress").is_none(), "no progress once it runs: {d}");
            break;
        }
        assert!(Instant::now() < deadline, "still starting: {d}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let shown = shown.expect("the deployment showed progress while starting");
    assert!(
        shown["web"]["phase"].is_string() && shown["db"]["phase"].is_string(),
        "{shown}"
    );

    let mut seen = String::new();
    read_events_until(&mut events, &mut seen, |s| s.contains("\"to\":\"running\"")).await;
    let updates = sse_data(&seen, "progress");
    assert!(
        sse_data(&seen, "deployment").iter().all(|row| row["seq"].is_i64()),
        "history rows keep their form"
    );
    let mut phases: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut pulled = (0, 0);
    for u in &updates {
        assert_eq!(u["deployment_id"], id.as_str());
        for (service, p) in u["services"].as_object().unwrap() {
            let phase = p["phase"].as_str().unwrap().to_string();
            let list = phases.entry(service.clone()).or_default();
            if list.last() != Some(&phase) {
                list.push(phase.clone());
            }
            if service == "web" && phase == "pulling" && p["total_bytes"].is_u64() {
                pulled = (p["current_bytes"].as_u64().unwrap(), p["total_bytes"].as_u64().unwrap());
            }
        }
    }
    assert_eq!(
        phases["web"],
        ["pending", "pulling", "creating", "starting", "running"],
        "{updates:?}"
    );
    assert_eq!(
        phases["db"],
        ["pending", "creating", "starting", "waiting_healthy", "running"],
        "db's image is present: no pull; web waits for it to be healthy: {updates:?}"
    );
    assert!(
        pulled.1 >= 4_000_000 && pulled.0 > 0 && pulled.0 <= pulled.1,
        "bytes of the pull, as the engine reported them: {pulled:?}"
    );
    assert_eq!(
        updates.last().unwrap()["services"],
        json!({}),
        "the last update says the start is over"
    );
    h.delete_deployment(&id).await;
    let _ = std::process::Command::new("docker").args(["rmi", &image]).output();
}
