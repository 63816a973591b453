//! rustls configurations for the cluster port.
//!
//! The cluster port is mutually authenticated: the server presents its manager certificate and
//! verifies client certificates against the cluster root. Client certificates are *optional at
//! the TLS layer* only so that a joining node, which has none yet, can reach the join call; the
//! cluster server refuses every other call from a connection without a verified certificate.
//! Only TLS 1.2 and 1.3 are enabled (rustls implements nothing older).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::root_ca::parse_pem_certificates;
use crate::{Clock, Error, NodeKey, Result, RootCa};

/// The DNS name every manager certificate carries; clients verify managers under this name, so
/// a worker certificate can never impersonate a manager.
pub const MANAGER_SERVER_NAME: &str = "swarm-manager";

/// The crypto provider used for all cluster TLS (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

const VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Lets rustls judge certificate validity by the injected [`Clock`], so expiry decisions in
/// the TLS layer and in renewal policy agree (and tests can move time).
#[derive(Debug)]
struct ClockTime(Arc<dyn Clock>);

impl rustls::time_provider::TimeProvider for ClockTime {
    fn current_time(&self) -> Option<UnixTime> {
        let seconds = u64::try_from(self.0.now().unix_timestamp()).ok()?;
        Some(UnixTime::since_unix_epoch(std::time::Duration::from_secs(seconds)))
    }
}

fn root_store(trust: &RootCa) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in trust.certs_der() {
        roots.add(cert.clone()).map_err(|e| Error::Tls(e.to_string()))?;
    }
    Ok(roots)
}

/// The server side of the cluster port for a manager holding `cert_pem` (leaf first, then any
/// intermediates) and `key`.
pub fn server_config(trust: &RootCa, cert_pem: &str, key: &NodeKey, clock: Arc<dyn Clock>) -> Result<ServerConfig> {
    let provider = provider();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(root_store(trust)?), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| Error::Tls(e.to_string()))?;
    let mut config = ServerConfig::builder_with_details(provider, Arc::new(ClockTime(clock)))
        .with_protocol_versions(VERSIONS)
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(parse_pem_certificates(cert_pem)?, key.to_rustls())
        .map_err(|e| Error::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A server-only TLS configuration (no client certificates) from PEM files: the certificate
/// chain in `cert`, the private key (PKCS#8, SEC1 or PKCS#1) in `key`; TLS 1.2 and 1.3 only, and
/// the given ALPN protocols. Used by the standalone registry and trust servers.
pub fn server_config_from_pem_files(cert: &std::path::Path, key: &std::path::Path, alpn: &[&[u8]]) -> Result<ServerConfig> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::PrivateKeyDer;
    let bad = |path: &std::path::Path, e: &dyn std::fmt::Display| Error::Tls(format!("{}: {e}", path.display()));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, &e))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(cert, &e))?;
    if certs.is_empty() {
        return Err(bad(cert, &"no certificates"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, &e))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| Error::Tls(e.to_string()))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// A server certificate and key that can be replaced while servers run on it (renewal, CA
/// rotation): handshakes after [`ReloadableCert::replace`] present the new certificate,
/// connections already open keep theirs.
#[derive(Debug)]
pub struct ReloadableCert(std::sync::RwLock<Arc<CertifiedKey>>);

impl ReloadableCert {
    /// Starts with `cert_pem` (leaf first, then intermediates) and its `key`.
    pub fn new(cert_pem: &str, key: &NodeKey) -> Result<Arc<Self>> {
        Ok(Arc::new(Self(std::sync::RwLock::new(certified_key(cert_pem, key)?))))
    }

    /// Presents `cert_pem`/`key` from the next handshake on. Nothing changes on error.
    pub fn replace(&self, cert_pem: &str, key: &NodeKey) -> Result<()> {
        let fresh = certified_key(cert_pem, key)?;
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// The leaf certificate currently presented.
    pub fn current_leaf(&self) -> CertificateDer<'static> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).cert[0].clone()
    }
}

fn certified_key(cert_pem: &str, key: &NodeKey) -> Result<Arc<CertifiedKey>> {
    let chain = parse_pem_certificates(cert_pem)?;
    if chain.is_empty() {
        return Err(Error::Tls("no certificate".into()));
    }
    let signing = provider().key_provider.load_private_key(key.to_rustls()).map_err(|e| Error::Tls(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| Error::Tls(e.to_string()))?;
    Ok(Arc::new(certified))
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// A server-only TLS configuration (no client certificates) presenting `cert`; TLS 1.2 and 1.3
/// only, and the given ALPN protocols.
pub fn server_config_with_cert(cert: Arc<ReloadableCert>, alpn: &[&[u8]]) -> Result<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// A client of the cluster port that verifies the manager against `trust` and, when it has one,
/// presents the node's own certificate.
pub fn client_config(trust: &RootCa, identity: Option<(&str, &NodeKey)>, clock: Arc<dyn Clock>) -> Result<ClientConfig> {
    let builder = ClientConfig::builder_with_details(provider(), Arc::new(ClockTime(clock)))
        .with_protocol_versions(VERSIONS)
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(root_store(trust)?);
    let mut config = match identity {
        Some((cert_pem, key)) => builder
            .with_client_auth_cert(parse_pem_certificates(cert_pem)?, key.to_rustls())
            .map_err(|e| Error::Tls(e.to_string()))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Checks that `cert_pem` (a leaf followed by any intermediates) chains to `trust` and is valid
/// for client authentication at `now` — what the cluster port will demand of it.
pub fn verify_node_chain(trust: &RootCa, cert_pem: &str, now: time::OffsetDateTime) -> Result<()> {
    verify_node_certificates(trust, &parse_pem_certificates(cert_pem)?, now)
}

/// [`verify_node_chain`] for certificates already in DER form: `chain` is the leaf followed by
/// any intermediates, and must chain to `trust` and be valid for client authentication at `now`
/// (which need not be the present: an audit head is judged at the time it was signed).
pub fn verify_node_certificates(trust: &RootCa, chain: &[CertificateDer<'_>], now: time::OffsetDateTime) -> Result<()> {
    let (leaf, intermediates) = chain.split_first().ok_or_else(|| Error::Untrusted("no certificate".into()))?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(root_store(trust)?), provider())
        .build()
        .map_err(|e| Error::Tls(e.to_string()))?;
    let seconds = u64::try_from(now.unix_timestamp()).map_err(|_| Error::Untrusted("time before 1970".into()))?;
    verifier
        .verify_client_cert(leaf, intermediates, UnixTime::since_unix_epoch(std::time::Duration::from_secs(seconds)))
        .map_err(|e| Error::Untrusted(e.to_string()))?;
    Ok(())
}

/// A client of an external CA's HTTPS endpoint: the server must present a certificate that
/// chains to `trust`, under whatever name the operator's URL uses.
pub fn external_client_config(trust: &RootCa, clock: Arc<dyn Clock>) -> Result<ClientConfig> {
    client_config(trust, None, clock)
}

/// A client that does not authenticate the server, for exactly one purpose: fetching the
/// manager's root CA certificate during a join. That certificate is public, nothing secret is
/// sent on such a connection, and the joiner checks the fetched root against the digest in its
/// join token before using it for anything. Handshake signatures are still verified.
pub fn bootstrap_client_config() -> Result<ClientConfig> {
    let provider = provider();
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| Error::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(UnauthenticatedBootstrap(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[derive(Debug)]
struct UnauthenticatedBootstrap(Arc<CryptoProvider>);

impl ServerCertVerifier for UnauthenticatedBootstrap {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
