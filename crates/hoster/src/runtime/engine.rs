//! A connection to one Docker engine, with the API version negotiated on first use
//! (Debian's engine speaks API 1.41, older than bollard's default).

use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, Docker};
use tokio::sync::OnceCell;

use crate::config::DockerHost;

/// Seconds bollard waits for any one engine call.
const CALL_TIMEOUT_SECS: u64 = 120;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot reach the Docker engine at {host}: {source}")]
    Unreachable {
        host: String,
        source: bollard::errors::Error,
    },
    #[error("image `{image}` is not on the engine and could not be pulled: {reason}")]
    ImageUnavailable { image: String, reason: String },
    #[error("host port {port} is already in use: {message}")]
    PortUnavailable { port: String, message: String },
    #[error("Docker engine error: {0}")]
    Docker(String),
    /// The template asks for something this engine's API version cannot do; Hoster's own words.
    #[error("{0}")]
    Unsupported(String),
}

impl EngineError {
    /// The engine's own message, with port conflicts told apart.
    pub(crate) fn from_docker(e: bollard::errors::Error) -> Self {
        crate::metrics::global().engine_errors.inc();
        match e {
            bollard::errors::Error::DockerResponseServerError { message, .. }
                if message.contains("already allocated") || message.contains("address already in use") =>
            {
                let port = message
                    .split("Bind for ")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .and_then(|addr| addr.rsplit(':').next())
                    .unwrap_or("?")
                    .to_string();
                EngineError::PortUnavailable { port, message }
            }
            bollard::errors::Error::DockerResponseServerError { message, .. } if message.contains("address pool") => {
                EngineError::Docker(format!(
                    "{message} (every deployment has its own network: give the engine more with dockerd's \
                     default-address-pools, e.g. base=10.201.0.0/16,size=24)"
                ))
            }
            bollard::errors::Error::DockerResponseServerError { message, .. } => EngineError::Docker(message),
            other => EngineError::Docker(other.to_string()),
        }
    }
}

impl EngineError {
    /// What a tenant is told: a short reason without the engine's own words, which can name
    /// host paths (`/var/lib/docker/overlay2/...`) or carry what a registry answered. The full
    /// error goes to the log.
    pub fn public_message(&self) -> String {
        match self {
            EngineError::Unreachable { .. } => "the Docker engine is not available".into(),
            EngineError::ImageUnavailable { image, .. } => {
                format!("image `{image}` is not on the engine and could not be pulled")
            }
            EngineError::PortUnavailable { port, .. } => format!("host port {port} is already in use"),
            EngineError::Docker(message) => public_reason(message).into(),
            EngineError::Unsupported(message) => message.clone(),
        }
    }
}

/// A short, fixed description of an engine refusal.
pub fn public_reason(engine_message: &str) -> &'static str {
    let m = engine_message.to_ascii_lowercase();
    if m.contains("address pool") {
        "the engine has no network addresses left for another deployment (operator: see default-address-pools)"
    } else if m.contains("executable file not found") || m.contains("no such file or directory") && m.contains("exec") {
        "the container's command was not found in its image"
    } else if m.contains("mount") || m.contains("volume") {
        "the engine refused one of the service's mounts"
    } else if m.contains("oci runtime") || m.contains("runc") {
        "the container runtime could not start the container"
    } else {
        "the Docker engine refused the request"
    }
}

/// Whether the engine answered with this HTTP status (404: gone already; 304: already so).
pub(crate) fn is_status(e: &bollard::errors::Error, code: u16) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code, .. } if *status_code == code)
}

/// What `hoster doctor` reports of the engine.
#[derive(Debug, Clone)]
pub struct EngineInfo {
    pub version: String,
    pub api_version: String,
    pub data_root: Option<String>,
}

pub struct Engine {
    host: DockerHost,
    /// Objects are Hoster's when they carry `io.hoster.instance=<this>`.
    instance: String,
    client: OnceCell<Docker>,
}

impl Engine {
    /// Nothing is sent (and the socket need not exist) until the first call, so Hoster starts,
    /// and reports itself not ready, while the engine is down.
    pub fn new(host: DockerHost, instance: String) -> Self {
        Self {
            host,
            instance,
            client: OnceCell::new(),
        }
    }

    pub(super) fn instance(&self) -> &str {
        &self.instance
    }

    fn unreachable(&self, source: bollard::errors::Error) -> EngineError {
        EngineError::Unreachable {
            host: self.host.to_string(),
            source,
        }
    }

    /// The client, connected and speaking the highest API version both sides know.
    pub(super) async fn client(&self) -> Result<&Docker, EngineError> {
        self.client
            .get_or_try_init(|| async {
                let unnegotiated = match &self.host {
                    DockerHost::Unix(path) => {
                        Docker::connect_with_unix(&path.to_string_lossy(), CALL_TIMEOUT_SECS, API_DEFAULT_VERSION)
                    }
                    DockerHost::Tcp(addr) => Docker::connect_with_http(addr, CALL_TIMEOUT_SECS, API_DEFAULT_VERSION),
                }
                .map_err(|e| self.unreachable(e))?;
                unnegotiated.negotiate_version().await.map_err(|e| self.unreachable(e))
            })
            .await
    }

    /// The engine's version, the API version spoken, and its data root.
    pub async fn describe(&self) -> Result<EngineInfo, EngineError> {
        let docker = self.client().await?;
        let version = docker.version().await.map_err(|e| self.unreachable(e))?;
        let info = docker.info().await.map_err(|e| self.unreachable(e))?;
        Ok(EngineInfo {
            version: version.version.unwrap_or_default(),
            api_version: docker.client_version().to_string(),
            data_root: info.docker_root_dir,
        })
    }

    pub(super) async fn ping(&self, timeout: Duration) -> Result<(), EngineError> {
        let ping = async { self.client().await?.ping().await.map_err(|e| self.unreachable(e)) };
        match tokio::time::timeout(timeout, ping).await {
            Ok(result) => result.map(drop),
            Err(_) => Err(self.unreachable(bollard::errors::Error::RequestTimeoutError)),
        }
    }
}
