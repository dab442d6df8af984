//! Settings of `hoster serve`: each one a flag and a `HOSTER_*` environment variable.

use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address the API listens on.
    #[arg(long = "host", env = "HOSTER_SERVER_HOST", default_value = "127.0.0.1")]
    pub server_host: IpAddr,

    /// `local`: no credentials, loopback only. `token`: every API call needs a bearer token.
    #[arg(long = "auth-mode", env = "HOSTER_AUTH_MODE", value_enum, default_value_t = AuthMode::Local)]
    pub auth_mode: AuthMode,

    /// API requests per second allowed to each token (bursts of twice that); 0 turns it off.
    #[arg(long = "rate-limit", env = "HOSTER_RATE_LIMIT", default_value_t = 50)]
    pub rate_limit: u32,

    /// Port the API listens on (0 picks a free one).
    #[arg(long = "port", env = "HOSTER_SERVER_PORT", default_value_t = 9090)]
    pub server_port: u16,

    /// Port of an extra listener that only proxies deployments' hostnames (production: 80).
    #[arg(long = "proxy-port", env = "HOSTER_PROXY_PORT")]
    pub proxy_port: Option<u16>,

    /// Address the proxy-only and TLS listeners bind to.
    #[arg(long = "proxy-host", env = "HOSTER_PROXY_HOST", default_value = "0.0.0.0")]
    pub proxy_host: IpAddr,

    /// Port of the HTTPS listener (production: 443); it serves deployments' hostnames.
    #[arg(long = "tls-port", env = "HOSTER_TLS_PORT")]
    pub tls_port: Option<u16>,

    /// PEM certificate chain served to names without a certificate of their own (a wildcard
    /// for the base domain, typically).
    #[arg(long = "tls-cert", env = "HOSTER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of HOSTER_TLS_CERT.
    #[arg(long = "tls-key", env = "HOSTER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Directory of per-hostname certificates, `<hostname>.crt` and `<hostname>.key`; ACME
    /// saves what it obtains here. Default: `certs` in the state directory.
    #[arg(long = "tls-dir", env = "HOSTER_TLS_DIR")]
    pub tls_dir: Option<PathBuf>,

    /// ACME directory URL; when set, custom domains get certificates automatically (HTTP-01,
    /// which needs the proxy reachable on port 80 under those names).
    #[arg(long = "acme-directory", env = "HOSTER_ACME_DIRECTORY")]
    pub acme_directory: Option<String>,

    /// Contact e-mail for the ACME account.
    #[arg(long = "acme-email", env = "HOSTER_ACME_EMAIL")]
    pub acme_email: Option<String>,

    /// Root certificate (PEM) to trust for the ACME server itself, for test CAs like Pebble.
    #[arg(long = "acme-ca-cert", env = "HOSTER_ACME_CA_CERT")]
    pub acme_ca_cert: Option<PathBuf>,

    /// SQLite database file, created on first start.
    #[arg(long, env = "HOSTER_DATABASE_PATH", default_value = "./hoster.db")]
    pub database_path: PathBuf,

    /// Key that seals secret variable values and defaults in the database: 32 bytes as base64 or
    /// hex. When unset, a key file beside the database (`<database>.key`) is created and used.
    #[arg(long, env = "HOSTER_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// Base domain under which deployments get their hostnames.
    #[arg(long = "base-domain", env = "HOSTER_DOMAIN_BASE_DOMAIN", default_value = "apps.localhost", value_parser = parse_domain)]
    pub base_domain: String,

    /// Docker engine: unix:///path/to/docker.sock or tcp://host:port.
    #[arg(long, env = "HOSTER_DOCKER_HOST", default_value = "unix:///var/run/docker.sock")]
    pub docker_host: DockerHost,

    /// Name of this Hoster on the engine: it owns (and reconciles) only objects labelled with it,
    /// so several Hosters can share one engine.
    #[arg(long, env = "HOSTER_INSTANCE", default_value = "default", value_parser = parse_instance)]
    pub instance: String,

    /// Directory for the config files rendered for each deployment. Default: `configs` in the
    /// state directory ($STATE_DIRECTORY, /var/lib/hoster if writable, else ~/.local/state/hoster).
    #[arg(long, env = "HOSTER_CONFIG_DIR")]
    pub config_dir: Option<PathBuf>,

    /// Host ports handed out when a template's own port is taken or not given.
    #[arg(long, env = "HOSTER_PORT_RANGE", default_value = "30000-39999")]
    pub port_range: PortRange,

    /// Address published container ports bind to; 0.0.0.0 opens them to every interface.
    #[arg(long, env = "HOSTER_PUBLISH_ADDRESS", default_value = "127.0.0.1")]
    pub publish_address: IpAddr,

    /// How often the database and the engine are reconciled (engine events also trigger it).
    #[arg(long, env = "HOSTER_RECONCILE_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub reconcile_interval: Duration,

    /// Longest wait for a dependency to become healthy or complete during a start.
    #[arg(long, env = "HOSTER_START_TIMEOUT", default_value = "120s", value_parser = parse_duration)]
    pub start_timeout: Duration,

    /// Memory limit of a container whose service sets none (e.g. 512m, 1g).
    #[arg(long, env = "HOSTER_DEFAULT_MEMORY", default_value = "512m", value_parser = parse_size)]
    pub default_memory: u64,

    /// CPU limit of a container whose service sets none (e.g. 0.5, 1).
    #[arg(long, env = "HOSTER_DEFAULT_CPUS", default_value_t = 1.0, value_parser = parse_cpus)]
    pub default_cpus: f64,

    /// Process limit of a container whose service sets none.
    #[arg(long, env = "HOSTER_DEFAULT_PIDS", default_value_t = 512, value_parser = clap::value_parser!(i64).range(1..))]
    pub default_pids: i64,

    /// Most memory a template's service may ask for.
    #[arg(long, env = "HOSTER_MAX_MEMORY", default_value = "4g", value_parser = parse_size)]
    pub max_memory: u64,

    /// Most CPUs a template's service may ask for.
    #[arg(long, env = "HOSTER_MAX_CPUS", default_value_t = 2.0, value_parser = parse_cpus)]
    pub max_cpus: f64,

    /// Most processes a template's service may ask for.
    #[arg(long, env = "HOSTER_MAX_PIDS", default_value_t = 4096, value_parser = clap::value_parser!(i64).range(1..))]
    pub max_pids: i64,

    /// Deployments one customer may have at a time.
    #[arg(long, env = "HOSTER_MAX_DEPLOYMENTS_PER_CUSTOMER", default_value_t = 20)]
    pub max_deployments_per_customer: u32,

    /// Largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "HOSTER_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Where operators reach the API (`https://hoster.example.com`); its host is an API host.
    #[arg(long = "public-url", env = "HOSTER_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// Hostnames (or IP addresses) the API answers on, comma-separated; loopback addresses and
    /// the host of HOSTER_PUBLIC_URL always are. Requests naming any other host get a
    /// deployment or 421, never the API.
    #[arg(
        long = "api-hosts",
        env = "HOSTER_API_HOSTS",
        value_delimiter = ',',
        default_value = "localhost"
    )]
    pub api_hosts: Vec<String>,

    /// Peers (IPs or CIDRs, comma-separated) whose X-Forwarded-For/Forwarded/X-Real-IP headers
    /// the proxy keeps; from anyone else they are replaced.
    #[arg(long = "trusted-proxies", env = "HOSTER_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<Cidr>,

    /// How a custom domain proves it points here: `dns` (a TXT record or a CNAME) or `none`
    /// (every name is taken on trust: for single-tenant use only).
    #[arg(long = "domain-verification", env = "HOSTER_DOMAIN_VERIFICATION", value_enum, default_value_t = DomainVerification::Dns)]
    pub domain_verification: DomainVerification,

    /// DNS server (ip:port) for domain checks; the system's resolvers when unset.
    #[arg(long = "dns-server", env = "HOSTER_DNS_SERVER")]
    pub dns_server: Option<std::net::SocketAddr>,

    /// How often pending custom domains are checked again.
    #[arg(long = "domain-check-interval", env = "HOSTER_DOMAIN_CHECK_INTERVAL", default_value = "1m", value_parser = parse_duration)]
    pub domain_check_interval: Duration,

    /// Custom domains one deployment may have.
    #[arg(
        long = "max-domains-per-deployment",
        env = "HOSTER_MAX_DOMAINS_PER_DEPLOYMENT",
        default_value_t = 10
    )]
    pub max_domains_per_deployment: u32,

    /// Registries (`host[:port]`, comma-separated) templates may pull from even though their
    /// host is loopback, private, link-local or an IP address.
    #[arg(
        long = "allowed-registries",
        env = "HOSTER_ALLOWED_REGISTRIES",
        value_delimiter = ','
    )]
    pub allowed_registries: Vec<String>,

    /// Directory backups are kept in (files 0600). Default: `backups` in the state directory.
    #[arg(long = "backup-dir", env = "HOSTER_BACKUP_DIR")]
    pub backup_dir: Option<PathBuf>,

    /// An S3-compatible store backups are kept in instead, `s3://bucket/prefix`; credentials
    /// and endpoint from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION and
    /// AWS_ENDPOINT (AWS_ALLOW_HTTP is implied by an http:// endpoint).
    #[arg(long = "backup-s3-url", env = "HOSTER_BACKUP_S3_URL")]
    pub backup_s3_url: Option<String>,

    /// When `serve` backs up its own database, in cron syntax, UTC (`0 3 * * *`: daily at
    /// 03:00). Off when unset.
    #[arg(long = "db-backup-schedule", env = "HOSTER_DB_BACKUP_SCHEDULE", value_parser = parse_schedule)]
    pub db_backup_schedule: Option<hoster_core::schedule::Schedule>,

    /// Scheduled database backups kept; older ones are removed after each new one.
    #[arg(long = "db-backup-keep", env = "HOSTER_DB_BACKUP_KEEP", default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..))]
    pub db_backup_keep: u32,

    /// Log format.
    #[arg(long, env = "HOSTER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Config {
    /// HOSTER_CONFIG_DIR, or `configs` in the state directory.
    pub fn config_dir(&self) -> PathBuf {
        self.config_dir
            .clone()
            .unwrap_or_else(|| crate::paths::state_dir().join("configs"))
    }

    /// Where backups go: HOSTER_BACKUP_S3_URL, else HOSTER_BACKUP_DIR, else `backups` in the
    /// state directory.
    pub fn backup_destination(&self) -> Result<crate::backup::destination::Destination, String> {
        match &self.backup_s3_url {
            Some(url) => crate::backup::destination::Destination::parse(url).map_err(|e| e.to_string()),
            None => Ok(crate::backup::destination::Destination::Dir(
                self.backup_dir
                    .clone()
                    .unwrap_or_else(|| crate::paths::state_dir().join("backups")),
            )),
        }
    }

    /// HOSTER_TLS_DIR, or `certs` in the state directory.
    pub fn tls_dir(&self) -> PathBuf {
        self.tls_dir
            .clone()
            .unwrap_or_else(|| crate::paths::state_dir().join("certs"))
    }

    /// The directories this configuration writes to, whether Hoster creates them, and the
    /// setting that moves each: the database's (which must exist, as SQLite does not make
    /// directories either), the config copies', and the certificates' when ACME saves there.
    pub fn writable_dirs(&self) -> Vec<(PathBuf, bool, &'static str)> {
        let mut dirs = vec![
            (
                crate::paths::parent_of(&self.database_path),
                false,
                "HOSTER_DATABASE_PATH",
            ),
            (self.config_dir(), true, "HOSTER_CONFIG_DIR"),
        ];
        if self.acme_directory.is_some() {
            dirs.push((self.tls_dir(), true, "HOSTER_TLS_DIR"));
        }
        dirs
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    Local,
    Token,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DomainVerification {
    Dns,
    None,
}

/// An address block, `10.0.0.0/8` or `::1` (a single address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || format!("`{s}` is not an IP address or block such as 10.0.0.0/8");
        let (ip, prefix) = match s.trim().split_once('/') {
            Some((ip, prefix)) => (ip, Some(prefix)),
            None => (s.trim(), None),
        };
        let network: IpAddr = ip.parse().map_err(|_| err())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse().map_err(|_| err())?,
            None => max,
        };
        if prefix > max {
            return Err(err());
        }
        Ok(Cidr { network, prefix })
    }
}

