//! Hoster's own database: a consistent copy of the live file, taken while the server goes on
//! writing (`VACUUM INTO` reads one snapshot), checked (`integrity_check`), sealed into an
//! archive and stored; and the way back, onto a stopped server.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use super::archive::{self, ArchiveError};
use super::destination::{Destination, DestinationError, split_location};
use super::{Kind, Manifest, Scratch, archive_name};
use crate::sealing::Sealer;

/// The name the database has inside its archive.
const FILE: &str = "hoster.db";
/// Archive names of database backups start with this.
pub const PREFIX: &str = "db";

#[derive(Debug, thiserror::Error)]
pub enum DbBackupError {
    #[error("the database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the copy failed its integrity check: {0}")]
    Integrity(String),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Destination(#[from] DestinationError),
    #[error("{0}")]
    Refused(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DbBackupError {
    let what = what.into();
    move |source| DbBackupError::Io { what, source }
}

/// A private scratch file beside `database` (the same file system, its directory's owner).
fn scratch(database: &Path, what: &str) -> Result<Scratch, DbBackupError> {
    let dir = crate::paths::parent_of(database);
    Scratch::create(&dir, what).map_err(io(format!("cannot create a file in {}", dir.display())))
}

async fn connect(path: &Path) -> Result<SqliteConnection, sqlx::Error> {
    let options = SqliteConnectOptions::from_str("sqlite:")?
        .filename(path)
        .busy_timeout(std::time::Duration::from_secs(10));
    SqliteConnection::connect_with(&options).await
}

/// `integrity_check` and the newest migration of the database file at `path`.
async fn check(path: &Path) -> Result<Option<i64>, DbBackupError> {
    let mut c = connect(path).await?;
    let verdict: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check").fetch_all(&mut c).await?;
    if verdict != ["ok"] {
        return Err(DbBackupError::Integrity(verdict.join("; ")));
    }
    let schema: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&mut c)
        .await
        .map_err(|_| {
            DbBackupError::Refused("this file is not a Hoster database (it has no migrations table)".into())
        })?;
    c.close().await?;
    Ok(schema)
}

#[derive(Debug)]
pub struct Taken {
    pub name: String,
    pub location: String,
    pub manifest: Manifest,
}

/// Takes a consistent copy of the live database at `database`, checks it, and stores it
/// sealed in `to`.
pub async fn back_up(database: &Path, sealer: &Sealer, to: &Destination) -> Result<Taken, DbBackupError> {
    let now = crate::clock::now();
    let copy = scratch(database, "backup")?;
    let mut live = connect(database).await?;
    sqlx::query("VACUUM INTO ?1")
        .bind(copy.0.to_string_lossy().as_ref())
        .execute(&mut live)
        .await?;
    live.close().await?;
    let mut manifest = Manifest::new(Kind::Database, now.to_string());
    manifest.schema_version = check(&copy.0).await?;

    let sealed = to.scratch("archive")?;
    let key = *sealer.backup_key();
    let (from, into) = (copy.0.clone(), sealed.0.clone());
    let manifest = tokio::task::spawn_blocking(move || -> Result<Manifest, DbBackupError> {
        let out = std::fs::OpenOptions::new()
            .write(true)
            .open(&into)
            .map_err(io(format!("cannot create {}", into.display())))?;
        let mut writer = archive::Writer::new(&key, BufWriter::new(out)).map_err(io("cannot write the archive"))?;
        writer.begin(FILE).map_err(io("cannot write the archive"))?;
        let mut file = std::fs::File::open(&from).map_err(io(format!("cannot read {}", from.display())))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file
                .read(&mut buf)
                .map_err(io(format!("cannot read {}", from.display())))?;
            if n == 0 {
                break;
            }
            writer.data(&buf[..n]).map_err(io("cannot write the archive"))?;
        }
        writer.end().map_err(io("cannot write the archive"))?;
        let (mut out, manifest) = writer.finish(manifest).map_err(io("cannot write the archive"))?;
        out.flush().map_err(io("cannot write the archive"))?;
        out.get_ref().sync_all().map_err(io("cannot write the archive"))?;
        Ok(manifest)
    })
    .await
    .map_err(|e| DbBackupError::Refused(format!("the archive writer stopped: {e}")))??;
    let name = archive_name(PREFIX, &now);
    let location = to.put(&name, &sealed.0).await?;
    Ok(Taken {
        name,
        location,
        manifest,
    })
}

/// Removes the oldest database backups in `at` beyond the newest `keep`; their names.
pub async fn prune(at: &Destination, keep: usize) -> Result<Vec<String>, DbBackupError> {
    let gone = hoster_core::schedule::expired(at.list(&format!("{PREFIX}-")).await?, keep);
    for name in &gone {
        at.delete(name).await?;
    }
    Ok(gone)
}

#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    /// Where the database that was there before now is.
    pub previous: Option<PathBuf>,
}

