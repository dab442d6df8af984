//! Start-up and shutdown of `hoster serve`: open the store, connect the engine, bind, serve.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use hoster_core::compose::Resources;
use hoster_core::compose::policy::{Maxima, Policy};
use hoster_core::hostname::ApiHosts;
use hoster_core::template;
use tokio::net::TcpListener;

use crate::acme::{AcmeIssuer, AcmeSettings, Certificates};
use crate::api::{self, AppState};
use crate::config::{AuthMode, Config, DomainVerification};
use crate::deployer::{Deployer, Settings};
use crate::domains::{Domains, Verification};
use crate::http::{self, Site};
use crate::proxy::Proxy;
use crate::runtime::{Engine, Runtime};
use crate::store::Store;
use crate::tls::{self, CertStore};

pub struct Application {
    listener: TcpListener,
    /// The proxy-only listener, when `HOSTER_PROXY_PORT` asks for one, and what it serves.
    proxy: Option<(TcpListener, Site)>,
    /// The HTTPS listener, when `HOSTER_TLS_PORT` asks for one, with its TLS settings.
    tls: Option<(TcpListener, Arc<rustls::ServerConfig>, Site)>,
    certificates: Option<Arc<Certificates>>,
    store: Store,
    deployer: Arc<Deployer>,
    domains: Arc<Domains>,
    domain_check_interval: std::time::Duration,
    db_backups: Option<crate::backup::database::Scheduled>,
    site: Site,
}

impl Application {
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        for (dir, create, setting) in config.writable_dirs() {
            crate::paths::check(&dir, create, setting).map_err(anyhow::Error::msg)?;
        }
        let store = Store::open_keyed(&config.database_path, config.secret_key.as_deref())
            .await
            .with_context(|| format!("cannot open the database at {}", config.database_path.display()))?;
        let policy = policy(config);
        let engine: Arc<dyn Runtime> = Arc::new(Engine::new(config.docker_host.clone(), config.instance.clone()));
        if config.auth_mode == AuthMode::Local && !config.server_host.is_loopback() {
            anyhow::bail!(
                "HOSTER_AUTH_MODE=local asks for no credentials, so the API listens on loopback only; \
                 set HOSTER_AUTH_MODE=token (and create tokens with `hoster token create`) to listen on {}",
                config.server_host
            );
        }
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
        let (tls_listener, certs) = tls_setup(config).await?;
        let certificates = match (&config.acme_directory, &certs) {
            (Some(url), Some(certs)) => {
                let issuer = AcmeIssuer::new(AcmeSettings {
                    directory_url: url.clone(),
                    email: config.acme_email.clone(),
                    ca_cert: config.acme_ca_cert.clone(),
                    account_file: config.tls_dir().join("acme-account.json"),
                });
                Some(Certificates::new(
                    store.clone(),
                    certs.clone(),
                    config.tls_dir(),
                    Arc::new(issuer),
                ))
            }
            _ => None,
        };
        let verification = match config.domain_verification {
            DomainVerification::Dns => Verification::Dns(Arc::new(crate::dns::Dns::new(config.dns_server)?)),
            DomainVerification::None => Verification::None,
        };
        let domains = Arc::new(Domains::new(
            store.clone(),
            verification,
            certificates.clone(),
            config.max_domains_per_deployment,
        ));
        let public_port = listener.local_addr()?.port();
        let limits = template::Limits {
            maxima: Maxima {
                memory_bytes: Some(config.max_memory),
                cpus: Some(config.max_cpus),
                pids: Some(config.max_pids),
            },
            policy,
            ..template::Limits::default()
        };
        let deployer = Deployer::new(
            store.clone(),
            engine.clone(),
            Settings {
                base_domain: config.base_domain.clone(),
                port_range: config.port_range.0.clone(),
                publish_address: config.publish_address,
                start_timeout: config.start_timeout,
                reconcile_interval: config.reconcile_interval,
                config_dir: config.config_dir(),
                default_limits: Resources {
                    cpus: Some(config.default_cpus),
                    memory_bytes: Some(config.default_memory),
                    pids: Some(config.default_pids),
                },
                max_deployments_per_customer: config.max_deployments_per_customer,
                limits: limits.clone(),
                public_port,
                own_ports: [Some(config.server_port), config.proxy_port, config.tls_port]
                    .into_iter()
                    .flatten()
                    .filter(|p| *p != 0)
                    .collect(),
            },
        );
        let state = AppState::new(api::Shared {
            store: store.clone(),
            engine,
            deployer: deployer.clone(),
            proxy: Arc::new(Proxy::new(
                config.base_domain.clone(),
                api_hosts(config)?,
                config.trusted_proxies.clone(),
            )),
            certificates: certificates.clone(),
            public_port,
            limits: limits.clone(),
            max_body_bytes: config.max_body_bytes,
            auth_mode: config.auth_mode,
            rate_limiter: Arc::new(api::RateLimiter::new(config.rate_limit)),
            domains: domains.clone(),
            template_pages: Default::default(),
            console_keys: Default::default(),
            backups: config
                .backup_destination()
                .map_err(|e| anyhow::anyhow!("HOSTER_BACKUP_S3_URL: {e}"))?,
        });
        Ok(Self {
            listener,
            proxy: proxy_listener.map(|l| (l, proxy_site(&state))),
            tls: tls_listener
                .zip(certs)
                .map(|(l, certs)| (l, tls::server_config(certs), proxy_site(&state))),
            certificates,
            store,
            deployer,
            domains,
            domain_check_interval: config.domain_check_interval,
            db_backups: scheduled_backups(config)?,
            site: Site {
                router: api::router(state.clone()),
                state,
            },
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls
            .as_ref()
            .map(|(l, _, _)| l.local_addr().expect("a bound listener has an address"))
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
        if let Some(addr) = self.tls_addr() {
            tracing::info!(%addr, "HTTPS listener");
        }
        // No backup or restore runs yet: a volume helper now is one a crash left behind.
        match self.site.state.engine.remove_helpers().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "removed volume helpers a crash left"),
            Err(e) => tracing::warn!(error = %e, "cannot look for leftover volume helpers"),
        }
        // The first reconcile pass runs at once, alongside serving: a request for a deployment
        // being reconciled waits on that deployment's lock.
        let reconciler = tokio::spawn(self.deployer.clone().reconcile_forever());
        let events = tokio::spawn(self.deployer.clone().watch_engine_events());
        let domain_checks = tokio::spawn(self.domains.clone().check_pending_forever(self.domain_check_interval));
        let db_backups = self.db_backups.map(|b| tokio::spawn(b.run_forever()));
        let scheduled = tokio::spawn(
            self.deployer
                .clone()
                .back_up_on_schedules(self.site.state.backups.clone()),
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        let renewer = self.certificates.map(|c| tokio::spawn(c.renew_forever()));
        let tls = self.tls.map(|(listener, config, site)| {
            tokio::spawn(http::serve(
                listener,
                Some(config),
                site,
                until_stopped(stopped.clone()),
            ))
        });
        let proxy = self
            .proxy
            .map(|(listener, site)| tokio::spawn(http::serve(listener, None, site, until_stopped(stopped.clone()))));
        http::serve(self.listener, None, self.site, until_stopped(stopped)).await;
        for listener in [proxy, tls].into_iter().flatten() {
            let _ = listener.await;
        }
        for task in [renewer, db_backups].into_iter().flatten() {
            task.abort();
        }
        reconciler.abort();
        scheduled.abort();
        events.abort();
        domain_checks.abort();
        self.store.close().await;
        tracing::info!("hoster stopped; database closed");
        Ok(())
    }
}