/// `http(s)://host[:port][/path]`; what operators type into a browser to reach the API.
fn parse_public_url(s: &str) -> Result<String, String> {
    public_url_host(s)
        .map(|_| s.trim_end_matches('/').to_string())
        .ok_or_else(|| format!("`{s}` is not a URL such as https://hoster.example.com"))
}

/// The host (name or IP literal) of a public URL.
pub fn public_url_host(url: &str) -> Option<String> {
    let uri: axum::http::Uri = url.parse().ok()?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return None;
    }
    let host = uri.host()?;
    hoster_core::hostname::parse_authority(host).map(|_| host.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// An inclusive range of host ports, written `30000-39999`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRange(pub RangeInclusive<u16>);

impl FromStr for PortRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || format!("`{s}` is not a port range such as 30000-39999");
        let (lo, hi) = s.split_once('-').ok_or_else(err)?;
        let (lo, hi): (u16, u16) = (
            lo.trim().parse().map_err(|_| err())?,
            hi.trim().parse().map_err(|_| err())?,
        );
        if lo == 0 || lo > hi {
            return Err(err());
        }
        Ok(PortRange(lo..=hi))
    }
}

fn parse_schedule(s: &str) -> Result<hoster_core::schedule::Schedule, String> {
    hoster_core::schedule::Schedule::parse(s)
}

