//! Moving a running deployment to another version of its template: only the containers whose
//! definition changes are replaced, in dependency order; named volumes, the hostname and the
//! host ports of container ports both versions publish stay. A version that does not come up
//! is undone at once, and a crash in the middle is undone by the reconciler.

use std::collections::{BTreeSet, HashSet};

use futures_util::future::try_join_all;
use hoster_core::deployment::{Phase, Status};
use hoster_core::id::{DeploymentId, TemplateId};
use hoster_core::plan::{self, Change, Plan, ServiceChange};
use hoster_core::problem::{Problem, Problems};
use hoster_core::variables::{self, Values};

use std::time::Instant;
use tokio::time::{Duration, sleep};

use super::execute::{Instance, POLL, failed};
use super::progress::Tracker;
use super::{DeployError, Deployer, os_random};
use crate::clock;
use crate::runtime::Health;
use crate::store::{DeploymentRecord, EventKind, TemplateRecord};

/// How long the new containers of an upgrade must keep running before it counts as done.
const SETTLE: Duration = Duration::from_secs(2);

/// Past versions a deployment keeps (for `rollback`); older ones are forgotten.
const KEPT_VERSIONS: usize = 10;

/// What an upgrade or rollback does, or (dry run) would do.
#[derive(Debug, Clone)]
pub struct Upgrade {
    pub from_version: String,
    pub to_version: String,
    /// Every service of either version, in the target's start order.
    pub changes: Vec<ServiceChange>,
    /// Values of variables the target version no longer declares, dropped.
    pub dropped_variables: Vec<String>,
}

/// Where a deployment moves: a version and its values.
struct Move {
    target: TemplateRecord,
    values: Values,
    /// Variables whose values were dropped (the target does not declare them).
    dropped: Vec<String>,
    /// The past version this returns to (a rollback), forgotten once it runs again.
    past: Option<i64>,
}

fn invalid(field: &str, message: String) -> DeployError {
    DeployError::Invalid(Problems(vec![Problem::field(field, message)]))
}

impl Deployer {
    /// Upgrades a running deployment to `template_id`, another published, non-deprecated
    /// version of its template's product, with `given` laid over the values it keeps (those
    /// the new version declares). `dry_run` answers what would change and changes nothing.
    pub async fn upgrade(
        &self,
        id: &DeploymentId,
        template_id: &str,
        given: &serde_json::Map<String, serde_json::Value>,
        dry_run: bool,
    ) -> Result<(DeploymentRecord, Upgrade), DeployError> {
        crate::metrics::timed("upgrade", async {
            let _guard = self.lock(id).await;
            let mut d = self.running(id, "upgrade").await?;
            let current = self.template_of(&d.template_id).await?;
            let target =
                TemplateId::parse(template_id).ok_or_else(|| DeployError::TemplateNotFound(template_id.to_string()))?;
            let target = self.template_of(&target).await?;
            if target.id == current.id {
                return Err(invalid(
                    "template_id",
                    "the deployment runs this version already".into(),
                ));
            }
            if (&target.spec.creator_id, &target.spec.slug) != (&current.spec.creator_id, &current.spec.slug) {
                return Err(invalid(
                    "template_id",
                    format!("`{}` is not a version of `{}`", target.id, current.spec.slug),
                ));
            }
            if !target.published {
                return Err(DeployError::TemplateNotPublished(target.id.to_string()));
            }
            if let Some((message, _)) = &target.deprecated {
                return Err(DeployError::TemplateDeprecated {
                    id: target.id.to_string(),
                    message: message.clone(),
                });
            }
            let declared: HashSet<&str> = target.spec.variables.iter().map(|v| v.name.as_str()).collect();
            let (kept, dropped): (Values, Values) = self
                .store
                .deployment_values(&d.id)
                .await?
                .into_iter()
                .partition(|(name, _)| declared.contains(name.as_str()));
            let values = variables::assign(&target.spec.variables, given, &kept, &mut os_random)
                .map_err(|p| DeployError::Invalid(Problems(p)))?;
            let dropped = dropped.into_keys().collect();
            let to = Move {
                target,
                values,
                dropped,
                past: None,
            };
            let outcome = self.move_to(&mut d, &current, to, dry_run).await?;
            Ok((d, outcome))
        })
        .await
    }

    /// Returns a running deployment to the version it ran before its current one (template
    /// and values), on the same terms as an upgrade.
    pub async fn rollback(&self, id: &DeploymentId, dry_run: bool) -> Result<(DeploymentRecord, Upgrade), DeployError> {
        crate::metrics::timed("rollback", async {
            let _guard = self.lock(id).await;
            let mut d = self.running(id, "roll back").await?;
            let Some(past) = self.store.past_versions(&d.id).await?.pop() else {
                return Err(DeployError::InvalidTransition {
                    action: "roll back (it has run no other version)",
                    status: d.status,
                });
            };
            let current = self.template_of(&d.template_id).await?;
            let target = self.template_of(&past.template_id).await?;
            let values = self.store.past_values(&d.id, past.seq).await?;
            let to = Move {
                target,
                values,
                dropped: Vec::new(),
                past: Some(past.seq),
            };
            let outcome = self.move_to(&mut d, &current, to, dry_run).await?;
            Ok((d, outcome))
        })
        .await
    }

