use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::compose::{Limits, parse};
use crate::id::RANDOM_BYTES;

fn compose(yaml: &str) -> Compose {
    parse(yaml, &Limits::default()).unwrap()
}

fn ids() -> (DeploymentId, TemplateId) {
    (
        DeploymentId::from_random([1; RANDOM_BYTES]),
        TemplateId::from_random([2; RANDOM_BYTES]),
    )
}

fn assign(c: &Compose, previous: &[PortAssignment], busy: &[u16]) -> Result<Vec<(String, u16, u16)>, PortError> {
    let busy: BTreeSet<u16> = busy.iter().copied().collect();
    let got = assign_ports(c, previous, 30000..=30002, &mut |port, _| busy.contains(&port))?;
    Ok(got
        .into_iter()
        .map(|p| (p.service, p.container_port, p.host_port))
        .collect())
}

#[test]
fn requested_ports_are_honoured_when_free_and_allocated_otherwise() {
    let c = compose("services:\n  web:\n    image: x\n    ports: [\"8080:80\", \"8443:80\", \"9000\"]\n");
    assert_eq!(
        assign(&c, &[], &[]).unwrap(),
        vec![
            ("web".into(), 80, 8080),
            ("web".into(), 80, 8443),
            ("web".into(), 9000, 30000)
        ]
    );
    assert_eq!(
        assign(&c, &[], &[8080, 30000]).unwrap(),
        vec![
            ("web".into(), 80, 30001),
            ("web".into(), 80, 8443),
            ("web".into(), 9000, 30002)
        ],
        "a taken port falls back to the range, skipping taken range ports"
    );
    assert_eq!(
        assign(&c, &[], &[8080, 30000, 30001, 30002]),
        Err(PortError::Exhausted { range: 30000..=30002 })
    );
}

#[test]
fn a_previous_assignment_is_kept_across_restarts() {
    let c = compose("services:\n  web:\n    image: x\n    ports: [\"8080:80\"]\n");
    let previous = [PortAssignment {
        service: "web".into(),
        container_port: 80,
        protocol: Protocol::Tcp,
        host_port: 30002,
    }];
    assert_eq!(assign(&c, &previous, &[]).unwrap(), vec![("web".into(), 80, 30002)]);
    assert_eq!(
        assign(&c, &previous, &[30002]).unwrap(),
        vec![("web".into(), 80, 8080)],
        "unless it was taken meanwhile"
    );
}

#[test]
fn one_container_port_published_twice_keeps_both_previous_ports() {
    let c = compose("services:\n  web:\n    image: x\n    ports: [\"8080:80\", \"8443:80\"]\n");
    let previous = [
        PortAssignment {
            service: "web".into(),
            container_port: 80,
            protocol: Protocol::Tcp,
            host_port: 30001,
        },
        PortAssignment {
            service: "web".into(),
            container_port: 80,
            protocol: Protocol::Tcp,
            host_port: 30002,
        },
    ];
    assert_eq!(
        assign(&c, &previous, &[]).unwrap(),
        vec![("web".into(), 80, 30001), ("web".into(), 80, 30002)]
    );
}

#[test]
fn the_same_host_port_is_never_chosen_twice() {
    let c = compose(
        "services:\n  a:\n    image: x\n    ports: [\"8080:80\"]\n  b:\n    image: x\n    ports: [\"8080:80\"]\n",
    );
    assert_eq!(
        assign(&c, &[], &[]).unwrap(),
        vec![("a".into(), 80, 8080), ("b".into(), 80, 30000)]
    );
}

