//! The rustls client configuration for `ldaps://` and StartTLS.
//!
//! TLS is rustls with the ring provider and its safe defaults (TLS 1.2 and 1.3), verifying the
//! server's certificate and name against either the configured `ca_file` or the system's roots.
//! There is no switch to turn verification off.

use std::path::Path;
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::config::DirectoryConfig;
use crate::error::{LdapError, Result};

/// Builds the TLS client configuration, or `None` for a plaintext connection.
pub(crate) fn client_config(config: &DirectoryConfig) -> Result<Option<Arc<ClientConfig>>> {
    if !config.security().is_tls() {
        return Ok(None);
    }
    let roots = match config.ca_file() {
        Some(path) => roots_from_file(path)?,
        None => system_roots()?,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| LdapError::config("url", format!("TLS set-up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(Arc::new(tls)))
}

fn roots_from_file(path: &Path) -> Result<RootCertStore> {
    let bad = |reason: String| LdapError::config("ca_file", reason);
    let pem = std::fs::read(path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| bad(format!("{}: {e}", path.display())))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("{}: {e}", path.display())))?;
    }
    if roots.is_empty() {
        return Err(bad(format!("{} holds no PEM certificate", path.display())));
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "reading the system's CA certificates");
    }
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(LdapError::config(
            "ca_file",
            "not set, and the system has no CA certificates; set ca_file",
        ));
    }
    Ok(roots)
}
