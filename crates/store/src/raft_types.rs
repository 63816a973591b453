//! The openraft type configuration of the store.

use std::io::Cursor;

use crate::batch::{Outcome, Proposal};
use crate::member::Member;

openraft::declare_raft_types!(
    /// Raft types: node IDs are `u64`, nodes are [`Member`]s, log payloads are [`Proposal`]s
    /// and the state machine answers each entry with an [`Outcome`] per write. Snapshots are
    /// built in memory.
    pub TypeConfig:
        D = Proposal,
        R = Vec<Outcome>,
        NodeId = u64,
        Node = Member,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A log entry.
pub(crate) type Entry = openraft::Entry<TypeConfig>;
/// A log ID.
pub(crate) type LogId = openraft::LogId<u64>;
/// A stored membership.
pub(crate) type StoredMembership = openraft::StoredMembership<u64, Member>;
/// A storage failure as openraft wants it.
pub(crate) type StorageError = openraft::StorageError<u64>;

/// A storage read failure from anything displayable (the message must hold no secrets).
pub(crate) fn read_err(e: impl std::fmt::Display) -> StorageError {
    openraft::StorageIOError::read(openraft::AnyError::error(e.to_string())).into()
}

/// A storage write failure from anything displayable (the message must hold no secrets).
pub(crate) fn write_err(e: impl std::fmt::Display) -> StorageError {
    openraft::StorageIOError::write(openraft::AnyError::error(e.to_string())).into()
}
