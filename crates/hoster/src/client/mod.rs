//! `hoster deploy | ps | logs | start | stop | restart | rm`: a small client of a running
//! Hoster's API for operators and scripts. Human tables by default, the API's JSON with `--json`.

mod progress;

use std::collections::HashMap;
use std::io::Write;

use anyhow::{Context, bail};
use axum::body::Body;
use clap::Args;
use futures_util::StreamExt;
use serde_json::{Value, json};

/// Where the API is and who calls it.
#[derive(Debug, Clone, Args)]
pub struct Api {
    /// The API of the Hoster to talk to (plain HTTP, as on loopback).
    #[arg(
        long = "api",
        env = "HOSTER_URL",
        default_value = "http://127.0.0.1:9090",
        global = true
    )]
    pub url: String,
    /// A bearer token, when the server runs in token mode.
    #[arg(long, env = "HOSTER_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
}

impl Api {
    /// Sends a request; the status and the response, whose body is read as it arrives.
    pub async fn send(
        &self,
        method: hyper::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<hyper::Response<hyper::body::Incoming>> {
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let uri: hyper::Uri = url.parse().with_context(|| format!("`{url}` is not a URL"))?;
        anyhow::ensure!(
            uri.scheme_str() == Some("http"),
            "--api (HOSTER_URL) takes an http:// URL (the API on loopback)"
        );
        let mut request = hyper::Request::builder().method(method).uri(uri);
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))?,
            None => request.body(Body::empty())?,
        };
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
        client
            .request(request)
            .await
            .with_context(|| format!("cannot reach {}", self.url))
    }

    /// Sends a request and reads a JSON answer (at most 16 MiB); the status and the JSON.
    pub async fn json(&self, method: hyper::Method, path: &str, body: Option<&Value>) -> anyhow::Result<(u16, Value)> {
        let response = self.send(method, path, body).await?;
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(Body::new(response.into_body()), 16 << 20).await?;
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    /// Like [`Api::json`], with any non-2xx answer turned into its error.
    async fn expect(&self, method: hyper::Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let (status, answer) = self.json(method, path, body).await?;
        if !(200..300).contains(&status) {
            bail!("{}", refusal(status, &answer));
        }
        Ok(answer)
    }
}

/// The API's error as one line: its sentence (which names each detail) and its code.
fn refusal(status: u16, answer: &Value) -> String {
    match (answer["error"].as_str(), answer["code"].as_str()) {
        (Some(error), Some(code)) => format!("{error} ({code})"),
        _ => format!("the API answered {status}"),
    }
}

/// What `hoster deploy` does.
pub struct Deploy {
    pub template: String,
    pub name: String,
    pub customer: Option<String>,
    pub vars: Vec<String>,
}

/// Creates the deployment and starts it; prints it.
pub async fn deploy(api: &Api, deploy: Deploy, as_json: bool) -> anyhow::Result<()> {
    let template = api
        .expect(
            hyper::Method::GET,
            &format!("/api/v1/templates/{}", deploy.template),
            None,
        )
        .await?;
    let declared: HashMap<&str, &str> = template["variables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| Some((v["name"].as_str()?, v["type"].as_str().unwrap_or("string"))))
        .collect();
    let mut variables = serde_json::Map::new();
    for var in &deploy.vars {
        let (name, value) = var
            .split_once('=')
            .with_context(|| format!("--var takes NAME=VALUE (got `{var}`)"))?;
        variables.insert(name.to_string(), typed(value, declared.get(name).copied()));
    }
    let mut body = json!({"template_id": deploy.template, "name": deploy.name, "variables": variables});
    if let Some(customer) = deploy.customer {
        body["customer_id"] = customer.into();
    }
    let created = api
        .expect(hyper::Method::POST, "/api/v1/deployments", Some(&body))
        .await?;
    let id = created["id"].as_str().context("the API answered without an id")?;
    let path = format!("/api/v1/deployments/{id}/start");
    let start = api.expect(hyper::Method::POST, &path, None);
    let started = progress::shown_while(api, id, start).await?;
    print_one(&started, as_json);
    Ok(())
}

/// A `--var` value as the template declares its variable: numbers and booleans as JSON ones.
fn typed(value: &str, kind: Option<&str>) -> Value {
    match kind {
        Some("number") => value
            .parse::<serde_json::Number>()
            .map_or_else(|_| Value::from(value), Value::Number),
        Some("boolean") => match value {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            other => other.into(),
        },
        _ => value.into(),
    }
}

/// Prints deployments as a table (or the API's JSON).
pub async fn ps(api: &Api, as_json: bool) -> anyhow::Result<()> {
    let page = api
        .expect(hyper::Method::GET, "/api/v1/deployments?limit=100", None)
        .await?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&page)?);
        return Ok(());
    }
    let rows: Vec<[String; 5]> = page["deployments"].as_array().into_iter().flatten().map(row).collect();
    print!("{}", table(&["ID", "NAME", "STATUS", "CONTAINERS", "URL"], &rows));
    let total = page["total"].as_u64().unwrap_or(0);
    if total > rows.len() as u64 {
        println!("({} of {total} shown)", rows.len());
    }
    Ok(())
}