/// Puts the database in the archive at `location` in place of the one at `database`. The
/// archive is opened and checked, and the copy it holds checked too, before anything is
/// touched; the database it replaces is kept beside it. The server must be stopped.
pub async fn restore(database: &Path, sealer: &Sealer, location: &str) -> Result<Restored, DbBackupError> {
    let (from, name) = split_location(location)?;
    let archive = from.local(&name).await?;
    let copy = scratch(database, "restored")?;
    let key = *sealer.backup_key();
    let (archive_path, into) = (archive.path.clone(), copy.0.clone());
    let manifest = tokio::task::spawn_blocking(move || -> Result<Manifest, DbBackupError> {
        let input =
            std::fs::File::open(&archive_path).map_err(io(format!("cannot read {}", archive_path.display())))?;
        let out = std::fs::OpenOptions::new()
            .write(true)
            .open(&into)
            .map_err(io(format!("cannot write {}", into.display())))?;
        let mut out = Some(BufWriter::new(out));
        let manifest = archive::read(&key, std::io::BufReader::new(input), |file| match file {
            FILE => Ok(out.take().map(|w| Box::new(w) as Box<dyn Write>)),
            _ => Ok(None),
        })?;
        Ok(manifest)
    })
    .await
    .map_err(|e| DbBackupError::Refused(format!("the archive reader stopped: {e}")))??;
    if manifest.kind != Kind::Database || manifest.files.iter().all(|f| f.name != FILE) {
        return Err(DbBackupError::Refused(format!("{location} is not a database backup")));
    }
    let schema = check(&copy.0).await?;
    let known = crate::store::known_schema();
    if schema.is_some_and(|s| s > known) {
        return Err(DbBackupError::Refused(format!(
            "{location} is from a newer Hoster (schema {}, this one knows up to {known}); restore it with that version",
            schema.unwrap_or_default()
        )));
    }
    let previous = if database.exists() {
        let stamp: String = crate::clock::now()
            .to_string()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let aside = PathBuf::from(format!("{}.before-restore-{stamp}", database.display()));
        std::fs::rename(database, &aside).map_err(io(format!("cannot move {} aside", database.display())))?;
        for suffix in ["-wal", "-shm"] {
            let side = PathBuf::from(format!("{}{suffix}", database.display()));
            if side.exists() {
                let moved = PathBuf::from(format!("{}{suffix}", aside.display()));
                std::fs::rename(&side, moved).map_err(io(format!("cannot move {} aside", side.display())))?;
            }
        }
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&copy.0, database).map_err(io(format!(
        "cannot put the restored database at {}",
        database.display()
    )))?;
    Ok(Restored { manifest, previous })
}

/// What `serve` does with HOSTER_DB_BACKUP_SCHEDULE: a backup at each time the schedule names,
/// then the oldest beyond `keep` removed. A failure is logged and counted
/// (`hoster_operation_duration_seconds{operation="db_backup",outcome="error"}`); the next time comes anyway.
pub struct Scheduled {
    pub database: PathBuf,
    pub sealer: Sealer,
    pub to: Destination,
    pub schedule: hoster_core::schedule::Schedule,
    pub keep: usize,
}

impl Scheduled {
    pub async fn run_forever(self) {
        tracing::info!(schedule = %self.schedule, to = %self.to, keep = self.keep, "database backups scheduled");
        loop {
            let now = crate::clock::now().unix_millis();
            let Some(next) = self.schedule.next_after(now) else {
                tracing::warn!(schedule = %self.schedule, "the backup schedule names no future time");
                return;
            };
            tokio::time::sleep(std::time::Duration::from_millis(u64::try_from(next - now).unwrap_or(0))).await;
            let result = crate::metrics::timed("db_backup", async {
                let taken = back_up(&self.database, &self.sealer, &self.to).await?;
                let pruned = prune(&self.to, self.keep).await?;
                Ok::<_, DbBackupError>((taken, pruned))
            })
            .await;
            match result {
                Ok((taken, pruned)) => {
                    tracing::info!(location = %taken.location, removed = pruned.len(), "database backed up")
                }
                Err(e) => tracing::error!(error = %e, to = %self.to, "the scheduled database backup failed"),
            }
        }
    }
}
