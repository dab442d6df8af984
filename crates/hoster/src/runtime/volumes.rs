//! A volume's contents in and out, through the engine's archive endpoints, so that it works
//! with a remote engine too: a helper container of an image already present mounts the volume;
//! it is created, never started, and removed afterwards.

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountTypeEnum};
use bollard::query_parameters::{CreateContainerOptions, DownloadFromContainerOptions, UploadToContainerOptions};
use bytes::Bytes;
use futures_util::StreamExt;
use hoster_core::id::DeploymentId;
use hoster_core::plan::labels;

use super::engine::{Engine, EngineError};

/// Where the helper mounts the volume; archive entries start with it (without the slash).
pub const MOUNT: &str = "/hoster-volume";
/// Marks a helper, naming its deployment. Helpers are left out of container listings (so the
/// reconciler never takes one for an orphan or a service while it works) and removed at start,
/// where a crash may have left one.
pub const HELPER: &str = "io.hoster.volume-helper";

impl Engine {
    async fn helper(&self, deployment: &DeploymentId, volume: &str, image: &str) -> Result<String, EngineError> {
        let docker = self.client().await?;
        let name = format!("hoster-{}-volume-{:08x}", self.instance(), rand::random::<u32>());
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            // Never started; an entrypoint is still needed by images that have none.
            cmd: Some(vec!["true".into()]),
            network_disabled: Some(true),
            labels: Some(
                [
                    (labels::MANAGED.to_string(), "true".to_string()),
                    (labels::INSTANCE.to_string(), self.instance().to_string()),
                    (HELPER.to_string(), deployment.to_string()),
                ]
                .into(),
            ),
            host_config: Some(HostConfig {
                mounts: Some(vec![Mount {
                    target: Some(MOUNT.into()),
                    source: Some(volume.to_string()),
                    typ: Some(MountTypeEnum::VOLUME),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptions {
            name: Some(name.clone()),
            platform: String::new(),
        };
        docker
            .create_container(Some(options), body)
            .await
            .map_err(EngineError::from_docker)?;
        Ok(name)
    }

    /// Sends the contents of `volume` as a tar stream (entries under `hoster-volume/`) to
    /// `out`, chunk by chunk as the engine gives them.
    pub(super) async fn export_volume(
        &self,
        deployment: &DeploymentId,
        volume: &str,
        image: &str,
        out: tokio::sync::mpsc::Sender<Bytes>,
    ) -> Result<(), EngineError> {
        let helper = self.helper(deployment, volume, image).await?;
        let result = async {
            let docker = self.client().await?;
            let options = DownloadFromContainerOptions { path: MOUNT.into() };
            let mut stream = docker.download_from_container(&helper, Some(options));
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(EngineError::from_docker)?;
                if out.send(chunk).await.is_err() {
                    return Err(EngineError::Docker("the archive writer stopped".into()));
                }
            }
            Ok(())
        }
        .await;
        let removed = self.remove_container(&helper).await;
        result.and(removed)
    }

    /// Writes the tar stream `input` (entries under `hoster-volume/`) into `volume`.
    pub(super) async fn import_volume(
        &self,
        deployment: &DeploymentId,
        volume: &str,
        image: &str,
        input: tokio::sync::mpsc::Receiver<Bytes>,
    ) -> Result<(), EngineError> {
        let helper = self.helper(deployment, volume, image).await?;
        let result = async {
            let docker = self.client().await?;
            let options = UploadToContainerOptions {
                path: "/".into(),
                ..Default::default()
            };
            let body = futures_util::stream::unfold(input, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
            docker
                .upload_to_container(&helper, Some(options), bollard::body_stream(body))
                .await
                .map_err(EngineError::from_docker)
        }
        .await;
        let removed = self.remove_container(&helper).await;
        result.and(removed)
    }

    /// Removes every helper of this instance; how many.
    pub(super) async fn remove_helpers(&self) -> Result<usize, EngineError> {
        let docker = self.client().await?;
        let options = bollard::query_parameters::ListContainersOptions {
            all: true,
            filters: Some(
                [(
                    "label".to_string(),
                    vec![format!("{}={}", labels::INSTANCE, self.instance()), HELPER.to_string()],
                )]
                .into(),
            ),
            ..Default::default()
        };
        let helpers = docker
            .list_containers(Some(options))
            .await
            .map_err(EngineError::from_docker)?;
        for h in &helpers {
            self.remove_container(h.id.as_deref().unwrap_or_default()).await?;
        }
        Ok(helpers.len())
    }

    /// Runs `command` in the running container `name`: its exit code and the end of its output.
    pub(super) async fn exec(&self, name: &str, command: &[String]) -> Result<(i64, String), EngineError> {
        let docker = self.client().await?;
        let config = bollard::models::ExecConfig {
            cmd: Some(command.to_vec()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let created = docker
            .create_exec(name, config)
            .await
            .map_err(EngineError::from_docker)?;
        let mut output = String::new();
        if let bollard::exec::StartExecResults::Attached { output: mut lines, .. } = docker
            .start_exec(&created.id, None)
            .await
            .map_err(EngineError::from_docker)?
        {
            while let Some(chunk) = lines.next().await {
                output.push_str(&chunk.map_err(EngineError::from_docker)?.to_string());
                // The end is what says why a command failed.
                if output.len() > 4096 {
                    let cut = output.len() - 2048;
                    let cut = (cut..output.len()).find(|i| output.is_char_boundary(*i)).unwrap_or(cut);
                    output.drain(..cut);
                }
            }
        }
        let inspected = docker
            .inspect_exec(&created.id)
            .await
            .map_err(EngineError::from_docker)?;
        Ok((inspected.exit_code.unwrap_or(-1), output))
    }

    pub(super) async fn pause_container(&self, name: &str) -> Result<(), EngineError> {
        let docker = self.client().await?;
        docker.pause_container(name).await.map_err(EngineError::from_docker)
    }

    pub(super) async fn unpause_container(&self, name: &str) -> Result<(), EngineError> {
        let docker = self.client().await?;
        docker.unpause_container(name).await.map_err(EngineError::from_docker)
    }
}
