//! The one error type of palisade-net.

use std::path::PathBuf;

/// What went wrong, and whose fault it was: the caller's ([`Error::InvalidArgument`],
/// [`Error::NotFound`], [`Error::Conflict`]) or the host's (everything else).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad input; nothing was changed.
    #[error("{0}")]
    InvalidArgument(String),
    /// No such network (the message names it as docker does).
    #[error("{0}")]
    NotFound(String),
    /// A name is taken, or a network is in use.
    #[error("{0}")]
    Conflict(String),
    /// Not allowed (a built-in network, a network in use).
    #[error("{0}")]
    Forbidden(String),
    /// A netlink request failed.
    #[error("netlink: {op} {what}: {message}")]
    Netlink {
        /// What was being done.
        op: &'static str,
        /// To which link.
        what: String,
        /// The kernel's answer.
        message: String,
    },
    /// A host tool (`nft`) failed.
    #[error("{program} failed: {message}")]
    Tool {
        /// The program.
        program: String,
        /// Its output.
        message: String,
    },
    /// A file or system call failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A stored record did not parse.
    #[error("parsing {what}: {source}")]
    Parse {
        /// What was parsed.
        what: String,
        /// Why it failed.
        source: serde_json::Error,
    },
}

/// `Result` of palisade-net.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { op, path, source }
    }

    pub(crate) fn errno(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(nix::errno::Errno) -> Self {
        let path = path.into();
        move |e| Self::Io { op, path, source: std::io::Error::from(e) }
    }
}