    /// Moves `d` from `current` to another version.
    async fn move_to(
        &self,
        d: &mut DeploymentRecord,
        current: &TemplateRecord,
        Move {
            target,
            values,
            dropped,
            past,
        }: Move,
        dry_run: bool,
    ) -> Result<Upgrade, DeployError> {
        let (old_plan, _, old_ports) = self.plan_for(d, None).await?;
        let to: Instance = self.instantiate(target, &values, d, true)?;
        let (_, new_ports) = self.choose_ports(&d.id, &to.compose, &BTreeSet::new()).await?;
        let new_plan = self.plan_with(d, &to, &new_ports)?;
        let outcome = Upgrade {
            from_version: current.spec.version.clone(),
            to_version: to.template.spec.version.clone(),
            changes: plan::changes(&old_plan, &new_plan),
            dropped_variables: dropped,
        };
        if dry_run {
            return Ok(outcome);
        }
        let (from, to_version) = (&outcome.from_version, &outcome.to_version);
        let now = clock::now();
        let Some(seq) = self
            .store
            .begin_upgrade(
                &d.id,
                &to.template.id,
                &values,
                &format!("from {from} to {to_version}"),
                &now,
            )
            .await?
        else {
            return Err(DeployError::InvalidTransition {
                action: "upgrade",
                status: self.load(&d.id).await?.status,
            });
        };
        d.status = Status::Upgrading;
        d.template_id = to.template.id.clone();
        d.error_message = None;
        d.updated_at = now;
        self.forget_old_versions(&d.id).await;
        if new_ports != old_ports {
            self.store.set_port_assignments(&d.id, &new_ports).await?;
        }
        let went = {
            let tracker = self.progress.track(d);
            self.replace(d, &old_plan, &new_plan, &outcome.changes, &tracker).await
        };
        let Err(e) = went else {
            if let Some(past) = past {
                self.store.forget_version(past).await?;
            }
            self.step(d, Status::Running, None).await?;
            let done = format!("upgraded from {from} to {to_version}: {}", summary(&outcome));
            self.store.note(&d.id, EventKind::Action, &done, &clock::now()).await?;
            return Ok(outcome);
        };
        // The new version did not come up: back to the one it ran.
        let (_, reason) = e.public_failure();
        tracing::warn!(deployment = %d.id, error = %e, "upgrade failed; rolling back");
        self.store.restore_version(&d.id, seq).await?;
        self.store.set_port_assignments(&d.id, &old_ports).await?;
        d.template_id = current.id.clone();
        let back = {
            let tracker = self.progress.track(d);
            let undo = plan::changes(&new_plan, &old_plan);
            self.replace(d, &new_plan, &old_plan, &undo, &tracker).await
        };
        match back {
            Ok(()) => {
                let message = format!("rolled_back: the move from {from} to {to_version} failed: {reason}");
                self.step(d, Status::Running, Some(&message)).await?;
                self.store
                    .note(&d.id, EventKind::Action, &message, &clock::now())
                    .await?;
                Err(DeployError::RolledBack(message))
            }
            Err(again) => {
                let (code, second) = again.public_failure();
                let message =
                    format!("the move from {from} to {to_version} failed ({reason}), and so did going back: {second}");
                self.tear_down(&d.id).await?;
                self.step(d, Status::Failed, Some(&message)).await?;
                Err(DeployError::Failed { code, message })
            }
        }
    }

    /// Replaces the containers `changes` names, from `from`'s to `to`'s: what goes is stopped
    /// and removed (dependents first), what comes is created and started in dependency order;
    /// the others keep running.
    async fn replace(
        &self,
        d: &DeploymentRecord,
        from: &Plan,
        to: &Plan,
        changes: &[ServiceChange],
        tracker: &Tracker<'_>,
    ) -> Result<(), DeployError> {
        let of = |kinds: &[Change]| -> BTreeSet<&str> {
            changes
                .iter()
                .filter(|c| kinds.contains(&c.change))
                .map(|c| c.service.as_str())
                .collect()
        };
        let coming = of(&[Change::Replaced, Change::Added]);
        let going = of(&[Change::Replaced, Change::Removed]);
        tracker.set(coming.iter().copied(), Phase::Pending);
        let images: BTreeSet<&str> = to
            .containers()
            .filter(|c| coming.contains(c.service.as_str()))
            .map(|c| c.image.as_str())
            .collect();
        try_join_all(images.into_iter().map(|image| self.pull(to, image, tracker))).await?;
        for wave in from.waves.iter().rev() {
            try_join_all(
                wave.iter()
                    .filter(|c| going.contains(c.service.as_str()))
                    .map(|c| async {
                        self.engine.stop_container(&c.name, None).await?;
                        self.engine.remove_container(&c.name).await
                    }),
            )
            .await?;
        }
        self.engine.ensure_network(&to.network).await?;
        for volume in &to.volumes {
            self.engine.ensure_volume(volume).await?;
        }
        self.keep_config_copies(&d.id, to).await;
        tracker.set(coming.iter().copied(), Phase::Creating);
        for wave in &to.waves {
            let new = wave.iter().filter(|c| coming.contains(c.service.as_str()));
            try_join_all(new.map(|c| self.engine.create_container(c, &to.network.name))).await?;
        }
        for wave in &to.waves {
            let new = wave.iter().filter(|c| coming.contains(c.service.as_str()));
            try_join_all(new.map(|c| self.start_when_ready(to, c, tracker))).await?;
        }
        self.check_started(to).await?;
        self.settle(to, &coming).await
    }