fn parse_size(s: &str) -> Result<u64, String> {
    match hoster_core::compose::parse_bytes(s)? {
        n if n < 6 << 20 => Err("must be at least 6m (the engine's smallest memory limit)".into()),
        n => Ok(n),
    }
}

fn parse_cpus(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(n) if (0.01..=1024.0).contains(&n) => Ok(n),
        _ => Err(format!("`{s}` is not a CPU count such as 0.5 or 2")),
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    match hoster_core::compose::parse_duration(s)? {
        d if d.is_zero() => Err("must be longer than zero".into()),
        d => Ok(d),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerHost {
    Unix(PathBuf),
    /// `host:port` of an engine listening on plain TCP.
    Tcp(String),
}

impl FromStr for DockerHost {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("unix://").filter(|p| p.starts_with('/')) {
            return Ok(DockerHost::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = s.strip_prefix("tcp://").or_else(|| s.strip_prefix("http://"))
            && addr
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
        {
            return Ok(DockerHost::Tcp(addr.trim_end_matches('/').to_string()));
        }
        Err(format!("`{s}` is not unix:///path/to/docker.sock or tcp://host:port"))
    }
}

impl fmt::Display for DockerHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DockerHost::Unix(path) => write!(f, "unix://{}", path.display()),
            DockerHost::Tcp(addr) => write!(f, "tcp://{addr}"),
        }
    }
}

