//! The accept loop every listener runs, plain or TLS. Each connection starts on the relay
//! ([`relay`]), which passes plain HTTP/1.1 requests for running deployments on as bytes; the
//! first request it does not take hands the connection to hyper (HTTP/1.1, or HTTP/2 by prior
//! knowledge on plain listeners), where requests for a running deployment's hostname are still
//! forwarded before the axum stack ([`proxy::direct_host`]) and everything else goes through it.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::api::AppState;
use crate::proxy;
use crate::relay::{self, Prefixed};
use crate::tls::OverTls;

/// A slow or silent client gets this long to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Open requests get this long to finish once shutdown begins.
const DRAIN: Duration = Duration::from_secs(30);

/// What a listener serves: the axum router (API, or the proxy-only 404 page) and the state the
/// proxy's direct path reads.
#[derive(Clone)]
pub struct Site {
    pub router: axum::Router,
    pub state: AppState,
}

/// Accepts connections and serves `site` on them until `shutdown` resolves, then lets open
/// requests finish (up to 30 s). With `tls`, each connection first completes a handshake.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    site: Site,
    shutdown: impl Future<Output = ()> + Send,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    // Every connection holds a receiver: the channel closes when the last one has ended.
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait instead of spinning.
                    tracing::warn!(error = %e, "listener could not accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let site = site.clone();
        let stopping = stopping.clone();
        match acceptor.clone() {
            None => {
                tokio::spawn(connection(tcp, site, peer, false, stopping));
            }
            Some(acceptor) => {
                tokio::spawn(async move {
                    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    connection(tls, site, peer, true, stopping).await;
                });
            }
        }
    }
    drop(stopping);
    let _ = stop.send(true);
    let _ = tokio::time::timeout(DRAIN, stop.closed()).await;
}

/// Serves one connection until it closes, or until shutdown has drained it.
async fn connection<I>(io: I, site: Site, peer: SocketAddr, over_tls: bool, mut stopping: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (io, read) = match relay::serve(io, &site.state, peer, over_tls, &mut stopping).await {
        relay::End::Closed => return,
        relay::End::HandOver(io, read) => (io, read),
    };
    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let site = site.clone();
        async move {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            if over_tls {
                request.extensions_mut().insert(OverTls);
            }
            if let Some(host) = proxy::direct_host(&site.state, &request)
                && let Some(upstream) = proxy::direct_upstream(&site.state, &host).await
            {
                return Ok::<_, Infallible>(proxy::forward(&site.state, host, upstream, peer, request).await);
            }
            site.router.oneshot(request).await
        }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(Prefixed::new(io, read)), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = relay::stopped(&mut stopping) => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
