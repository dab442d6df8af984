use std::net::IpAddr;
use std::time::Duration;

use proptest::prelude::*;

use super::*;

fn ok(yaml: &str) -> Compose {
    parse(yaml, &Limits::default()).unwrap_or_else(|e| panic!("{yaml}\n{e:?}"))
}

fn one(yaml: &str) -> Service {
    ok(yaml).services.remove(0)
}

fn errors(yaml: &str) -> Vec<String> {
    match parse(yaml, &Limits::default()) {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(errs) => errs.into_iter().map(|e| format!("{}: {}", e.path, e.message)).collect(),
    }
}

fn has_error(yaml: &str, expected: &str) {
    let errs = errors(yaml);
    assert!(errs.iter().any(|e| e == expected), "wanted `{expected}` in {errs:#?}");
}

fn port(host_ip: Option<&str>, host: Option<u16>, container: u16, protocol: Protocol) -> PortMapping {
    PortMapping {
        host_ip: host_ip.map(|ip| ip.parse::<IpAddr>().unwrap()),
        host_port: host,
        container_port: container,
        protocol,
    }
}

#[test]
fn the_spec_examples_all_parse() {
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/examples")).unwrap() {
        let path = entry.unwrap().path();
        let body: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let compose = ok(body["compose_spec"].as_str().unwrap());
        assert!(!compose.services.is_empty(), "{path:?}");
    }
}

#[test]
fn image_and_service_order() {
    let c = ok("services:\n  web:\n    image: nginx:alpine\n  db:\n    image: postgres:15-alpine\n");
    let names: Vec<_> = c.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["web", "db"]);
    assert_eq!(c.services[1].image, "postgres:15-alpine");
}

