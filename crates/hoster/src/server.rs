//! Start-up and shutdown of `hoster serve`: open the store, connect the engine, bind, serve.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::serve::ListenerExt;
use hoster_core::template;
use tokio::net::TcpListener;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::deployer::{Deployer, Settings};
use crate::proxy::Proxy;
use crate::runtime::Engine;
use crate::store::Store;

pub struct Application {
    listener: TcpListener,
    /// The proxy-only listener, when `HOSTER_PROXY_PORT` asks for one, and what it serves.
    proxy: Option<(TcpListener, axum::Router)>,
    store: Store,
    deployer: Arc<Deployer>,
    router: axum::Router,
}

impl Application {
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let store = Store::open(&config.database_path)
            .await
            .with_context(|| format!("cannot open the database at {}", config.database_path.display()))?;
        let engine = Arc::new(Engine::new(config.docker_host.clone(), config.instance.clone()));
        let deployer = Deployer::new(
            store.clone(),
            engine.clone(),
            Settings {
                base_domain: config.base_domain.clone(),
                port_range: config.port_range.0.clone(),
                publish_address: config.publish_address,
                start_timeout: config.start_timeout,
                reconcile_interval: config.reconcile_interval,
                config_dir: config.config_dir.clone(),
            },
        );
        let addr = SocketAddr::new(config.server_host, config.server_port);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (HOSTER_SERVER_HOST/HOSTER_SERVER_PORT)"))?;
        let proxy_listener = match config.proxy_port {
            Some(port) => {
                let addr = SocketAddr::new(config.proxy_host, port);
                Some(
                    TcpListener::bind(addr)
                        .await
                        .with_context(|| format!("cannot listen on {addr} (HOSTER_PROXY_HOST/HOSTER_PROXY_PORT)"))?,
                )
            }
            None => None,
        };
        let public_port = listener.local_addr()?.port();
        let state = AppState {
            store: store.clone(),
            engine,
            deployer: deployer.clone(),
            proxy: Arc::new(Proxy::new(config.base_domain.clone())),
            public_port,
            limits: template::Limits::default(),
            max_body_bytes: config.max_body_bytes,
        };
        Ok(Self {
            listener,
            proxy: proxy_listener.map(|l| (l, api::proxy_router(state.clone()))),
            store,
            deployer,
            router: api::router(state),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn proxy_addr(&self) -> Option<SocketAddr> {
        self.proxy
            .as_ref()
            .map(|(l, _)| l.local_addr().expect("a bound listener has an address"))
    }

    /// Serves until `shutdown` resolves, lets in-flight requests finish, then closes the store.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr(), "hoster is listening");
        if let Some(addr) = self.proxy_addr() {
            tracing::info!(%addr, "proxy-only listener");
        }
        // The first reconcile pass runs at once, alongside serving: a request for a deployment
        // being reconciled waits on that deployment's lock.
        let reconciler = tokio::spawn(self.deployer.clone().reconcile_forever());
        let events = tokio::spawn(self.deployer.clone().watch_engine_events());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        let proxy = self.proxy.map(|(listener, router)| {
            let serve = axum::serve(
                listener.tap_io(no_delay),
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(until_stopped(stopped.clone()));
            tokio::spawn(async move { serve.await })
        });
        let served = axum::serve(
            self.listener.tap_io(no_delay),
            self.router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(until_stopped(stopped))
        .await;
        if let Some(proxy) = proxy {
            let _ = proxy.await;
        }
        reconciler.abort();
        events.abort();
        self.store.close().await;
        tracing::info!("hoster stopped; database closed");
        served.context("the HTTP server failed")
    }
}

/// Small responses (and proxied ones) go out at once rather than waiting on Nagle's algorithm.
fn no_delay(stream: &mut tokio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
