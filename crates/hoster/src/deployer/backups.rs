//! Backups of a deployment's named volumes and restores from them, under the deployment's
//! lock. A backup runs the services' pre-backup commands (`x-hoster-backup.command`), pauses
//! what runs for the copy (or stops the services that ask, `x-hoster-backup.stop`; back as they
//! were whatever happens), streams each volume
//! out of the engine into one sealed archive (`backup::archive`), and stores it; a restore opens
//! and checks the whole archive first, then stops the deployment, replaces its volumes with the
//! archive's, and starts it again if it ran.

use std::collections::HashSet;
use std::io::{BufReader, BufWriter, Write};
use std::sync::Arc;

use bytes::Bytes;
use hoster_core::deployment::Status;
use hoster_core::error_code::ErrorCode;
use hoster_core::id::{BackupId, DeploymentId};
use hoster_core::plan::object_name;

use super::{DeployError, Deployer};
use crate::backup::archive::{self, ArchiveError};
use crate::backup::destination::Destination;
use crate::backup::{DeploymentInfo, Kind, Manifest, archive_name};
use crate::clock;
use crate::runtime::ContainerStatus;
use crate::store::{BackupRecord, DeploymentRecord, EventKind};

/// Where a volume's tar stream sits in an archive.
fn file_of(volume: &str) -> String {
    format!("volumes/{volume}.tar")
}

fn volume_of(file: &str) -> Option<&str> {
    file.strip_prefix("volumes/")?.strip_suffix(".tar")
}

/// The image volume helpers are made of: the deployment's own first service's, which is on the
/// engine since the deployment ran.
fn helper_image(instance: &super::execute::Instance) -> String {
    instance
        .compose
        .services
        .first()
        .map(|s| s.image.clone())
        .unwrap_or_default()
}

/// Chunks in flight between the engine and the archive: what is in memory per stream.
const IN_FLIGHT: usize = 16;

enum Piece {
    Begin(String),
    Data(Bytes),
    End,
}

fn invalid(e: impl std::fmt::Display) -> DeployError {
    DeployError::Backup {
        code: ErrorCode::BackupInvalid,
        message: format!("the backup cannot be restored: {e}"),
    }
}

fn unavailable(e: impl std::fmt::Display) -> DeployError {
    DeployError::Backup {
        code: ErrorCode::RuntimeError,
        message: format!("the backup could not be written: {e}"),
    }
}

impl Deployer {
    /// Backs up every named volume of the deployment into one archive stored at `to`.
    pub async fn back_up(&self, id: &DeploymentId, to: &Destination) -> Result<BackupRecord, DeployError> {
        let _guard = self.lock(id).await;
        let d = self.load(id).await?;
        let result = crate::metrics::timed("backup", self.back_up_locked(&d, to)).await;
        let note = match &result {
            Ok(b) => format!(
                "backed up {} ({} bytes) to {}",
                volumes_named(&b.manifest),
                b.size_bytes,
                b.location
            ),
            Err(e) => format!("backup failed: {e}"),
        };
        self.store.note(&d.id, EventKind::Action, &note, &clock::now()).await?;
        result
    }