    /// Whether the new containers came up: none exits with an error or turns unhealthy for
    /// [`SETTLE`], and those with a healthcheck pass it within the start timeout. A start
    /// returns at once; an upgrade waits this long because it has a running version to go
    /// back to.
    async fn settle(&self, to: &Plan, coming: &BTreeSet<&str>) -> Result<(), DeployError> {
        let began = Instant::now();
        loop {
            let mut waiting = None;
            for c in to.containers().filter(|c| coming.contains(c.service.as_str())) {
                let Some(state) = self.engine.inspect_container(&c.name).await? else {
                    return Err(failed(format!("the container of service `{}` vanished", c.service)));
                };
                if state.status.has_stopped() && (state.exit_code != 0 || state.oom_killed) {
                    return Err(failed(self.describe_exit(&c.service, &c.name).await));
                }
                match state.health {
                    Health::Unhealthy => return Err(failed(format!("service `{}` is unhealthy", c.service))),
                    Health::Starting => waiting = Some(c.service.as_str()),
                    Health::None | Health::Healthy => {}
                }
            }
            match waiting {
                None if began.elapsed() >= SETTLE => return Ok(()),
                Some(service) if began.elapsed() > self.settings.start_timeout => {
                    return Err(failed(format!(
                        "service `{service}` did not become healthy within {}s",
                        self.settings.start_timeout.as_secs()
                    )));
                }
                _ => sleep(POLL).await,
            }
        }
    }

    /// Keeps the last [`KEPT_VERSIONS`] past versions; failing to forget one only warns.
    async fn forget_old_versions(&self, id: &DeploymentId) {
        let Ok(past) = self.store.past_versions(id).await else {
            return;
        };
        for old in past.iter().take(past.len().saturating_sub(KEPT_VERSIONS)) {
            if let Err(e) = self.store.forget_version(old.seq).await {
                tracing::warn!(deployment = %id, error = %e, "cannot forget an old version");
            }
        }
    }

    /// After a crash in the middle of an upgrade: back to the version it ran before (a
    /// fresh start of it: the containers may be of either version).
    pub(super) async fn undo_interrupted_upgrade(&self, d: &mut DeploymentRecord) -> Result<(), DeployError> {
        if let Some(past) = self.store.past_versions(&d.id).await?.pop() {
            self.store.restore_version(&d.id, past.seq).await?;
            d.template_id = past.template_id;
        }
        self.remove_containers(&d.id).await?;
        let ran = {
            let tracker = self.progress.track(d);
            self.run(d, &tracker).await
        };
        match ran {
            Ok(()) => {
                let message = "rolled_back: the upgrade was interrupted by a restart of Hoster";
                self.step(d, Status::Running, Some(message)).await?;
                self.store
                    .note(&d.id, EventKind::Action, message, &clock::now())
                    .await?;
                Ok(())
            }
            Err(e) => {
                let (_, reason) = e.public_failure();
                self.tear_down(&d.id).await?;
                let message =
                    format!("the upgrade was interrupted by a restart of Hoster, and going back failed: {reason}");
                self.step(d, Status::Failed, Some(&message)).await
            }
        }
    }
}

/// `replaced web (image, environment); added worker; removed cache`, or `no container changed`.
fn summary(upgrade: &Upgrade) -> String {
    let parts: Vec<String> = upgrade
        .changes
        .iter()
        .filter_map(|c| match c.change {
            Change::Replaced => Some(format!("replaced {} ({})", c.service, c.reasons.join(", "))),
            Change::Added => Some(format!("added {}", c.service)),
            Change::Removed => Some(format!("removed {}", c.service)),
            Change::Unchanged => None,
        })
        .collect();
    let mut text = if parts.is_empty() {
        "no container changed".to_string()
    } else {
        parts.join("; ")
    };
    if !upgrade.dropped_variables.is_empty() {
        text.push_str(&format!("; values dropped: {}", upgrade.dropped_variables.join(", ")));
    }
    text
}