#[test]
fn the_three_tier_example_plans_in_dependency_order() {
    let c = compose(
        "services:\n  web:\n    image: nginx:alpine\n    ports:\n      - \"8080:80\"\n    depends_on:\n      - api\n  api:\n    image: traefik/whoami\n    depends_on:\n      - db\n  db:\n    image: redis:alpine",
    );
    let (deployment, template) = ids();
    let ports = assign_ports(&c, &[], 30000..=39999, &mut |_, _| false).unwrap();
    let plan = plan(&PlanInput {
        instance: "test",
        deployment: &deployment,
        template: &template,
        compose: &c,
        config_files: &[],
        ports: &ports,
        publish_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        trusted: false,
        policy: &Default::default(),
        default_limits: Resources::default(),
        revision: "r1",
    })
    .unwrap();
    assert_eq!(plan.network.name, format!("hoster_{deployment}"));
    let waves: Vec<Vec<&str>> = plan
        .waves
        .iter()
        .map(|w| w.iter().map(|c| c.service.as_str()).collect())
        .collect();
    assert_eq!(waves, vec![vec!["db"], vec!["api"], vec!["web"]]);
    let web = &plan.waves[2][0];
    assert_eq!(web.name, format!("hoster_{deployment}_web"));
    assert_eq!(web.aliases, ["web"]);
    assert_eq!(
        web.ports,
        vec![PortBinding {
            container_port: 80,
            protocol: Protocol::Tcp,
            host_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            host_port: 8080
        }]
    );
    assert_eq!(
        web.waits_for,
        vec![Wait {
            service: "api".into(),
            container: format!("hoster_{deployment}_api"),
            condition: Condition::Started
        }]
    );
    // A restart reuses what a stop left only when services, specs and host ports are unchanged.
    let made: Vec<(&str, &str)> = plan
        .containers()
        .map(|c| (c.service.as_str(), c.labels[labels::REVISION].as_str()))
        .collect();
    let find = |service: &str| *made.iter().find(|(s, _)| *s == service).unwrap();
    assert!(plan.reuses(&made, &ports, &ports));
    assert!(!plan.reuses(&[], &[], &ports), "first start");
    assert!(
        !plan.reuses(&[find("web"), find("db")], &ports, &ports),
        "a service's container is missing"
    );
    assert!(
        !plan.reuses(&[find("web"), find("db"), find("api"), find("api")], &ports, &ports),
        "a stray second container"
    );
    assert!(
        !plan.reuses(&[find("web"), find("db"), ("old", "0")], &ports, &ports),
        "the template's services changed"
    );
    assert!(
        !plan.reuses(&[find("web"), find("db"), ("api", "0123456789abcdef")], &ports, &ports),
        "a container made with other variable values"
    );
    assert!(
        plan.reuses(&[find("web"), find("db"), ("api", "")], &ports, &ports),
        "a container an older Hoster made (no revision label) is reused"
    );
    let mut moved = ports.clone();
    moved[0].host_port += 1;
    assert!(!plan.reuses(&made, &ports, &moved), "new host ports");
    for container in plan.containers() {
        assert_eq!(container.labels[labels::MANAGED], "true");
        assert_eq!(container.labels[labels::INSTANCE], "test");
        assert_eq!(container.labels[labels::DEPLOYMENT], deployment.to_string());
        assert_eq!(container.labels[labels::TEMPLATE], template.to_string());
        assert_eq!(container.labels[labels::SERVICE], container.service);
    }
}

#[test]
fn volumes_env_files_and_settings_reach_the_containers() {
    let c = compose(
        r#"services:
  web:
    image: nginx
    environment: {A: "1", B: }
    volumes: ["data:/srv:ro", "/anon", {type: tmpfs, target: /tmp}]
    restart: always
    stop_grace_period: 3s
    labels: {team: web}
    deploy: {resources: {limits: {memory: 64m}}}
  db:
    image: postgres
volumes:
  data:
"#,
    );
    let (deployment, template) = ids();
    let files = vec![
        ConfigFile {
            name: "all".into(),
            path: "/etc/all.conf".into(),
            content: "x".into(),
            mode: None,
            service: None,
            interpolate: false,
        },
        ConfigFile {
            name: "db".into(),
            path: "/etc/db.conf".into(),
            content: "y".into(),
            mode: Some("0600".into()),
            service: Some("db".into()),
            interpolate: false,
        },
    ];
    let plan = plan(&PlanInput {
        instance: "test",
        deployment: &deployment,
        template: &template,
        compose: &c,
        config_files: &files,
        ports: &[],
        publish_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        trusted: false,
        policy: &Default::default(),
        default_limits: Resources::default(),
        revision: "r1",
    })
    .unwrap();
    assert_eq!(
        plan.volumes.iter().map(|v| v.name.clone()).collect::<Vec<_>>(),
        vec![format!("hoster_{deployment}_data")]
    );
    let web = plan.containers().find(|c| c.service == "web").unwrap();
    let db = plan.containers().find(|c| c.service == "db").unwrap();
    assert_eq!(web.env, vec!["A=1"]);
    assert_eq!(
        web.mounts,
        vec![
            MountSpec {
                kind: MountKind::Volume(format!("hoster_{deployment}_data")),
                target: "/srv".into(),
                read_only: true
            },
            MountSpec {
                kind: MountKind::Anonymous,
                target: "/anon".into(),
                read_only: false
            },
            MountSpec {
                kind: MountKind::Tmpfs,
                target: "/tmp".into(),
                read_only: false
            },
        ]
    );
    assert_eq!(
        web.files,
        vec![FileSpec {
            path: "/etc/all.conf".into(),
            content: "x".into(),
            mode: 0o444
        }]
    );
    assert_eq!(db.files.len(), 2);
    assert_eq!(db.files[1].mode, 0o600);
    assert_eq!(web.restart, RestartPolicy::Always);
    assert_eq!(web.stop_timeout, Some(Duration::from_secs(3)));
    assert_eq!(web.labels["team"], "web");
    assert_eq!(web.limits.memory_bytes, Some(64 << 20));
}

