//! The crate's error types.

use std::path::PathBuf;

use crate::member::Member;
use crate::table::Table;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Store failures. Messages never carry record values or key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database failed.
    #[error("cluster store: {0}")]
    Database(String),
    /// Reading or writing a file failed.
    #[error("cluster store: {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A value could not be sealed or opened.
    #[error("cluster store: {0}")]
    Crypto(&'static str),
    /// The key-encryption key does not open the sealed data key.
    #[error("cluster store: the key-encryption key does not open the data key (wrong key or tampered file)")]
    WrongKey,
    /// A file that must not exist yet already exists.
    #[error("cluster store: {0} already exists")]
    AlreadyExists(PathBuf),
    /// Stored data is malformed.
    #[error("cluster store is corrupt: {0}")]
    Corrupt(String),
    /// A raft message could not be encoded or decoded.
    #[error("cluster store: raft message: {0}")]
    Wire(String),
    /// Raft refused or failed an operation (for example bootstrapping an initialized store).
    #[error("cluster store: raft: {0}")]
    Raft(String),
    /// A membership change was refused (unknown member, change in progress …).
    #[error("cluster store: membership change refused: {0}")]
    Membership(String),
    /// The operation did not finish in time.
    #[error("cluster store: {0} timed out")]
    Timeout(&'static str),
    /// A database file is open elsewhere (another store in this process, or a store that is
    /// still shutting down).
    #[error("cluster store: {0} is in use")]
    InUse(PathBuf),
    /// The store was shut down.
    #[error("cluster store is shut down")]
    Closed,
    /// Writing a private file failed.
    #[error(transparent)]
    KeyFile(#[from] palisade_pki::Error),
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Database(e.to_string())
            }
        }
    )*};
}
db_err!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Why a replicated write (or read barrier, or membership change) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// This member is not the leader; forward to `leader` when known.
    #[error("this manager is not the raft leader{}", match .leader { Some((id, m)) => format!(" (the leader is {} at {}, raft id {id})", m.node_id, m.addr), None => String::new() })]
    NotLeader {
        /// The current leader's raft id and address, when known.
        leader: Option<(u64, Member)>,
    },
    /// A check of the batch failed; nothing was written.
    #[error("conflict: {}/{key} changed or exists", .table.name())]
    Conflict {
        /// The table of the failed check.
        table: Table,
        /// The key of the failed check.
        key: String,
    },
    /// The write could not be committed (or leadership confirmed) in time.
    #[error("the swarm does not have a leader / quorum: the write could not be committed in time")]
    NoQuorum,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] Error),
}
