//! The built-in reverse proxy: deployments answer at their hostnames on Hoster's own port.

use std::io::Read;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

/// GET through Hoster with a `Host` header, as a browser at `http://<domain>:<port>/` would send.
async fn via_proxy(h: &Hoster, domain: &str, path: &str, accept: &str) -> reqwest::Response {
    h.client
        .get(h.url(path))
        .header("host", format!("{domain}:{}", h.port))
        .header("accept", accept)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_deployment_answers_at_its_hostname_and_says_when_it_cannot() {
    let h = Hoster::start().await;
    let body = examples_dir_file("workflow-my-webapp.json");
    let template = h.publish(&body).await;
    let id = h.create_deployment(&template, "Production Site").await;
    let (_, d) = h.get_deployment(&id).await;
    let domain = d["domain"].as_str().unwrap().to_string();
    assert_eq!(domain, "production-site.apps.localhost");

    let pending = via_proxy(&h, &domain, "/", "text/html").await;
    assert_eq!(pending.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(pending.text().await.unwrap().contains("is pending"));

    let running = h.start_deployment(&id).await;
    assert_eq!(running["url"], format!("http://{domain}:{}", h.port));
    assert_eq!(proxied_text(&h, &domain, "/").await, "<h1>Welcome to My App!</h1>");
    // Uppercase and a trailing dot name the same site; the API still answers on other names.
    let upper = via_proxy(&h, "PRODUCTION-SITE.APPS.LOCALHOST.", "/", "*/*").await;
    assert_eq!(upper.text().await.unwrap(), "<h1>Welcome to My App!</h1>");
    assert_eq!(
        via_proxy(&h, "localhost", "/health", "*/*").await.status(),
        StatusCode::OK
    );

    // A second deployment of the same template gets its own hostname.
    let second = h.create_deployment(&template, "Production Site").await;
    let second = h.start_deployment(&second).await;
    let second_domain = second["domain"].as_str().unwrap().to_string();
    assert_ne!(second_domain, domain);
    assert!(second_domain.starts_with("production-site-") && second_domain.ends_with(".apps.localhost"));
    assert_eq!(
        proxied_text(&h, &second_domain, "/").await,
        "<h1>Welcome to My App!</h1>"
    );

    h.stop_deployment(&id).await;
    let stopped = via_proxy(&h, &domain, "/", "application/json").await;
    assert_eq!(stopped.status(), StatusCode::SERVICE_UNAVAILABLE);
    let error: Value = stopped.json().await.unwrap();
    assert_eq!(error["code"], "deployment_unavailable", "{error}");

    h.delete_deployment(&id).await;
    let gone = via_proxy(&h, &domain, "/", "application/json").await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert_eq!(gone.json::<Value>().await.unwrap()["code"], "deployment_not_found");
    h.delete_deployment(second["id"].as_str().unwrap()).await;
}

/// The page at `domain`, retrying while the service behind it is still coming up (502).
async fn proxied_text(h: &Hoster, domain: &str, path: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let response = via_proxy(h, domain, path, "*/*").await;
        if response.status() != StatusCode::BAD_GATEWAY || std::time::Instant::now() > deadline {
            return response.text().await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

fn examples_dir_file(name: &str) -> Value {
    let path = format!("{}/../../testdata/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn forwarded_headers_reach_the_primary_service() {
    let h = Hoster::start().await;
    // `who` starts first (web depends on it) and publishes a port: it is the primary service.
    let template = h
        .publish(&json!({
            "name": "who", "version": "1.0.0", "creator_id": "c",
            "compose_spec": "services:\n  web:\n    image: nginx:alpine\n    ports: [\"80\"]\n    depends_on: [who]\n  who:\n    image: traefik/whoami\n    ports: [\"80\"]\n"
        }))
        .await;
    let id = h.create_deployment(&template, "who").await;
    let d = h.start_deployment(&id).await;
    let domain = d["domain"].as_str().unwrap().to_string();
    let text = proxied_text(&h, &domain, "/any/path?x=1").await.to_lowercase();
    assert!(text.starts_with("hostname: "), "routed to whoami, not nginx: {text}");
    assert!(text.contains("get /any/path?x=1 http/1.1"), "{text}");
    assert!(
        text.contains(&format!("host: {domain}:{}", h.port)),
        "the original Host is kept: {text}"
    );
    assert!(text.contains("x-forwarded-for: 127.0.0.1"), "{text}");
    assert!(text.contains("x-forwarded-proto: http"), "{text}");
    assert!(text.contains(&format!("x-forwarded-host: {domain}")), "{text}");
    h.delete_deployment(&id).await;
}

#[tokio::test]
async fn a_100_mb_download_streams_through_the_proxy() {
    let h = Hoster::start().await;
    let template = h
        .publish(&json!({
            "name": "big", "version": "1.0.0", "creator_id": "c",
            "compose_spec": "services:\n  web:\n    image: nginx:alpine\n    ports: [\"80\"]\n"
        }))
        .await;
    let id = h.create_deployment(&template, "big").await;
    let d = h.start_deployment(&id).await;
    let out = std::process::Command::new("docker")
        .args([
            "exec",
            &format!("hoster_{id}_web"),
            "sh",
            "-c",
            "head -c 104857600 /dev/urandom > /usr/share/nginx/html/big && md5sum /usr/share/nginx/html/big",
        ])
        .output()
        .unwrap();
    let expected = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let mut response = via_proxy(&h, d["domain"].as_str().unwrap(), "/big", "*/*").await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut hasher = std::process::Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = hasher.stdin.take().unwrap();
    let mut received = 0usize;
    while let Some(chunk) = response.chunk().await.unwrap() {
        received += chunk.len();
        std::io::Write::write_all(&mut stdin, &chunk).unwrap();
    }
    drop(stdin);
    let mut digest = String::new();
    hasher.stdout.take().unwrap().read_to_string(&mut digest).unwrap();
    assert!(hasher.wait().unwrap().success());
    assert_eq!(received, 104_857_600);
    assert_eq!(
        digest.split_whitespace().next().unwrap(),
        expected,
        "the bytes arrive unchanged"
    );
    let rss_kb: u64 = std::fs::read_to_string(format!("/proc/{}/status", h.child.id()))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert!(
        rss_kb < 64 * 1024,
        "hoster holds {rss_kb} kB after relaying 100 MB: the body was buffered"
    );
    let (status, _) = h
        .request(Method::DELETE, &format!("/api/v1/deployments/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn custom_domains_route_to_their_deployment_and_belong_to_one_only() {
    let h = Hoster::start().await;
    let template = h.publish(&examples_dir_file("workflow-my-webapp.json")).await;
    let a = h.create_deployment(&template, "a").await;
    let b = h.create_deployment(&template, "b").await;
    h.start_deployment(&a).await;
    let (status, added) = h.add_domain(&a, "WWW.Example.COM").await;
    assert_eq!(
        (status, added["domain"].as_str()),
        (StatusCode::CREATED, Some("www.example.com")),
        "{added}"
    );
    let (status, error) = h.add_domain(&b, "www.example.com").await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::CONFLICT, Some("domain_taken"))
    );
    let (_, b_record) = h.get_deployment(&b).await;
    let (status, error) = h.add_domain(&a, b_record["domain"].as_str().unwrap()).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "names under the base domain are Hoster's: {error}"
    );
    for bad in ["not a host", "1.2.3.4", "localhost"] {
        assert_eq!(h.add_domain(&a, bad).await.0, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (_, list) = h
        .request(Method::GET, &format!("/api/v1/deployments/{a}/domains"), None)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    assert_eq!(
        proxied_text(&h, "www.example.com", "/").await,
        "<h1>Welcome to My App!</h1>"
    );

    let (status, _) = h
        .request(
            Method::DELETE,
            &format!("/api/v1/deployments/{a}/domains/www.example.com"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let api = via_proxy(&h, "www.example.com", "/health", "*/*").await;
    assert_eq!(
        api.status(),
        StatusCode::MISDIRECTED_REQUEST,
        "a name no deployment has is neither a site nor the API"
    );
    let (status, error) = h
        .request(
            Method::DELETE,
            &format!("/api/v1/deployments/{a}/domains/www.example.com"),
            None,
        )
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("domain_not_found"))
    );
    // Deleting a deployment frees its hostnames.
    h.add_domain(&a, "shop.example.com").await;
    h.delete_deployment(&a).await;
    assert_eq!(h.add_domain(&b, "shop.example.com").await.0, StatusCode::CREATED);
    h.delete_deployment(&b).await;
}

#[tokio::test]
async fn upgraded_connections_are_spliced_through() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let h = Hoster::start().await;
    // An upstream that answers any request with 101 and then echoes bytes, as a WebSocket
    // server would after its handshake; the script arrives as a config file.
    let upgrade = "#!/bin/sh\nwhile IFS= read -r line; do\n  line=$(printf '%s' \"$line\" | tr -d '\\r')\n  [ -z \"$line\" ] && break\ndone\nprintf 'HTTP/1.1 101 Switching Protocols\\r\\nConnection: Upgrade\\r\\nUpgrade: echo\\r\\n\\r\\n'\nexec cat\n";
    let template = h
        .publish(&json!({
            "name": "echo", "version": "1.0.0", "creator_id": "c",
            "compose_spec": "services:\n  echo:\n    image: busybox\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; nc -ll -p 80 -e /upgrade.sh & wait\"]\n    ports: [\"80\"]\n",
            "config_files": [{"name": "upgrade.sh", "path": "/upgrade.sh", "content": upgrade, "mode": "0755"}]
        }))
        .await;
    let id = h.create_deployment(&template, "echo").await;
    let d = h.start_deployment(&id).await;
    let domain = d["domain"].as_str().unwrap().to_string();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut stream = loop {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", h.port)).await.unwrap();
        let request = format!(
            "GET /socket HTTP/1.1\r\nHost: {domain}:{}\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n",
            h.port
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).await.unwrap() == 0 {
                break;
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_string();
        if head.starts_with("HTTP/1.1 101") {
            assert!(head.to_ascii_lowercase().contains("upgrade: echo"), "{head}");
            break stream;
        }
        assert!(std::time::Instant::now() < deadline, "never upgraded: {head}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    for message in ["hello through the proxy\n", "and back again\n"] {
        stream.write_all(message.as_bytes()).await.unwrap();
        let mut echoed = vec![0u8; message.len()];
        tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_exact(&mut echoed))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&echoed), message);
    }
    drop(stream);
    h.delete_deployment(&id).await;
}

/// A one-service template running `script` (a config file) on Debian's Python.
fn python_template(name: &str, script: &str, port: u16) -> Value {
    json!({
        "name": name, "version": "1.0.0", "creator_id": "c",
        "compose_spec": format!("services:\n  app:\n    image: python:3-slim\n    command: [\"python3\", \"-u\", \"/app.py\"]\n    ports: [\"{port}\"]\n"),
        "config_files": [{"name": "app.py", "path": "/app.py", "content": script}]
    })
}

const WEBSOCKET_ECHO: &str = r#"import asyncio, signal, sys
import websockets
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
async def echo(ws, path=None):
    async for message in ws:
        await ws.send(message)
async def main():
    async with websockets.serve(echo, "0.0.0.0", 8765, max_size=2**24):
        await asyncio.Future()
asyncio.run(main())
"#;

const EVENT_STREAM: &str = r#"import signal, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
class Events(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for i in range(3):
            self.wfile.write(f"data: tick {i}\n\n".encode())
            self.wfile.flush()
            time.sleep(1)
        self.close_connection = True
ThreadingHTTPServer(("", 8000), Events).serve_forever()
"#;

#[tokio::test]
async fn websockets_and_server_sent_events_pass_through() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let h = Hoster::start().await;
    let ws_template = h.publish(&python_template("ws", WEBSOCKET_ECHO, 8765)).await;
    let sse_template = h.publish(&python_template("sse", EVENT_STREAM, 8000)).await;
    let ws = h.create_deployment(&ws_template, "ws").await;
    let sse = h.create_deployment(&sse_template, "sse").await;
    let ws_domain = h.start_deployment(&ws).await["domain"].as_str().unwrap().to_string();
    let sse_domain = h.start_deployment(&sse).await["domain"].as_str().unwrap().to_string();

    // A real WebSocket handshake and frames (text, a 1 MB binary, ping) through the proxy.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut socket = loop {
        let mut request = format!("ws://127.0.0.1:{}/echo", h.port).into_client_request().unwrap();
        request
            .headers_mut()
            .insert("host", format!("{ws_domain}:{}", h.port).parse().unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, response)) => {
                assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
                break socket;
            }
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "no WebSocket handshake: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
        }
    };
    let big: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    for message in [Message::text("hello, websocket"), Message::binary(big)] {
        socket.send(message.clone()).await.unwrap();
        let echoed = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("an echo within 10 s")
            .unwrap()
            .unwrap();
        assert_eq!(echoed, message);
    }
    socket.close(None).await.unwrap();

    // Server-sent events arrive as they are written, not when the stream ends.
    let started = std::time::Instant::now();
    let mut response = loop {
        let r = via_proxy(&h, &sse_domain, "/events", "text/event-stream").await;
        if r.status() != StatusCode::BAD_GATEWAY || started.elapsed().as_secs() > 20 {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let asked = std::time::Instant::now();
    let mut seen = String::new();
    let mut first_at = None;
    while let Some(chunk) = response.chunk().await.unwrap() {
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if first_at.is_none() && seen.contains("data: tick 0") {
            first_at = Some(asked.elapsed());
        }
    }
    let total = asked.elapsed();
    assert_eq!(seen, "data: tick 0\n\ndata: tick 1\n\ndata: tick 2\n\n");
    let first_at = first_at.unwrap();
    assert!(
        total - first_at >= std::time::Duration::from_millis(1500),
        "the first event came at {first_at:?} and the stream ended at {total:?}: it was buffered"
    );
    h.delete_deployment(&ws).await;
    h.delete_deployment(&sse).await;
}

/// A GET with exactly `host_line` (or none) to a loopback port: status and body.
async fn raw_get(port: u16, host_line: &str, path: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\n{host_line}Accept: application/json\r\nConnection: close\r\n\r\n");
    raw_http(std::net::SocketAddr::from(([127, 0, 0, 1], port)), &request).await
}

#[tokio::test]
async fn a_proxy_only_listener_serves_sites_and_nothing_else() {
    let proxy_port = free_port();
    let h = Hoster::start_in(
        tempfile::tempdir().unwrap(),
        &[
            ("HOSTER_PROXY_PORT", &proxy_port.to_string()),
            ("HOSTER_PROXY_HOST", "127.0.0.1"),
        ],
    )
    .await;
    // `who` starts first and publishes a port, but the label makes `web` the primary service.
    let template = h
        .publish(&json!({
            "name": "labelled", "version": "1.0.0", "creator_id": "c",
            "compose_spec": "services:\n  web:\n    image: nginx:alpine\n    ports: [\"80\"]\n    depends_on: [who]\n    labels:\n      io.hoster.primary: \"true\"\n  who:\n    image: traefik/whoami\n    ports: [\"80\"]\n"
        }))
        .await;
    let id = h.create_deployment(&template, "labelled").await;
    let domain = h.start_deployment(&id).await["domain"].as_str().unwrap().to_string();
    let host = format!("Host: {}:{proxy_port}\r\n", domain.to_uppercase());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (status, body) = raw_get(proxy_port, &host, "/").await;
        if status == 200 {
            assert!(
                body.contains("Welcome to nginx!"),
                "routed to nginx, the labelled service: {body}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status} {body}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // Hostile or odd Host values never reach a deployment by accident, nor break anything: the
    // main listener serves the API on its own names only (421 for others, 400 for malformed
    // ones), the proxy-only listener answers 404.
    let long = format!("Host: {}.apps.localhost\r\n", "a".repeat(300));
    let api_health = "{\"status\":\"ok\"}";
    for host_line in [
        "",
        "Host: \r\n",
        long.as_str(),
        "Host: 127.0.0.1\r\n",
        "Host: [::1]:9090\r\n",
        "Host: LOCALHOST:1\r\n",
        "Host: apps.localhost\r\n",
        "Host: a_b.apps.localhost\r\n",
    ] {
        let (status, body) = raw_get(h.port, host_line, "/health").await;
        assert!(
            status == 200 && body.contains(api_health) || status == 400 || status == 421,
            "main listener, {host_line:?}: {status} {body}"
        );
        let (status, body) = raw_get(proxy_port, host_line, "/health").await;
        assert!(
            status == 404 || status == 400,
            "proxy listener, {host_line:?}: {status} {body}"
        );
        assert!(!body.contains(api_health), "the proxy listener never serves the API");
    }
    let (status, body) = raw_get(proxy_port, "Host: nobody.apps.localhost\r\n", "/").await;
    assert_eq!(status, 404);
    assert!(body.contains("deployment_not_found"), "{body}");
    h.delete_deployment(&id).await;
}

/// An HTTP/1.1 upstream with every kind of body framing, and the port of the connection each
/// request came on (to see upstream connections kept).
const FRAMINGS: &str = r#"import signal, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
class Framings(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 1  # idle connections close after a second
    def fixed(self, body, status=200):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
    def do_HEAD(self):
        self.fixed(b"fixed body\n")
    def do_GET(self):
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in [b"alpha", b"beta", b"gamma" * 1000]:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/empty":
            self.send_response(204)
            self.end_headers()
        elif self.path == "/port":
            self.fixed(str(self.client_address[1]).encode())
        elif self.path == "/close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until the end")
            self.close_connection = True
        else:
            self.fixed(b"fixed body\n")
    def do_POST(self):
        self.fixed(self.rfile.read(int(self.headers["Content-Length"])))
ThreadingHTTPServer(("", 8000), Framings).serve_forever()
"#;

/// Sends `request` on `stream` and reads one response, whole (a body without a length: until
/// the server closes).
async fn exchange(stream: &mut tokio::net::TcpStream, buffer: &mut Vec<u8>, request: &[u8]) -> (u16, String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(request).await.unwrap();
    let head_only = request.starts_with(b"HEAD");
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(len)) = response.parse(buffer) {
            let head = String::from_utf8_lossy(&buffer[..len]).to_lowercase();
            let code = response.code.unwrap();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map(|l| l.trim().parse::<usize>().unwrap());
            let body = if head_only || code == 204 {
                Some(Vec::new())
            } else if head.contains("transfer-encoding: chunked") {
                dechunk(&buffer[len..])
            } else if let Some(length) = length {
                (buffer.len() >= len + length).then(|| buffer[len..len + length].to_vec())
            } else {
                None // until the server closes
            };
            if let Some(body) = body {
                let consumed = len
                    + if head.contains("chunked") {
                        chunked_len(&buffer[len..])
                    } else {
                        body.len()
                    };
                buffer.drain(..consumed);
                return (code, head, body);
            }
        }
        let mut chunk = [0u8; 65536];
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("a response within 10 s")
            .unwrap();
        if n == 0 {
            let head_end = buffer.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
            let head = String::from_utf8_lossy(&buffer[..head_end]).to_lowercase();
            let body = buffer[head_end..].to_vec();
            buffer.clear();
            return (head[9..12].parse().unwrap(), head, body);
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// The body of a chunked message, once all of it is in `bytes`.
fn dechunk(mut bytes: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = bytes.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&bytes[..line]).unwrap(), 16).unwrap();
        if size == 0 {
            return (bytes.len() >= line + 4).then_some(body);
        }
        if bytes.len() < line + 2 + size + 2 {
            return None;
        }
        body.extend_from_slice(&bytes[line + 2..line + 2 + size]);
        bytes = &bytes[line + 2 + size + 2..];
    }
}

fn chunked_len(bytes: &[u8]) -> usize {
    let end = bytes.windows(5).position(|w| w == b"0\r\n\r\n").unwrap();
    end + 5
}

#[tokio::test]
async fn one_connection_carries_every_framing_pipelined_requests_and_a_turn_to_the_api() {
    let h = Hoster::start().await;
    let template = h.publish(&python_template("framings", FRAMINGS, 8000)).await;
    let id = h.create_deployment(&template, "framings").await;
    let domain = h.start_deployment(&id).await["domain"].as_str().unwrap().to_string();
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: {domain}\r\n\r\n").into_bytes();
    assert_eq!(
        proxied_text(&h, &domain, "/").await,
        "fixed body\n",
        "the upstream answers"
    );

    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", h.port)).await.unwrap();
    let mut buffer = Vec::new();
    let (code, head, body) = exchange(&mut stream, &mut buffer, &get("/chunked")).await;
    assert_eq!((code, body.len()), (200, 5 + 4 + 5000), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(body.starts_with(b"alphabetagamma"));

    let upload: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let mut post = format!(
        "POST /echo HTTP/1.1\r\nHost: {domain}\r\nContent-Length: {}\r\n\r\n",
        upload.len()
    )
    .into_bytes();
    post.extend_from_slice(&upload);
    let (code, _, body) = exchange(&mut stream, &mut buffer, &post).await;
    assert_eq!(code, 200);
    assert!(body == upload, "the 300 kB body came back whole");

    let head_request = format!("HEAD / HTTP/1.1\r\nHost: {domain}\r\n\r\n").into_bytes();
    let (code, head, body) = exchange(&mut stream, &mut buffer, &head_request).await;
    assert_eq!((code, body.len()), (200, 0));
    assert!(head.contains("content-length: 11"), "{head}");
    assert_eq!(exchange(&mut stream, &mut buffer, &get("/empty")).await.0, 204);

    // The upstream connection is kept between requests.
    let (_, _, first) = exchange(&mut stream, &mut buffer, &get("/port")).await;
    let (_, _, second) = exchange(&mut stream, &mut buffer, &get("/port")).await;
    assert_eq!(first, second, "one upstream connection for one client connection");

    // Once the upstream closed the idle connection, the next request goes on a new one.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (code, _, third) = exchange(&mut stream, &mut buffer, &get("/port")).await;
    assert_eq!(code, 200);
    assert_ne!(third, first, "a new upstream connection");
    let first = third;

    // Two requests in one write get two answers, in order.
    let mut both = get("/port");
    both.extend_from_slice(&get("/"));
    let (_, _, port) = exchange(&mut stream, &mut buffer, &both).await;
    assert_eq!(port, first);
    let (code, _, body) = exchange(&mut stream, &mut buffer, b"").await;
    assert_eq!((code, body.as_slice()), (200, &b"fixed body\n"[..]));

    // The API on the same connection, then the deployment again (now through hyper).
    let health = format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", h.port).into_bytes();
    let (code, _, body) = exchange(&mut stream, &mut buffer, &health).await;
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        String::from_utf8_lossy(&body).contains("ok"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (code, _, body) = exchange(&mut stream, &mut buffer, &get("/")).await;
    assert_eq!((code, body.as_slice()), (200, &b"fixed body\n"[..]));

    // A body that ends when the upstream closes: relayed, then the connection closes too.
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", h.port)).await.unwrap();
    let (code, head, body) = exchange(&mut stream, &mut buffer, &get("/close")).await;
    assert_eq!((code, body.as_slice()), (200, &b"until the end"[..]));
    assert!(head.contains("connection: close"), "{head}");

    // An upstream that went away: a clear 502, then the client connection closes.
    let killed = std::process::Command::new("docker")
        .args(["kill", &format!("hoster_{id}_app")])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", h.port)).await.unwrap();
    let (code, _, body) = exchange(&mut stream, &mut buffer, &get("/")).await;
    assert!(code == 502 || code == 503, "{code}: {}", String::from_utf8_lossy(&body));
    h.delete_deployment(&id).await;
}