#[test]
fn ports_in_every_short_form() {
    let s = one(r#"services:
  web:
    image: x
    ports:
      - "8080:80"
      - "127.0.0.1:8081:81/udp"
      - "9000-9001:9000-9001"
      - "3000"
      - 3001
      - "127.0.0.1::82"
      - "[::1]:8443:443"
"#);
    assert_eq!(
        s.ports,
        vec![
            port(None, Some(8080), 80, Protocol::Tcp),
            port(Some("127.0.0.1"), Some(8081), 81, Protocol::Udp),
            port(None, Some(9000), 9000, Protocol::Tcp),
            port(None, Some(9001), 9001, Protocol::Tcp),
            port(None, None, 3000, Protocol::Tcp),
            port(None, None, 3001, Protocol::Tcp),
            port(Some("127.0.0.1"), None, 82, Protocol::Tcp),
            port(Some("::1"), Some(8443), 443, Protocol::Tcp),
        ]
    );
}

#[test]
fn ports_in_the_long_form() {
    let s = one(
        "services:\n  web:\n    image: x\n    ports:\n      - target: 80\n        published: \"8080\"\n        host_ip: 127.0.0.1\n        protocol: udp\n      - target: 81\n",
    );
    assert_eq!(
        s.ports,
        vec![
            port(Some("127.0.0.1"), Some(8080), 80, Protocol::Udp),
            port(None, None, 81, Protocol::Tcp)
        ]
    );
}

#[test]
fn bad_ports_are_named() {
    has_error(
        "services:\n  web:\n    image: x\n    ports:\n      - \"70000:80\"\n",
        "services.web.ports[0]: `70000` is not a port number (1-65535)",
    );
    has_error(
        "services:\n  web:\n    image: x\n    ports:\n      - \"80/sctp\"\n",
        "services.web.ports[0]: protocol `sctp` is not supported; use tcp or udp",
    );
    has_error(
        "services:\n  web:\n    image: x\n    ports:\n      - \"9000-9002:80-81\"\n",
        "services.web.ports[0]: the host and container ranges must have the same length",
    );
    has_error(
        "services:\n  web:\n    image: x\n    ports:\n      - \"1-65535\"\n",
        "services.web.ports[0]: ranges are limited to 100 ports",
    );
    has_error(
        "services:\n  web:\n    image: x\n    ports:\n      - \"a:b:c:d\"\n",
        "services.web.ports[0]: `a:b:c:d` is not [IP:][HOST:]CONTAINER[/PROTOCOL]",
    );
    has_error(
        "services:\n  web:\n    image: x\n    ports:\n      - published: 80\n",
        "services.web.ports[0]: target: required",
    );
    has_error(
        "services:\n  web:\n    image: x\n    ports: \"80\"\n",
        "services.web.ports: expected a list of ports, got a string",
    );
}

#[test]
fn environment_as_map_or_list() {
    let map = one(
        "services:\n  a:\n    image: x\n    environment:\n      DEBUG: true\n      MAX: 100\n      EMPTY:\n      NAME: app\n",
    );
    let list = one(
        "services:\n  a:\n    image: x\n    environment:\n      - DEBUG=true\n      - MAX=100\n      - EMPTY\n      - NAME=app\n",
    );
    assert_eq!(map.environment, list.environment);
    assert_eq!(map.environment["DEBUG"].as_deref(), Some("true"));
    assert_eq!(map.environment["MAX"].as_deref(), Some("100"));
    assert_eq!(map.environment["EMPTY"], None);
    has_error(
        "services:\n  a:\n    image: x\n    environment:\n      - A=1\n      - A=2\n",
        "services.a.environment[1]: `A` is set twice",
    );
    has_error(
        "services:\n  a:\n    image: x\n    environment: 5\n",
        "services.a.environment: expected a mapping or a list of KEY=value, got a number",
    );
}

#[test]
fn command_and_entrypoint_as_string_or_list() {
    let s = one(
        "services:\n  a:\n    image: x\n    command: sh -c 'echo hi there'\n    entrypoint: [\"/bin/tini\", \"--\"]\n",
    );
    assert_eq!(s.command, Some(vec!["sh".into(), "-c".into(), "echo hi there".into()]));
    assert_eq!(s.entrypoint, Some(vec!["/bin/tini".into(), "--".into()]));
    has_error(
        "services:\n  a:\n    image: x\n    command: \"echo 'unclosed\"\n",
        "services.a.command: cannot split into words: missing closing quote",
    );
}

#[test]
fn depends_on_as_list_or_map_with_conditions() {
    let c = ok("services:\n  web:\n    image: x\n    depends_on: [db]\n  db:\n    image: y\n");
    assert_eq!(
        c.services[0].depends_on,
        vec![Dependency {
            service: "db".into(),
            condition: Condition::Started,
            required: true
        }]
    );
    let c = ok(
        "services:\n  web:\n    image: x\n    depends_on:\n      db:\n        condition: service_healthy\n      init:\n        condition: service_completed_successfully\n      cache:\n        condition: service_started\n        required: false\n  db:\n    image: y\n  init:\n    image: z\n",
    );
    let conditions: Vec<_> = c.services[0]
        .depends_on
        .iter()
        .map(|d| (d.service.as_str(), d.condition, d.required))
        .collect();
    assert_eq!(
        conditions,
        [
            ("db", Condition::Healthy, true),
            ("init", Condition::CompletedSuccessfully, true),
            ("cache", Condition::Started, false)
        ]
    );
    has_error(
        "services:\n  web:\n    image: x\n    depends_on: [nope]\n",
        "services.web.depends_on.nope: no service named `nope`",
    );
    has_error(
        "services:\n  web:\n    image: x\n    depends_on: [web]\n",
        "services.web.depends_on.web: a service cannot depend on itself",
    );
    has_error(
        "services:\n  web:\n    image: x\n    depends_on:\n      db:\n        condition: whenever\n  db:\n    image: y\n",
        "services.web.depends_on.db.condition: expected service_started, service_healthy or service_completed_successfully",
    );
}

#[test]
fn dependency_cycles_are_rejected_and_waves_follow_dependencies() {
    has_error(
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n  c:\n    image: x\n",
        "services: depends_on (or volumes_from) forms a cycle among: a, b",
    );
    let example: serde_json::Value =
        serde_json::from_str(include_str!("../../../../testdata/examples/06-three-tier-app.json")).unwrap();
    let c = ok(example["compose_spec"].as_str().unwrap());
    let waves = wave_names(&c);
    assert_eq!(waves, vec![vec!["db"], vec!["api"], vec!["web"]]);
    let c = ok("services:\n  web:\n    image: x\n    depends_on: [a, b]\n  a:\n    image: x\n  b:\n    image: x\n");
    let waves = wave_names(&c);
    assert_eq!(
        waves,
        vec![vec!["a", "b"], vec!["web"]],
        "independent services share a wave"
    );
}

#[test]
fn healthcheck_as_string_or_list_with_durations() {
    let s = one(
        "services:\n  a:\n    image: x\n    healthcheck:\n      test: curl -f http://localhost\n      interval: 1m30s\n      timeout: 10s\n      start_period: 500ms\n      retries: 3\n",
    );
    let h = s.healthcheck.unwrap();
    assert_eq!(
        h.test,
        Some(vec!["CMD-SHELL".into(), "curl -f http://localhost".into()])
    );
    assert_eq!(h.interval, Some(Duration::from_secs(90)));
    assert_eq!(h.timeout, Some(Duration::from_secs(10)));
    assert_eq!(h.start_period, Some(Duration::from_millis(500)));
    assert_eq!(h.retries, Some(3));
    let s = one(
        "services:\n  a:\n    image: x\n    healthcheck:\n      test: [\"CMD\", \"curl\", \"-f\", \"http://localhost\"]\n",
    );
    assert_eq!(s.healthcheck.unwrap().test.unwrap()[0], "CMD");
    let s = one("services:\n  a:\n    image: x\n    healthcheck:\n      test: [\"NONE\"]\n");
    assert!(s.healthcheck.unwrap().disable);
    has_error(
        "services:\n  a:\n    image: x\n    healthcheck:\n      test: [curl, x]\n",
        "services.a.healthcheck.test: a list test starts with CMD, CMD-SHELL or NONE, followed by the command",
    );
    has_error(
        "services:\n  a:\n    image: x\n    healthcheck:\n      interval: 30\n",
        "services.a.healthcheck.interval: `30` is not a duration; write it like 30s, 1m30s or 500ms",
    );
}

#[test]
fn named_anonymous_and_tmpfs_volumes() {
    let s = one(
        "services:\n  a:\n    image: x\n    volumes:\n      - data:/var/lib/data\n      - data:/ro:ro\n      - /cache\n      - type: volume\n        source: data\n        target: /long\n        read_only: true\n      - type: tmpfs\n        target: /tmp\nvolumes:\n  data:\n",
    );
    assert_eq!(
        s.volumes,
        vec![
            Mount {
                source: MountSource::Named("data".into()),
                target: "/var/lib/data".into(),
                read_only: false
            },
            Mount {
                source: MountSource::Named("data".into()),
                target: "/ro".into(),
                read_only: true
            },
            Mount {
                source: MountSource::Anonymous,
                target: "/cache".into(),
                read_only: false
            },
            Mount {
                source: MountSource::Named("data".into()),
                target: "/long".into(),
                read_only: true
            },
            Mount {
                source: MountSource::Tmpfs,
                target: "/tmp".into(),
                read_only: false
            },
        ]
    );
    // Host paths parse (a trusted template may use them; the policy refuses them elsewhere),
    // but a relative one means nothing on a server.
    assert_eq!(
        one("services:\n  a:\n    image: x\n    volumes:\n      - type: bind\n        source: /srv\n        target: /host\n").volumes[0].source,
        MountSource::Bind("/srv".into())
    );
    has_error(
        "services:\n  a:\n    image: x\n    volumes:\n      - ./site:/usr/share/nginx/html\n",
        "services.a.volumes[0]: `./site` is a relative host path; Hoster has no project directory, use a named volume",
    );
    has_error(
        "services:\n  a:\n    image: x\n    volumes:\n      - /srv/../etc:/x\n",
        "services.a.volumes[0]: host path `/srv/../etc` must not contain `..`",
    );
    // Declared for the service, as hosting platforms do (Compose refuses it).
    assert_eq!(
        ok("services:\n  a:\n    image: x\n    volumes:\n      - data:/x\n").volumes,
        vec!["data".to_string()]
    );
    has_error(
        "services:\n  a:\n    image: x\n    volumes:\n      - data:/x\n    profiles: []\n  b:\n    image: x\n    profiles: [debug]\n  c:\n    image: x\n    depends_on: [b]\n",
        "services.c.depends_on.b: `b` names profiles, so it is not started; a started service cannot depend on it",
    );
    has_error(
        "services:\n  a:\n    image: x\n    volumes:\n      - data:relative\nvolumes:\n  data:\n",
        "services.a.volumes[0]: target `relative` must be an absolute path",
    );
    has_error(
        "services:\n  a:\n    image: x\nvolumes:\n  data:\n    external: true\n",
        "volumes.data.external: not supported: deployments never share volumes or networks",
    );
}

#[test]
fn restart_policies() {
    for (text, policy) in [
        ("\"no\"", RestartPolicy::No),
        ("no", RestartPolicy::No),
        ("always", RestartPolicy::Always),
        ("unless-stopped", RestartPolicy::UnlessStopped),
        ("on-failure", RestartPolicy::OnFailure { max_retries: None }),
        ("on-failure:5", RestartPolicy::OnFailure { max_retries: Some(5) }),
    ] {
        assert_eq!(
            one(&format!("services:\n  a:\n    image: x\n    restart: {text}\n")).restart,
            policy,
            "{text}"
        );
    }
    has_error(
        "services:\n  a:\n    image: x\n    restart: sometimes\n",
        "services.a.restart: `sometimes` is not a restart policy; use no, always, on-failure[:N] or unless-stopped",
    );
}

#[test]
fn common_keys_real_files_carry() {
    let s = one(r#"services:
  a:
    image: x
    expose: ["80", "9000-9001/udp"]
    labels:
      com.example.team: web
    working_dir: /app
    user: "1000:1000"
    hostname: app
    stop_grace_period: 1m
    networks: [front]
    deploy:
      resources:
        limits: {cpus: "0.5", memory: 512M, pids: 100}
        reservations: {memory: 128m}
networks:
  front:
"#);
    assert_eq!(
        s.expose,
        vec![
            ExposedPort {
                port: 80,
                protocol: Protocol::Tcp
            },
            ExposedPort {
                port: 9000,
                protocol: Protocol::Udp
            },
            ExposedPort {
                port: 9001,
                protocol: Protocol::Udp
            }
        ]
    );
    assert_eq!(s.labels["com.example.team"], "web");
    assert_eq!(s.working_dir.as_deref(), Some("/app"));
    assert_eq!(s.user.as_deref(), Some("1000:1000"));
    assert_eq!(s.hostname.as_deref(), Some("app"));
    assert_eq!(s.stop_grace_period, Some(Duration::from_secs(60)));
    assert_eq!(
        s.limits,
        Resources {
            cpus: Some(0.5),
            memory_bytes: Some(512 << 20),
            pids: Some(100)
        }
    );
    assert_eq!(s.reservations.memory_bytes, Some(128 << 20));
    assert_eq!(s.networks, vec!["front"]);
    let labels = one("services:\n  a:\n    image: x\n    labels:\n      - a=b\n      - c\n");
    assert_eq!(labels.labels["a"], "b");
    assert_eq!(labels.labels["c"], "");
    let legacy = one("services:\n  a:\n    image: x\n    mem_limit: 1g\n    cpus: 2\n    pids_limit: 50\n");
    assert_eq!(
        legacy.limits,
        Resources {
            cpus: Some(2.0),
            memory_bytes: Some(1 << 30),
            pids: Some(50)
        }
    );
}

#[test]
fn keys_hoster_would_ignore_are_rejected_with_their_path() {
    let cases = [
        ("build: .", "services.web.build: not supported, use an image"),
        (
            "container_name: \"not a name\"",
            "services.web.container_name: `not a name` is not a name other services can resolve",
        ),
        (
            "env_file: .env",
            "services.web.env_file: not supported, use environment or template variables",
        ),
        (
            "network_mode: host",
            "services.web.network_mode: not supported: every deployment has its own network, and host networking would bypass it",
        ),
        (
            "userns_mode: keep-id",
            "services.web.userns_mode: `keep-id` is not supported; only `host` is recognised",
        ),
        (
            "cgroup: shared",
            "services.web.cgroup: `shared` is not a cgroup mode; use `host` or `private`",
        ),
        (
            "volumes_from: [db]",
            "services.web.volumes_from[0]: no other service named `db` (for another container, write `container:NAME`)",
        ),
        (
            "volumes_from: [\"web\"]",
            "services.web.volumes_from[0]: no other service named `web` (for another container, write `container:NAME`)",
        ),
        (
            "volumes_from: [\"container:x:rx\"]",
            "services.web.volumes_from[0]: `rx` is not a mode; use `ro` or `rw`",
        ),
        (
            "pid: container:x",
            "services.web.pid: `container:x` is not supported; only `host` is recognised",
        ),
        (
            "cap_add: [\"not a cap\"]",
            "services.web.cap_add[0]: `not a cap` is not a capability name",
        ),
        ("links: [db]", "services.web.links[0]: no other service named `db`"),
        ("scale: 2", "services.web.scale: not supported by Hoster"),
        (
            "deploy:\n      mode: global",
            "services.web.deploy.mode: not supported: deploy.resources, deploy.replicas (1) and deploy.restart_policy are honoured",
        ),
        (
            "labels:\n      io.hoster.deployment: x",
            "services.web.labels.io.hoster.deployment: the io.hoster. prefix is reserved for Hoster's own labels",
        ),
    ];
    for (extra, expected) in cases {
        has_error(&format!("services:\n  web:\n    image: x\n    {extra}\n"), expected);
    }
    has_error(
        "services:\n  web:\n    image: x\nconfigs:\n  a: {}\n",
        "configs.a: give its `content`",
    );
    has_error(
        "services:\n  web:\n    image: x\nfoo: 1\n",
        "foo: unknown or unsupported top-level key",
    );
    // Extension fields and the obsolete version key are part of real files and are allowed.
    ok("version: \"3.8\"\nx-common: &c {a: 1}\nservices:\n  web:\n    image: x\n    x-note: hi\n");
}

#[test]
fn structural_problems_are_all_reported_at_once() {
    let errs = errors("services:\n  web:\n    build: .\n    ports: [\"x\"]\n  db:\n    image: \"bad image\"\n");
    assert_eq!(
        errs,
        vec![
            "services.web.build: not supported, use an image",
            "services.web.ports[0]: `x` is not a port number (1-65535)",
            "services.web.image: required: every service needs an image",
            "services.db.image: `bad image` is not an image reference: repository names are lowercase letters, digits and separators",
        ]
    );
    has_error("", ": expected a mapping with a `services` key, got null");
    has_error("services: {}\n", "services: required: at least one service");
    has_error("name: x\n", "services: required: at least one service");
    has_error(
        "services:\n  Web!:\n    image: x\n",
        "services.Web!: service names use a-z, 0-9, `_`, `-` and `.`, starting with a letter or digit, at most 63 characters",
    );
    has_error(
        "services:\n  web:\n    image: x\n    networks: [other]\n",
        "services.web.networks: network `other` is not declared under the top-level networks",
    );
}

#[test]
fn hostile_documents_fail_fast_with_a_clear_error() {
    let bomb = "a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\nservices:\n  web:\n    image: x\n";
    let start = std::time::Instant::now();
    let errs = errors(bomb);
    assert!(errs[0].starts_with(": too large"), "{errs:?}");
    assert!(start.elapsed() < Duration::from_secs(5));

    let ten_thousand: String = (0..10_000).map(|i| format!("k{i}: {i}\n")).collect();
    assert!(errors(&ten_thousand)[0].starts_with(": too large"));
    let hundreds: String = (0..300).map(|i| format!("k{i}: {i}\n")).collect();
    let errs = errors(&hundreds);
    assert_eq!(errs.len(), 51, "problems are capped");
    assert_eq!(errs[50], ": ... and 251 more problems");

    let deep = format!(
        "services:\n  web:\n    image: x\n    labels: {}{}\n",
        "[".repeat(200),
        "]".repeat(200)
    );
    assert!(errors(&deep)[0].starts_with(": too large"), "{:?}", errors(&deep));

    let big = format!("services:\n  web:\n    image: x\n# {}\n", "x".repeat(300 * 1024));
    assert!(errors(&big)[0].contains("the limit is"));
    let duplicate = errors("services:\n  web:\n    image: x\n  web:\n    image: y\n");
    assert!(
        duplicate[0].to_lowercase().contains("duplicate"),
        "a repeated key is named as such: {duplicate:?}"
    );
}

#[test]
fn canonical_form_parses_back_to_the_same_model() {
    let c = ok(r#"services:
  web:
    image: nginx:alpine
    command: nginx -g 'daemon off;'
    ports: ["8080:80", "127.0.0.1::81/udp"]
    environment: [A=1, B]
    depends_on: {db: {condition: service_healthy}}
    volumes: ["data:/d:ro", /anon]
    healthcheck: {test: "true", interval: 1m30s, retries: 2}
    restart: on-failure:3
    stop_grace_period: 1500ms
    deploy: {resources: {limits: {memory: 1g, cpus: 1.5}}}
  db:
    image: postgres
volumes:
  data:
"#);
    let again = parse_value(&c.to_canonical(), &Limits::default()).unwrap();
    assert_eq!(again, c);
}

/// Fragments of service bodies in every syntax the parser accepts.
fn service_fragment() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "ports: [\"8080:80\"]",
        "ports: [\"127.0.0.1:9000-9002:9000-9002/udp\", 3000]",
        "ports: [{target: 80, published: 8081, protocol: tcp}]",
        "environment: {A: 1, B: true, C: }",
        "environment: [X=1, Y]",
        "command: echo hello world",
        "command: [\"sh\", \"-c\", \"exit 0\"]",
        "entrypoint: /bin/sh -c",
        "healthcheck: {test: [\"CMD\", \"true\"], interval: 1m30s, timeout: 2s, retries: 3}",
        "healthcheck: {test: \"true\", start_period: 250ms}",
        "healthcheck: {disable: true}",
        "restart: unless-stopped",
        "restart: on-failure:2",
        "labels: [a=b, c]",
        "labels: {team: web}",
        "working_dir: /srv",
        "user: nobody",
        "hostname: box",
        "stop_grace_period: 20s",
        "expose: [\"80\", \"53/udp\"]",
        "deploy: {resources: {limits: {cpus: 0.25, memory: 64m, pids: 10}, reservations: {memory: 32m}}}",
        "mem_limit: 1.5g",
        "volumes: [\"data:/data\", \"/anon\", {type: tmpfs, target: /tmp}]",
        "networks: [default]",
    ])
    .prop_map(str::to_string)
}

