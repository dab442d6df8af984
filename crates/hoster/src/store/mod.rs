//! SQLite storage. Owns the schema and every SQL statement; knows nothing of HTTP or Docker.

mod access;
mod backups;
mod deployments;
mod domains;
mod templates;
mod usage;

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::ConnectOptions;

use crate::sealing::Sealer;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub use access::{AuditEntry, TokenRecord};
pub use backups::{BackupRecord, ScheduleRecord};
pub use deployments::{DeploymentFilter, DeploymentRecord, Event, EventFilter, EventKind, Insert, PastVersion};
pub use domains::{AddDomain, DomainRecord};
pub use templates::{DeleteOutcome, Offer, TemplateFilter, TemplateRecord};
pub use usage::{UsageOf, UsagePeriod};

/// One page of a list, newest first: at most `limit` rows after skipping `offset`.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: u32,
    pub offset: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another template has this slug and version.
    #[error("{0}")]
    TemplateExists(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored row is corrupt: {0}")]
    Corrupt(String),
    #[error(
        "it was written by a newer Hoster (schema version {applied}; this Hoster knows up to {known}) and is left \
         untouched: run that newer Hoster, or restore a backup made before the upgrade"
    )]
    NewerSchema { applied: i64, known: i64 },
    #[error("the state machine does not allow {from} -> {to}")]
    IllegalTransition {
        from: hoster_core::deployment::Status,
        to: hoster_core::deployment::Status,
    },
    #[error("cannot use the database file {0}: {1}")]
    Io(String, std::io::Error),
    /// The secret key is missing, malformed, or not the one values were sealed with.
    #[error("{0}")]
    Sealing(String),
}

/// A stored value that does not read back as its type (the file was edited by hand, or
/// written by something else).
fn corrupt(e: hoster_core::problem::Unrecognised) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    sealer: Sealer,
    template_totals: std::sync::Arc<templates::TotalsCache>,
    /// Counts committed writes to deployments, their domains and ports: a value read before
    /// a lookup says whether what the lookup found may since have changed.
    deployment_writes: std::sync::Arc<AtomicU64>,
    /// Every history row, as it commits, for live event streams.
    events: tokio::sync::broadcast::Sender<deployments::Event>,
}

/// History rows a slow live reader may fall behind by before its stream ends (it resumes from
/// the last one it saw with `after` / `Last-Event-ID`).
const EVENT_BACKLOG: usize = 1024;

/// The newest migration this Hoster knows.
pub fn known_schema() -> i64 {
    sqlx::migrate!("./migrations")
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
}

impl Store {
    /// Opens (creating if needed) the database file and brings its schema up to date; secrets
    /// are sealed with the key file beside it.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_keyed(path, None).await
    }

    /// [`Store::open`], sealing with the key `HOSTER_SECRET_KEY` gives when set.
    pub async fn open_keyed(path: &Path, secret_key: Option<&str>) -> Result<Self, StoreError> {
        let sealer = Sealer::load(secret_key, path).map_err(StoreError::Sealing)?;
        // Owner-only: rows hold secret defaults and token hashes. SQLite gives the WAL and
        // shared-memory files the database file's mode.
        crate::private_fs::create_file(path).map_err(|e| StoreError::Io(path.display().to_string(), e))?;
        for suffix in ["-wal", "-shm"] {
            let mut side = path.as_os_str().to_owned();
            side.push(suffix);
            crate::private_fs::restrict(Path::new(&side)).map_err(|e| StoreError::Io(path.display().to_string(), e))?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // A log record per statement costs more than the statement on the hot list path.
            .disable_statement_logging();
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .connect_with(options)
            .await?;
        let migrator = sqlx::migrate!("./migrations");
        // A database a newer Hoster wrote is left untouched: this one cannot know what its
        // later migrations changed, and migrating "around" them could lose data.
        let known = known_schema();
        let migrated: bool = sqlx::query_scalar(
            "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&pool)
        .await?;
        let applied: Option<i64> = match migrated {
            true => {
                sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
                    .fetch_one(&pool)
                    .await?
            }
            false => None,
        };
        if let Some(applied) = applied
            && applied > known
        {
            pool.close().await;
            return Err(StoreError::NewerSchema { applied, known });
        }
        migrator.run(&pool).await?;
        Ok(Self {
            pool,
            sealer,
            template_totals: Default::default(),
            deployment_writes: Default::default(),
            events: tokio::sync::broadcast::channel(EVENT_BACKLOG).0,
        })
    }

    /// Changes whenever a deployment, its domains or its ports change; see [`Store`].
    pub fn deployments_generation(&self) -> u64 {
        self.deployment_writes.load(Ordering::Acquire)
    }

    /// Called after a deployment write commits, never before: a reader that saw the old
    /// generation must not keep what it read once the write is visible.
    fn deployments_written(&self) {
        self.deployment_writes.fetch_add(1, Ordering::AcqRel);
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Waits for in-flight queries, checkpoints the WAL and closes every connection.
    pub async fn close(&self) {
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await;
        self.pool.close().await;
    }
}
