//! An in-memory engine for unit tests of the deployer and the reconciler: it produces on demand
//! the orderings that are hard to get from Docker (an engine error in the middle of a start, a
//! container dying while a stop waits). The end-to-end tests run against a real engine.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use hoster_core::id::DeploymentId;
use hoster_core::plan::{ContainerSpec, ObjectSpec, labels};
use tokio::sync::{Notify, broadcast};

use super::{ContainerState, ContainerStatus, ContainerSummary, EngineError, Health, Owned, Runtime};

#[derive(Debug, Clone)]
struct Container {
    deployment: String,
    service: String,
    revision: String,
    status: ContainerStatus,
    exit_code: Option<i64>,
}

#[derive(Default)]
struct Objects {
    containers: BTreeMap<String, Container>,
    networks: BTreeMap<String, Owned>,
    volumes: BTreeMap<String, Owned>,
    /// Engine calls, in order: `create web`, `start web`, `stop web`, `remove web`.
    calls: Vec<String>,
    /// Services whose container refuses to start, with the engine's message.
    refuse_start: HashMap<String, String>,
    /// While set, every stop waits here first; `stop_entered` is notified as it does.
    stop_gate: Option<Arc<Notify>>,
    /// Images pulled so far: the first use of any other is a pull of 100 bytes in two steps.
    images: std::collections::BTreeSet<String>,
}

pub struct FakeEngine {
    objects: Mutex<Objects>,
    events: broadcast::Sender<super::ContainerEvent>,
    /// Notified each time a stop reaches the gate.
    pub stop_entered: Notify,
}

fn owned(spec: &ObjectSpec) -> Owned {
    Owned {
        name: spec.name.clone(),
        deployment: spec.labels.get(labels::DEPLOYMENT).cloned(),
    }
}

fn of(deployment: Option<&DeploymentId>, owner: Option<&str>) -> bool {
    deployment.is_none_or(|d| owner == Some(d.as_str()))
}

fn owned_by(objects: &BTreeMap<String, Owned>, deployment: Option<&DeploymentId>) -> Vec<Owned> {
    objects
        .values()
        .filter(|o| of(deployment, o.deployment.as_deref()))
        .cloned()
        .collect()
}

impl FakeEngine {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            objects: Mutex::default(),
            events: broadcast::channel(64).0,
            stop_entered: Notify::new(),
        })
    }

    fn objects(&self) -> std::sync::MutexGuard<'_, Objects> {
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The engine calls so far, as `verb service`.
    pub fn calls(&self) -> Vec<String> {
        self.objects().calls.clone()
    }

    /// The container of `service` will refuse to start with `message`.
    pub fn refuse_start(&self, service: &str, message: &str) {
        self.objects().refuse_start.insert(service.into(), message.into());
    }

    /// Stops wait at the returned gate until it is notified (`notify_one` lets one through).
    pub fn hold_stops(&self) -> Arc<Notify> {
        let gate = Arc::new(Notify::new());
        self.objects().stop_gate = Some(gate.clone());
        gate
    }

    /// The container of `service` exits with `code` by itself, as a crash would; an exit
    /// event follows.
    pub fn crash(&self, service: &str, code: i64) {
        let mut deployment = None;
        for c in self.objects().containers.values_mut().filter(|c| c.service == service) {
            c.status = ContainerStatus::Exited;
            c.exit_code = Some(code);
            deployment = Some(c.deployment.clone());
        }
        self.event(deployment, service, "die", Some(code.to_string()));
    }

    /// Removes the container of `service` behind Hoster's back; an event follows.
    pub fn remove_behind_hosters_back(&self, service: &str) {
        let mut deployment = None;
        self.objects().containers.retain(|_, c| {
            if c.service == service {
                deployment = Some(c.deployment.clone());
            }
            c.service != service
        });
        self.event(deployment, service, "destroy", None);
    }

    fn event(&self, deployment: Option<String>, service: &str, action: &str, exit_code: Option<String>) {
        let _ = self.events.send(super::ContainerEvent {
            deployment,
            service: Some(service.to_string()),
            action: action.to_string(),
            exit_code,
        });
    }

    pub fn network_names(&self) -> Vec<String> {
        self.objects().networks.keys().cloned().collect()
    }

    fn record(&self, verb: &str, name: &str) {
        let mut objects = self.objects();
        let service = objects
            .containers
            .get(name)
            .map_or_else(|| name.to_string(), |c| c.service.clone());
        objects.calls.push(format!("{verb} {service}"));
    }
}

#[async_trait::async_trait]
impl Runtime for FakeEngine {
    fn instance(&self) -> &str {
        "fake"
    }

    async fn ping(&self, _timeout: Duration) -> Result<(), EngineError> {
        Ok(())
    }

    async fn ensure_image(&self, image: &str, report: super::PullReport<'_>) -> Result<(), EngineError> {
        if self.objects().images.insert(image.to_string()) {
            for current in [0, 50, 100] {
                report(super::Pulled { current, total: 100 });
            }
        }
        Ok(())
    }

    async fn ensure_network(&self, spec: &ObjectSpec) -> Result<(), EngineError> {
        self.objects().networks.insert(spec.name.clone(), owned(spec));
        Ok(())
    }

    async fn ensure_volume(&self, spec: &ObjectSpec) -> Result<(), EngineError> {
        self.objects().volumes.insert(spec.name.clone(), owned(spec));
        Ok(())
    }

