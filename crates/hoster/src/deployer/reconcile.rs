//! Keeping the database and the engine in agreement, kube-controller style: an idempotent pass
//! that runs at start-up, on every tick, and whenever the engine reports a container dying.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::StreamExt;
use hoster_core::deployment::{Failure, Observed, Status, running_failure};
use tokio::time::{Duration, sleep};

use super::{DeployError, Deployer};
use crate::runtime::ContainerSummary;
use crate::store::{DeploymentRecord, EventKind};
use hoster_core::id::DeploymentId;

impl Deployer {
    /// Reconciles now, then on every tick or nudge, forever. Abort the task to stop it.
    pub async fn reconcile_forever(self: Arc<Self>) {
        // Objects and deployments passes could not bring in line, since start: in each warning.
        let mut total_failures = 0;
        loop {
            match self.reconcile().await {
                Ok(0) => {}
                Ok(failures) => {
                    total_failures += failures;
                    tracing::warn!(failures, total_failures, "reconcile pass left work for the next one");
                }
                Err(e) => tracing::warn!(error = %e, "reconcile pass failed; retrying at the next tick"),
            }
            tokio::select! {
                _ = sleep(self.settings.reconcile_interval) => {}
                _ = self.reconcile_now.notified() => {}
            }
        }
    }

    /// Writes what the engine says Hoster's containers did into their deployments' history, and
    /// nudges the reconciler whenever one dies or vanishes, so a crash is noticed in well under
    /// a tick. Reconnects if the engine goes away.
    pub async fn watch_engine_events(self: Arc<Self>) {
        loop {
            if let Ok(mut events) = self.engine.container_events().await {
                while let Some(event) = events.next().await {
                    match event {
                        Ok(event) => {
                            if event.ends_a_container() {
                                self.nudge();
                            }
                            if let Some(id) = event.deployment.as_deref().and_then(DeploymentId::parse)
                                && let Err(e) = self
                                    .store
                                    .note(&id, EventKind::Container, &event.describe(), &crate::clock::now())
                                    .await
                            {
                                tracing::warn!(deployment = %id, error = %e, "cannot record a container event");
                            }
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "engine event stream ended");
                            break;
                        }
                    }
                }
            }
            sleep(Duration::from_secs(1)).await;
        }
    }

    /// One pass: remove engine objects no deployment owns, finish or roll back operations a
    /// crash interrupted, and fail running deployments whose containers died or vanished.
    /// Answers how many objects or deployments it could not bring in line (each is logged).
    pub async fn reconcile(&self) -> Result<usize, DeployError> {
        // Engine first, database second: an object created after this listing belongs to a row
        // that the database read below already sees, so it is never mistaken for an orphan.
        let containers = self.engine.containers(None).await?;
        let networks = self.engine.networks(None).await?;
        let volumes = self.engine.volumes(None).await?;
        let deployments = self.store.all_deployments().await?;
        let known: HashSet<&str> = deployments.iter().map(|d| d.id.as_str()).collect();

        // Level-triggered: an object that will not go (in use, engine hiccup) is logged and
        // counted, and the pass goes on; the next pass tries it again.
        let mut failures = 0;
        let mut removed = |kind: &str, name: &str, result: Result<(), crate::runtime::EngineError>| match result {
            Ok(()) => tracing::info!(kind, name, "removed orphaned engine object"),
            Err(e) => {
                failures += 1;
                tracing::warn!(kind, name, error = %e, "cannot remove orphaned engine object; trying again next pass");
            }
        };
        for c in containers.iter().filter(|c| !known.contains(c.deployment.as_str())) {
            removed("container", &c.id, self.engine.remove_container(&c.id).await);
        }
        for n in networks
            .iter()
            .filter(|n| !n.deployment.as_deref().is_some_and(|d| known.contains(d)))
        {
            removed("network", &n.name, self.engine.remove_network(&n.name).await);
        }
        for v in volumes
            .iter()
            .filter(|v| !v.deployment.as_deref().is_some_and(|d| known.contains(d)))
        {
            removed("volume", &v.name, self.engine.remove_volume(&v.name).await);
        }

        for d in &deployments {
            // A deployment with an operation under way is that operation's business.
            let Ok(guard) = self.lock_for(&d.id).try_lock_owned() else {
                continue;
            };
            let Some(mut d) = self.store.get_deployment(&d.id).await? else {
                continue;
            };
            let mine: Vec<&ContainerSummary> = containers.iter().filter(|c| c.deployment == d.id.as_str()).collect();
            let status = d.status;
            let result = self.reconcile_one(&mut d, &mine).await;
            if d.status != status || d.delete_requested {
                crate::metrics::global().reconcile_findings.inc();
            }
            drop(guard);
            if d.delete_requested && result.is_ok() {
                self.forget_lock(&d.id);
            }
            if let Err(e) = result {
                failures += 1;
                tracing::warn!(deployment = %d.id, error = %e, "cannot reconcile deployment");
            }
        }
        crate::metrics::global().reconcile_passes.inc();
        Ok(failures)
    }

    async fn reconcile_one(
        &self,
        d: &mut DeploymentRecord,
        containers: &[&ContainerSummary],
    ) -> Result<(), DeployError> {
        // A delete a crash interrupted: finish it (its graceful stop was already attempted).
        if d.delete_requested
            && matches!(
                d.status,
                Status::Pending | Status::Stopping | Status::Stopped | Status::Failed | Status::Deleting
            )
        {
            return self.walk_to_deleted(d).await;
        }
        match d.status {
            Status::Scheduled | Status::Starting => {
                // Only a crash leaves these behind an unlocked deployment: roll the start back.
                if d.status == Status::Scheduled {
                    self.step(d, Status::Starting, None).await?;
                }
                self.tear_down(&d.id).await?;
                self.step(
                    d,
                    Status::Failed,
                    Some("the start was interrupted by a restart of Hoster; start it again"),
                )
                .await
            }
            Status::Stopping => self.finish_stop(d).await,
            Status::Upgrading => self.undo_interrupted_upgrade(d).await,
            Status::Deleting => self.walk_to_deleted(d).await,
            Status::Running => self.check_running(d, containers).await,
            Status::Pending | Status::Stopped | Status::Failed | Status::Deleted => Ok(()),
        }
    }

    /// A running deployment whose container vanished, or exited with an error and is not being
    /// restarted by its policy, has failed: record why and remove what is left.
    async fn check_running(
        &self,
        d: &mut DeploymentRecord,
        containers: &[&ContainerSummary],
    ) -> Result<(), DeployError> {
        let compose = self.instance_of(d).await?.compose;
        let observed: Vec<Observed> = containers
            .iter()
            .map(|c| Observed {
                service: &c.service,
                stopped: c.state.has_stopped(),
                exit_code: c.exit_code,
            })
            .collect();
        let reason = match running_failure(compose.services.iter().map(|s| s.name.as_str()), &observed) {
            None => None,
            Some(Failure::Vanished { service }) => Some(format!(
                "the container of service `{service}` was removed outside Hoster"
            )),
            Some(Failure::Exited { service, container }) => {
                Some(self.describe_exit(service, &containers[container].id).await)
            }
        };
        let Some(reason) = reason else { return Ok(()) };
        tracing::warn!(deployment = %d.id, %reason, "deployment failed");
        self.tear_down(&d.id).await?;
        self.step(d, Status::Failed, Some(&reason)).await
    }
}