/// HOSTER_DB_BACKUP_SCHEDULE's backups, checked at start: a destination that cannot be
/// reached by configuration is an error now, not at 03:00.
fn scheduled_backups(config: &Config) -> anyhow::Result<Option<crate::backup::database::Scheduled>> {
    let Some(schedule) = config.db_backup_schedule.clone() else {
        return Ok(None);
    };
    let to = config
        .backup_destination()
        .map_err(|e| anyhow::anyhow!("HOSTER_BACKUP_S3_URL: {e}"))?;
    let sealer = crate::sealing::Sealer::load(config.secret_key.as_deref(), &config.database_path)
        .map_err(anyhow::Error::msg)?;
    Ok(Some(crate::backup::database::Scheduled {
        database: config.database_path.clone(),
        sealer,
        to,
        schedule,
        keep: config.db_backup_keep as usize,
    }))
}

fn policy(config: &Config) -> Policy {
    Policy {
        allowed_registries: config
            .allowed_registries
            .iter()
            .map(|r| r.trim().to_ascii_lowercase())
            .collect(),
    }
}

/// The names and addresses the API answers on: HOSTER_API_HOSTS, the host of
/// HOSTER_PUBLIC_URL, and the address it listens on when that is a specific one.
fn api_hosts(config: &Config) -> anyhow::Result<ApiHosts> {
    let public = config.public_url.as_deref().and_then(crate::config::public_url_host);
    let listen = (!config.server_host.is_unspecified()).then(|| config.server_host.to_string());
    let listed = config
        .api_hosts
        .iter()
        .cloned()
        .chain(public)
        .chain(listen)
        .collect::<Vec<_>>();
    ApiHosts::new(listed.iter().map(String::as_str)).map_err(|e| anyhow::anyhow!("HOSTER_API_HOSTS: {e}"))
}

/// Binds the HTTPS listener and loads its certificates, when `HOSTER_TLS_PORT` is set.
async fn tls_setup(config: &Config) -> anyhow::Result<(Option<TcpListener>, Option<Arc<CertStore>>)> {
    let Some(port) = config.tls_port else {
        return Ok((None, None));
    };
    let default = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            Some(tls::load_files(cert, key).map_err(|e| anyhow::anyhow!("HOSTER_TLS_CERT/HOSTER_TLS_KEY: {e}"))?)
        }
        _ => None,
    };
    let certs = Arc::new(CertStore::new(default));
    let tls_dir = config.tls_dir();
    let loaded = certs.load_dir(&tls_dir);
    if certs.is_empty() && config.acme_directory.is_none() {
        anyhow::bail!(
            "HOSTER_TLS_PORT needs certificates: HOSTER_TLS_CERT and HOSTER_TLS_KEY, <hostname>.crt/.key files in \
             HOSTER_TLS_DIR ({}), or HOSTER_ACME_DIRECTORY",
            tls_dir.display()
        );
    }
    tracing::info!(dir = %tls_dir.display(), loaded, "certificates loaded");
    let addr = SocketAddr::new(config.proxy_host, port);
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (HOSTER_PROXY_HOST/HOSTER_TLS_PORT)"))?;
    Ok((Some(listener), Some(certs)))
}

/// What the proxy-only and HTTPS listeners serve: deployments, and a 404 page for other names.
fn proxy_site(state: &AppState) -> Site {
    Site {
        router: api::proxy_router(state.clone()),
        state: state.clone(),
    }
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