    async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        self.objects().networks.remove(name);
        Ok(())
    }

    async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        self.objects().volumes.remove(name);
        Ok(())
    }

    async fn networks(&self, deployment: Option<&DeploymentId>) -> Result<Vec<Owned>, EngineError> {
        Ok(owned_by(&self.objects().networks, deployment))
    }

    async fn volumes(&self, deployment: Option<&DeploymentId>) -> Result<Vec<Owned>, EngineError> {
        Ok(owned_by(&self.objects().volumes, deployment))
    }

    async fn create_container(&self, spec: &ContainerSpec, _network: &str) -> Result<String, EngineError> {
        let mut objects = self.objects();
        if objects.containers.contains_key(&spec.name) {
            return Err(EngineError::Docker(format!(
                "Conflict. The container name \"/{}\" is already in use",
                spec.name
            )));
        }
        objects.containers.insert(
            spec.name.clone(),
            Container {
                deployment: spec.labels.get(labels::DEPLOYMENT).cloned().unwrap_or_default(),
                service: spec.service.clone(),
                revision: spec.labels.get(labels::REVISION).cloned().unwrap_or_default(),
                status: ContainerStatus::Created,
                exit_code: None,
            },
        );
        objects.calls.push(format!("create {}", spec.service));
        Ok(spec.name.clone())
    }

    async fn start_container(&self, name: &str) -> Result<(), EngineError> {
        self.record("start", name);
        let mut objects = self.objects();
        let Some(service) = objects.containers.get(name).map(|c| c.service.clone()) else {
            return Err(EngineError::Docker(format!("No such container: {name}")));
        };
        if let Some(message) = objects.refuse_start.get(&service) {
            return Err(EngineError::Docker(message.clone()));
        }
        let c = objects.containers.get_mut(name).expect("looked up above");
        c.status = ContainerStatus::Running;
        c.exit_code = None;
        Ok(())
    }

    async fn stop_container(&self, name: &str, _timeout: Option<Duration>) -> Result<(), EngineError> {
        let gate = self.objects().stop_gate.clone();
        if let Some(gate) = gate {
            self.stop_entered.notify_one();
            gate.notified().await;
        }
        self.record("stop", name);
        if let Some(c) = self.objects().containers.get_mut(name)
            && c.status == ContainerStatus::Running
        {
            c.status = ContainerStatus::Exited;
            c.exit_code = Some(0);
        }
        Ok(())
    }

    async fn remove_container(&self, name: &str) -> Result<(), EngineError> {
        self.record("remove", name);
        self.objects().containers.remove(name);
        Ok(())
    }

    async fn inspect_container(&self, name: &str) -> Result<Option<ContainerState>, EngineError> {
        Ok(self.objects().containers.get(name).map(|c| ContainerState {
            status: c.status,
            exit_code: c.exit_code.unwrap_or(0),
            oom_killed: false,
            health: Health::None,
            error: None,
        }))
    }

    async fn containers(&self, deployment: Option<&DeploymentId>) -> Result<Vec<ContainerSummary>, EngineError> {
        let objects = self.objects();
        Ok(objects
            .containers
            .iter()
            .filter(|(_, c)| of(deployment, Some(&c.deployment)))
            .map(|(name, c)| ContainerSummary {
                id: name.clone(),
                deployment: c.deployment.clone(),
                service: c.service.clone(),
                revision: c.revision.clone(),
                state: c.status,
                health: Health::None,
                exit_code: c.exit_code.filter(|_| c.status.has_stopped()),
                ports: Vec::new(),
            })
            .collect())
    }

    async fn logs_tail(&self, _name: &str, _lines: usize) -> Result<String, EngineError> {
        Ok(String::new())
    }

    async fn logs(
        &self,
        _name: &str,
        _query: &super::LogQuery,
    ) -> Result<BoxStream<'static, Result<super::RawLine, EngineError>>, EngineError> {
        Ok(futures_util::stream::empty().boxed())
    }

    async fn stats(
        &self,
        _name: &str,
        _stream: bool,
    ) -> Result<BoxStream<'static, Result<super::Usage, EngineError>>, EngineError> {
        Ok(futures_util::stream::once(async { Ok(super::Usage::default()) }).boxed())
    }

    async fn container_events(&self) -> Result<BoxStream<'_, Result<super::ContainerEvent, EngineError>>, EngineError> {
        let receiver = self.events.subscribe();
        Ok(futures_util::stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => return Some((Ok(event), receiver)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .boxed())
    }

    // The fake keeps no file data: what moves in and out of volumes is the real engine's.
    async fn export_volume(
        &self,
        _deployment: &DeploymentId,
        volume: &str,
        _image: &str,
        _out: tokio::sync::mpsc::Sender<bytes::Bytes>,
    ) -> Result<(), EngineError> {
        Err(EngineError::Docker(format!(
            "the fake engine keeps no data for volume {volume}"
        )))
    }

    async fn import_volume(
        &self,
        _deployment: &DeploymentId,
        volume: &str,
        _image: &str,
        _input: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    ) -> Result<(), EngineError> {
        Err(EngineError::Docker(format!(
            "the fake engine keeps no data for volume {volume}"
        )))
    }

    async fn remove_helpers(&self) -> Result<usize, EngineError> {
        Ok(0)
    }

    async fn pause_container(&self, _name: &str) -> Result<(), EngineError> {
        Ok(())
    }

    async fn unpause_container(&self, _name: &str) -> Result<(), EngineError> {
        Ok(())
    }

    async fn exec(&self, name: &str, _command: &[String]) -> Result<(i64, String), EngineError> {
        Err(EngineError::Docker(format!(
            "the fake engine runs no commands (in {name})"
        )))
    }
}
