//! Backups: Hoster's own database (`database.rs`), in sealed, compressed archives
//! (`archive.rs`) kept in a directory or an S3-compatible store (`destination.rs`).

pub mod archive;
pub mod database;
pub mod destination;

use serde::{Deserialize, Serialize};

/// What an archive holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Hoster's SQLite database.
    Database,
    /// A deployment's named volumes, a tar stream each (`volumes/<name>.tar`).
    Deployment,
}

/// Which deployment a volume archive was taken of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentInfo {
    pub id: String,
    pub name: String,
    pub template_id: String,
    pub template_version: String,
    pub services: Vec<String>,
    /// The compose file's names of the volumes it holds.
    pub volumes: Vec<String>,
}

/// One file in an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// What an archive says of itself: written last, checked against what it holds on reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The archive format.
    pub format: u32,
    pub kind: Kind,
    /// When the copy was taken (RFC 3339).
    pub created_at: String,
    /// The Hoster that wrote it.
    pub hoster_version: String,
    /// Database archives: the newest migration applied to the copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<i64>,
    /// Volume archives: whose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentInfo>,
    /// Filled in by the writer.
    #[serde(default)]
    pub files: Vec<FileEntry>,
}

impl Manifest {
    pub fn new(kind: Kind, created_at: String) -> Self {
        Self {
            format: 1,
            kind,
            created_at,
            hoster_version: env!("CARGO_PKG_VERSION").to_string(),
            schema_version: None,
            deployment: None,
            files: Vec::new(),
        }
    }
}

/// A file removed when dropped, so that no failure leaves a copy of data behind.
pub struct Scratch(pub std::path::PathBuf);

impl Scratch {
    /// A new private (0600) empty file in `dir`.
    pub fn create(dir: &std::path::Path, what: &str) -> std::io::Result<Scratch> {
        let path = dir.join(format!(".hoster-{what}-{:016x}", rand::random::<u64>()));
        crate::private_fs::create_file(&path)?;
        Ok(Scratch(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The file name an archive of `kind` taken at `at` gets: sortable by time.
pub fn archive_name(prefix: &str, at: &crate::clock::Timestamp) -> String {
    let stamp: String = at.to_string().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    format!("{prefix}-{stamp}.hbk")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time() {
        let a: crate::clock::Timestamp = "2026-12-07T09:05:01.002Z".parse().unwrap();
        let b: crate::clock::Timestamp = "2026-12-07T10:00:00.000Z".parse().unwrap();
        assert_eq!(archive_name("db", &a), "db-20261207T090501002Z.hbk");
        assert!(archive_name("db", &a) < archive_name("db", &b));
    }
}