fn parse_instance(s: &str) -> Result<String, String> {
    let ok = (1..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}` must be 1 to 63 characters of a-z, 0-9, `-`, `_`, `.`"))
    }
}

fn parse_domain(s: &str) -> Result<String, String> {
    let lower = s.trim_end_matches('.').to_ascii_lowercase();
    if lower.len() <= 200 && lower.split('.').all(hoster_core::hostname::valid_label) {
        Ok(lower)
    } else {
        Err(format!("`{s}` is not a domain name such as apps.example.com"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hosts() {
        assert_eq!(
            "unix:///var/run/docker.sock".parse(),
            Ok(DockerHost::Unix("/var/run/docker.sock".into()))
        );
        assert_eq!(
            "tcp://10.0.0.5:2375".parse(),
            Ok(DockerHost::Tcp("10.0.0.5:2375".into()))
        );
        for bad in ["", "/var/run/docker.sock", "unix://relative", "tcp://nohost", "ssh://x"] {
            assert!(bad.parse::<DockerHost>().is_err(), "{bad}");
        }
    }

    #[test]
    fn port_ranges_and_durations() {
        assert_eq!("30000-39999".parse(), Ok(PortRange(30000..=39999)));
        for bad in ["", "30000", "0-10", "10-5", "a-b", "1-70000"] {
            assert!(bad.parse::<PortRange>().is_err(), "{bad}");
        }
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn address_blocks_and_public_urls() {
        let block: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(block.contains("10.1.200.3".parse().unwrap()));
        assert!(!block.contains("10.2.0.1".parse().unwrap()));
        assert!(!block.contains("::1".parse().unwrap()));
        let one: Cidr = "::1".parse().unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!(
            "0.0.0.0/0"
                .parse::<Cidr>()
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        for bad in ["", "10.0.0.0/33", "x", "10.0.0.0/"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert_eq!(
            public_url_host("https://Hoster.Example.com:8443/x").as_deref(),
            Some("Hoster.Example.com")
        );
        assert_eq!(public_url_host("http://[::1]:9090").as_deref(), Some("[::1]"));
        for bad in ["hoster.example.com", "ftp://x.com", "https://", "https://a b"] {
            assert!(public_url_host(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn domains() {
        assert_eq!(parse_domain("Apps.Example.COM."), Ok("apps.example.com".into()));
        for bad in ["", "a..b", "-a.com", "a_b.com", "a b"] {
            assert!(parse_domain(bad).is_err(), "{bad}");
        }
    }
}
