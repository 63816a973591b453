//! The storage driver: a small, synchronous byte store the [`crate::storage`] layer is built on.
//!
//! # Contract (every implementation must pass [`crate::testing::driver_conformance`])
//! - Paths are [`StoragePath`]s: relative, `/`-separated, components of `[A-Za-z0-9._:-]` that
//!   are neither `.` nor `..` nor start with `.tmp-` (reserved for drivers' temp files).
//! - `put_content` and a non-appending [`FileWriter`] make content visible **only** on success
//!   / `commit`, atomically (readers see the old content or the whole new content, never a
//!   prefix) and durably (after it returns, a crash does not lose it).
//! - An appending writer adds bytes to the end of an existing (or new) file; `commit` makes the
//!   appended bytes durable, `cancel` (or dropping without commit) truncates back to the size the
//!   file had when the writer was opened.
//! - `rename` atomically moves a file, replacing the destination and creating its parents.
//! - `list` returns the sorted names of a directory's direct children; `delete` is recursive.
//! - A write that fails for want of space (`ENOSPC`, `EDQUOT`) yields a [`DriverError::Io`] for
//!   which [`DriverError::is_storage_full`] holds, and leaves no partial content visible.
//! - Missing paths yield [`DriverError::NotFound`]. Directories exist implicitly while they have
//!   children; what `stat` reports for an empty directory is undefined.
//!
//! Methods block; async callers run them on `spawn_blocking`. The one exception: when
//! [`StorageDriver::inline_reads`] says so, the [`Read`] returned by `reader` may be polled
//! directly on an async task (local page-cache reads: no network, no `block_on`).

mod fs;
mod memory;
mod s3;

use std::fmt;
use std::io::{Read, Write};

pub use fs::FsDriver;
pub use memory::InMemoryDriver;
pub use s3::{S3Driver, S3Options};

/// Result alias for driver calls.
pub type DriverResult<T> = Result<T, DriverError>;

/// A driver failure, carrying the path and the driver's name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// Nothing exists at the path.
    #[error("{driver}: path not found: {path}")]
    NotFound {
        /// Driver name.
        driver: &'static str,
        /// The path.
        path: String,
    },
    /// The path is not acceptable to the driver.
    #[error("invalid storage path {path:?}")]
    InvalidPath {
        /// The path.
        path: String,
    },
    /// The backend failed.
    #[error("{driver}: I/O error at {path}: {source}")]
    Io {
        /// Driver name.
        driver: &'static str,
        /// The path.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl DriverError {
    /// Whether this is a not-found error.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// Whether the backend ran out of room (no space left on the device, or a quota reached).
    pub fn is_storage_full(&self) -> bool {
        matches!(self, Self::Io { source, .. } if is_storage_full(source))
    }
}

/// Whether an I/O error means the file system has no room left (`ENOSPC`, `EDQUOT`).
pub(crate) fn is_storage_full(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
}

/// A validated driver path (see the module docs for the rules).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoragePath(String);

impl StoragePath {
    /// Parse a path.
    pub fn new(path: impl Into<String>) -> DriverResult<Self> {
        let path = path.into();
        let ok = !path.is_empty()
            && path.split('/').all(|c| {
                !c.is_empty()
                    && c != "."
                    && c != ".."
                    && !c.starts_with(".tmp-")
                    && c.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
            });
        if ok {
            Ok(Self(path))
        } else {
            Err(DriverError::InvalidPath { path })
        }
    }

    /// The path text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A child path.
    pub fn join(&self, child: &str) -> DriverResult<Self> {
        Self::new(format!("{}/{}", self.0, child))
    }
}

impl fmt::Display for StoragePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What `stat` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Whether the path is a directory.
    pub is_dir: bool,
    /// When a file's content was last written (whole seconds or better); `None` for
    /// directories, which object stores do not have.
    pub modified: Option<std::time::SystemTime>,
}

/// A pending write; see the module docs for commit/cancel semantics.
pub trait FileWriter: Write + Send {
    /// Bytes in the file including what was written so far through this writer.
    fn size(&self) -> u64;
    /// Make the written bytes visible and durable.
    fn commit(self: Box<Self>) -> DriverResult<()>;
    /// Discard what this writer wrote.
    fn cancel(self: Box<Self>) -> DriverResult<()>;
}

/// A byte-store backend.
pub trait StorageDriver: Send + Sync + 'static {
    /// A short name for errors and logs.
    fn name(&self) -> &'static str;
    /// Read a whole (small) file.
    fn get_content(&self, path: &StoragePath) -> DriverResult<Vec<u8>>;
    /// Atomically and durably replace a whole (small) file.
    fn put_content(&self, path: &StoragePath, data: &[u8]) -> DriverResult<()>;
    /// Stream a file from `offset`.
    fn reader(&self, path: &StoragePath, offset: u64) -> DriverResult<Box<dyn Read + Send>>;
    /// Open a writer; `append` continues an existing file.
    fn writer(&self, path: &StoragePath, append: bool) -> DriverResult<Box<dyn FileWriter>>;
    /// Size and kind of a path.
    fn stat(&self, path: &StoragePath) -> DriverResult<FileInfo>;
    /// Sorted names of a directory's direct children.
    fn list(&self, path: &StoragePath) -> DriverResult<Vec<String>>;
    /// Atomically move a file, replacing `to`.
    fn rename(&self, from: &StoragePath, to: &StoragePath) -> DriverResult<()>;
    /// Recursively delete a path.
    fn delete(&self, path: &StoragePath) -> DriverResult<()>;
    /// Whether readers from [`Self::reader`] are cheap local reads that async code may call
    /// directly, in small pieces, instead of moving them to a blocking thread (default: no).
    fn inline_reads(&self) -> bool {
        false
    }
}