    async fn back_up_locked(&self, d: &DeploymentRecord, to: &Destination) -> Result<BackupRecord, DeployError> {
        let instance = self.instance_of(d).await?;
        let present: HashSet<String> = self
            .engine
            .volumes(Some(&d.id))
            .await?
            .into_iter()
            .map(|v| v.name)
            .collect();
        let volumes: Vec<String> = instance
            .compose
            .volumes
            .iter()
            .filter(|v| present.contains(&object_name(&d.id, v)))
            .cloned()
            .collect();
        if volumes.is_empty() {
            return Err(DeployError::Backup {
                code: ErrorCode::NothingToBackUp,
                message: "the deployment has no named volumes on the engine (start it once first)".into(),
            });
        }
        let image = helper_image(&instance);
        let now = clock::now();
        let mut manifest = Manifest::new(Kind::Deployment, now.to_string());
        manifest.deployment = Some(DeploymentInfo {
            id: d.id.to_string(),
            name: d.name.clone(),
            template_id: d.template_id.to_string(),
            template_version: instance.template.spec.version.clone(),
            services: instance.compose.services.iter().map(|s| s.name.clone()).collect(),
            volumes: volumes.clone(),
        });

        let running: Vec<(String, String)> = self
            .engine
            .containers(Some(&d.id))
            .await?
            .into_iter()
            .filter(|c| c.state == ContainerStatus::Running)
            .map(|c| (c.service, c.id))
            .collect();
        // A service's own step first, while everything runs (a database's dump into its volume);
        // a stopped service's data is at rest already.
        for s in &instance.compose.services {
            let (Some(command), Some((_, container))) =
                (&s.backup.command, running.iter().find(|(svc, _)| *svc == s.name))
            else {
                continue;
            };
            let (code, output) = self.engine.exec(container, command).await?;
            if code != 0 {
                return Err(DeployError::Backup {
                    code: ErrorCode::RuntimeError,
                    message: format!(
                        "the pre-backup command of `{}` exited with {code}: {}",
                        s.name,
                        output.trim()
                    ),
                });
            }
        }
        // Then still for the copy: stopped where the service asks, paused otherwise; back as
        // they were whatever happens.
        let stops: HashSet<&str> = instance
            .compose
            .services
            .iter()
            .filter(|s| s.backup.stop)
            .map(|s| s.name.as_str())
            .collect();
        let (mut paused, mut stopped) = (Vec::new(), Vec::new());
        let mut still = Ok(());
        for (service, container) in &running {
            let done = if stops.contains(service.as_str()) {
                self.engine
                    .stop_container(container, None)
                    .await
                    .map(|()| stopped.push(container.clone()))
            } else {
                self.engine
                    .pause_container(container)
                    .await
                    .map(|()| paused.push(container.clone()))
            };
            if let Err(e) = done {
                still = Err(e.into());
                break;
            }
        }
        let scratch = to.scratch("volumes").map_err(unavailable)?;
        let archive = match still {
            Ok(()) => self.write_archive(&d.id, &volumes, &image, manifest, &scratch.0).await,
            Err(e) => Err(e),
        };
        for c in &paused {
            if let Err(e) = self.engine.unpause_container(c).await {
                tracing::error!(deployment = %d.id, container = %c, error = %e, "cannot resume a container after its backup");
            }
        }
        for c in &stopped {
            if let Err(e) = self.engine.start_container(c).await {
                tracing::error!(deployment = %d.id, container = %c, error = %e, "cannot start a container after its backup");
            }
        }
        let manifest = archive?;
        let size = std::fs::metadata(&scratch.0).map_err(unavailable)?.len();
        let name = archive_name(d.id.as_str(), &now);
        let location = to.put(&name, &scratch.0).await.map_err(unavailable)?;
        let record = BackupRecord {
            id: BackupId::from_random(rand::random()),
            deployment_id: d.id.clone(),
            name,
            location,
            size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
            manifest: serde_json::to_string(&manifest).expect("a manifest serializes"),
            created_at: now,
        };
        self.store.insert_backup(&record).await?;
        Ok(record)
    }

    /// Streams each volume out of the engine into the sealed archive at `path`.
    async fn write_archive(
        &self,
        id: &DeploymentId,
        volumes: &[String],
        image: &str,
        manifest: Manifest,
        path: &std::path::Path,
    ) -> Result<Manifest, DeployError> {
        let key = self.store.backup_key();
        let path = path.to_path_buf();
        let (pieces, mut received) = tokio::sync::mpsc::channel::<Piece>(IN_FLIGHT);
        let writer = tokio::task::spawn_blocking(move || -> std::io::Result<Manifest> {
            let out = std::fs::OpenOptions::new().write(true).open(&path)?;
            let mut w = archive::Writer::new(&key, BufWriter::new(out))?;
            while let Some(piece) = received.blocking_recv() {
                match piece {
                    Piece::Begin(name) => w.begin(&name)?,
                    Piece::Data(bytes) => w.data(&bytes)?,
                    Piece::End => {
                        w.end()?;
                    }
                }
            }
            let (mut out, manifest) = w.finish(manifest)?;
            out.flush()?;
            out.get_ref().sync_all()?;
            Ok(manifest)
        });
        let sent = async {
            for v in volumes {
                let gone = || unavailable("the archive writer stopped");
                pieces.send(Piece::Begin(file_of(v))).await.map_err(|_| gone())?;
                let (chunks, mut arriving) = tokio::sync::mpsc::channel::<Bytes>(IN_FLIGHT);
                let volume = object_name(id, v);
                let export = self.engine.export_volume(id, &volume, image, chunks);
                let forward = async {
                    while let Some(chunk) = arriving.recv().await {
                        if pieces.send(Piece::Data(chunk)).await.is_err() {
                            break;
                        }
                    }
                };
                let (exported, ()) = tokio::join!(export, forward);
                exported?;
                pieces.send(Piece::End).await.map_err(|_| gone())?;
            }
            Ok::<(), DeployError>(())
        }
        .await;
        drop(pieces);
        let written = writer.await.map_err(unavailable)?;
        sent?;
        written.map_err(unavailable)
    }

