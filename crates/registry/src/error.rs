//! The crate's error type. Wire mapping (error code + HTTP status) lives in `http::errors`.

use std::path::PathBuf;

use crate::driver::DriverError;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the registry library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- client (untrusted input) faults ----
    /// A digest string did not parse or uses an unsupported algorithm.
    #[error("invalid digest {value:?}: {reason}")]
    DigestInvalid {
        /// The offending text.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// Uploaded content did not hash to the digest the client declared.
    #[error("content digest {actual} does not match the declared {expected}")]
    DigestMismatch {
        /// What the client declared.
        expected: String,
        /// What the content hashes to.
        actual: String,
    },
    /// A repository name violates the distribution-spec grammar.
    #[error("invalid repository name {value:?}: {reason}")]
    NameInvalid {
        /// The offending text.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A tag violates the distribution-spec grammar.
    #[error("invalid tag {value:?}")]
    TagInvalid {
        /// The offending text.
        value: String,
    },
    /// The repository does not exist.
    #[error("repository {name} is not known")]
    NameUnknown {
        /// Repository name.
        name: String,
    },
    /// The blob is not known in this repository.
    #[error("blob {digest} is not known")]
    BlobUnknown {
        /// Blob digest.
        digest: String,
    },
    /// The upload session does not exist (or belongs to another repository).
    #[error("upload {id} is not known")]
    UploadUnknown {
        /// Upload id.
        id: String,
    },
    /// A chunk did not start where the upload currently ends.
    #[error("chunk starts at {start} but the upload has {size} bytes")]
    RangeInvalid {
        /// Requested start offset.
        start: u64,
        /// Current upload size.
        size: u64,
    },
    /// A malformed upload request (bad Content-Range, missing digest, …).
    #[error("invalid upload request: {reason}")]
    UploadInvalid {
        /// Why.
        reason: String,
    },
    /// The manifest is not known.
    #[error("manifest {reference} is not known")]
    ManifestUnknown {
        /// Tag or digest.
        reference: String,
    },
    /// The manifest is malformed, too large or of an unsupported media type.
    #[error("invalid manifest: {reason}")]
    ManifestInvalid {
        /// Why.
        reason: String,
    },
    /// The manifest refers to a blob or child manifest the repository lacks.
    #[error("manifest references unknown blob {digest}")]
    ManifestBlobUnknown {
        /// The missing digest.
        digest: String,
    },
    /// A pagination parameter is invalid.
    #[error("invalid pagination parameter: {reason}")]
    PaginationInvalid {
        /// Why.
        reason: &'static str,
    },
    /// A requested byte range cannot be served.
    #[error("requested range not satisfiable")]
    RangeNotSatisfiable,

    // ---- configuration faults (operator) ----
    /// The registry configuration is invalid.
    #[error("invalid registry configuration: {reason}")]
    Config {
        /// Why.
        reason: String,
    },
    /// An htpasswd entry uses something other than bcrypt.
    #[error("htpasswd line {line} (user {user:?}) is not a bcrypt hash; create entries with `htpasswd -B`")]
    HtpasswdUnsupportedHash {
        /// 1-based line number.
        line: usize,
        /// The user on that line.
        user: String,
    },
    /// An htpasswd line is malformed.
    #[error("htpasswd line {line} is malformed (expected user:hash)")]
    HtpasswdMalformed {
        /// 1-based line number.
        line: usize,
    },
    /// A file the configuration names could not be read.
    #[error("cannot read {path}: {source}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// TLS material could not be loaded.
    #[error("TLS setup failed: {reason}")]
    Tls {
        /// Why.
        reason: String,
    },
    /// Signing-key problems in the token service.
    #[error("token key error: {reason}")]
    TokenKey {
        /// Why.
        reason: String,
    },
    /// A bearer token could not be issued.
    #[error("cannot issue token: {0}")]
    TokenIssue(#[source] jsonwebtoken::errors::Error),
    /// A bearer token failed verification.
    #[error("invalid bearer token: {0}")]
    TokenInvalid(#[source] jsonwebtoken::errors::Error),

    // ---- environment faults ----
    /// The storage driver failed.
    #[error(transparent)]
    Driver(#[from] DriverError),
    /// Network I/O failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A blocking task panicked or was cancelled.
    #[error("internal task failed: {0}")]
    Task(String),
    /// Stored metadata is corrupt.
    #[error("corrupt storage at {path}: {reason}")]
    Corrupt {
        /// Storage path.
        path: String,
        /// Why.
        reason: String,
    },
}

impl Error {
    /// Whether the storage ran out of room (an environment fault: the operator frees space, the
    /// client retries); the failed operation left nothing partial visible.
    pub fn is_storage_full(&self) -> bool {
        match self {
            Self::Driver(e) => e.is_storage_full(),
            Self::Io(e) => crate::driver::is_storage_full(e),
            _ => false,
        }
    }
}

/// A name, tag or digest that did not parse, as the registry API reports it.
impl From<palisade_reference::ReferenceError> for Error {
    fn from(e: palisade_reference::ReferenceError) -> Self {
        use palisade_reference::ReferenceError as R;
        match e {
            R::Digest { value, reason } => Self::DigestInvalid { value, reason },
            R::Tag { value } => Self::TagInvalid { value },
            R::Name { value, reason } => Self::NameInvalid { value, reason },
            other => Self::NameInvalid { value: other.to_string(), reason: "not a repository name" },
        }
    }
}
