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
    // The caller's fault: what an operator asked of the CA (swarm init/update, `docker swarm
    // ca`) is invalid. An API maps these to "invalid argument"; see [`Error::is_invalid_request`].
    /// The operator's CA certificate is unusable (not a CA, expired, unparseable).
    #[error("invalid CA certificate: {0}")]
    InvalidCaCertificate(#[source] Box<Error>),
    /// The operator's CA certificate and key do not load together (bad key, key/cert mismatch).
    #[error("invalid CA certificate or key: {0}")]
    InvalidCaCertificateOrKey(#[source] Box<Error>),
    /// The external CA's certificate given at `swarm init` is unusable.
    #[error("external CA certificate: {0}")]
    InvalidExternalCaCertificate(#[source] Box<Error>),
    /// A CA certificate without its key was given, but no external CA is configured for it.
    #[error("a CA certificate without its key needs an external CA configured for that certificate")]
    CaCertificateNeedsExternalCa,
    /// A CA key was given without its certificate.
    #[error("a CA key was given without its certificate")]
    CaKeyWithoutCertificate,
    /// A rotation was asked for while the current root's key is held by an external CA, so the
    /// new root cannot be cross-signed here.
    #[error("rotating away from a root whose key is held by an external CA is not supported")]
    RotationFromExternalRoot,
    /// A swarm unlock key is not in Docker's `SWMKEY-1-…` form (swarmkit's message; the input
    /// is never echoed).
    #[error("invalid key string")]
    InvalidUnlockKey,
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

impl Error {
    /// Whether the caller asked for something invalid (an operator's CA request), as opposed to
    /// a failure of the environment or of stored state.
    pub fn is_invalid_request(&self) -> bool {
        matches!(
            self,
            Self::InvalidCaCertificate(_)
                | Self::InvalidCaCertificateOrKey(_)
                | Self::InvalidExternalCaCertificate(_)
                | Self::CaCertificateNeedsExternalCa
                | Self::CaKeyWithoutCertificate
                | Self::RotationFromExternalRoot
                | Self::InvalidUnlockKey
        )
    }
}
