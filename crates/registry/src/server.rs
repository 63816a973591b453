//! Serving a router over TCP, optionally with rustls (HTTP/1.1 and h2 via ALPN).

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use tokio::net::TcpListener;

use crate::error::{Error, Result};

/// Load a PEM certificate chain and private key into a rustls server config (ring provider,
/// TLS 1.2+, ALPN h2 + http/1.1).
pub fn load_tls_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>> {
    palisade_pki::tls::server_config_from_pem_files(cert, key, &[b"h2", b"http/1.1"])
        .map(Arc::new)
        .map_err(|e| Error::Tls { reason: e.to_string() })
}

/// Accept connections forever, serving `router` on each (TLS when `tls` is set), within
/// [`palisade_serve::Limits::default`]: connection caps per peer and in total (tighter before
/// authentication), header and idle timeouts, a minimum body rate.
pub async fn serve(listener: TcpListener, router: axum::Router, tls: Option<Arc<ServerConfig>>) -> Result<()> {
    palisade_serve::serve(listener, router, tls, palisade_serve::Limits::default()).await.map_err(Error::from)
}
