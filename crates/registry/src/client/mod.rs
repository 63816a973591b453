//! Registry client: copy images between a local OCI image layout / docker-archive tarball and
//! any OCI distribution registry (Basic and Docker token auth, custom CA, plain HTTP on
//! request), and look up what a tag names there ([`inspect`]). `palisade push` /
//! `palisade pull` are thin wrappers around [`push`] and [`pull`].
//!
//! Images are copied byte for byte: manifests and blobs keep their digests, so a push followed
//! by a pull (by this client or by skopeo) gives identical content.

mod archive;
pub mod auth;
mod copy;
mod inspect;
mod layout;
mod limits;
mod reference;
mod remote;

use std::path::PathBuf;

pub use archive::{write_docker_archive, ArchiveImage};
pub use copy::{pull, push, push_stored, LocalImage, Progress, ProgressEvent};
pub use inspect::{inspect, Platform, RemoteManifest};
pub use remote::login;
pub use reference::{parse_remote, ImageRef};
pub use limits::{
    error_text, read_capped, MAX_CONFIG_BYTES, MAX_ERROR_BYTES, MAX_MANIFEST_BYTES, MAX_TOKEN_BYTES,
};
pub use remote::{tls_config, ClientOptions, RemoteClient};

/// Result alias for client calls.
pub type ClientResult<T> = Result<T, ClientError>;

/// A client failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The image reference or local location could not be parsed.
    #[error("invalid reference {input:?}: {reason}")]
    BadReference {
        /// What was given.
        input: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Transport failure talking to the registry.
    #[error("{url}: {source}")]
    Http {
        /// Request URL.
        url: String,
        /// Underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The registry answered with an unexpected status.
    #[error("{method} {url}: HTTP {status}: {body}")]
    Status {
        /// Request method.
        method: String,
        /// Request URL.
        url: String,
        /// Status code.
        status: u16,
        /// Response body (truncated).
        body: String,
    },
    /// Authentication could not be completed.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// Local file I/O.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A local image layout, archive or a manifest is malformed.
    #[error("invalid image: {0}")]
    Invalid(String),
    /// Content did not match its digest.
    #[error("digest mismatch for {expected}: got {actual}")]
    DigestMismatch {
        /// Expected digest.
        expected: String,
        /// Computed digest.
        actual: String,
    },
    /// TLS setup failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// A server sent more than the cap for what was asked (see [`MAX_MANIFEST_BYTES`] and the
    /// other limits).
    #[error("{url}: {what} larger than {limit} bytes")]
    TooLarge {
        /// Request URL.
        url: String,
        /// What was read ("manifest", "token answer", …).
        what: &'static str,
        /// The cap.
        limit: u64,
    },
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ClientError {
    let path = path.into();
    move |source| ClientError::Io { path, source }
}
