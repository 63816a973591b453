//! Serving a router over TCP, optionally with rustls (HTTP/1.1 and h2 via ALPN).

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::error::{Error, Result};
use crate::http::TlsConnection;

/// Load a PEM certificate chain and private key into a rustls server config (ring provider,
/// TLS 1.2+, ALPN h2 + http/1.1).
pub fn load_tls_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>> {
    palisade_pki::tls::server_config_from_pem_files(cert, key, &[b"h2", b"http/1.1"])
        .map(Arc::new)
        .map_err(|e| Error::Tls { reason: e.to_string() })
}

/// A TLS handshake that takes longer than this is dropped.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Accept connections forever, serving `router` on each (TLS when `tls` is set).
pub async fn serve(listener: TcpListener, router: axum::Router, tls: Option<Arc<ServerConfig>>) -> Result<()> {
    let acceptor = tls.map(TlsAcceptor::from);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                // A client that never finishes its handshake does not hold a task forever.
                Some(a) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, a.accept(stream)).await {
                    Ok(Ok(s)) => serve_connection(s, router, true, peer).await,
                    Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                },
                None => serve_connection(stream, router, false, peer).await,
            }
        });
    }
}

async fn serve_connection<I>(io: I, router: axum::Router, is_tls: bool, peer: std::net::SocketAddr)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        let router = router.clone();
        if is_tls {
            req.extensions_mut().insert(TlsConnection);
        }
        req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        async move { router.oneshot(req.map(Body::new)).await }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if let Err(e) = builder.serve_connection_with_upgrades(TokioIo::new(io), svc).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
