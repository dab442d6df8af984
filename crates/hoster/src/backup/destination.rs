//! Where archives are kept: a local directory (files 0600) or an S3-compatible store
//! (`s3://bucket/prefix`, credentials and endpoint from the usual `AWS_*` variables:
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`, `AWS_ENDPOINT`,
//! `AWS_ALLOW_HTTP`). Archives move as streams between a local file and the store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, WriteMultipart};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Scratch;

/// A part of an upload sent at a time: what is in memory while an archive leaves.
const PART: usize = 8 * 1024 * 1024;

/// An archive as a local file; see [`Destination::local`].
pub struct Local {
    pub path: PathBuf,
    _copy: Option<Scratch>,
}

#[derive(Clone)]
pub enum Destination {
    Dir(PathBuf),
    S3 {
        store: Arc<dyn ObjectStore>,
        bucket: String,
        prefix: String,
    },
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Dir(dir) => write!(f, "{}", dir.display()),
            Destination::S3 { bucket, prefix, .. } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    #[error("{0}")]
    Invalid(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the object store: {0}")]
    Store(#[from] object_store::Error),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DestinationError {
    let what = what.into();
    move |source| DestinationError::Io { what, source }
}

impl Destination {
    /// `s3://bucket[/prefix]`, or a directory.
    pub fn parse(spec: &str) -> Result<Destination, DestinationError> {
        let Some(rest) = spec.strip_prefix("s3://") else {
            return Ok(Destination::Dir(PathBuf::from(spec)));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(DestinationError::Invalid(format!(
                "`{spec}` names no bucket: s3://bucket/prefix"
            )));
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if std::env::var("AWS_ENDPOINT").is_ok_and(|e| e.starts_with("http://")) {
            builder = builder.with_allow_http(true);
        }
        let store = builder
            .build()
            .map_err(|e| DestinationError::Invalid(format!("`{spec}`: {e}")))?;
        Ok(Destination::S3 {
            store: Arc::new(store),
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    /// An archive's name here, refused when it could leave the destination.
    fn checked(name: &str) -> Result<&str, DestinationError> {
        let fine = !name.is_empty()
            && name.len() <= 200
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && !name.starts_with('.');
        if fine {
            Ok(name)
        } else {
            Err(DestinationError::Invalid(format!("`{name}` is not a backup name")))
        }
    }

    fn object(prefix: &str, name: &str) -> ObjectPath {
        if prefix.is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{prefix}/{name}"))
        }
    }

    /// Where an archive called `name` is (or would be), for people.
    pub fn location(&self, name: &str) -> String {
        match self {
            Destination::Dir(dir) => dir.join(name).display().to_string(),
            Destination::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{}", Self::object(prefix, name)),
        }
    }

    /// A private file an archive is written into before [`Destination::put`]: in the directory
    /// itself, so that the put is a rename and a large archive is written once; for a store, in
    /// the system's temporary directory, from where it is uploaded.
    pub fn scratch(&self, what: &str) -> Result<Scratch, DestinationError> {
        let dir = match self {
            Destination::Dir(dir) => {
                crate::private_fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
                dir.clone()
            }
            Destination::S3 { .. } => std::env::temp_dir(),
        };
        Scratch::create(&dir, what).map_err(io(format!("cannot create a file in {}", dir.display())))
    }

    /// Stores the local file `from` (owner-only, as [`Destination::scratch`] makes them) as
    /// `name`; its location.
    pub async fn put(&self, name: &str, from: &Path) -> Result<String, DestinationError> {
        let name = Self::checked(name)?;
        match self {
            Destination::Dir(dir) => {
                crate::private_fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
                let target = dir.join(name);
                if tokio::fs::rename(from, &target).await.is_err() {
                    // Another file system: copied beside the target first, so that a reader never
                    // sees half an archive under its name.
                    let partial = dir.join(format!(".{name}.partial"));
                    tokio::fs::copy(from, &partial)
                        .await
                        .map_err(io(format!("cannot write {}", partial.display())))?;
                    crate::private_fs::restrict(&partial)
                        .map_err(io(format!("cannot restrict {}", partial.display())))?;
                    tokio::fs::rename(&partial, &target)
                        .await
                        .map_err(io(format!("cannot write {}", target.display())))?;
                }
            }
            Destination::S3 { store, prefix, .. } => {
                let upload = store.put_multipart(&Self::object(prefix, name)).await?;
                let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
                let mut file = tokio::fs::File::open(from)
                    .await
                    .map_err(io(format!("cannot read {}", from.display())))?;
                let mut buf = vec![0u8; PART];
                loop {
                    let n = file
                        .read(&mut buf)
                        .await
                        .map_err(io(format!("cannot read {}", from.display())))?;
                    if n == 0 {
                        break;
                    }
                    writer.wait_for_capacity(2).await?;
                    writer.write(&buf[..n]);
                }
                writer.finish().await?;
            }
        }
        Ok(self.location(name))
    }

    /// Archive `name` as a local file to read: the file itself in a directory; from a store, a
    /// copy streamed into a scratch file that goes when the answer is dropped.
    pub async fn local(&self, name: &str) -> Result<Local, DestinationError> {
        let name = Self::checked(name)?;
        match self {
            Destination::Dir(dir) => {
                let path = dir.join(name);
                if !path.is_file() {
                    return Err(DestinationError::Invalid(format!("{} does not exist", path.display())));
                }
                Ok(Local { path, _copy: None })
            }
            Destination::S3 { store, prefix, .. } => {
                let copy = self.scratch("fetched")?;
                let to = copy.0.clone();
                let mut stream = store.get(&Self::object(prefix, name)).await?.into_stream();
                let mut file = tokio::fs::File::create(&to)
                    .await
                    .map_err(io(format!("cannot write {}", to.display())))?;
                while let Some(chunk) = stream.next().await {
                    file.write_all(&chunk?)
                        .await
                        .map_err(io(format!("cannot write {}", to.display())))?;
                }
                file.flush()
                    .await
                    .map_err(io(format!("cannot write {}", to.display())))?;
                Ok(Local {
                    path: to,
                    _copy: Some(copy),
                })
            }
        }
    }

    /// The archives here whose names start with `prefix`, sorted by name (oldest first).
    pub async fn list(&self, starting: &str) -> Result<Vec<String>, DestinationError> {
        let mut names = match self {
            Destination::Dir(dir) => {
                let mut names = Vec::new();
                let mut entries = match tokio::fs::read_dir(dir).await {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(io(format!("cannot list {}", dir.display()))(e)),
                };
                while let Some(entry) = entries
                    .next_entry()
                    .await
                    .map_err(io(format!("cannot list {}", dir.display())))?
                {
                    names.push(entry.file_name().to_string_lossy().into_owned());
                }
                names
            }
            Destination::S3 { store, prefix, .. } => {
                let under = (!prefix.is_empty()).then(|| ObjectPath::from(prefix.as_str()));
                let listed = store.list_with_delimiter(under.as_ref()).await?;
                listed
                    .objects
                    .into_iter()
                    .filter_map(|o| o.location.filename().map(str::to_string))
                    .collect()
            }
        };
        names.retain(|n| n.starts_with(starting) && n.ends_with(".hbk"));
        names.sort();
        Ok(names)
    }

    /// Removes archive `name`; one that is gone already is fine.
    pub async fn delete(&self, name: &str) -> Result<(), DestinationError> {
        let name = Self::checked(name)?;
        match self {
            Destination::Dir(dir) => {
                let path = dir.join(name);
                match tokio::fs::remove_file(&path).await {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    other => other.map_err(io(format!("cannot remove {}", path.display())))?,
                }
            }
            Destination::S3 { store, prefix, .. } => match store.delete(&Self::object(prefix, name)).await {
                Err(object_store::Error::NotFound { .. }) => {}
                other => other?,
            },
        }
        Ok(())
    }
}

/// A backup named by where it is: `s3://bucket/prefix/name.hbk` or a file path; its
/// destination and name.
pub fn split_location(location: &str) -> Result<(Destination, String), DestinationError> {
    let (base, name) = match location.rsplit_once('/') {
        Some((base, name)) if !name.is_empty() => (base.to_string(), name.to_string()),
        _ if !location.starts_with("s3://") => (".".to_string(), location.to_string()),
        _ => return Err(DestinationError::Invalid(format!("`{location}` names no archive"))),
    };
    Ok((Destination::parse(&base)?, Destination::checked(&name)?.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_leave_the_destination_are_refused() {
        for bad in ["", "../x.hbk", ".hidden.hbk", "a/b.hbk", "a\\b", "x y.hbk"] {
            assert!(Destination::checked(bad).is_err(), "{bad:?}");
        }
        assert!(Destination::checked("db-20261207T090501002Z.hbk").is_ok());
    }

    #[test]
    fn locations_split_into_destination_and_name() {
        let (d, name) = split_location("/var/backups/db-1.hbk").unwrap();
        assert_eq!((d.to_string(), name.as_str()), ("/var/backups".to_string(), "db-1.hbk"));
        let (d, name) = split_location("db-1.hbk").unwrap();
        assert_eq!((d.to_string(), name.as_str()), (".".to_string(), "db-1.hbk"));
        // The directory is the operator's to name; the archive's own name is checked.
        assert!(split_location("/var/backups/..").is_err());
        assert!(split_location("s3://bucket/").is_err());
    }

    #[tokio::test]
    async fn a_directory_keeps_owner_only_files_listed_in_time_order() {
        let dir = tempfile::tempdir().unwrap();
        let d = Destination::Dir(dir.path().join("backups"));
        for name in ["db-2.hbk", "db-1.hbk", "other-1.hbk"] {
            let scratch = d.scratch("test").unwrap();
            std::fs::write(&scratch.0, b"archive").unwrap();
            d.put(name, &scratch.0).await.unwrap();
        }
        // Written where it is kept: the put was a rename, no scratch file is left.
        let hidden: Vec<_> = std::fs::read_dir(dir.path().join("backups"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(hidden.is_empty(), "{hidden:?}");
        assert_eq!(d.list("db-").await.unwrap(), ["db-1.hbk", "db-2.hbk"]);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("backups/db-1.hbk"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let local = d.local("db-2.hbk").await.unwrap();
        assert_eq!(std::fs::read(&local.path).unwrap(), b"archive");
        assert!(d.local("db-3.hbk").await.is_err());
        d.delete("db-1.hbk").await.unwrap();
        assert_eq!(d.list("db-").await.unwrap(), ["db-2.hbk"]);
        d.delete("db-1.hbk").await.unwrap();
    }
}