fn row(d: &Value) -> [String; 5] {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let containers = d["containers"].as_array().map_or(0, Vec::len);
    let running = d["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["status"] == "running")
        .count();
    [
        text(&d["id"]),
        text(&d["name"]),
        text(&d["status"]),
        format!("{running}/{containers} running"),
        text(&d["url"]),
    ]
}

/// Columns padded to their widest cell. Pure.
fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn print_one(d: &Value, as_json: bool) {
    if as_json {
        println!("{}", serde_json::to_string_pretty(d).unwrap_or_default());
    } else {
        print!("{}", table(&["ID", "NAME", "STATUS", "CONTAINERS", "URL"], &[row(d)]));
    }
}

/// `start`, `stop`, `restart` (of one `service`) or `rm` of one deployment.
pub async fn act(api: &Api, action: &str, id: &str, service: Option<&str>, as_json: bool) -> anyhow::Result<()> {
    if action == "rm" {
        api.expect(hyper::Method::DELETE, &format!("/api/v1/deployments/{id}"), None)
            .await?;
        if as_json {
            println!("{}", json!({"deleted": id}));
        } else {
            println!("deleted {id}");
        }
        return Ok(());
    }
    let query = service.map(|s| format!("?service={s}")).unwrap_or_default();
    let path = format!("/api/v1/deployments/{id}/{action}{query}");
    let request = api.expect(hyper::Method::POST, &path, None);
    let d = if action == "stop" {
        request.await?
    } else {
        progress::shown_while(api, id, request).await?
    };
    print_one(&d, as_json);
    Ok(())
}

/// Prints a deployment's logs; with `follow`, as they are written until interrupted.
pub async fn logs(api: &Api, id: &str, follow: bool, tail: Option<u32>, service: Option<&str>) -> anyhow::Result<()> {
    let mut query = vec![format!("follow={follow}")];
    if let Some(tail) = tail {
        query.push(format!("tail={tail}"));
    }
    if let Some(service) = service {
        query.push(format!("service={service}"));
    }
    let response = api
        .send(
            hyper::Method::GET,
            &format!("/api/v1/deployments/{id}/logs?{}", query.join("&")),
            None,
        )
        .await?;
    let status = response.status().as_u16();
    let mut body = Body::new(response.into_body()).into_data_stream();
    if status != 200 {
        let bytes = axum::body::to_bytes(Body::from_stream(body), 1 << 20).await?;
        bail!(
            "{}",
            refusal(status, &serde_json::from_slice(&bytes).unwrap_or(Value::Null))
        );
    }
    let mut out = std::io::stdout().lock();
    // Server-sent events when following: `data: {"service", "line", ...}` per line.
    let mut sse = progress::SseData::default();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if !follow {
            out.write_all(&chunk)?;
            continue;
        }
        for l in sse.push(&chunk) {
            writeln!(
                out,
                "{} | {}",
                l["service"].as_str().unwrap_or("?"),
                l["line"].as_str().unwrap_or("")
            )?;
            out.flush()?;
        }
    }
    Ok(())
}

/// Prints the starter templates as a table.
pub fn catalog_list() {
    let rows: Vec<[String; 4]> = crate::catalog::starters()
        .into_iter()
        .map(|t| {
            let text = |key: &str| t[key].as_str().unwrap_or_default().to_string();
            let cents = t["price_monthly"].as_i64().unwrap_or(0);
            [
                text("name"),
                text("version"),
                text("category"),
                format!("{}.{:02}", cents / 100, cents % 100),
            ]
        })
        .collect();
    print!("{}", table(&["NAME", "VERSION", "CATEGORY", "PRICE/MONTH"], &rows));
}

