//! Token mode: every route, for every kind of caller, allows exactly what it should; customers
//! never see each other's deployments; tokens are revocable and rate limited.

use hoster::config::{AuthMode, DockerHost};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

/// A server in token mode with an admin token minted through the CLI's code path.
struct Secured {
    app: TestApp,
    admin: String,
}

impl Secured {
    async fn start(rate_limit: u32) -> Secured {
        let app = spawn_app_with(
            tempfile::tempdir().unwrap(),
            DockerHost::Unix(DOCKER_SOCKET.into()),
            |c| {
                c.auth_mode = AuthMode::Token;
                c.rate_limit = rate_limit;
                // Every row of the access table makes a deployment for the same customer.
                c.max_deployments_per_customer = 1000;
            },
        )
        .await;
        let store = hoster::store::Store::open(&app.db_path()).await.unwrap();
        let (_, admin) = hoster::tokens::create(&store, hoster_core::access::Role::Admin, "ops", "", "test")
            .await
            .unwrap();
        store.close().await;
        Secured { app, admin }
    }

    async fn call(&self, token: Option<&str>, method: Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        call_as(&self.app.client, self.app.url(path), token, method, body).await
    }

    /// Mints a token as the admin, through the API.
    async fn token(&self, role: &str, subject: &str) -> String {
        let (status, body) = self
            .call(
                Some(&self.admin),
                Method::POST,
                "/api/v1/tokens",
                Some(&json!({"role": role, "subject": subject})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_string()
    }

    async fn ok(&self, method: Method, path: &str, body: Option<&Value>) -> Value {
        let (status, body) = self.call(Some(&self.admin), method, path, body).await;
        assert!(status.is_success(), "{status} {body}");
        body
    }
}

/// What each kind of caller gets from a route.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    /// Let through: the answer is the operation's own (2xx, or a 400/409/502 of its own rules).
    Allowed,
    Forbidden,
    /// Not yours: indistinguishable from unknown.
    Hidden,
    Unauthenticated,
}

fn outcome(status: StatusCode) -> Outcome {
    match status {
        StatusCode::UNAUTHORIZED => Outcome::Unauthenticated,
        StatusCode::FORBIDDEN => Outcome::Forbidden,
        StatusCode::NOT_FOUND => Outcome::Hidden,
        _ => Outcome::Allowed,
    }
}

/// Objects made fresh (as the admin) for each request, so mutating routes do not disturb others.
struct Fixture {
    draft: String,
    published: String,
    deployment: String,
    token_id: String,
}

async fn fixture(s: &Secured, n: usize) -> Fixture {
    let template = |name: String| {
        json!({
            "name": name, "version": "1.0.0", "creator_id": "alice",
            // An image no registry or engine has: a start fails fast without creating anything.
            "compose_spec": "services:\n  web:\n    image: hoster-test/not-here:1\n"
        })
    };
    let draft = s
        .ok(Method::POST, "/api/v1/templates", Some(&template(format!("draft {n}"))))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let published = s
        .ok(Method::POST, "/api/v1/templates", Some(&template(format!("pub {n}"))))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.ok(Method::POST, &format!("/api/v1/templates/{published}/publish"), None)
        .await;
    let deployment = s
        .ok(
            Method::POST,
            "/api/v1/deployments",
            Some(&json!({"template_id": published, "customer_id": "carol", "name": format!("site {n}")})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.ok(
        Method::POST,
        &format!("/api/v1/deployments/{deployment}/domains"),
        Some(&json!({"domain": format!("shop{n}.example.com")})),
    )
    .await;
    let token_id = s
        .ok(
            Method::POST,
            "/api/v1/tokens",
            Some(&json!({"role": "customer", "subject": format!("spare-{n}")})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    Fixture {
        draft,
        published,
        deployment,
        token_id,
    }
}

#[tokio::test]
async fn every_route_allows_exactly_what_each_role_should() {
    use Outcome::*;
    let s = Secured::start(0).await;
    let callers = [
        ("admin", Some(s.admin.clone())),
        ("alice (creator, owner)", Some(s.token("creator", "alice").await)),
        ("bob (another creator)", Some(s.token("creator", "bob").await)),
        ("carol (customer, owner)", Some(s.token("customer", "carol").await)),
        ("dave (another customer)", Some(s.token("customer", "dave").await)),
        ("anonymous", None),
    ];
    type Route = (Method, &'static str, Option<Value>, [Outcome; 6]);
    // Paths name fixture objects: {draft}, {published}, {deployment}, {token}, {n}.
    let routes: Vec<Route> = vec![
        (Method::GET, "/health", None, [Allowed; 6]),
        (Method::GET, "/ready", None, [Allowed; 6]),
        (Method::GET, "/api/v1/openapi.json", None, [Allowed; 6]),
        (
            Method::GET,
            "/api/v1/templates",
            None,
            [Allowed, Allowed, Allowed, Allowed, Allowed, Unauthenticated],
        ),
        (
            Method::POST,
            "/api/v1/templates",
            Some(
                json!({"name": "new {n}", "version": "1.0.0", "creator_id": "alice", "compose_spec": "services:\n  a:\n    image: busybox\n"}),
            ),
            [Allowed, Allowed, Forbidden, Forbidden, Forbidden, Unauthenticated],
        ),
        (
            Method::GET,
            "/api/v1/templates/{draft}",
            None,
            [Allowed, Allowed, Hidden, Hidden, Hidden, Unauthenticated],
        ),
        (
            Method::GET,
            "/api/v1/templates/{published}",
            None,
            [Allowed, Allowed, Allowed, Allowed, Allowed, Unauthenticated],
        ),
        (
            Method::PUT,
            "/api/v1/templates/{draft}",
            Some(json!({"description": "changed"})),
            [Allowed, Allowed, Hidden, Forbidden, Forbidden, Unauthenticated],
        ),
        (
            Method::DELETE,
            "/api/v1/templates/{draft}",
            None,
            [Allowed, Allowed, Hidden, Forbidden, Forbidden, Unauthenticated],
        ),
        (
            Method::POST,
            "/api/v1/templates/{draft}/publish",
            None,
            [Allowed, Allowed, Hidden, Forbidden, Forbidden, Unauthenticated],
        ),
        (
            Method::POST,
            "/api/v1/templates/{draft}/trust",
            None,
            [Allowed, Forbidden, Forbidden, Forbidden, Forbidden, Unauthenticated],
        ),
        (
            Method::DELETE,
            "/api/v1/templates/{draft}/trust",
            None,
            [Allowed, Forbidden, Forbidden, Forbidden, Forbidden, Unauthenticated],
        ),
        (
            Method::GET,
            "/api/v1/templates/{draft}/versions",
            None,
            [Allowed, Allowed, Hidden, Hidden, Hidden, Unauthenticated],
        ),
        (
            Method::GET,
            "/api/v1/templates/{published}/versions",
            None,
            [Allowed, Allowed, Allowed, Allowed, Allowed, Unauthenticated],
        ),
        (
            Method::POST,
            "/api/v1/templates/{published}/versions",
            Some(json!({"version": "2.0.0"})),
            [Allowed, Allowed, Hidden, Forbidden, Forbidden, Unauthenticated],
        ),
        (
            Method::POST,
            "/api/v1/templates/{published}/deprecate",
            Some(json!({"message": "old"})),
            [Allowed, Allowed, Hidden, Forbidden, Forbidden, Unauthenticated],
        ),
        (
            Method::GET,
            "/api/v1/catalog",
            None,
            [Allowed, Allowed, Allowed, Allowed, Allowed, Unauthenticated],
        ),
        (
            Method::GET,
            "/api/v1/deployments",
            None,
            [Allowed, Forbidden, Forbidden, Allowed, Allowed, Unauthenticated],
        ),
        (
            Method::POST,
            "/api/v1/deployments",
            Some(json!({"template_id": "{published}", "customer_id": "carol", "name": "mine {n}"})),
            [Allowed, Forbidden, Forbidden, Allowed, Forbidden, Unauthenticated],
        ),
        (
            Method::POST,
            "/api/v1/templates/import",
            Some(
                json!({"compose": "services:\n  web:\n    image: nginx:alpine\n", "name": "imported {n}", "creator_id": "alice"}),
            ),
            [Allowed, Allowed, Forbidden, Forbidden, Forbidden, Unauthenticated],
        ),
        (
            Method::POST,
            "/api/v1/deployments",
            Some(json!({"template_id": "{draft}", "name": "draft {n}"})),
            [Allowed, Forbidden, Forbidden, Hidden, Hidden, Unauthenticated],
        ),
        (
            Method::GET,
            "/api/v1/deployments/{deployment}",
            None,
            [Allowed, Forbidden, Forbidden, Allowed, Hidden, Unauthenticated],
        ),
        (
            Method::POST,
            "/api/v1/deployments/{deployment}/start",
            None,
            [Allowed, Forbidden, Forbidden, Allowed, Hidden, Unauthenticated],
        ),
        (
            Method::POST,
            "/api/v1/deployments/{deployment}/stop",
            None,
            [Allowed, Forbidden, Forbidden, Allowed, Hidden, Unauthenticated],
        ),
        (
            Method::DELETE,
            "/api/v1/deployments/{deployment}",
            None,
            [Allowed, Forbidden, Forbidden, Allowed, Hidden, Unauthenticated],
        ),
        (
            Method::GET,
            "/api/v1/deployments/{deployment}/events",
            None,
            [Allowed, Forbidden, Forbidden, Allowed, Hidden, Unauthenticated],
        ),
        (
            Method::GET,
            "/api/v1/deployments/{deployment}/logs",
            None,
            [Allowed, Forbidden, Forbidden, Allowed, Hidden, Unauthenticated],
        ),
        (
            Method::GET,
            "/api/v1/deployments/{deployment}/stats",
            None,
            [Allowed, Forbidden, Forbidden, Allowed, Hidden, Unauthenticated],
        ),
        (
            Method::POST,
            "/api/v1/deployments/{deployment}/restart",
            None,
            [Allowed, Forbidden, Forbidden, Allowed, Hidden, Unauthenticated],
        ),
        (
            Method::POST,
            "/api/v1/deployments/{deployment}/upgrade",
            Some(json!({"template_id": "{published}"})),
            [Allowed, Forbidden, Forbidden, Allowed, Hidden, Unauthenticated],
        ),
        (
            Method::GET,
            "/api/v1/deployments/{deployment}/versions",
            None,
            [Allowed, Forbidden, Forbidden, Allowed, Hidden, Unauthenticated],
        ),
        (
            Method::POST,
            "/api/v1/deployments/{deployment}/rollback",
            None,
            [Allowed, Forbidden, Forbidden, Allowed, Hidden, Unauthenticated],
        ),
        (
            Method::GET,
            "/api/v1/deployments/{deployment}/backups",
            None,
            [Allowed, Forbidden, Forbidden, Allowed, Hidden, Unauthenticated],
        ),
        (
            // A fresh deployment has no volumes yet: 409 for those allowed to ask.
            Method::POST,
            "/api/v1/deployments/{deployment}/backups",
            None,
            [Allowed, Forbidden, Forbidden, Allowed, Hidden, Unauthenticated],
        ),
        (
            Method::PUT,
            "/api/v1/deployments/{deployment}/backup-schedule",
            Some(json!({"schedule": "0 3 * * *", "keep": 3})),
            [Allowed, Forbidden, Forbidden, Allowed, Hidden, Unauthenticated],
        ),
        // No such backup or schedule: the owner and admins get 404, as unknown as another's
        // deployment is (the e2e backup tests restore, delete and unschedule real ones).
        (
            Method::GET,
            "/api/v1/deployments/{deployment}/backup-schedule",
            None,
            [Hidden, Forbidden, Forbidden, Hidden, Hidden, Unauthenticated],
        ),
        (
            Method::DELETE,
            "/api/v1/deployments/{deployment}/backup-schedule",
            None,
            [Hidden, Forbidden, Forbidden, Hidden, Hidden, Unauthenticated],
        ),
        (
            Method::POST,
            "/api/v1/deployments/{deployment}/backups/bkp_aaaaaaaaaaaaaaaa/restore",
            None,
            [Hidden, Forbidden, Forbidden, Hidden, Hidden, Unauthenticated],
        ),
        (
            Method::DELETE,
            "/api/v1/deployments/{deployment}/backups/bkp_aaaaaaaaaaaaaaaa",
            None,
            [Hidden, Forbidden, Forbidden, Hidden, Hidden, Unauthenticated],
        ),
        (
            Method::GET,
            "/api/v1/events",
            None,
            [Allowed, Forbidden, Forbidden, Allowed, Allowed, Unauthenticated],
        ),
        (
            Method::GET,
            "/metrics",
            None,
            [Allowed, Forbidden, Forbidden, Forbidden, Forbidden, Unauthenticated],
        ),
        (
            Method::GET,
            "/api/v1/deployments/{deployment}/variables",
            None,
            [Allowed, Forbidden, Forbidden, Allowed, Hidden, Unauthenticated],
        ),
        (
            Method::PATCH,
            "/api/v1/deployments/{deployment}/variables",
            Some(json!({"variables": {}})),
            [Allowed, Forbidden, Forbidden, Allowed, Hidden, Unauthenticated],
        ),
        (
            Method::GET,
            "/api/v1/deployments/{deployment}/domains",
            None,
            [Allowed, Forbidden, Forbidden, Allowed, Hidden, Unauthenticated],
        ),
        (
            Method::POST,
            "/api/v1/deployments/{deployment}/domains",
            Some(json!({"domain": "www{n}.example.com"})),
            [Allowed, Forbidden, Forbidden, Allowed, Hidden, Unauthenticated],
        ),
        (
            Method::POST,
            "/api/v1/deployments/{deployment}/domains/shop{n}.example.com/verify",
            None,
            [Allowed, Forbidden, Forbidden, Allowed, Hidden, Unauthenticated],
        ),
        (
            Method::DELETE,
            "/api/v1/deployments/{deployment}/domains/shop{n}.example.com",
            None,
            [Allowed, Forbidden, Forbidden, Allowed, Hidden, Unauthenticated],
        ),
        (
            Method::GET,
            "/api/v1/tokens",
            None,
            [Allowed, Forbidden, Forbidden, Forbidden, Forbidden, Unauthenticated],
        ),
        (
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"role": "customer", "subject": "erin"})),
            [Allowed, Forbidden, Forbidden, Forbidden, Forbidden, Unauthenticated],
        ),
        (
            Method::DELETE,
            "/api/v1/tokens/{token}",
            None,
            [Allowed, Forbidden, Forbidden, Forbidden, Forbidden, Unauthenticated],
        ),
        (
            Method::GET,
            "/api/v1/usage?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z",
            None,
            [Allowed, Forbidden, Forbidden, Allowed, Allowed, Unauthenticated],
        ),
        (
            Method::GET,
            "/api/v1/usage?customer_id=carol&from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z",
            None,
            [Allowed, Forbidden, Forbidden, Allowed, Forbidden, Unauthenticated],
        ),
        (
            Method::GET,
            "/api/v1/creators/alice/earnings?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z",
            None,
            [Allowed, Allowed, Forbidden, Forbidden, Forbidden, Unauthenticated],
        ),
        (
            Method::GET,
            "/api/v1/audit",
            None,
            [Allowed, Forbidden, Forbidden, Forbidden, Forbidden, Unauthenticated],
        ),
    ];
    // Every route the server has appears above (the OpenAPI test keeps that list complete).
    for (method, path) in crate::openapi::ROUTES {
        assert!(
            routes.iter().any(|(m, p, _, _)| {
                let p = p.split('?').next().unwrap_or_default();
                m.as_str().eq_ignore_ascii_case(method)
                    && p.split('/').count() == path.split('/').count()
                    && p.split('/')
                        .zip(path.split('/'))
                        .all(|(a, b)| a == b || b.starts_with('{'))
            }),
            "{method} {path} is missing from the access table"
        );
    }
    let mut n = 0;
    let mut wrong = Vec::new();
    for (method, path, body, expected) in &routes {
        for ((who, token), want) in callers.iter().zip(expected) {
            n += 1;
            let f = fixture(&s, n).await;
            let fill = |text: &str| {
                text.replace("{draft}", &f.draft)
                    .replace("{published}", &f.published)
                    .replace("{deployment}", &f.deployment)
                    .replace("{token}", &f.token_id)
                    .replace("{n}", &n.to_string())
            };
            let body = body
                .as_ref()
                .map(|b| serde_json::from_str(&fill(&b.to_string())).unwrap());
            let (status, answer) = s
                .call(token.as_deref(), method.clone(), &fill(path), body.as_ref())
                .await;
            if outcome(status) != *want {
                wrong.push(format!(
                    "{method} {path} as {who}: got {status} {answer}, wanted {want:?}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn customers_see_and_touch_only_their_own_deployments() {
    let s = Secured::start(0).await;
    let (carol, dave) = (s.token("customer", "carol").await, s.token("customer", "dave").await);
    let f = fixture(&s, 1).await;
    let (status, mine) = s
        .call(
            Some(&dave),
            Method::POST,
            "/api/v1/deployments",
            Some(&json!({"template_id": f.published, "name": "dave's"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{mine}");
    assert_eq!(mine["customer_id"], "dave", "customer_id comes from the token");

    let (_, listed) = s.call(Some(&dave), Method::GET, "/api/v1/deployments", None).await;
    let ids: Vec<&str> = listed["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [mine["id"].as_str().unwrap()], "dave sees only his own");
    assert_eq!(listed["total"], 1);
    let (_, listed) = s.call(Some(&carol), Method::GET, "/api/v1/deployments", None).await;
    assert_eq!(listed["deployments"][0]["id"], f.deployment.as_str());
    assert_eq!(listed["total"], 1);
    let (status, _) = s
        .call(Some(&dave), Method::GET, "/api/v1/deployments?customer_id=carol", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "asking for another's list is refused");
    let (_, events) = s.call(Some(&dave), Method::GET, "/api/v1/events", None).await;
    let events = events.as_array().unwrap();
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|e| e["deployment_id"] == mine["id"]),
        "dave's event feed has only his deployment's rows: {events:?}"
    );

    let carols = format!("/api/v1/deployments/{}", f.deployment);
    for (method, path) in [
        (Method::GET, carols.clone()),
        (Method::POST, format!("{carols}/start")),
        (Method::POST, format!("{carols}/stop")),
        (Method::DELETE, carols.clone()),
    ] {
        let (status, body) = s.call(Some(&dave), method.clone(), &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        assert_eq!(body["code"], "deployment_not_found", "same answer as an unknown id");
    }
    let (status, _) = s.call(Some(&carol), Method::GET, &carols, None).await;
    assert_eq!(status, StatusCode::OK, "carol's deployment is untouched");

    // Creators see their own drafts and everyone's published templates, customers only the latter.
    let alice = s.token("creator", "alice").await;
    let bob = s.token("creator", "bob").await;
    let total = |v: &Value| v["total"].as_u64().unwrap();
    assert_eq!(
        total(&s.call(Some(&alice), Method::GET, "/api/v1/templates", None).await.1),
        2
    );
    assert_eq!(
        total(&s.call(Some(&bob), Method::GET, "/api/v1/templates", None).await.1),
        1
    );
    assert_eq!(
        total(&s.call(Some(&carol), Method::GET, "/api/v1/templates", None).await.1),
        1
    );
    let (_, drafts) = s
        .call(Some(&carol), Method::GET, "/api/v1/templates?published=false", None)
        .await;
    assert_eq!(total(&drafts), 0);
}

#[tokio::test]
async fn tokens_are_checked_revocable_audited_and_rate_limited() {
    let s = Secured::start(5).await;
    let (status, body) = s.call(None, Method::GET, "/api/v1/templates", None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    for bad in [
        "nonsense",
        "hoster_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ] {
        let (status, _) = s.call(Some(bad), Method::GET, "/api/v1/templates", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}");
    }
    let (status, created) = s
        .call(
            Some(&s.admin),
            Method::POST,
            "/api/v1/tokens",
            Some(&json!({"role": "customer", "subject": "carol", "name": "laptop"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = created["token"].as_str().unwrap();
    assert!(token.starts_with("hoster_") && token.len() == 59, "{token}");
    let (_, listed) = s.call(Some(&s.admin), Method::GET, "/api/v1/tokens", None).await;
    assert!(
        !listed.to_string().contains(token),
        "token values are never shown again: {listed}"
    );
    let db = std::fs::read(s.app.db_path()).unwrap();
    assert!(
        !db.windows(token.len()).any(|w| w == token.as_bytes()),
        "only a hash is stored"
    );
    let (status, _) = s.call(Some(token), Method::GET, "/api/v1/deployments", None).await;
    assert_eq!(status, StatusCode::OK);

    // Five a second, bursts of ten: requests in a row are refused with Retry-After soon after
    // the tenth (allowing for a busy machine, where each takes a while and the bucket refills).
    let mut limited = None;
    for _ in 0..60 {
        let response = s
            .app
            .client
            .get(s.app.url("/api/v1/deployments"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response.headers()["retry-after"].to_str().unwrap().to_string());
            break;
        }
    }
    assert_eq!(limited.as_deref(), Some("1"), "rate limited with Retry-After");

    let id = created["id"].as_str().unwrap();
    let (status, _) = s
        .call(Some(&s.admin), Method::DELETE, &format!("/api/v1/tokens/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (status, _) = s.call(Some(token), Method::GET, "/api/v1/deployments", None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a revoked token stops working at once"
    );

    let (_, audit) = s.call(Some(&s.admin), Method::GET, "/api/v1/audit", None).await;
    let actions = audit_actions(&audit);
    assert_eq!(actions[..2], ["token.revoke", "token.create"], "{audit}");
    assert_eq!(audit[0]["actor"], "admin:ops");
    assert!(
        !audit.to_string().contains(token),
        "the audit log holds no token values"
    );
}