#[test]
fn the_policy_is_checked_again_at_plan_time_and_defaults_fill_unset_limits() {
    let c = compose(
        "services:\n  admin:\n    image: x\n    volumes: [\"/var/run/docker.sock:/var/run/docker.sock\"]\n    cap_drop: [ALL]\n  web:\n    image: x\n    mem_limit: 1g\n",
    );
    let (deployment, template) = ids();
    let defaults = Resources {
        cpus: Some(0.5),
        memory_bytes: Some(256 << 20),
        pids: Some(256),
    };
    let policy = Default::default();
    let input = |trusted| PlanInput {
        instance: "test",
        deployment: &deployment,
        template: &template,
        compose: &c,
        config_files: &[],
        ports: &[],
        publish_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        trusted,
        policy: &policy,
        default_limits: defaults,
        revision: "r1",
    };
    let PlanError::Policy(refused) = plan(&input(false)).unwrap_err() else {
        panic!("refused by the policy")
    };
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].starts_with("services.admin.volumes[0]: not allowed"),
        "{refused:?}"
    );

    let trusted = plan(&input(true)).unwrap();
    let admin = trusted.containers().find(|c| c.service == "admin").unwrap();
    assert_eq!(admin.mounts[0].kind, MountKind::Bind("/var/run/docker.sock".into()));
    assert_eq!(admin.cap_drop, ["ALL"]);
    assert_eq!(admin.limits, defaults, "no limits asked: the operator's defaults");
    let web = trusted.containers().find(|c| c.service == "web").unwrap();
    assert_eq!(web.limits.memory_bytes, Some(1 << 30), "the template's own ask wins");
    assert_eq!(web.limits.pids, Some(256));
}

#[test]
fn a_container_answers_to_its_service_name_container_name_and_link_aliases() {
    let c = compose(
        "services:\n  web:\n    image: x\n    links: [\"db:database\"]\n  db:\n    image: x\n    container_name: legacy-db\n",
    );
    let (deployment, template) = ids();
    let plan = plan(&PlanInput {
        instance: "test",
        deployment: &deployment,
        template: &template,
        compose: &c,
        config_files: &[],
        ports: &[],
        publish_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        trusted: false,
        policy: &Default::default(),
        default_limits: Resources::default(),
        revision: "r1",
    })
    .unwrap();
    let aliases = |service: &str| {
        plan.containers()
            .find(|c| c.service == service)
            .unwrap()
            .aliases
            .clone()
    };
    assert_eq!(aliases("db"), ["db", "legacy-db", "database"]);
    assert_eq!(aliases("web"), ["web"]);
}

#[test]
fn changes_name_the_services_an_upgrade_replaces_and_why() {
    let (deployment, v1) = ids();
    let v2 = TemplateId::from_random([3; RANDOM_BYTES]);
    let of = |yaml: &str, template: &TemplateId, revision: &str| {
        plan(&PlanInput {
            instance: "test",
            deployment: &deployment,
            template,
            compose: &compose(yaml),
            config_files: &[],
            ports: &[],
            publish_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            trusted: false,
            policy: &Default::default(),
            default_limits: Resources::default(),
            revision,
        })
        .unwrap()
    };
    let old = of(
        "services:\n  web:\n    image: nginx:1\n    environment: {A: \"1\"}\n  db:\n    image: redis\n  cache:\n    image: redis\n",
        &v1,
        "r1",
    );
    let new = of(
        "services:\n  web:\n    image: nginx:2\n    environment: {A: \"2\"}\n  db:\n    image: redis\n  worker:\n    image: busybox\n",
        &v2,
        "r2",
    );
    let got: Vec<(String, Change, Vec<&str>)> = changes(&old, &new)
        .into_iter()
        .map(|c| (c.service, c.change, c.reasons))
        .collect();
    assert_eq!(
        got,
        vec![
            ("web".to_string(), Change::Replaced, vec!["image", "environment"]),
            ("db".to_string(), Change::Unchanged, vec![]),
            ("worker".to_string(), Change::Added, vec![]),
            ("cache".to_string(), Change::Removed, vec![]),
        ],
        "another template id and values revision alone change nothing"
    );
    assert!(changes(&old, &old).iter().all(|c| c.change == Change::Unchanged));
}
