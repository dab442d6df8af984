//! The container engine. Owns every call to Docker; knows nothing of SQL or HTTP.
//!
//! The rest of Hoster sees the engine only through [`Runtime`]: the deployer, the reconciler
//! and the API hold an `Arc<dyn Runtime>`, so their unit tests can run on a fake engine.

mod containers;
mod engine;
mod events;
#[cfg(test)]
pub mod fake;
mod logs;
mod objects;
mod pull;
mod stats;
mod volumes;

use std::time::Duration;

use futures_util::stream::BoxStream;
use hoster_core::id::DeploymentId;
use hoster_core::plan::{ContainerSpec, ObjectSpec};

pub use containers::{ContainerState, ContainerStatus, ContainerSummary, Health};
pub use engine::{Engine, EngineError, EngineInfo, public_reason};
pub use events::ContainerEvent;
pub use logs::{LogQuery, LogStream, RawLine};
pub use objects::Owned;
pub use pull::{PullReport, Pulled};
pub use stats::Usage;

/// What Hoster asks of a container engine. Objects are Hoster's when they carry its instance
/// label; "all" below means all of this instance's, never anyone else's.
#[async_trait::async_trait]
pub trait Runtime: Send + Sync {
    /// The value of `io.hoster.instance` on this Hoster's objects.
    fn instance(&self) -> &str;
    async fn ping(&self, timeout: Duration) -> Result<(), EngineError>;

