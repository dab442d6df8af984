//! The Compose keys people use reach the engine as Compose would set them: each checked by
//! inspecting the container Hoster made.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn compose_keys_reach_the_engine_as_compose_sets_them() {
    let h = Hoster::start().await;
    let template = h
        .publish(&json!({
            "name": "keys", "version": "1.0.0", "creator_id": "c",
            "compose_spec": "services:
  web:
    image: busybox
    command: [\"sh\", \"-c\", \"trap exit TERM QUIT; sleep 600 & wait\"]
    container_name: legacy-web
    platform: linux/amd64
    stop_signal: SIGQUIT
    tty: true
    stdin_open: true
    read_only: true
    init: true
    dns: 192.0.2.53
    dns_search: [example.internal]
    extra_hosts: [\"db.example:192.0.2.10\"]
    group_add: [\"1001\"]
    shm_size: 32m
    mem_limit: 64m
    mem_reservation: 32m
    memswap_limit: 128m
    cpu_shares: 512
    oom_score_adj: 200
    tmpfs: [\"/scratch:size=8m\"]
    ulimits:
      nofile: {soft: 1024, hard: 2048}
    logging:
      driver: json-file
      options: {max-file: \"2\"}
    volumes: [\"cache:/cache\"]
    deploy:
      restart_policy: {condition: on-failure, max_attempts: 2}
  client:
    image: busybox
    command: [\"sh\", \"-c\", \"trap exit TERM; sleep 600 & wait\"]
  tools:
    image: busybox
    profiles: [debug]
"
        }))
        .await;
    let id = h.create_deployment(&template, "keys").await;
    let running = h.start_deployment(&id).await;
    assert_eq!(running["status"], "running", "{running}");
    let containers: Vec<&str> = running["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["service_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        containers.len(),
        2,
        "the service with profiles is not started: {containers:?}"
    );
    let web = format!("hoster_{id}_web");
    let format = [
        "{{.Config.StopSignal}}",
        "{{.Config.Tty}}",
        "{{.Config.OpenStdin}}",
        "{{.HostConfig.ReadonlyRootfs}}",
        "{{.HostConfig.Init}}",
        "{{.HostConfig.Dns}}",
        "{{.HostConfig.DnsSearch}}",
        "{{.HostConfig.ExtraHosts}}",
        "{{.HostConfig.GroupAdd}}",
        "{{.HostConfig.ShmSize}}",
        "{{.HostConfig.Memory}}",
        "{{.HostConfig.MemoryReservation}}",
        "{{.HostConfig.MemorySwap}}",
        "{{.HostConfig.CpuShares}}",
        "{{.HostConfig.OomScoreAdj}}",
        "{{.HostConfig.Tmpfs}}",
        "{{range .HostConfig.Ulimits}}{{.Name}}={{.Soft}}:{{.Hard}}{{end}}",
        "{{.HostConfig.LogConfig.Type}}",
        "{{index .HostConfig.LogConfig.Config \"max-size\"}}/{{index .HostConfig.LogConfig.Config \"max-file\"}}",
        "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
        "{{.Platform}}",
    ]
    .join("|");
    assert_eq!(
        docker_inspect(&web, &format),
        format!(
            "SIGQUIT|true|true|true|true|[192.0.2.53]|[example.internal]|[db.example:192.0.2.10]|[1001]|{}|{}|{}|{}|512|200|map[/scratch:size=8388608]|nofile=1024:2048|json-file|10m/2|on-failure:2|linux",
            32 << 20,
            64 << 20,
            32 << 20,
            128 << 20
        )
    );
    // container_name is a name the other services resolve; the container keeps Hoster's name.
    let aliases = docker_inspect(&web, "{{range .NetworkSettings.Networks}}{{.Aliases}}{{end}}");
    assert!(aliases.contains("legacy-web") && aliases.contains("web"), "{aliases}");
    let resolved = exec(&format!("hoster_{id}_client"), &["nslookup", "legacy-web"]);
    assert!(resolved.contains("Address"), "{resolved}");
    // The undeclared named volume was declared for it, per deployment.
    assert!(engine_objects(&format!("io.hoster.deployment={id}")).contains(&format!("hoster_{id}_cache")));
    assert!(exec(&web, &["sh", "-c", "touch /x 2>&1 || true"]).contains("Read-only"));
    assert!(exec(&web, &["cat", "/etc/hosts"]).contains("192.0.2.10\tdb.example"));
    h.delete_deployment(&id).await;
}

#[tokio::test]
async fn start_interval_is_honoured_or_the_start_says_why_not() {
    let h = Hoster::start().await;
    let template = h
        .publish(&json!({
            "name": "start interval", "version": "1.0.0", "creator_id": "c",
            "compose_spec": "services:\n  web:\n    image: busybox\n    command: [\"sleep\", \"600\"]\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n      start_period: 30s\n      start_interval: 1s\n"
        }))
        .await;
    let id = h.create_deployment(&template, "interval").await;
    let (_, started) = h
        .request(reqwest::Method::POST, &format!("/api/v1/deployments/{id}/start"), None)
        .await;
    let api = docker_api_version();
    if api >= (1, 44) {
        assert_eq!(started["status"], "running", "{started}");
        assert_eq!(
            docker_inspect(&format!("hoster_{id}_web"), "{{.Config.Healthcheck.StartInterval}}"),
            "1000000000"
        );
    } else {
        let message = started["error"].as_str().unwrap_or_default();
        assert!(
            message.contains("healthcheck.start_interval needs Docker 25 or later (API 1.44)"),
            "engine API {api:?}: {started}"
        );
    }
    h.delete_deployment(&id).await;
}

/// The engine's API version, as `docker version` reports it.
fn docker_api_version() -> (u32, u32) {
    let out = std::process::Command::new("docker")
        .args(["version", "--format", "{{.Server.APIVersion}}"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let (major, minor) = text.trim().split_once('.').unwrap();
    (major.parse().unwrap(), minor.parse().unwrap())
}
