//! `X-Request-Id`: every API request has one, kept from the client when it is sane, in the
//! response's header, in the request's log lines and in error bodies.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

const HEADER: &str = "x-request-id";

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being handled on this task, for error bodies.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

#[derive(Debug, Clone)]
struct RequestId(String);

/// A client's id is kept when it is 1 to 128 of `A-Z a-z 0-9 . _ : -`; anything else (which could
/// forge log lines or grow without bound) is replaced.
fn sane(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

fn generate() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Middleware, outermost of the API's: assigns the id and answers with it.
pub async fn assign(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| sane(id))
        .map_or_else(generate, str::to_string);
    request.extensions_mut().insert(RequestId(id.clone()));
    let header = HeaderValue::from_str(&id).expect("a sane id is a header value");
    let mut response = CURRENT.scope(id, next.run(request)).await;
    response.headers_mut().insert(HEADER, header);
    response
}

/// The trace layer's span for a request: its method, path and id.
pub fn span(request: &Request) -> tracing::Span {
    let id = request.extensions().get::<RequestId>().map_or("", |r| r.0.as_str());
    tracing::info_span!("request", method = %request.method(), uri = %request.uri().path(), request_id = %id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_kept_only_when_sane() {
        for ok in ["abc", "req-1.2_3:4", &"a".repeat(128)] {
            assert!(sane(ok), "{ok}");
        }
        for bad in ["", &"a".repeat(129), "a b", "a\nb", "<script>", "é"] {
            assert!(!sane(bad), "{bad:?}");
        }
        let made = generate();
        assert!(sane(&made) && made.len() == 32 && made != generate());
    }
}
