//! The crate's error type.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the PKI.
///
/// Variants are grouped by whose fault it is: a peer or caller handed us something invalid,
/// the local environment failed, or a signing dependency failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A certificate signing request could not be parsed or its signature does not verify.
    #[error("invalid certificate signing request: {0}")]
    InvalidCsr(String),
    /// A certificate (PEM or DER) could not be parsed.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// A private key could not be parsed or does not match its certificate.
    #[error("invalid private key: {0}")]
    InvalidKey(String),
    /// A certificate does not carry the subject fields a node certificate must have.
    #[error("not a node certificate: {0}")]
    NotANodeCertificate(String),
    /// The requested certificate lifetime is outside policy.
    #[error("{0}")]
    ExpiryOutOfPolicy(String),
    /// This root CA has no local signing key.
    #[error("this node does not hold the root CA signing key")]
    NoSigner,
    /// Signing or key generation failed in the crypto backend.
    #[error("certificate generation failed: {0}")]
    Signing(#[from] rcgen::Error),
    /// The external CA could not be reached, refused, or answered with something unusable.
    #[error("external CA: {0}")]
    ExternalCa(String),
    /// A certificate does not chain to the trust bundle.
    #[error("certificate does not chain to the cluster root: {0}")]
    Untrusted(String),
    /// A TLS configuration could not be built from the given material.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// Writing or reading key material on disk failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}
