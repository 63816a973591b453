//! Serving a router over TCP, optionally with rustls (HTTP/1.1 and h2 via ALPN).

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::error::{Error, Result};
use crate::http::TlsConnection;

/// Load a PEM certificate chain and private key into a rustls server config (ring provider,
/// TLS 1.2+, ALPN h2 + http/1.1).
pub fn load_tls_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>> {
    let tls = |reason: String| Error::Tls { reason };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls(format!("{}: {e}", cert.display())))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| tls(format!("{}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(tls(format!("{}: no certificates", cert.display())));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| tls(format!("{}: {e}", key.display())))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accept connections forever, serving `router` on each (TLS when `tls` is set).
pub async fn serve(listener: TcpListener, router: axum::Router, tls: Option<Arc<ServerConfig>>) -> Result<()> {
    let acceptor = tls.map(TlsAcceptor::from);
    loop {
        let (stream, _peer) = match listener.accept().await {
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
                Some(a) => match a.accept(stream).await {
                    Ok(s) => serve_connection(s, router, true).await,
                    Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
                },
                None => serve_connection(stream, router, false).await,
            }
        });
    }
}

async fn serve_connection<I>(io: I, router: axum::Router, is_tls: bool)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        let router = router.clone();
        if is_tls {
            req.extensions_mut().insert(TlsConnection);
        }
        async move { router.oneshot(req.map(Body::new)).await }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if let Err(e) = builder.serve_connection_with_upgrades(TokioIo::new(io), svc).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
