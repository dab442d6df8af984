//! The lifecycle on a fake engine and a real SQLite file: the orderings Docker will not produce
//! on demand. `tests/api/e2e` runs the same lifecycle against a real engine.

use std::sync::Arc;
use std::time::Duration;

use hoster_core::deployment::Status;
use hoster_core::error_code::ErrorCode;
use hoster_core::id::{DeploymentId, TemplateId};
use hoster_core::template::TemplateSpec;

use super::{DeployError, Deployer, NewDeployment, Settings};
use crate::runtime::fake::FakeEngine;
use crate::store::{DeploymentRecord, Store, TemplateRecord};

/// db, then web once db has started.
const TWO_SERVICES: &str =
    "services:\n  web:\n    image: nginx:alpine\n    depends_on: [db]\n  db:\n    image: redis:alpine\n";

struct World {
    deployer: Arc<Deployer>,
    engine: Arc<FakeEngine>,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("hoster.db")).await.unwrap();
    let engine = FakeEngine::new();
    let settings = Settings {
        base_domain: "localhost".into(),
        port_range: 40000..=40999,
        publish_address: [127, 0, 0, 1].into(),
        start_timeout: Duration::from_secs(5),
        reconcile_interval: Duration::from_secs(3600),
        config_dir: dir.path().join("configs"),
        default_limits: Default::default(),
        max_deployments_per_customer: 10,
        limits: Default::default(),
        public_port: 80,
        own_ports: Vec::new(),
    };
    let deployer = Deployer::new(store.clone(), engine.clone(), settings);
    World {
        deployer,
        engine,
        store,
        _dir: dir,
    }
}

impl World {
    async fn deployment(&self, compose: &str) -> DeploymentRecord {
        self.deployment_with(compose, Vec::new()).await
    }

