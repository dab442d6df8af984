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
    #[error("Docker engine error: {0}")]
    Docker(#[from] bollard::errors::Error),
}

pub struct Engine {
    host: DockerHost,
    client: OnceCell<Docker>,
}

impl Engine {
    /// Nothing is sent (and the socket need not exist) until the first call, so Hoster starts,
    /// and reports itself not ready, while the engine is down.
    pub fn new(host: DockerHost) -> Self {
        Self {
            host,
            client: OnceCell::new(),
        }
    }

    fn unreachable(&self, source: bollard::errors::Error) -> EngineError {
        EngineError::Unreachable {
            host: self.host.to_string(),
            source,
        }
    }

    /// The client, connected and speaking the highest API version both sides know.
    pub async fn client(&self) -> Result<&Docker, EngineError> {
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

    pub async fn ping(&self, timeout: Duration) -> Result<(), EngineError> {
        let ping = async { self.client().await?.ping().await.map_err(|e| self.unreachable(e)) };
        match tokio::time::timeout(timeout, ping).await {
            Ok(result) => result.map(drop),
            Err(_) => Err(self.unreachable(bollard::errors::Error::RequestTimeoutError)),
        }
    }
}
