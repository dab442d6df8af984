//! HTTPS: certificates from files picked by SNI, and certificates obtained over ACME from a
//! real ACME server (Debian's Pebble) that validates its HTTP-01 challenges against Hoster.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::json;

use crate::helpers::*;

/// A throwaway certificate authority that signs leaf certificates for tests.
struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

impl TestCa {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "Hoster test CA");
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Self { params, key, pem }
    }

    /// Writes `<stem>.crt` and `<stem>.key` for `names` into `dir`.
    fn issue(&self, dir: &Path, stem: &str, names: &[&str]) {
        let params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params
            .signed_by(&key, &Issuer::from_params(&self.params, &self.key))
            .unwrap();
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("{stem}.crt")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{stem}.key")), key.serialize_pem()).unwrap();
    }
}

/// `curl` over HTTPS to `host` at 127.0.0.1:`port`, trusting only `ca_file`: SNI and name
/// checks are curl's own. Returns (exit ok, body or error).
fn curl_https(ca_file: &Path, host: &str, port: u16, path: &str) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca_file)
        .arg("--resolve")
        .arg(format!("{host}:{port}:127.0.0.1"))
        .arg(format!("https://{host}:{port}{path}"))
        .output()
        .expect("curl runs (testenv/setup.sh installs it)");
    let text = String::from_utf8_lossy(if out.status.success() { &out.stdout } else { &out.stderr }).into_owned();
    (out.status.success(), text)
}

/// Retries while the service behind the proxy is still coming up.
fn curl_until(ca_file: &Path, host: &str, port: u16, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (ok, text) = curl_https(ca_file, host, port, "/");
        if ok && text.to_lowercase().contains(want) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "https://{host}:{port}/ never answered: {text}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

async fn whoami_deployment(h: &Hoster) -> (String, String) {
    let template = h
        .publish(&json!({
            "name": "secure", "version": "1.0.0", "creator_id": "c",
            "compose_spec": "services:\n  who:\n    image: traefik/whoami\n    ports: [\"80\"]\n"
        }))
        .await;
    let id = h.create_deployment(&template, "secure").await;
    let domain = h.start_deployment(&id).await["domain"].as_str().unwrap().to_string();
    (id, domain)
}

#[tokio::test]
async fn https_serves_each_hostname_its_own_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let certs = dir.path().join("certs");
    ca.issue(dir.path(), "wildcard", &["*.apps.localhost"]);
    ca.issue(&certs, "shop.example.com", &["shop.example.com"]);
    let tls_port = free_port();
    let (cert, key) = (dir.path().join("wildcard.crt"), dir.path().join("wildcard.key"));
    let h = Hoster::start_in(
        tempfile::tempdir().unwrap(),
        &[
            ("HOSTER_TLS_PORT", &tls_port.to_string()),
            ("HOSTER_PROXY_HOST", "127.0.0.1"),
            ("HOSTER_TLS_CERT", cert.to_str().unwrap()),
            ("HOSTER_TLS_KEY", key.to_str().unwrap()),
            ("HOSTER_TLS_DIR", certs.to_str().unwrap()),
        ],
    )
    .await;
    let (id, domain) = whoami_deployment(&h).await;
    assert_eq!(
        h.add_domain(&id, "shop.example.com").await.0,
        reqwest::StatusCode::CREATED
    );

    // The generated hostname gets the wildcard, the custom domain its own certificate: curl
    // checks each name against the certificate it is given.
    let text = curl_until(&ca_file, &domain, tls_port, "x-forwarded-proto: https");
    assert!(
        text.to_lowercase().contains(&format!("x-forwarded-host: {domain}")),
        "{text}"
    );
    curl_until(&ca_file, "shop.example.com", tls_port, "x-forwarded-proto: https");
    // A name with no certificate of its own gets the default one, which does not cover it.
    let (ok, error) = curl_https(&ca_file, "other.example.org", tls_port, "/");
    assert!(!ok && error.contains("SSL"), "{error}");
    // An unknown name under the base domain: covered by the wildcard, answered with 404.
    let (ok, body) = curl_https(&ca_file, "nobody.apps.localhost", tls_port, "/");
    assert!(
        ok && body.contains("No deployment answers at nobody.apps.localhost"),
        "{body}"
    );
    h.delete_deployment(&id).await;
}