    /// Puts the volumes of `backup` (a backup of this deployment, or of another one: a clone)
    /// back into the deployment. The archive is fetched and checked whole before anything
    /// changes; then the deployment is stopped, its volumes replaced, and started again when it
    /// ran.
    pub async fn restore_backup(
        self: &Arc<Self>,
        id: &DeploymentId,
        backup: &BackupRecord,
        from: &Destination,
    ) -> Result<DeploymentRecord, DeployError> {
        let archive = from.local(&backup.name).await.map_err(invalid)?;
        let manifest = self.read_archive(&archive.path, None).await?;
        let volumes: Vec<String> = manifest
            .files
            .iter()
            .filter_map(|f| volume_of(&f.name).map(str::to_string))
            .collect();
        if manifest.kind != Kind::Deployment || volumes.is_empty() {
            return Err(invalid("it is not a backup of a deployment's volumes"));
        }

        let guard = self.lock(id).await;
        let mut d = self.load(id).await?;
        let instance = self.instance_of(&d).await?;
        if let Some(missing) = volumes.iter().find(|v| !instance.compose.volumes.contains(v)) {
            return Err(invalid(format!("this deployment's template has no volume `{missing}`")));
        }
        let was_running = d.status == Status::Running;
        match d.status {
            Status::Running => {
                self.step(&mut d, Status::Stopping, None).await?;
                self.run_stop(&mut d).await?;
            }
            Status::Stopped | Status::Failed | Status::Pending => {}
            status => {
                return Err(DeployError::InvalidTransition {
                    action: "restore",
                    status,
                });
            }
        }
        // Fresh containers at the next start: the volumes they mounted are replaced.
        self.remove_containers(&d.id).await?;
        let (plan, _, _) = self.plan_for(&d, None).await?;
        for v in &volumes {
            let name = object_name(&d.id, v);
            let spec = plan
                .volumes
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| invalid(format!("no volume `{v}` in the deployment's plan")))?;
            if let Err(e) = self.engine.remove_volume(&name).await {
                tracing::debug!(volume = %name, error = %e, "no volume to remove before a restore");
            }
            self.engine.ensure_volume(spec).await?;
        }
        let image = helper_image(&instance);
        self.read_archive(&archive.path, Some((&d.id, &image))).await?;
        let note = format!("restored {} from backup {}", volumes_named(&backup.manifest), backup.id);
        self.store.note(&d.id, EventKind::Action, &note, &clock::now()).await?;
        if was_running {
            self.step(&mut d, Status::Starting, None).await?;
            self.finish_start(&mut d).await?;
        }
        drop(guard);
        Ok(d)
    }

    /// Reads the archive at `path` through, every checksum checked; with `into`, each volume's
    /// stream goes into that deployment's volume of the same name, through `image`'s helper.
    async fn read_archive(
        &self,
        path: &std::path::Path,
        into: Option<(&DeploymentId, &str)>,
    ) -> Result<Manifest, DeployError> {
        let key = self.store.backup_key();
        let path = path.to_path_buf();
        let (opened, mut volumes) = tokio::sync::mpsc::channel::<(String, tokio::sync::mpsc::Receiver<Bytes>)>(1);
        let importing = into.is_some();
        let reader = tokio::task::spawn_blocking(move || -> Result<Manifest, ArchiveError> {
            let input = BufReader::new(std::fs::File::open(&path)?);
            archive::read(&key, input, |file| {
                let Some(volume) = volume_of(file).filter(|_| importing) else {
                    return Ok(None);
                };
                let (chunks, arriving) = tokio::sync::mpsc::channel::<Bytes>(IN_FLIGHT);
                opened
                    .blocking_send((volume.to_string(), arriving))
                    .map_err(|_| std::io::Error::other("the restore stopped"))?;
                Ok(Some(Box::new(ToChannel(chunks)) as Box<dyn Write>))
            })
        });
        let imported = async {
            while let Some((volume, arriving)) = volumes.recv().await {
                if let Some((id, image)) = into {
                    self.engine
                        .import_volume(id, &object_name(id, &volume), image, arriving)
                        .await?;
                }
            }
            Ok::<(), DeployError>(())
        }
        .await;
        let manifest = reader.await.map_err(invalid)?.map_err(invalid)?;
        imported?;
        Ok(manifest)
    }
}