    async fn deployment_with(
        &self,
        compose: &str,
        variables: Vec<hoster_core::variables::Variable>,
    ) -> DeploymentRecord {
        let now = crate::clock::now();
        let template = TemplateRecord {
            id: TemplateId::from_random(rand::random()),
            spec: TemplateSpec {
                name: "two".into(),
                slug: format!("two-{}", rand::random::<u32>()),
                version: "1.0.0".into(),
                description: String::new(),
                creator_id: "creator".into(),
                compose_spec: compose.into(),
                config_files: Vec::new(),
                variables,
                price_monthly: 0,
                category: None,
                tags: Vec::new(),
            },
            published: true,
            trusted: false,
            deprecated: None,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_template(&template).await.unwrap();
        self.deployer
            .create(NewDeployment {
                template_id: template.id.to_string(),
                customer_id: "customer".into(),
                name: "app".into(),
                variables: Default::default(),
            })
            .await
            .unwrap()
    }

    async fn status(&self, id: &DeploymentId) -> (Status, Option<String>) {
        let d = self.store.get_deployment(id).await.unwrap().unwrap();
        (d.status, d.error_message)
    }

    /// The deployment's status changes (its `state` rows).
    async fn history(&self, id: &DeploymentId) -> Vec<Status> {
        let filter = crate::store::EventFilter {
            deployment: Some(id),
            limit: 1000,
            ..Default::default()
        };
        let rows = self.store.events(&filter).await.unwrap();
        rows.into_iter()
            .filter(|e| e.kind == crate::store::EventKind::State)
            .map(|e| e.to)
            .collect()
    }

    fn services_on_engine(&self) -> Vec<String> {
        let containers =
            futures_util::FutureExt::now_or_never(crate::runtime::Runtime::containers(&*self.engine, None))
                .unwrap()
                .unwrap();
        let mut services: Vec<String> = containers.into_iter().map(|c| c.service).collect();
        services.sort();
        services
    }

    fn running_services(&self) -> Vec<String> {
        let containers =
            futures_util::FutureExt::now_or_never(crate::runtime::Runtime::containers(&*self.engine, None))
                .unwrap()
                .unwrap();
        containers
            .into_iter()
            .filter(|c| c.state == crate::runtime::ContainerStatus::Running)
            .map(|c| c.service)
            .collect()
    }
}

#[tokio::test]
async fn an_engine_error_in_the_middle_of_a_start_fails_it_and_leaves_nothing_running() {
    let w = world().await;
    let d = w.deployment(TWO_SERVICES).await;
    w.engine.refuse_start(
        "web",
        "OCI runtime create failed: /var/lib/docker/overlay2/x: permission denied",
    );

    let err = w.deployer.start(&d.id, true).await.unwrap_err();
    let DeployError::Failed { code, message } = err else {
        panic!("expected a failed start, got {err:?}")
    };
    assert_eq!(code, ErrorCode::RuntimeError);
    assert_eq!(
        message, "the container runtime could not start the container",
        "no host paths"
    );
    assert_eq!(
        w.engine.calls(),
        ["create db", "create web", "start db", "start web", "stop db",],
        "web is started only after db, and db is stopped once web fails"
    );
    assert!(w.running_services().is_empty(), "the started db is stopped again");
    assert_eq!(w.services_on_engine(), ["db", "web"], "kept for their output");
    assert!(w.engine.network_names().is_empty(), "the network is removed");
    assert_eq!(w.status(&d.id).await, (Status::Failed, Some(message)));
    assert_eq!(
        w.history(&d.id).await,
        [Status::Pending, Status::Scheduled, Status::Starting, Status::Failed]
    );

    // The next start does not reuse containers whose network is gone.
    w.deployer.start(&d.id, true).await.unwrap_err();
    let calls = w.engine.calls();
    assert_eq!(calls[5..8], ["remove db", "remove web", "create db"], "{calls:?}");
}

#[tokio::test]
async fn a_container_dying_while_a_stop_waits_ends_stopped_not_failed() {
    let w = world().await;
    let d = w.deployment(TWO_SERVICES).await;
    w.deployer.start(&d.id, true).await.unwrap();
    let gate = w.engine.hold_stops();

    let stopping = tokio::spawn({
        let deployer = w.deployer.clone();
        let id = d.id.clone();
        async move { deployer.stop(&id, true).await }
    });
    w.engine.stop_entered.notified().await;
    // web is being stopped; db crashes meanwhile and the engine reports it.
    w.engine.crash("db", 137);
    assert_eq!(
        w.deployer.reconcile().await.unwrap(),
        0,
        "a deployment under an operation is left to it"
    );
    assert_eq!(w.status(&d.id).await.0, Status::Stopping);
    gate.notify_one();
    w.engine.stop_entered.notified().await;
    gate.notify_one();

    let stopped = stopping.await.unwrap().unwrap();
    assert_eq!(stopped.status, Status::Stopped);
    w.deployer.reconcile().await.unwrap();
    assert_eq!(
        w.status(&d.id).await,
        (Status::Stopped, None),
        "a stopped deployment may have exited containers"
    );
    assert_eq!(w.engine.calls()[4..], ["stop web", "stop db"], "reverse start order");
}

#[tokio::test]
async fn a_restart_reuses_the_containers_a_stop_left() {
    let w = world().await;
    let d = w.deployment(TWO_SERVICES).await;
    w.deployer.start(&d.id, true).await.unwrap();
    w.deployer.stop(&d.id, true).await.unwrap();
    w.deployer.start(&d.id, true).await.unwrap();
    let creates = w.engine.calls().iter().filter(|c| c.starts_with("create")).count();
    assert_eq!(creates, 2, "one container per service, ever: {:?}", w.engine.calls());
    assert_eq!(w.status(&d.id).await.0, Status::Running);
}

#[tokio::test]
async fn new_values_make_new_containers_at_the_next_start() {
    let w = world().await;
    let greeting = hoster_core::variables::Variable {
        name: "GREETING".into(),
        default: Some("hello".into()),
        ..Default::default()
    };
    let d = w
        .deployment_with(
            "services:\n  web:\n    image: nginx:alpine\n    environment:\n      G: ${GREETING}\n",
            vec![greeting],
        )
        .await;
    w.deployer.start(&d.id, true).await.unwrap();
    w.deployer.stop(&d.id, true).await.unwrap();
    let given = serde_json::json!({"GREETING": "bonjour"});
    w.deployer
        .update_variables(&d.id, given.as_object().unwrap())
        .await
        .unwrap();
    w.deployer.start(&d.id, true).await.unwrap();
    let creates = w.engine.calls().iter().filter(|c| c.starts_with("create")).count();
    assert_eq!(
        creates,
        2,
        "the stopped container was made with the old value: {:?}",
        w.engine.calls()
    );
}

#[tokio::test]
async fn an_exit_event_makes_the_reconciler_fail_a_running_deployment_at_once() {
    let w = world().await;
    let crashed = w.deployment(TWO_SERVICES).await;
    w.deployer.start(&crashed.id, true).await.unwrap();
    // The tick is an hour: only the event can make this happen within the test.
    let reconciler = tokio::spawn(w.deployer.clone().reconcile_forever());
    let watcher = tokio::spawn(w.deployer.clone().watch_engine_events());
    tokio::time::sleep(Duration::from_millis(100)).await;

    w.engine.crash("web", 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while w.status(&crashed.id).await.0 == Status::Running {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the exit event did not trigger a reconcile pass"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    reconciler.abort();
    watcher.abort();
    assert_eq!(
        w.status(&crashed.id).await,
        (Status::Failed, Some("service `web` exited with code 1".into()))
    );
    assert!(
        w.running_services().is_empty(),
        "a failed deployment stops its containers"
    );
    assert_eq!(w.services_on_engine().len(), 2, "and keeps them for their output");
}

#[tokio::test]
async fn reconcile_fails_a_deployment_whose_container_vanished_and_rolls_back_interrupted_starts() {
    let w = world().await;
    let vanished = w.deployment(TWO_SERVICES).await;
    w.deployer.start(&vanished.id, true).await.unwrap();
    w.engine.remove_behind_hosters_back("db");

    // A start a crash of Hoster interrupted: the row says `starting`, nobody holds its lock.
    let interrupted = w.deployment("services:\n  job:\n    image: busybox\n").await;
    let now = crate::clock::now();
    for (from, to) in [
        (Status::Pending, Status::Scheduled),
        (Status::Scheduled, Status::Starting),
    ] {
        assert!(w.store.transition(&interrupted.id, from, to, None, &now).await.unwrap());
    }

    assert_eq!(w.deployer.reconcile().await.unwrap(), 0);
    assert_eq!(
        w.status(&vanished.id).await,
        (
            Status::Failed,
            Some("the container of service `db` was removed outside Hoster".into())
        )
    );
    assert_eq!(
        w.status(&interrupted.id).await,
        (
            Status::Failed,
            Some("the start was interrupted by a restart of Hoster; start it again".into())
        )
    );
    assert!(w.running_services().is_empty());
    assert_eq!(w.services_on_engine(), ["web"], "stopped, kept for its output");
}

#[tokio::test]
async fn a_delete_removes_running_containers_without_a_graceful_stop() {
    let w = world().await;
    let d = w.deployment(TWO_SERVICES).await;
    w.deployer.start(&d.id, true).await.unwrap();
    w.deployer.delete(&d.id).await.unwrap();
    let calls = w.engine.calls();
    assert!(!calls.iter().any(|c| c.starts_with("stop")), "{calls:?}");
    assert_eq!(calls.iter().filter(|c| c.starts_with("remove")).count(), 2, "{calls:?}");
    assert!(w.services_on_engine().is_empty());
    assert!(w.store.get_deployment(&d.id).await.unwrap().is_none());
}

#[tokio::test]
async fn a_delete_interrupted_half_way_is_finished_by_the_reconciler() {
    let w = world().await;
    let d = w.deployment(TWO_SERVICES).await;
    w.deployer.start(&d.id, true).await.unwrap();
    // What a crash right after the delete began leaves: the request recorded, the state
    // `stopping`, the containers still there.
    w.store.request_delete(&d.id).await.unwrap();
    let now = crate::clock::now();
    assert!(
        w.store
            .transition(&d.id, Status::Running, Status::Stopping, None, &now)
            .await
            .unwrap()
    );
    assert!(!w.services_on_engine().is_empty());
    w.deployer.reconcile().await.unwrap();
    assert!(w.store.get_deployment(&d.id).await.unwrap().is_none());
    assert!(w.services_on_engine().is_empty());
}

#[tokio::test]
async fn a_start_publishes_each_services_phases_in_order_then_clears_them() {
    use hoster_core::deployment::Phase;
    let w = world().await;
    let d = w.deployment(TWO_SERVICES).await;
    let mut updates = w.deployer.progress().subscribe();
    w.deployer.start(&d.id, true).await.unwrap();
    assert_eq!(w.deployer.progress().of(&d.id), None, "nothing once it runs");

    let mut seen: std::collections::BTreeMap<String, Vec<Phase>> = Default::default();
    let mut last = None;
    while let Ok(u) = updates.try_recv() {
        assert_eq!((&u.deployment, u.customer_id.as_str()), (&d.id, "customer"));
        for (service, p) in &u.services {
            let phases = seen.entry(service.clone()).or_default();
            if phases.last() != Some(&p.phase) {
                phases.push(p.phase);
            }
            if p.phase == Phase::Pulling && p.total_bytes.is_some() {
                assert_eq!(p.total_bytes, Some(100), "the fake pulls 100 bytes");
            }
        }
        last = Some(u.services.clone());
    }
    let order = [
        Phase::Pending,
        Phase::Pulling,
        Phase::Creating,
        Phase::Starting,
        Phase::Running,
    ];
    assert_eq!(seen["db"], order);
    assert_eq!(seen["web"], order);
    assert_eq!(last, Some(Default::default()), "the last update says it is over");
}

#[tokio::test]
async fn an_upgrade_cut_short_by_a_crash_is_rolled_back_by_the_next_reconcile() {
    let w = world().await;
    let d = w.deployment(TWO_SERVICES).await;
    w.deployer.start(&d.id, true).await.unwrap();
    let v1 = w.store.get_template(&d.template_id).await.unwrap().unwrap();
    let now = crate::clock::now();
    let mut spec = v1.spec.clone();
    spec.version = "1.1.0".into();
    spec.compose_spec = TWO_SERVICES.replace("nginx:alpine", "nginx:2");
    let v2 = TemplateRecord {
        id: TemplateId::from_random(rand::random()),
        spec,
        created_at: now,
        updated_at: now,
        ..v1.clone()
    };
    w.store.insert_template(&v2).await.unwrap();
    let values = w.store.deployment_values(&d.id).await.unwrap();
    // The upgrade got as far as the database, then Hoster was killed.
    let past = w
        .store
        .begin_upgrade(&d.id, &v2.id, &values, "from 1.0.0 to 1.1.0", &now)
        .await
        .unwrap();
    assert!(past.is_some());
    assert_eq!(w.status(&d.id).await.0, Status::Upgrading);

    let restarted = Deployer::new(w.store.clone(), w.engine.clone(), w.deployer.settings().clone());
    assert_eq!(restarted.reconcile().await.unwrap(), 0);
    let after = w.store.get_deployment(&d.id).await.unwrap().unwrap();
    assert_eq!(after.status, Status::Running);
    assert_eq!(after.template_id, v1.id, "back on the version it ran");
    assert!(
        after.error_message.as_deref().unwrap_or("").starts_with("rolled_back:"),
        "{:?}",
        after.error_message
    );
    assert!(
        w.store.past_versions(&d.id).await.unwrap().is_empty(),
        "nothing left to roll back to"
    );
    let mut running = w.running_services();
    running.sort();
    assert_eq!(running, ["db", "web"]);
    let history = w.history(&d.id).await;
    assert!(
        history.ends_with(&[Status::Running, Status::Upgrading, Status::Running]),
        "{history:?}"
    );
}

#[tokio::test]
async fn an_upgrade_takes_new_required_values_and_drops_the_ones_no_longer_declared() {
    use hoster_core::variables::Variable;
    let w = world().await;
    let old_var = Variable {
        name: "OLD".into(),
        default: Some("o".into()),
        ..Default::default()
    };
    let d = w
        .deployment_with(
            "services:\n  web:\n    image: nginx:alpine\n    environment:\n      OLD: ${OLD}\n",
            vec![old_var],
        )
        .await;
    w.deployer.start(&d.id, true).await.unwrap();
    let v1 = w.store.get_template(&d.template_id).await.unwrap().unwrap();
    let mut spec = v1.spec.clone();
    spec.version = "2.0.0".into();
    spec.compose_spec = "services:\n  web:\n    image: nginx:alpine\n    environment:\n      NEW: ${NEW}\n".into();
    spec.variables = vec![Variable {
        name: "NEW".into(),
        required: true,
        ..Default::default()
    }];
    let now = crate::clock::now();
    let v2 = TemplateRecord {
        id: TemplateId::from_random(rand::random()),
        spec,
        created_at: now,
        updated_at: now,
        ..v1
    };
    w.store.insert_template(&v2).await.unwrap();
    let old = serde_json::json!({"OLD": "given"}).as_object().unwrap().clone();
    w.deployer.update_variables(&d.id, &old).await.unwrap();

    let refused = w
        .deployer
        .upgrade(&d.id, v2.id.as_str(), &Default::default(), true)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, DeployError::Invalid(p) if p.to_string().contains("NEW")),
        "a new required variable must be given: {refused:?}"
    );
    let given = serde_json::json!({"NEW": "n"}).as_object().unwrap().clone();
    let (after, upgrade) = w.deployer.upgrade(&d.id, v2.id.as_str(), &given, false).await.unwrap();
    assert_eq!(after.status, Status::Running);
    assert_eq!(upgrade.dropped_variables, ["OLD"]);
    let values = w.store.deployment_values(&d.id).await.unwrap();
    assert_eq!(values.keys().collect::<Vec<_>>(), ["NEW"]);
    // Rolling back brings the old value back.
    w.deployer.rollback(&d.id, false).await.unwrap();
    let values = w.store.deployment_values(&d.id).await.unwrap();
    assert_eq!(values["OLD"].value, "given");
}
