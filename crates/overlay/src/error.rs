//! The one error type of palisade-overlay.

/// What went wrong, and whose fault it was: the caller's ([`Error::InvalidArgument`],
/// [`Error::NotFound`], [`Error::Conflict`]) or the host's (everything else). No variant
/// ever carries key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A peer or endpoint is already there.
    #[error("{0}")]
    Conflict(String),
    /// Bad input (or a call that does not fit the network, such as rotating the key of an
    /// unencrypted one); nothing was changed.
    #[error("{0}")]
    InvalidArgument(String),
    /// A socket, the TUN device or a system call failed.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Why it failed.
        source: std::io::Error,
    },
    /// Links, addresses, namespaces: see palisade-net.
    #[error(transparent)]
    Net(#[from] palisade_net::Error),
    /// No such peer or endpoint.
    #[error("{0}")]
    NotFound(String),
    /// Called outside a tokio runtime, or a blocking helper task died.
    #[error("runtime: {0}")]
    Runtime(String),
}

/// `Result` of palisade-overlay.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |source| Self::Io { op, source }
    }
}