/// A volume's bytes, from the archive reader's thread to the engine's upload.
struct ToChannel(tokio::sync::mpsc::Sender<Bytes>);

impl Write for ToChannel {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::other("the engine stopped taking the volume"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `2 volumes (data, uploads)` from a stored manifest.
fn volumes_named(manifest_json: &str) -> String {
    let volumes = serde_json::from_str::<Manifest>(manifest_json)
        .ok()
        .and_then(|m| m.deployment)
        .map(|d| d.volumes)
        .unwrap_or_default();
    match volumes.len() {
        1 => format!("volume {}", volumes[0]),
        n => format!("{n} volumes ({})", volumes.join(", ")),
    }
}

/// How often the backup loop looks at the schedules.
const SCHEDULE_TICK: std::time::Duration = std::time::Duration::from_secs(1);

impl Deployer {
    /// Runs each deployment's backup schedule: a backup at each time it names, then its oldest
    /// backups beyond `keep` removed (archive and record). A failure is the backup's own event
    /// and `operation="backup",outcome="error"` in /metrics; the next time comes anyway. A
    /// deployment that has not run yet is skipped; a time that passes while Hoster is down is
    /// not made up for.
    pub async fn back_up_on_schedules(self: Arc<Self>, to: Destination) {
        let mut next: std::collections::HashMap<DeploymentId, (String, i64)> = Default::default();
        loop {
            tokio::time::sleep(SCHEDULE_TICK).await;
            let schedules = match self.store.backup_schedules().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the backup schedules");
                    continue;
                }
            };
            let now = clock::now().unix_millis();
            next.retain(|id, _| schedules.iter().any(|s| s.deployment_id == *id));
            for s in schedules {
                let Ok(schedule) = hoster_core::schedule::Schedule::parse(&s.schedule) else {
                    continue;
                };
                let due = match next.get(&s.deployment_id) {
                    Some((text, at)) if *text == s.schedule => *at,
                    // New or changed: its first time is the next one from now.
                    _ => {
                        let at = schedule.next_after(now).unwrap_or(i64::MAX);
                        next.insert(s.deployment_id.clone(), (s.schedule.clone(), at));
                        at
                    }
                };
                if now < due {
                    continue;
                }
                let at = schedule.next_after(now).unwrap_or(i64::MAX);
                next.insert(s.deployment_id.clone(), (s.schedule.clone(), at));
                // One that never started has no volumes yet: nothing to back up, nothing to say.
                match self.store.get_deployment(&s.deployment_id).await {
                    Ok(Some(d)) if matches!(d.status, Status::Running | Status::Stopped | Status::Failed) => {}
                    _ => continue,
                }
                if let Err(e) = self.back_up(&s.deployment_id, &to).await {
                    tracing::warn!(deployment = %s.deployment_id, error = %e, "scheduled backup failed");
                    continue;
                }
                if let Err(e) = self.prune_backups(&s.deployment_id, &to, s.keep).await {
                    tracing::warn!(deployment = %s.deployment_id, error = %e, "cannot remove old backups");
                }
            }
        }
    }

    /// Removes the deployment's backups beyond the newest `keep`.
    async fn prune_backups(&self, id: &DeploymentId, at: &Destination, keep: i64) -> Result<(), DeployError> {
        let backups = self.store.backups_of(id).await?;
        for old in backups.iter().skip(usize::try_from(keep).unwrap_or(usize::MAX)) {
            at.delete(&old.name).await.map_err(unavailable)?;
            self.store.delete_backup(&old.id).await?;
        }
        Ok(())
    }
}