    /// Makes sure the image is present, pulling it when it is not (telling `report` how far).
    async fn ensure_image(&self, image: &str, report: PullReport<'_>) -> Result<(), EngineError>;
    /// Creates the network unless it exists.
    async fn ensure_network(&self, spec: &ObjectSpec) -> Result<(), EngineError>;
    /// Creates the volume unless it exists.
    async fn ensure_volume(&self, spec: &ObjectSpec) -> Result<(), EngineError>;
    /// Removing what is gone already succeeds.
    async fn remove_network(&self, name: &str) -> Result<(), EngineError>;
    async fn remove_volume(&self, name: &str) -> Result<(), EngineError>;
    async fn networks(&self, deployment: Option<&DeploymentId>) -> Result<Vec<Owned>, EngineError>;
    async fn volumes(&self, deployment: Option<&DeploymentId>) -> Result<Vec<Owned>, EngineError>;

    /// Creates the container (files copied in) on `network`; answers its id.
    async fn create_container(&self, spec: &ContainerSpec, network: &str) -> Result<String, EngineError>;
    async fn start_container(&self, name: &str) -> Result<(), EngineError>;
    /// Stopping a stopped or vanished container succeeds.
    async fn stop_container(&self, name: &str, timeout: Option<Duration>) -> Result<(), EngineError>;
    /// Removes the container and its anonymous volumes; gone already succeeds.
    async fn remove_container(&self, name: &str) -> Result<(), EngineError>;
    /// `None` when there is no such container.
    async fn inspect_container(&self, name: &str) -> Result<Option<ContainerState>, EngineError>;
    /// Containers of one deployment or all, running or not.
    async fn containers(&self, deployment: Option<&DeploymentId>) -> Result<Vec<ContainerSummary>, EngineError>;
    /// The last `lines` lines the container wrote, stdout and stderr together.
    async fn logs_tail(&self, name: &str, lines: usize) -> Result<String, EngineError>;
    /// The container's output as lines, oldest first; with `follow`, until it stops or the
    /// stream is dropped. A container that is gone gives no lines.
    async fn logs(
        &self,
        name: &str,
        query: &LogQuery,
    ) -> Result<BoxStream<'static, Result<RawLine, EngineError>>, EngineError>;
    /// What the container uses: one sample (about a second, for the CPU share), or with
    /// `stream` one a second until it stops or the stream is dropped.
    async fn stats(
        &self,
        name: &str,
        stream: bool,
    ) -> Result<BoxStream<'static, Result<Usage, EngineError>>, EngineError>;
    /// What this instance's containers do (start, die, OOM, restart, health changes, removal),
    /// as the engine reports it; the stream ends (or errs) when the connection to the engine does.
    async fn container_events(&self) -> Result<BoxStream<'_, Result<ContainerEvent, EngineError>>, EngineError>;
    /// Sends `volume`'s contents as a tar stream (entries under `hoster-volume/`), through a
    /// helper container of `image` (present on the engine) that is never started.
    async fn export_volume(
        &self,
        deployment: &DeploymentId,
        volume: &str,
        image: &str,
        out: tokio::sync::mpsc::Sender<bytes::Bytes>,
    ) -> Result<(), EngineError>;
    /// Writes a tar stream of [`Runtime::export_volume`]'s form into `volume`.
    async fn import_volume(
        &self,
        deployment: &DeploymentId,
        volume: &str,
        image: &str,
        input: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    ) -> Result<(), EngineError>;
    /// Removes the helpers a crash left; how many.
    async fn remove_helpers(&self) -> Result<usize, EngineError>;
    async fn pause_container(&self, name: &str) -> Result<(), EngineError>;
    async fn unpause_container(&self, name: &str) -> Result<(), EngineError>;
    /// Runs `command` in a running container: its exit code and the end of its output.
    async fn exec(&self, name: &str, command: &[String]) -> Result<(i64, String), EngineError>;
}

#[async_trait::async_trait]
impl Runtime for Engine {
    fn instance(&self) -> &str {
        Engine::instance(self)
    }
    async fn ping(&self, timeout: Duration) -> Result<(), EngineError> {
        Engine::ping(self, timeout).await
    }
    async fn ensure_image(&self, image: &str, report: PullReport<'_>) -> Result<(), EngineError> {
        Engine::ensure_image(self, image, report).await
    }
    async fn ensure_network(&self, spec: &ObjectSpec) -> Result<(), EngineError> {
        Engine::ensure_network(self, spec).await
    }
    async fn ensure_volume(&self, spec: &ObjectSpec) -> Result<(), EngineError> {
        Engine::ensure_volume(self, spec).await
    }
    async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        Engine::remove_network(self, name).await
    }
    async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        Engine::remove_volume(self, name).await
    }
    async fn networks(&self, deployment: Option<&DeploymentId>) -> Result<Vec<Owned>, EngineError> {
        Engine::managed_networks(self, deployment).await
    }
    async fn volumes(&self, deployment: Option<&DeploymentId>) -> Result<Vec<Owned>, EngineError> {
        Engine::managed_volumes(self, deployment).await
    }
    async fn create_container(&self, spec: &ContainerSpec, network: &str) -> Result<String, EngineError> {
        Engine::create_container(self, spec, network).await
    }
    async fn start_container(&self, name: &str) -> Result<(), EngineError> {
        Engine::start_container(self, name).await
    }
    async fn stop_container(&self, name: &str, timeout: Option<Duration>) -> Result<(), EngineError> {
        Engine::stop_container(self, name, timeout).await
    }
    async fn remove_container(&self, name: &str) -> Result<(), EngineError> {
        Engine::remove_container(self, name).await
    }
    async fn inspect_container(&self, name: &str) -> Result<Option<ContainerState>, EngineError> {
        Engine::inspect_container(self, name).await
    }
    async fn containers(&self, deployment: Option<&DeploymentId>) -> Result<Vec<ContainerSummary>, EngineError> {
        Engine::managed_containers(self, deployment).await
    }
    async fn logs_tail(&self, name: &str, lines: usize) -> Result<String, EngineError> {
        Engine::logs_tail(self, name, lines).await
    }
    async fn logs(
        &self,
        name: &str,
        query: &LogQuery,
    ) -> Result<BoxStream<'static, Result<RawLine, EngineError>>, EngineError> {
        Engine::logs(self, name, query).await
    }
    async fn stats(
        &self,
        name: &str,
        stream: bool,
    ) -> Result<BoxStream<'static, Result<Usage, EngineError>>, EngineError> {
        Engine::stats(self, name, stream).await
    }
    async fn container_events(&self) -> Result<BoxStream<'_, Result<ContainerEvent, EngineError>>, EngineError> {
        Engine::container_events(self).await
    }
    async fn export_volume(
        &self,
        deployment: &DeploymentId,
        volume: &str,
        image: &str,
        out: tokio::sync::mpsc::Sender<bytes::Bytes>,
    ) -> Result<(), EngineError> {
        Engine::export_volume(self, deployment, volume, image, out).await
    }
    async fn import_volume(
        &self,
        deployment: &DeploymentId,
        volume: &str,
        image: &str,
        input: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    ) -> Result<(), EngineError> {
        Engine::import_volume(self, deployment, volume, image, input).await
    }
    async fn remove_helpers(&self) -> Result<usize, EngineError> {
        Engine::remove_helpers(self).await
    }
    async fn pause_container(&self, name: &str) -> Result<(), EngineError> {
        Engine::pause_container(self, name).await
    }
    async fn unpause_container(&self, name: &str) -> Result<(), EngineError> {
        Engine::unpause_container(self, name).await
    }
    async fn exec(&self, name: &str, command: &[String]) -> Result<(i64, String), EngineError> {
        Engine::exec(self, name, command).await
    }
}
