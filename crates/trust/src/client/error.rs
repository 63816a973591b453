//! The trust client's error type.

/// `Result` with [`ClientError`].
pub type ClientResult<T> = std::result::Result<T, ClientError>;

/// Everything that can go wrong in the trust client. Peer faults (`Rollback`, `HashMismatch`,
/// `RootRotation`, `TooLarge`, and signature/expiry failures inside `Tuf`) are kept apart from
/// caller mistakes (`Invalid`, `KeyNotFound`, `WrongPassphrase`) and the environment (`Io`, `Http`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// TUF metadata failed to parse or verify (signatures, threshold, expiry).
    #[error(transparent)]
    Tuf(#[from] crate::Error),
    /// The registry client failed (manifest lookup, TLS setup, token fetch).
    #[error(transparent)]
    Registry(#[from] palisade_registry::client::ClientError),
    /// Transport failure talking to the trust server.
    #[error("{url}: {source}")]
    Http {
        /// Request URL.
        url: String,
        /// Underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The trust server answered with an unexpected status.
    #[error("{method} {url}: HTTP {status}: {body}")]
    Status {
        /// Request method.
        method: &'static str,
        /// Request URL.
        url: String,
        /// Status code.
        status: u16,
        /// Response body (truncated).
        body: String,
    },
    /// The server has no trust data for the repository.
    #[error("{server} does not have trust data for {gun}")]
    NoTrustData {
        /// Server URL.
        server: String,
        /// The GUN.
        gun: String,
    },
    /// A role's version went down compared with what this client already trusts.
    #[error("potential malicious behavior: {role} version {got} is lower than the trusted version {have} (rollback)")]
    Rollback {
        /// Which role.
        role: String,
        /// Version served.
        got: u64,
        /// Version trusted.
        have: u64,
    },
    /// Downloaded bytes do not match the hashes or length its parent lists.
    #[error("potential malicious behavior: {role} does not match the hashes and length listed in {parent}")]
    HashMismatch {
        /// The downloaded role.
        role: String,
        /// The role listing it.
        parent: String,
    },
    /// A response was larger than allowed.
    #[error("{url}: response larger than {limit} bytes")]
    TooLarge {
        /// Request URL.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// A new root is not properly signed by the previous root (or by itself).
    #[error("potential malicious behavior: root rotation to version {version} rejected: {reason}")]
    RootRotation {
        /// The rejected root's version.
        version: u64,
        /// Why.
        reason: String,
    },
    /// No private key for any of the keys a role needs.
    #[error("could not find necessary signing keys, at least one of these keys must be available: {0}")]
    KeyNotFound(String),
    /// A key file could not be decrypted with the passphrase given.
    #[error("could not decrypt key {key_id}: wrong passphrase")]
    WrongPassphrase {
        /// The key ID.
        key_id: String,
    },
    /// No passphrase available (no environment variable, no terminal).
    #[error("no passphrase for the {role} key: set {env} or run on a terminal")]
    NoPassphrase {
        /// Key role.
        role: String,
        /// The variable that would provide it.
        env: &'static str,
    },
    /// Bad caller input (names, key files, tags), with the message docker prints.
    #[error("{0}")]
    Invalid(String),
    /// Local file I/O.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The path.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn io_err(op: &'static str, path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ClientError {
    let path = path.display().to_string();
    move |source| ClientError::Io { op, path, source }
}
