//! Upgrading Hoster: a database the previous release wrote migrates forward with every row, and
//! one a newer Hoster wrote is refused without being touched.

use hoster::store::{DeploymentFilter, Store, StoreError, TemplateFilter};
use hoster_core::id::DeploymentId;

/// Made by the previous release (stop 7): `testdata/db/README.md` says how.
const PREVIOUS_RELEASE: &str = include_str!("../../../../testdata/db/stop7.sql");

async fn load_dump(path: &std::path::Path, dump: &str) {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::raw_sql(dump).execute(&pool).await.unwrap();
    pool.close().await;
}

#[tokio::test]
async fn a_database_of_the_previous_release_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hoster.db");
    load_dump(&path, PREVIOUS_RELEASE).await;
    let store = Store::open(&path).await.expect("migrates forward");

    let page = hoster::store::Page { limit: 100, offset: 0 };
    let (templates, total) = store.list_templates(&TemplateFilter::default(), page).await.unwrap();
    assert_eq!(total, 2);
    let nginx = templates
        .iter()
        .find(|t| t.spec.slug == "nginx-web")
        .expect("the published template");
    assert!(nginx.published);
    assert_eq!(nginx.spec.config_files.len(), 1);
    let secret = templates.iter().find(|t| t.spec.slug == "with-secret").unwrap();
    assert!(
        secret.spec.variables.iter().any(|v| v.secret),
        "{:?}",
        secret.spec.variables
    );

    let (deployments, total) = store
        .list_deployments(&DeploymentFilter::default(), page)
        .await
        .unwrap();
    assert_eq!(total, 2);
    let stopped = deployments.iter().find(|d| d.name == "stopped site").unwrap();
    assert_eq!(stopped.status.to_string(), "stopped");
    assert!(!store.port_assignments(&stopped.id).await.unwrap().is_empty());
    assert!(
        store
            .events(&hoster::store::EventFilter {
                deployment: Some(&stopped.id),
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .len()
            >= 4,
        "created, scheduled, starting, running, ..."
    );
    let pending = deployments.iter().find(|d| d.name == "pending site").unwrap();
    let domains = store.custom_domains(&pending.id).await.unwrap();
    assert_eq!(domains.len(), 1);
    assert_eq!(domains[0].domain, "www.example.com");
    assert!(
        domains[0].verified_at.is_none(),
        "claims from before verification start pending"
    );
    assert!(domains[0].token.starts_with("hoster-"));

    assert_eq!(store.tokens().await.unwrap().len(), 2);
    let audit = store.audit_log(page).await.unwrap();
    assert!(audit.len() >= 5, "{audit:?}");
    let _ = DeploymentId::parse(pending.id.as_str()).unwrap();
    store.close().await;
}

#[tokio::test]
async fn a_database_of_a_newer_hoster_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hoster.db");
    Store::open(&path).await.unwrap().close().await;
    // What a later release would leave: a migration this one does not know.
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', 1, x'00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let before = std::fs::read(&path).unwrap();

    let refused = Store::open(&path).await;
    match refused {
        Err(e @ StoreError::NewerSchema { applied: 9999, .. }) => {
            assert!(e.to_string().contains("newer Hoster"), "{e}");
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert_eq!(std::fs::read(&path).unwrap(), before, "the file is left as it was");
}