#[tokio::test]
async fn a_tls_port_without_certificates_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hoster"))
        .arg("serve")
        .env("HOSTER_DATABASE_PATH", dir.path().join("h.db"))
        .env("HOSTER_SERVER_PORT", "0")
        .env("HOSTER_TLS_PORT", free_port().to_string())
        .env("HOSTER_TLS_DIR", dir.path().join("none"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HOSTER_TLS_PORT needs certificates"), "{stderr}");
}

/// Pebble (an ACME server for tests) and its mock DNS, which resolves every name to 127.0.0.1.
struct Pebble {
    children: Vec<Child>,
    directory: String,
    management: u16,
}

impl Pebble {
    /// Starts Pebble so that it validates HTTP-01 challenges on `http_port` of 127.0.0.1.
    fn start(dir: &Path, ca: &TestCa, http_port: u16) -> Pebble {
        for binary in ["pebble", "pebble-challtestsrv"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {binary}")])
                .output()
                .unwrap()
                .status
                .success();
            assert!(
                found,
                "{binary} is missing: run testenv/setup.sh (it installs Debian's pebble)"
            );
        }
        ca.issue(dir, "pebble", &["127.0.0.1", "localhost"]);
        let (acme, management, dns) = (free_port(), free_port(), free_port());
        let config = json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{acme}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": dir.join("pebble.crt"),
            "privateKey": dir.join("pebble.key"),
            "httpPort": http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false
        }});
        std::fs::write(dir.join("pebble.json"), config.to_string()).unwrap();
        let dns_management = free_port();
        let dns_server = Command::new("pebble-challtestsrv")
            .args(["-defaultIPv6", "", "-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-management", &format!("127.0.0.1:{dns_management}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pebble = Command::new("pebble")
            .arg("-config")
            .arg(dir.join("pebble.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(std::fs::File::create(dir.join("pebble.log")).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pebble = Pebble {
            children: vec![dns_server, pebble],
            directory: format!("https://127.0.0.1:{acme}/dir"),
            management,
        };
        // The mock DNS answers over TCP too once it is up.
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in [acme, dns, dns_management] {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "pebble did not start");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        pebble
    }

    /// The root Pebble issues under (generated when it starts).
    fn root(&self, file: &Path) {
        let out = Command::new("curl")
            .args(["-sSk", &format!("https://127.0.0.1:{}/roots/0", self.management)])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::write(file, out.stdout).unwrap();
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test]
async fn custom_domains_get_certificates_over_acme() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let (http_port, tls_port) = (free_port(), free_port());
    let pebble = Pebble::start(dir.path(), &ca, http_port);
    let certs = dir.path().join("certs");
    let h = Hoster::start_in(
        tempfile::tempdir().unwrap(),
        &[
            ("HOSTER_PROXY_PORT", &http_port.to_string()),
            ("HOSTER_TLS_PORT", &tls_port.to_string()),
            ("HOSTER_PROXY_HOST", "127.0.0.1"),
            ("HOSTER_TLS_DIR", certs.to_str().unwrap()),
            ("HOSTER_ACME_DIRECTORY", &pebble.directory),
            ("HOSTER_ACME_EMAIL", "ops@example.test"),
            ("HOSTER_ACME_CA_CERT", ca_file.to_str().unwrap()),
        ],
    )
    .await;
    let (id, _) = whoami_deployment(&h).await;
    let (status, body) = h.add_domain(&id, "shop.example.test").await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");

    // Pebble resolves the name to 127.0.0.1, fetches the challenge from Hoster's proxy port,
    // and issues; Hoster saves the pair and serves it by SNI.
    let cert = certs.join("shop.example.test.crt");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cert.exists() {
        assert!(
            Instant::now() < deadline,
            "no certificate after 60 s; pebble log:\n{}",
            std::fs::read_to_string(dir.path().join("pebble.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let root = dir.path().join("pebble-root.pem");
    pebble.root(&root);
    let text = curl_until(&root, "shop.example.test", tls_port, "x-forwarded-proto: https");
    assert!(text.to_lowercase().contains("host: shop.example.test"), "{text}");
    let key_mode = std::fs::metadata(certs.join("shop.example.test.key")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key_mode.permissions()) & 0o777,
        0o600,
        "private keys are readable by Hoster only"
    );
    assert!(
        certs.join("acme-account.json").exists(),
        "the ACME account is kept for renewals"
    );
    h.delete_deployment(&id).await;
}
