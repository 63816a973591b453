//! The crate's error type.

use std::io;
use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Every failure the scanner reports.
///
/// Grouped by whose fault it was: untrusted input (images, layers, advisory files), caller
/// misuse (bad options, unknown image) and the environment (I/O, the database file).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An image archive, layout or manifest is malformed.
    #[error("malformed image {what}: {reason}")]
    BadImage {
        /// Which image or file.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An advisory file could not be read as OSV JSON.
    #[error("malformed advisory {path}: {reason}")]
    BadAdvisory {
        /// The file (or `zip!member`).
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The ignore file is malformed.
    #[error("ignore file {path}: {reason}")]
    BadIgnoreFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The advisory database could not be opened, read or written.
    #[error("advisory database {path}: {reason}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// The underlying failure.
        reason: String,
    },
    /// The advisory database was written in another format by another version of palisade.
    #[error("advisory database {path} is in format {found}, this palisade reads format {expected}: re-import it (`palisade scan db import --db {path} PATH…` rebuilds it)", path = path.display())]
    DatabaseFormat {
        /// The database file.
        path: PathBuf,
        /// The format found in it.
        found: u64,
        /// The format this build reads.
        expected: u64,
    },
    /// The advisory database has not been imported yet.
    #[error("no advisory database at {0}; import one with `palisade scan db import PATH…`")]
    NoDatabase(PathBuf),
    /// Reading or writing a file failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file involved.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// A report could not be produced.
    #[error("report: {0}")]
    Report(String),
    /// The caller asked for something this scanner does not do.
    #[error("{0}")]
    Unsupported(String),
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { op, path, source }
    }
}