/// Creates and publishes the starter templates for `creator`; a second run changes nothing.
pub async fn catalog_import(api: &Api, creator: &str) -> anyhow::Result<()> {
    for mut body in crate::catalog::starters() {
        let name = body["name"].as_str().unwrap_or_default().to_string();
        let version = body["version"].as_str().unwrap_or_default().to_string();
        body["creator_id"] = creator.into();
        let (status, answer) = api.json(hyper::Method::POST, "/api/v1/templates", Some(&body)).await?;
        let template = match status {
            201 => answer,
            409 if answer["code"] == "template_exists" => {
                let query =
                    serde_urlencoded::to_string([("creator_id", creator), ("q", name.as_str()), ("limit", "100")])?;
                let listed = api
                    .expect(hyper::Method::GET, &format!("/api/v1/templates?{query}"), None)
                    .await?;
                listed["templates"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|t| t["name"] == name.as_str() && t["version"] == version.as_str())
                    .cloned()
                    .with_context(|| format!("{name} {version}: {}", refusal(status, &answer)))?
            }
            _ => bail!("{name} {version}: {}", refusal(status, &answer)),
        };
        let id = template["id"].as_str().context("the API answered without an id")?;
        if template["published"] == true {
            println!("{name} {version}: already there ({id})");
        } else {
            api.expect(hyper::Method::POST, &format!("/api/v1/templates/{id}/publish"), None)
                .await?;
            println!("{name} {version}: published ({id})");
        }
    }
    Ok(())
}

/// How `hoster usage export` writes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

/// Prints each deployment's usage over `[from, to)`.
pub async fn usage_export(
    api: &Api,
    from: &str,
    to: &str,
    format: ExportFormat,
    customer: Option<&str>,
) -> anyhow::Result<()> {
    let mut query = vec![("from", from), ("to", to)];
    if let Some(customer) = customer {
        query.push(("customer_id", customer));
    }
    let query = serde_urlencoded::to_string(&query)?;
    let report = api
        .expect(hyper::Method::GET, &format!("/api/v1/usage?{query}"), None)
        .await?;
    match format {
        ExportFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        ExportFormat::Csv => print!("{}", usage_csv(&report)),
    }
    Ok(())
}

/// `deployment_id,deployment_name,customer_id,seconds,amount_cents` and a line per
/// deployment of a usage report. Pure.
fn usage_csv(report: &Value) -> String {
    let mut out = String::from("deployment_id,deployment_name,customer_id,seconds,amount_cents\n");
    for d in report["deployments"].as_array().into_iter().flatten() {
        let text = |key: &str| csv_field(d[key].as_str().unwrap_or_default());
        out.push_str(&format!(
            "{},{},{},{},{}\n",
            text("deployment_id"),
            text("deployment_name"),
            text("customer_id"),
            d["seconds"].as_i64().unwrap_or(0),
            d["amount_cents"].as_i64().unwrap_or(0)
        ));
    }
    out
}

/// A CSV field (RFC 4180): quoted, with its quotes doubled, when it holds a comma, a quote or
/// a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_each_column_to_its_widest_cell() {
        let rows = [
            ["depl_a".to_string(), "x".to_string()],
            ["b".to_string(), "longer".to_string()],
        ];
        assert_eq!(
            table(&["ID", "NAME"], &rows),
            "ID      NAME\ndepl_a  x\nb       longer\n"
        );
    }

    #[test]
    fn var_values_take_their_declared_type() {
        assert_eq!(typed("5", Some("number")), json!(5));
        assert_eq!(typed("1.5", Some("number")), json!(1.5));
        assert_eq!(typed("true", Some("boolean")), json!(true));
        assert_eq!(typed("5", Some("string")), json!("5"));
        assert_eq!(typed("5", None), json!("5"), "undeclared: the API says so");
        assert_eq!(
            typed("many", Some("number")),
            json!("many"),
            "the API says what is wrong"
        );
    }

    #[test]
    fn refusals_read_as_one_line() {
        let answer = json!({"error": "name: is empty", "code": "validation_error", "details": [{"field": "name", "message": "is empty"}]});
        assert_eq!(refusal(400, &answer), "name: is empty (validation_error)");
        assert_eq!(refusal(502, &Value::Null), "the API answered 502");
    }

    #[test]
    fn usage_csv_quotes_what_needs_quoting() {
        let report = json!({"deployments": [
            {"deployment_id": "depl_a", "deployment_name": "shop, \"main\"", "customer_id": "c1", "seconds": 90, "amount_cents": 7},
            {"deployment_id": "depl_b", "deployment_name": "blog", "customer_id": "c2", "seconds": 0, "amount_cents": 0}
        ]});
        assert_eq!(
            usage_csv(&report),
            "deployment_id,deployment_name,customer_id,seconds,amount_cents\n\
             depl_a,\"shop, \"\"main\"\"\",c1,90,7\n\
             depl_b,blog,c2,0,0\n"
        );
    }
}
