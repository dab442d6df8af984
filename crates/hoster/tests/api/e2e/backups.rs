//! Backups of Hoster's own database, with the real binary: taken while the server writes,
//! restored elsewhere with only the key, refused when damaged, kept in an S3 store (moto).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_hoster");
/// The key of the archive committed in testdata/backups (made by an earlier run).
const FIXTURE_KEY: &str = "aG9zdGVyIGJhY2t1cCB0ZXN0IGtleSwgMzIgYnl0ZXM=";

fn hoster(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).env("HOSTER_LOG", "warn");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// The archives in `dir`.
fn archives(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "hbk"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// `PRAGMA integrity_check` and the number of deployments of the database at `path`.
async fn inspect(path: &Path) -> (String, i64) {
    use sqlx::Connection;
    let url = format!("sqlite://{}?mode=ro", path.display());
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let verdict: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut c)
        .await
        .unwrap();
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM deployments")
        .fetch_one(&mut c)
        .await
        .unwrap();
    (verdict, count)
}

#[tokio::test]
async fn a_backup_taken_while_twenty_deployments_are_created_restores_every_committed_row() {
    let h = Hoster::start().await;
    let template = h.publish(&template("backed-up")).await;
    let db = h.dir.path().join("hoster.db");
    let backups = h.dir.path().join("backups");
    let db_env = db.to_string_lossy().into_owned();
    let backups_arg = backups.to_string_lossy().into_owned();

    // Twenty creates at once; the backup starts while they run.
    let creates: Vec<_> = (0..20)
        .map(|i| {
            let (client, url, template) = (h.client.clone(), h.url("/api/v1/deployments"), template.clone());
            tokio::spawn(async move {
                let body = serde_json::json!({"template_id": template, "customer_id": format!("c{}", i % 4), "name": format!("site {i}")});
                let r = client.post(url).json(&body).send().await.unwrap();
                assert_eq!(r.status(), 201);
                std::time::Instant::now()
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let began = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        hoster(
            &["backup", "db", "--to", &backups_arg],
            &[("HOSTER_DATABASE_PATH", &db_env)],
        )
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("integrity ok"), "{}", text(&out));
    let mut done_before = 0;
    for c in creates {
        if c.await.unwrap() < began {
            done_before += 1;
        }
    }
    let archive = archives(&backups).pop().expect("an archive");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777, 0o600);

    // Restored on another "machine": a new directory with only the key file.
    let elsewhere = tempfile::tempdir().unwrap();
    let restored = elsewhere.path().join("hoster.db");
    std::fs::copy(
        h.dir.path().join("hoster.db.key"),
        elsewhere.path().join("hoster.db.key"),
    )
    .unwrap();
    let out = hoster(
        &["restore", "db", &archive.to_string_lossy()],
        &[
            ("HOSTER_DATABASE_PATH", &restored.to_string_lossy()),
            ("HOSTER_SERVER_PORT", &free_port().to_string()),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let (verdict, count) = inspect(&restored).await;
    assert_eq!(verdict, "ok");
    assert!(
        (done_before..=20).contains(&count),
        "{count} deployments restored; {done_before} were committed before the backup began"
    );

    // A Hoster on the restored database serves each deployment whole.
    let restored_dir = tempfile::TempDir::new().unwrap();
    std::fs::rename(
        elsewhere.path().join("hoster.db"),
        restored_dir.path().join("hoster.db"),
    )
    .unwrap();
    std::fs::rename(
        elsewhere.path().join("hoster.db.key"),
        restored_dir.path().join("hoster.db.key"),
    )
    .unwrap();
    let again = Hoster::start_in(restored_dir, &[]).await;
    let (status, list) = again.request(Method::GET, "/api/v1/deployments?limit=100", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], count);
    for d in list["deployments"].as_array().unwrap() {
        let (status, events) = again
            .request(
                Method::GET,
                &format!("/api/v1/deployments/{}/events", d["id"].as_str().unwrap()),
                None,
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(events[0]["to"], "pending", "{events}");
    }
}

#[tokio::test]
async fn a_damaged_archive_a_foreign_key_or_a_running_server_leave_the_database_as_it_was() {
    let h = Hoster::start().await;
    h.publish(&template("kept")).await;
    let db = h.dir.path().join("hoster.db");
    let db_env = db.to_string_lossy().into_owned();
    let backups = h.dir.path().join("backups");
    let out = hoster(
        &["backup", "db", "--to", &backups.to_string_lossy()],
        &[("HOSTER_DATABASE_PATH", &db_env)],
    );
    assert!(out.status.success(), "{}", text(&out));
    let archive = archives(&backups).pop().unwrap();
    let port = h.port.to_string();

    let out = hoster(
        &["restore", "db", &archive.to_string_lossy()],
        &[("HOSTER_DATABASE_PATH", &db_env), ("HOSTER_SERVER_PORT", &port)],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("stop it first"), "{}", text(&out));

    // Against a stopped server's database: damage of every kind is refused, nothing moves.
    let mut h = h;
    h.kill();
    let before = std::fs::read(&db).unwrap();
    let bytes = std::fs::read(&archive).unwrap();
    let damaged = |name: &str, content: Vec<u8>| {
        let path = backups.join(name);
        std::fs::write(&path, content).unwrap();
        path
    };
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    let cases = [
        (damaged("flipped.hbk", flipped), "corrupted"),
        (damaged("truncated.hbk", bytes[..bytes.len() - 7].to_vec()), "truncated"),
        (
            damaged("not-one.hbk", b"SQLite format 3\0 but not ours".to_vec()),
            "not a Hoster backup",
        ),
    ];
    let free = free_port().to_string();
    for (path, says) in &cases {
        let out = hoster(
            &["restore", "db", &path.to_string_lossy()],
            &[("HOSTER_DATABASE_PATH", &db_env), ("HOSTER_SERVER_PORT", &free)],
        );
        assert!(!out.status.success(), "{}", path.display());
        assert!(text(&out).contains(says), "{}: {}", path.display(), text(&out));
        assert_eq!(
            std::fs::read(&db).unwrap(),
            before,
            "{}: the database was touched",
            path.display()
        );
    }
    let other_key = "b3RoZXIga2V5IG90aGVyIGtleSBvdGhlciBrZXkgMzI=";
    let out = hoster(
        &["restore", "db", &archive.to_string_lossy()],
        &[
            ("HOSTER_DATABASE_PATH", &db_env),
            ("HOSTER_SERVER_PORT", &free),
            ("HOSTER_SECRET_KEY", other_key),
        ],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("does not open with this key"), "{}", text(&out));
    assert_eq!(std::fs::read(&db).unwrap(), before);

    // A database a newer Hoster wrote (a migration this one does not know) is refused too.
    let newer = backups.join("newer");
    std::fs::create_dir_all(&newer).unwrap();
    let newer_db = newer.join("hoster.db");
    std::fs::copy(h.dir.path().join("hoster.db.key"), newer.join("hoster.db.key")).unwrap();
    let out = hoster(
        &["restore", "db", &archive.to_string_lossy()],
        &[
            ("HOSTER_DATABASE_PATH", &newer_db.to_string_lossy()),
            ("HOSTER_SERVER_PORT", &free),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", newer_db.display()))
            .await
            .unwrap();
        sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (9999, 'from the future', 1, x'00', 0)")
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
    }
    let out = hoster(
        &["backup", "db", "--to", &newer.to_string_lossy()],
        &[("HOSTER_DATABASE_PATH", &newer_db.to_string_lossy())],
    );
    assert!(out.status.success(), "{}", text(&out));
    let from_the_future = archives(&newer).pop().unwrap();
    let out = hoster(
        &["restore", "db", &from_the_future.to_string_lossy()],
        &[("HOSTER_DATABASE_PATH", &db_env), ("HOSTER_SERVER_PORT", &free)],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("from a newer Hoster (schema 9999"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read(&db).unwrap(), before);

    // The good archive goes in, and what it replaced is kept.
    let out = hoster(
        &["restore", "db", &archive.to_string_lossy()],
        &[("HOSTER_DATABASE_PATH", &db_env), ("HOSTER_SERVER_PORT", &free)],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("the database it replaced is at"), "{}", text(&out));
}

#[tokio::test]
async fn an_archive_from_an_earlier_run_restores_with_only_its_key() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/backups/db-fixture.hbk");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hoster.db");
    let out = hoster(
        &["restore", "db", &fixture.to_string_lossy()],
        &[
            ("HOSTER_DATABASE_PATH", &db.to_string_lossy()),
            ("HOSTER_SECRET_KEY", FIXTURE_KEY),
            ("HOSTER_SERVER_PORT", &free_port().to_string()),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let h = Hoster::start_in(dir, &[("HOSTER_SECRET_KEY", FIXTURE_KEY)]).await;
    let (status, list) = h.request(Method::GET, "/api/v1/templates?published=true", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["templates"][0]["name"], "fixture", "{list}");
    let id = list["templates"][0]["id"].as_str().unwrap().to_string();
    // Its secret default was sealed with the key, and opens with it: a deployment gets it.
    let d = h.create_deployment(&id, "from-the-fixture").await;
    let (status, values) = h
        .request(
            Method::GET,
            &format!("/api/v1/deployments/{d}/variables?reveal=true"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let secret = values["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "API_KEY")
        .unwrap();
    assert_eq!(secret["value"], "sealed-in-the-fixture", "{values}");
}

/// moto's S3 server on a free loopback port, with one bucket; its endpoint.
struct Moto {
    child: std::process::Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn moto(bucket: &str) -> Moto {
    let server = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/moto-venv/bin/moto_server");
    assert!(
        server.exists(),
        "{} is missing: run testenv/setup.sh (it installs moto[server] from PyPI)",
        server.display()
    );
    let port = free_port();
    let child = Command::new(server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Ok(r) = client.put(format!("{endpoint}/{bucket}")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "moto did not start on {port}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Moto { child, endpoint }
}

#[tokio::test]
async fn backups_kept_in_an_s3_store_restore_elsewhere_and_the_schedule_keeps_its_count() {
    let s3 = moto("hoster-backups").await;
    let aws = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ENDPOINT", s3.endpoint.as_str()),
    ];
    let key = "c2NoZWR1bGVkIGJhY2t1cHMgdG8gczMgdGVzdCBrZXk=";
    // The server itself backs up every 2 seconds, keeping 2.
    let mut env: Vec<(&str, &str)> = aws.to_vec();
    env.extend([
        ("HOSTER_SECRET_KEY", key),
        ("HOSTER_BACKUP_S3_URL", "s3://hoster-backups/nightly"),
        ("HOSTER_DB_BACKUP_SCHEDULE", "*/2 * * * * *"),
        ("HOSTER_DB_BACKUP_KEEP", "2"),
    ]);
    let h = Hoster::start_in(tempfile::tempdir().unwrap(), &env).await;
    h.publish(&template("in-s3")).await;
    let listed = || async {
        let body = reqwest::get(format!("{}/hoster-backups?list-type=2&prefix=nightly/", s3.endpoint))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        body.split("<Key>")
            .skip(1)
            .map(|k| k.split('<').next().unwrap().to_string())
            .collect::<Vec<String>>()
    };
    let started = std::time::Instant::now();
    let keys = loop {
        let keys = listed().await;
        // Four runs or more by 7 s, so the older ones were removed.
        if started.elapsed() > std::time::Duration::from_secs(7) && keys.len() == 2 {
            break keys;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "scheduled backups in s3: {keys:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    assert!(
        keys.iter().all(|k| k.starts_with("nightly/db-") && k.ends_with(".hbk")),
        "{keys:?}"
    );
    let (_, metrics) = h.request(Method::GET, "/metrics", None).await;
    let runs: u64 = metrics
        .as_str()
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("hoster_operation_duration_seconds_count{operation=\"db_backup\",outcome=\"ok\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0);
    assert!(runs >= 3, "{runs} scheduled backups counted, 2 kept");

    // Restored on a machine with nothing but the key and the store's address.
    let newest = keys.last().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hoster.db");
    let mut env: Vec<(&str, &str)> = aws.to_vec();
    let db_text = db.to_string_lossy().into_owned();
    let port = free_port().to_string();
    env.extend([
        ("HOSTER_DATABASE_PATH", db_text.as_str()),
        ("HOSTER_SECRET_KEY", key),
        ("HOSTER_SERVER_PORT", port.as_str()),
    ]);
    let from = format!("s3://hoster-backups/{newest}");
    let out = hoster(&["restore", "db", &from], &env);
    assert!(out.status.success(), "{}", text(&out));
    let (verdict, _) = inspect(&db).await;
    assert_eq!(verdict, "ok");
    let h2 = Hoster::start_in(dir, &[("HOSTER_SECRET_KEY", key)]).await;
    let (_, list) = h2.request(Method::GET, "/api/v1/templates", None).await;
    assert_eq!(list["templates"][0]["name"], Value::from("in-s3"));
}

/// `POST .../backups/{bid}/restore`: status and body.
async fn restore(h: &Hoster, id: &str, bid: &str) -> (reqwest::StatusCode, Value) {
    h.request(
        Method::POST,
        &format!("/api/v1/deployments/{id}/backups/{bid}/restore"),
        None,
    )
    .await
}

/// The deployment's history: status and rows.
async fn history(h: &Hoster, id: &str) -> (reqwest::StatusCode, Value) {
    h.request(Method::GET, &format!("/api/v1/deployments/{id}/events"), None)
        .await
}

/// The spec's PostgreSQL example with its data on a named volume (the example keeps it in the
/// image's anonymous volume, which a backup of named volumes does not cover), dumped before
/// each backup.
fn postgres_with_a_volume() -> Value {
    serde_json::json!({
        "name": "postgres-kept",
        "version": "1.0.0",
        "creator_id": "admin",
        "compose_spec": "services:\n  db:\n    image: postgres:15-alpine\n    ports:\n      - \"5432\"\n    environment:\n      POSTGRES_PASSWORD: secret\n      POSTGRES_USER: app\n      POSTGRES_DB: appdb\n    volumes:\n      - pgdata:/var/lib/postgresql/data\n    x-hoster-backup:\n      command: [\"sh\", \"-c\", \"PGPASSWORD=secret pg_dump -h 127.0.0.1 -U app appdb > /var/lib/postgresql/data/dump.sql\"]\nvolumes:\n  pgdata: {}\n"
    })
}

async fn sql(h: &Hoster, id: &str, query: &str) -> String {
    let (_, d) = h.get_deployment(id).await;
    super::examples::psql(host_port(&d, "db", 5432), "app", "secret", "appdb", query).await
}

#[tokio::test]
async fn a_postgres_row_comes_back_from_a_volume_backup_and_a_clone_starts_with_it() {
    let h = Hoster::start().await;
    let template = h.publish(&postgres_with_a_volume()).await;
    let id = h.create_deployment(&template, "orders").await;
    h.start_deployment(&id).await;
    sql(
        &h,
        &id,
        "CREATE TABLE orders (item text); INSERT INTO orders VALUES ('kept')",
    )
    .await;

    let (status, backup) = h
        .request(Method::POST, &format!("/api/v1/deployments/{id}/backups"), None)
        .await;
    assert_eq!(status, 201, "{backup}");
    assert_eq!(backup["volumes"], serde_json::json!(["pgdata"]));
    assert_eq!(backup["files"][0]["name"], "volumes/pgdata.tar");
    assert!(
        backup["files"][0]["size"].as_u64().unwrap() > 1_000_000,
        "the data directory: {backup}"
    );
    let bid = backup["id"].as_str().unwrap().to_string();
    let (_, d) = h.get_deployment(&id).await;
    assert_eq!(d["status"], "running", "resumed after the copy");
    let db = d["containers"][0]["container_id"].as_str().unwrap().to_string();
    let dump = exec(&db, &["cat", "/var/lib/postgresql/data/dump.sql"]);
    assert!(
        dump.contains("CREATE TABLE public.orders") && dump.contains("kept"),
        "the pre-backup dump ran: {dump}"
    );
    let (_, listed) = h
        .request(Method::GET, &format!("/api/v1/deployments/{id}/backups"), None)
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    sql(&h, &id, "DELETE FROM orders").await;
    assert_eq!(sql(&h, &id, "SELECT count(*) FROM orders").await, "0");
    let (status, restored) = restore(&h, &id, &bid).await;
    assert_eq!(status, 200, "{restored}");
    assert_eq!(restored["status"], "running");
    assert_eq!(sql(&h, &id, "SELECT item FROM orders").await, "kept");

    // A clone from the same backup: its own deployment, with the row, apart from the first.
    let body = serde_json::json!({"from_backup": bid, "customer_id": "customer-1", "name": "orders-copy"});
    let (status, clone) = h.request(Method::POST, "/api/v1/deployments", Some(&body)).await;
    assert_eq!(status, 201, "{clone}");
    let clone = clone["id"].as_str().unwrap().to_string();
    h.start_deployment(&clone).await;
    assert_eq!(sql(&h, &clone, "SELECT item FROM orders").await, "kept");
    sql(&h, &clone, "INSERT INTO orders VALUES ('only in the copy')").await;
    assert_eq!(sql(&h, &id, "SELECT count(*) FROM orders").await, "1");

    // A damaged archive is refused before anything is touched.
    sql(&h, &id, "INSERT INTO orders VALUES ('after the backup')").await;
    let archive = archives(&h.dir.path().join("backups")).pop().unwrap();
    let mut bytes = std::fs::read(&archive).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 1;
    std::fs::write(&archive, bytes).unwrap();
    let (status, refused) = restore(&h, &id, &bid).await;
    assert_eq!(
        (status.as_u16(), refused["code"].as_str()),
        (400, Some("backup_invalid")),
        "{refused}"
    );
    let (_, d) = h.get_deployment(&id).await;
    assert_eq!(d["status"], "running");
    assert_eq!(
        sql(&h, &id, "SELECT count(*) FROM orders").await,
        "2",
        "the deployment was left as it was"
    );

    let (status, _) = h
        .request(Method::DELETE, &format!("/api/v1/deployments/{id}/backups/{bid}"), None)
        .await;
    assert_eq!(status, 204);
    assert!(!archive.exists());
    let (_, listed) = h
        .request(Method::GET, &format!("/api/v1/deployments/{id}/backups"), None)
        .await;
    assert_eq!(listed, serde_json::json!([]));
    h.delete_deployment(&clone).await;
    h.delete_deployment(&id).await;
}

/// A busybox template running `command` (YAML flow) with a named volume `data` at /data, and
/// `extra` (YAML lines of the service).
fn busybox_with_data(name: &str, command: &str, extra: &str) -> Value {
    serde_json::json!({
        "name": name,
        "version": "1.0.0",
        "creator_id": "admin",
        "compose_spec": format!(
            "services:\n  app:\n    image: busybox\n    command: {command}\n{extra}    volumes:\n      - data:/data\nvolumes:\n  data: {{}}\n"
        )
    })
}

/// Publishes `template`, creates a deployment of it and starts it; the deployment's id.
async fn started(h: &Hoster, template: &Value, name: &str) -> String {
    let template = h.publish(template).await;
    let id = h.create_deployment(&template, name).await;
    h.start_deployment(&id).await;
    id
}

#[tokio::test]
async fn a_deployment_backed_up_on_a_schedule_keeps_its_newest_backups() {
    let h = Hoster::start().await;
    let id = started(
        &h,
        &busybox_with_data(
            "scheduled",
            r#"["sh", "-c", "echo kept > /data/file; exec sleep 3600"]"#,
            "    stop_grace_period: 1s\n    x-hoster-backup: {stop: true}\n",
        ),
        "nightly",
    )
    .await;

    // A pre-backup command that fails fails the backup, and the deployment goes on.
    let f = started(
        &h,
        &busybox_with_data(
            "failing-dump",
            r#"["sleep", "3600"]"#,
            "    x-hoster-backup:\n      command: [\"sh\", \"-c\", \"echo no space left >&2; exit 3\"]\n",
        ),
        "failing",
    )
    .await;
    let (status, e) = h
        .request(Method::POST, &format!("/api/v1/deployments/{f}/backups"), None)
        .await;
    assert_eq!(
        (status.as_u16(), e["code"].as_str()),
        (502, Some("runtime_error")),
        "{e}"
    );
    assert!(
        e["error"].as_str().unwrap().contains("exited with 3: no space left"),
        "{e}"
    );
    let (_, fd) = h.get_deployment(&f).await;
    assert_eq!(fd["status"], "running");
    h.delete_deployment(&f).await;
    // One that never started is on a schedule too, and is skipped until it runs.
    let pending = h
        .create_deployment(
            &h.publish(&busybox_with_data("pending", r#"["sleep", "3600"]"#, ""))
                .await,
            "later",
        )
        .await;
    let (status, _) = h
        .request(
            Method::PUT,
            &format!("/api/v1/deployments/{pending}/backup-schedule"),
            Some(&serde_json::json!({"schedule": "* * * * * *", "keep": 1})),
        )
        .await;
    assert_eq!(status, 200);
    let path = format!("/api/v1/deployments/{id}/backup-schedule");
    for (body, field) in [
        (serde_json::json!({"schedule": "every night", "keep": 2}), "schedule"),
        (serde_json::json!({"schedule": "0 3 * * *", "keep": 0}), "keep"),
    ] {
        let (status, e) = h.request(Method::PUT, &path, Some(&body)).await;
        assert_eq!(
            (status.as_u16(), e["details"][0]["field"].as_str()),
            (400, Some(field)),
            "{e}"
        );
    }
    let (status, _) = h.request(Method::GET, &path, None).await;
    assert_eq!(status, 404, "no schedule yet");
    let (status, set) = h
        .request(
            Method::PUT,
            &path,
            Some(&serde_json::json!({"schedule": "*/2 * * * * *", "keep": 2})),
        )
        .await;
    assert_eq!(status, 200, "{set}");
    assert!(set["next_run"].as_str().is_some_and(|t| t.ends_with('Z')), "{set}");

    // Three runs at least (every 2 s), two kept.
    let started = std::time::Instant::now();
    let backups = loop {
        let (_, events) = history(&h, &id).await;
        let runs = events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("backed up volume data"))
            })
            .count();
        let (_, listed) = h
            .request(Method::GET, &format!("/api/v1/deployments/{id}/backups"), None)
            .await;
        if runs >= 3 && listed.as_array().unwrap().len() == 2 {
            break listed;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(40),
            "{runs} runs; {listed}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    let names: Vec<String> = backups
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["location"].as_str().unwrap().to_string())
        .collect();
    let on_disk: Vec<String> = archives(&h.dir.path().join("backups"))
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(on_disk.len(), 2, "{on_disk:?}");
    assert!(names.iter().all(|n| on_disk.contains(n)), "{names:?} vs {on_disk:?}");
    let (_, d) = h.get_deployment(&id).await;
    assert_eq!(d["status"], "running", "stopped and started again each time");
    let (_, events) = history(&h, &id).await;
    let starts = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "container" && e["message"].as_str().is_some_and(|m| m.ends_with("started")))
        .count();
    assert!(
        starts >= 3,
        "x-hoster-backup.stop: the container was started again after each copy ({starts})"
    );

    let (_, events) = history(&h, &pending).await;
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .all(|e| !e["message"].as_str().unwrap_or_default().contains("backup")),
        "a deployment that never ran is not backed up, nor told it failed: {events}"
    );

    let (status, _) = h.request(Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let (status, _) = h.request(Method::GET, &path, None).await;
    assert_eq!(status, 404);
    h.delete_deployment(&id).await;
}

#[tokio::test]
async fn a_volume_backup_kept_in_s3_restores_its_files() {
    let s3 = moto("volume-backups").await;
    let h = Hoster::start_in(
        tempfile::tempdir().unwrap(),
        &[
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ENDPOINT", s3.endpoint.as_str()),
            ("HOSTER_BACKUP_S3_URL", "s3://volume-backups/deployments"),
        ],
    )
    .await;
    let id = started(
        &h,
        &busybox_with_data(
            "files",
            r#"["sh", "-c", "[ -e /data/file ] || echo first > /data/file; exec sleep 3600"]"#,
            "",
        ),
        "files",
    )
    .await;
    let container = |d: &Value| d["containers"][0]["container_id"].as_str().unwrap().to_string();
    let (_, d) = h.get_deployment(&id).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while exec(&container(&d), &["cat", "/data/file"]).trim() != "first" {
        assert!(std::time::Instant::now() < deadline, "the file was never written");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (status, backup) = h
        .request(Method::POST, &format!("/api/v1/deployments/{id}/backups"), None)
        .await;
    assert_eq!(status, 201, "{backup}");
    let location = backup["location"].as_str().unwrap();
    assert!(
        location.starts_with("s3://volume-backups/deployments/depl_"),
        "{location}"
    );
    let stored = reqwest::get(format!(
        "{}/volume-backups?list-type=2&prefix=deployments/",
        s3.endpoint
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(
        stored.contains(location.trim_start_matches("s3://volume-backups/")),
        "{stored}"
    );

    exec(&container(&d), &["sh", "-c", "echo changed > /data/file"]);
    let bid = backup["id"].as_str().unwrap();
    let (status, restored) = restore(&h, &id, bid).await;
    assert_eq!(status, 200, "{restored}");
    assert_eq!(exec(&container(&restored), &["cat", "/data/file"]).trim(), "first");
    h.delete_deployment(&id).await;
}