fn document() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::collection::btree_set(service_fragment(), 0..6), 1..4).prop_map(|services| {
        let mut doc = String::from("services:\n");
        for (i, fragments) in services.iter().enumerate() {
            doc.push_str(&format!("  s{i}:\n    image: img{i}\n"));
            let mut seen_keys = std::collections::BTreeSet::new();
            for f in fragments {
                // One fragment per key, as a mapping allows.
                if seen_keys.insert(f.split(':').next().unwrap().to_string()) {
                    doc.push_str(&format!("    {f}\n"));
                }
            }
            if i > 0 {
                doc.push_str(&format!("    depends_on: [s{}]\n", i - 1));
            }
        }
        doc.push_str("volumes:\n  data:\n");
        doc
    })
}

#[test]
fn a_service_says_what_a_backup_does_with_it() {
    let s = one(
        "services:\n  db:\n    image: postgres\n    x-hoster-backup:\n      command: pg_dump -f /data/dump.sql app\n",
    );
    assert_eq!(
        s.backup,
        BackupHook {
            command: Some(vec![
                "pg_dump".into(),
                "-f".into(),
                "/data/dump.sql".into(),
                "app".into()
            ]),
            stop: false
        }
    );
    let c = ok("services:\n  app:\n    image: busybox\n    x-hoster-backup: {stop: true}\n");
    assert_eq!(
        c.services[0].backup,
        BackupHook {
            command: None,
            stop: true
        }
    );
    // The canonical form keeps it.
    assert_eq!(parse_value(&c.to_canonical(), &Limits::default()).unwrap(), c);
    has_error(
        "services:\n  app:\n    image: busybox\n    x-hoster-backup: {pause: false}\n",
        "services.app.x-hoster-backup.pause: x-hoster-backup takes `command` (run before the copy) and `stop` (stop instead of pause)",
    );
    // Other extensions stay Compose's own: ignored, as Compose does.
    assert_eq!(
        one("services:\n  app:\n    image: busybox\n    x-other: 1\n").backup,
        BackupHook::default()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parse_then_normalise_is_stable(doc in document()) {
        let first = parse(&doc, &Limits::default()).map_err(|e| TestCaseError::fail(format!("{doc}\n{e:?}")))?;
        let canonical = first.to_canonical();
        let second = parse_value(&canonical, &Limits::default()).map_err(|e| TestCaseError::fail(format!("{canonical}\n{e:?}")))?;
        prop_assert_eq!(&second, &first);
        prop_assert_eq!(second.to_canonical(), canonical);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        let _ = parse(&text, &Limits::default());
    }

    #[test]
    fn arbitrary_yaml_shaped_text_never_panics(
        lines in prop::collection::vec(("[ ]{0,6}", "[a-z_\\-\\[\\]{}:&*!|>\"', 0-9./]{0,30}"), 0..30)
    ) {
        let text: String = lines.iter().map(|(indent, body)| format!("{indent}{body}\n")).collect();
        let _ = parse(&format!("services:\n{text}"), &Limits::default());
        let _ = parse(&text, &Limits::default());
    }

    #[test]
    fn short_ports_never_panic(s in "[0-9a-f:.\\[\\]/\\-udtcp]{0,30}") {
        let _ = parse::ports::parse_port_short(&s, 100);
    }
}

#[test]
fn the_primary_service_is_labelled_or_the_first_to_publish_tcp() {
    let by_order = ok("services:
  web:
    image: x
    depends_on: [api]
    ports: [\"80\"]
  api:
    image: x
    ports: [\"53/udp\", \"8080\"]
  db:
    image: x
");
    assert_eq!(by_order.primary_service().map(|s| s.name.as_str()), Some("api"));
    let labelled = ok("services:
  web:
    image: x
    labels: {io.hoster.primary: \"true\"}
    depends_on: [api]
    ports: [\"80\"]
  api:
    image: x
    ports: [\"8080\"]
");
    assert_eq!(labelled.primary_service().map(|s| s.name.as_str()), Some("web"));
    assert_eq!(
        ok("services:\n  a:\n    image: x\n    ports: [\"53/udp\"]\n").primary_service(),
        None
    );
}

#[test]
fn the_primary_label_is_checked() {
    has_error(
        "services:\n  a:\n    image: x\n    ports: [\"80\"]\n    labels: [io.hoster.primary=yes]\n",
        "services.a.labels.io.hoster.primary: the only value it takes is \"true\"",
    );
    has_error(
        "services:\n  a:\n    image: x\n    labels: {io.hoster.primary: \"true\"}\n",
        "services.a.labels.io.hoster.primary: the primary service must publish a TCP port for the proxy to route to",
    );
    has_error(
        "services:
  a: {image: x, ports: [\"80\"], labels: {io.hoster.primary: \"true\"}}
  b: {image: x, ports: [\"81\"], labels: {io.hoster.primary: \"true\"}}
",
        "services: only one service may carry io.hoster.primary; found it on a, b",
    );
}

/// The services of each start wave, by name.
fn wave_names(c: &Compose) -> Vec<Vec<&str>> {
    c.start_waves()
        .unwrap()
        .iter()
        .map(|w| w.iter().map(|s| s.name.as_str()).collect())
        .collect()
}

#[test]
fn volumes_from_orders_creation_like_depends_on() {
    let c = ok(
        "services:\n  app:\n    image: x\n    volumes_from: [\"service:data:ro\", \"container:other\"]\n  data:\n    image: x\n",
    );
    let app = c.service("app").unwrap();
    assert_eq!(
        app.volumes_from,
        [
            VolumesFrom {
                source: VolumesFromSource::Service("data".into()),
                read_only: true
            },
            VolumesFrom {
                source: VolumesFromSource::Container("other".into()),
                read_only: false
            }
        ]
    );
    let waves = wave_names(&c);
    assert_eq!(waves, [vec!["data"], vec!["app"]]);
}

/// The policy's verdicts on `extra` (service keys of `web`), as `path: message`.
fn refused(extra: &str) -> Vec<String> {
    let compose = ok(&format!("services:\n  web:\n    image: x\n    {extra}\n"));
    policy::violations(&compose, &policy::Policy::default())
        .into_iter()
        .map(|e| format!("{}: {}", e.path, e.message))
        .collect()
}

#[test]
fn the_safe_compose_policy_refuses_each_way_into_the_host() {
    let cases = [
        (
            "privileged: true",
            "services.web.privileged: not allowed: a privileged container has every capability and every host device, which is root on the host",
        ),
        (
            "cap_add: [SYS_ADMIN]",
            "services.web.cap_add: not allowed: `SYS_ADMIN` goes beyond a default container",
        ),
        (
            "cap_add: [cap_net_admin]",
            "services.web.cap_add: not allowed: `NET_ADMIN` goes beyond a default container",
        ),
        (
            "devices: [\"/dev/sda:/dev/sda\"]",
            "services.web.devices: not allowed: `/dev/sda:/dev/sda` would hand a host device to the container",
        ),
        (
            "pid: host",
            "services.web.pid: not allowed: `pid: host` lets the container see and signal every process on the host",
        ),
        (
            "ipc: host",
            "services.web.ipc: not allowed: `ipc: host` shares the host's shared memory with the container",
        ),
        (
            "userns_mode: host",
            "services.web.userns_mode: not allowed: `userns_mode: host` would put the container in the host's namespace",
        ),
        (
            "uts: host",
            "services.web.uts: not allowed: `uts: host` would put the container in the host's namespace",
        ),
        (
            "cgroup: host",
            "services.web.cgroup: not allowed: `cgroup: host` would put the container in the host's namespace",
        ),
        (
            "cgroup_parent: /system.slice",
            "services.web.cgroup_parent: not allowed: `/system.slice` would run the container under a cgroup of the host's",
        ),
        (
            "volumes_from: [\"container:other-tenant\"]",
            "services.web.volumes_from: not allowed: `container:other-tenant` reaches into a container outside the deployment",
        ),
        (
            "security_opt: [\"seccomp:unconfined\"]",
            "services.web.security_opt: not allowed: `seccomp:unconfined` would loosen the container's confinement (seccomp, AppArmor, SELinux)",
        ),
        (
            "security_opt: [\"apparmor=unconfined\"]",
            "services.web.security_opt: not allowed: `apparmor=unconfined` would loosen",
        ),
        (
            "security_opt: [\"label:disable\"]",
            "services.web.security_opt: not allowed: `label:disable` would loosen",
        ),
        (
            "sysctls: {net.ipv4.ip_forward: 1, kernel.domainname: x, vm.swappiness: 1}",
            "services.web.sysctls: not allowed: kernel.domainname, vm.swappiness would change the host's kernel parameters",
        ),
        (
            "volumes: [\"/var/run/docker.sock:/var/run/docker.sock\"]",
            "services.web.volumes[0]: not allowed: `/var/run/docker.sock` is the Docker socket: whoever holds it controls every container and the host",
        ),
        (
            "volumes: [\"/:/host:ro\"]",
            "services.web.volumes[0]: not allowed: `/` would hand the host's whole filesystem to the container",
        ),
        (
            "volumes: [\"/etc:/etc2\"]",
            "services.web.volumes[0]: not allowed: `/etc` is a path on the host; use a named volume",
        ),
    ];
    for (extra, expected) in cases {
        let got = refused(extra);
        assert!(
            got.len() == 1 && got[0].starts_with(expected),
            "{extra}: wanted `{expected}...`, got {got:#?}"
        );
    }
    // What only narrows the container passes.
    for fine in [
        "cap_drop: [ALL]",
        "cap_add: [NET_BIND_SERVICE, CAP_CHOWN]",
        "security_opt: [no-new-privileges:true]",
        "cgroup: private",
    ] {
        assert_eq!(refused(fine), Vec::<String>::new(), "{fine}");
    }
    // The spec's examples are all within the policy.
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/examples")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let spec: serde_json::Value = serde_json::from_str(&text).unwrap();
        let compose = ok(spec["compose_spec"].as_str().unwrap());
        assert!(policy::violations(&compose, &policy::Policy::default()).is_empty());
    }
}

#[test]
fn resource_asks_above_the_operator_maximum_are_refused() {
    let compose = ok("services:\n  web:\n    image: x\n    mem_limit: 4g\n    cpus: 8\n    pids_limit: 100\n");
    let max = policy::Maxima {
        memory_bytes: Some(1 << 30),
        cpus: Some(2.0),
        pids: Some(512),
    };
    let got: Vec<String> = policy::over_maxima(&compose, &max)
        .into_iter()
        .map(|e| format!("{}: {}", e.path, e.message))
        .collect();
    assert_eq!(
        got,
        [
            "services.web.deploy.resources.limits.memory: 4g is over this Hoster's maximum of 1g",
            "services.web.deploy.resources.limits.cpus: 8 is over this Hoster's maximum of 2",
        ]
    );
    assert!(policy::over_maxima(&compose, &policy::Maxima::default()).is_empty());
}

/// Compose reads YAML 1.2: these plain scalars are the strings written wherever a string is
/// expected, not YAML 1.1 booleans or re-printed numbers.
#[test]
fn plain_scalars_stay_the_strings_written() {
    let forms = [
        "n", "y", "yes", "no", "on", "off", "010", "1e3", "0x1F", "0o17", "1.50", "+5", ".inf", "1_000",
    ];
    for form in forms {
        let s = one(&format!(
            "services:\n  web:\n    image: x\n    environment: {{A: {form}}}\n    labels: {{l: {form}}}\n    \
             command: [echo, {form}]\n    user: {form}\n"
        ));
        assert_eq!(s.environment["A"].as_deref(), Some(form), "environment {form}");
        assert_eq!(s.labels["l"], form, "labels {form}");
        assert_eq!(
            s.command.as_deref(),
            Some(&["echo".to_string(), form.to_string()][..]),
            "command {form}"
        );
        assert_eq!(s.user.as_deref(), Some(form), "user {form}");
    }
    // Names follow their own rules (lowercase, ...): the forms that satisfy them.
    for form in ["n", "yes", "off", "010", "1e3", "0o17", "1_000"] {
        let s = one(&format!(
            "services:\n  web:\n    image: x\n    networks: [{form}]\nnetworks:\n  {form}: {{}}\n"
        ));
        assert_eq!(s.networks, vec![form.to_string()], "networks {form}");
    }
    // Canonical numbers and YAML 1.2 booleans are read as such and print the same.
    let s = one("services:\n  web:\n    image: x\n    environment: {A: 8080, B: 0.5, C: true, D: -3}\n");
    let env: Vec<(&str, Option<&str>)> = s.environment.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
    assert_eq!(
        env,
        [
            ("A", Some("8080")),
            ("B", Some("0.5")),
            ("C", Some("true")),
            ("D", Some("-3"))
        ]
    );
}

#[test]
fn what_the_engine_would_refuse_is_refused_at_create() {
    let cases = [
        (
            "volumes: [\"data:/\"]",
            "services.web.volumes[0]: target `/` cannot be mounted: `/` is the container's root filesystem",
        ),
        (
            "volumes: [\"/proc\"]",
            "services.web.volumes[0]: target `/proc` cannot be mounted: the runtime mounts this kernel filesystem itself",
        ),
        (
            "volumes: [\"/a\", \"/a/\"]",
            "services.web.volumes[1]: `/a/` is mounted twice",
        ),
        (
            "environment: {A: \"x\\0y\"}",
            "services.web.environment.A: contains a NUL character, which the engine cannot pass on",
        ),
        (
            "environment: [\"=x\"]",
            "services.web.environment[0]: `` is not a valid name",
        ),
        (
            "mem_limit: 1",
            "services.web.deploy.resources.limits.memory: 1 bytes is below the engine's minimum of 6m",
        ),
        (
            "cpus: 0.001",
            "services.web.deploy.resources.limits.cpus: 0.001 is below the engine's minimum of 0.01",
        ),
        (
            "healthcheck: {test: [CMD, x], interval: 10us}",
            "services.web.healthcheck.interval: must be at least 1ms (or 0)",
        ),
    ];
    for (extra, expected) in cases {
        has_error(
            &format!("services:\n  web:\n    image: x\n    {extra}\nvolumes:\n  data: {{}}\n"),
            expected,
        );
    }
    let long = "a".repeat(300);
    let errs = errors(&format!("services:\n  web:\n    image: x\n    hostname: {long}\n"));
    assert!(errs[0].starts_with("services.web.hostname: "), "{errs:?}");
}

#[test]
fn the_compose_keys_people_use() {
    let c = ok("services:
  web:
    image: x
    container_name: my-web
    platform: linux/amd64
    stop_signal: SIGQUIT
    tty: true
    stdin_open: true
    read_only: true
    init: true
    dns: 9.9.9.9
    dns_search: [example.com]
    extra_hosts: [\"db.local:10.0.0.5\", \"v6=::1\"]
    group_add: [audio, \"1001\"]
    shm_size: 64m
    mem_limit: 128m
    memswap_limit: 256m
    cpu_shares: 512
    oom_score_adj: 100
    tmpfs: [/run, \"/tmp:size=16m,mode=1777\"]
    ulimits:
      nofile: {soft: 1024, hard: 4096}
      nproc: 64
    logging:
      driver: json-file
      options: {max-size: 5m, max-file: \"2\"}
    healthcheck:
      test: [\"CMD\", \"true\"]
      start_interval: 2s
    deploy:
      replicas: 1
      restart_policy: {condition: on-failure, max_attempts: 3}
  debug:
    image: x
    profiles: [debug]
");
    assert_eq!(c.services.len(), 1, "a service with profiles is not started");
    let s = &c.services[0];
    let o = &s.options;
    assert_eq!(o.container_name.as_deref(), Some("my-web"));
    assert_eq!(o.platform.as_deref(), Some("linux/amd64"));
    assert_eq!(o.stop_signal.as_deref(), Some("SIGQUIT"));
    assert!(o.tty && o.stdin_open && o.read_only && o.init);
    assert_eq!(o.dns, ["9.9.9.9"]);
    assert_eq!(o.dns_search, ["example.com"]);
    assert_eq!(o.extra_hosts["db.local"], "10.0.0.5");
    assert_eq!(o.extra_hosts["v6"], "::1");
    assert_eq!(o.group_add, ["audio", "1001"]);
    assert_eq!((o.shm_size, o.memswap_limit), (Some(64 << 20), Some(256 << 20)));
    assert_eq!((o.cpu_shares, o.oom_score_adj), (Some(512), Some(100)));
    assert_eq!(o.tmpfs["/run"], None);
    assert_eq!(o.tmpfs["/tmp"], Some(16 << 20));
    assert_eq!(o.ulimits["nofile"], (1024, 4096));
    assert_eq!(o.ulimits["nproc"], (64, 64));
    assert_eq!(o.logging.as_ref().unwrap().options["max-size"], "5m");
    assert_eq!(
        s.healthcheck.as_ref().unwrap().start_interval,
        Some(Duration::from_secs(2))
    );
    assert_eq!(s.restart, RestartPolicy::OnFailure { max_retries: Some(3) });
    assert!(policy::violations(&c, &policy::Policy::default()).is_empty());
    assert!(policy::over_maxima(&c, &policy::Maxima::default()).is_empty());
    assert_eq!(parse_value(&c.to_canonical(), &Limits::default()).unwrap(), c);

    // `restart` wins over deploy.restart_policy.
    let both = ok(
        "services:\n  a:\n    image: x\n    restart: always\n    deploy:\n      restart_policy: {condition: none}\n",
    );
    assert_eq!(both.services[0].restart, RestartPolicy::Always);
}

#[test]
fn compose_keys_are_bounded_where_they_reach_the_host() {
    for (yaml, expected) in [
        (
            "extra_hosts: [\"gw:host-gateway\"]",
            "services.web.extra_hosts: not allowed: `gw:host-gateway` points the container at the host itself",
        ),
        (
            "oom_score_adj: -500",
            "services.web.oom_score_adj: not allowed: -500 would make the kernel kill other processes on the host before this container",
        ),
        (
            "logging: {driver: syslog}",
            "services.web.logging.driver: not allowed: `syslog` would send logs off the container's own files (to the host or the network); use json-file or local",
        ),
    ] {
        let c = ok(&format!("services:\n  web:\n    image: x\n    {yaml}\n"));
        let got: Vec<String> = policy::violations(&c, &policy::Policy::default())
            .into_iter()
            .map(|l| format!("{}: {}", l.path, l.message))
            .collect();
        assert_eq!(got, vec![expected.to_string()]);
    }
    let maxima = policy::Maxima {
        memory_bytes: Some(1 << 30),
        pids: Some(100),
        ..Default::default()
    };
    for (yaml, expected) in [
        (
            "shm_size: 2g",
            "services.web.shm_size: 2g is over this Hoster's memory maximum of 1g",
        ),
        (
            "tmpfs: \"/t:size=2g\"",
            "services.web.tmpfs./t: 2g is over this Hoster's memory maximum of 1g",
        ),
        (
            "mem_limit: 512m\n    memswap_limit: 256m",
            "services.web.memswap_limit: is memory plus swap, so it cannot be below the memory limit",
        ),
        (
            "ulimits: {nproc: 1000}",
            "services.web.ulimits.nproc: 1000 is over this Hoster's maximum of 100",
        ),
        (
            "ulimits: {rtprio: 1}",
            "services.web.ulimits.rtprio: not supported: nofile, nproc, memlock, stack, core and fsize are",
        ),
        (
            "logging: {options: {max-size: 1g}}",
            "services.web.logging.options.max-size: `1g` must be 1 to 100m",
        ),
        (
            "logging: {options: {tag: x}}",
            "services.web.logging.options.tag: not supported: max-size, max-file and compress are",
        ),
    ] {
        let c = ok(&format!("services:\n  web:\n    image: x\n    {yaml}\n"));
        let got: Vec<String> = policy::over_maxima(&c, &maxima)
            .into_iter()
            .map(|l| format!("{}: {}", l.path, l.message))
            .collect();
        assert_eq!(got, vec![expected.to_string()], "{yaml}");
    }
    for (yaml, expected) in [
        (
            "deploy: {replicas: 3}",
            "services.web.deploy.replicas: only 1 is supported: a deployment runs one container per service",
        ),
        (
            "deploy: {restart_policy: {condition: any, max_attempts: 2}}",
            "services.web.deploy.restart_policy: max_attempts needs condition: on-failure (the engine counts failures only)",
        ),
        (
            "stop_signal: NOPE!",
            "services.web.stop_signal: `NOPE!` is not a signal such as SIGTERM or 15",
        ),
        (
            "platform: amd64",
            "services.web.platform: `amd64` is not a platform such as linux/amd64",
        ),
        (
            "dns: [\"not-an-ip\"]",
            "services.web.dns[0]: `not-an-ip` is not an IP address",
        ),
        (
            "extra_hosts: [\"nohost\"]",
            "services.web.extra_hosts[0]: `nohost` is not HOST:IP",
        ),
        (
            "tmpfs: [\"/t:uid=0\"]",
            "services.web.tmpfs[0]: `uid=0` is not supported; use size= (and mode=)",
        ),
        (
            "ulimits: {nofile: {soft: 10, hard: 5}}",
            "services.web.ulimits.nofile: soft must not exceed hard",
        ),
    ] {
        has_error(&format!("services:\n  web:\n    image: x\n    {yaml}\n"), expected);
    }
}

#[test]
fn configs_and_secrets_with_inline_content_become_files() {
    let c = ok("services:
  web:
    image: x
    configs: [site, {source: site, target: /etc/site.conf, mode: 0440}]
    secrets: [token, {source: token, target: api-token}]
configs:
  site:
    content: |
      listen 80;
secrets:
  token:
    content: s3cret
");
    let files: Vec<(&str, &str, u32)> = c.services[0]
        .files
        .iter()
        .map(|f| (f.target.as_str(), f.content.as_str(), f.mode))
        .collect();
    assert_eq!(
        files,
        [
            ("/site", "listen 80;\n", 0o444),
            ("/etc/site.conf", "listen 80;\n", 0o440),
            ("/run/secrets/token", "s3cret", 0o444),
            ("/run/secrets/api-token", "s3cret", 0o444),
        ]
    );
    assert_eq!(parse_value(&c.to_canonical(), &Limits::default()).unwrap(), c);
    for (yaml, expected) in [
        (
            "configs:\n  a:\n    file: ./a.conf\n",
            "configs.a.file: not supported: a file on the host; write it as `content`, or use the template's config_files",
        ),
        (
            "secrets:\n  a:\n    external: true\n",
            "secrets.a.external: not supported: deployments never share configs or secrets",
        ),
        ("configs:\n  a: {}\n", "configs.a: give its `content`"),
    ] {
        has_error(&format!("services:\n  web:\n    image: x\n{yaml}"), expected);
    }
    has_error(
        "services:\n  web:\n    image: x\n    secrets: [missing]\n",
        "services.web.secrets[0]: no top-level secrets entry named `missing`",
    );
    has_error(
        "services:\n  web:\n    image: x\n    configs: [{source: a, target: /proc/x}]\nconfigs:\n  a:\n    content: x\n",
        "services.web.configs[0]: target `/proc/x` cannot be a file: the runtime mounts this kernel filesystem itself",
    );
    // An environment source reads a variable: it becomes interpolated content.
    let mut doc = serde_json::json!({"secrets": {"db": {"environment": "DB_PASSWORD"}}});
    document::environment_sources(&mut doc);
    assert_eq!(
        doc,
        serde_json::json!({"secrets": {"db": {"content": "${DB_PASSWORD}"}}})
    );
}

#[test]
fn links_are_names_on_the_network() {
    let c = ok(
        "services:\n  web:\n    image: x\n    links: [\"db:database\", cache]\n  db:\n    image: x\n  cache:\n    image: x\n",
    );
    assert_eq!(
        c.services[0].links[0],
        Link {
            service: "db".into(),
            alias: Some("database".into())
        }
    );
    assert_eq!(parse_value(&c.to_canonical(), &Limits::default()).unwrap(), c);
    has_error(
        "services:\n  web:\n    image: x\n    external_links: [other]\n",
        "services.web.external_links: not supported: a deployment reaches no containers outside it",
    );
}
