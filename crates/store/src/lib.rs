//! The cluster store: raft-replicated between managers (openraft), encrypted at rest.
//!
//! Every manager runs a [`ReplicatedStore`]: writes ([`WriteBatch`]: optimistic checks, then
//! puts and deletes) are committed through the raft leader's log and applied atomically by each
//! member's state machine; reads are local (call [`ReplicatedStore::linearizable`] on the
//! leader, or [`ReplicatedStore::read_barrier`] on any member, first when a read must reflect
//! every committed write). A member that does not lead passes writes on to the leader
//! ([`ReplicatedStore::write_via_leader`]). Raft RPCs travel as opaque bytes
//! ([`RaftRpc::encode`]) over the cluster's mutual-TLS port through a [`Transport`].
//!
//! Everything on disk is sealed (XChaCha20-Poly1305) under a key derived from the data
//! encryption key ([`DataKey`]), with associated data binding each value to its place. Record
//! keys are stored only as keyed hashes (HMAC-SHA256 under another DEK subkey); the real key is
//! inside the sealed value. The DEK is itself sealed by the key-encryption key ([`Kek`]).
//!
//! ```text
//! <data-root>/raft/            0700
//!   log.redb          log:  index -> seal(entry, "log/<index>")
//!                     meta: "vote" -> seal(vote, "vote"), "purged" -> seal(log id, "purged")
//!   state.redb        sm_<table>: HMAC(table‖0‖key) -> seal({key, version, value}, "sm/<table>/<row>")
//!                     sm_meta: "applied" -> seal({last_applied, membership}, "sm/applied")
//!   snapshot.sealed   seal({meta, data}, "snapshot"), 0600, replaced atomically
//! ```
//! The caller keeps the sealed DEK (`nonce ‖ AEAD(KEK, DEK)`, AAD `palisade-dek`, 0600) where it
//! chooses; without autolock the KEK is in a 0600 file on the node, with autolock only in the
//! operator's unlock key.
//!
//! Throughput: concurrent writes are coalesced into one log entry (`proposals`), appends
//! queued together are committed in one transaction by one writer thread, and applied rows are
//! written behind, so writers arriving together share a replication round and one fsync per
//! member.
//!
//! Durability: log appends, votes and purges are fsynced before openraft is told they are done,
//! so an acknowledged write is on disk on a quorum. Applied rows are kept in memory and written
//! in one durable transaction every 200 ms, before a snapshot and on close; a killed process or
//! a power cut may roll the state machine back to an earlier prefix of the log, which openraft
//! re-applies. The current snapshot is fsynced before openraft purges the log it covers, and
//! opening re-installs it when the state machine is behind it.
#![warn(missing_docs)]

mod batch;
mod codec;
mod error;
mod forwarding;
mod keys;
mod log_store;
mod member;
mod network;
mod proposals;
mod raft_types;
mod replicated;
mod sealing;
mod snapshot;
mod state_machine;
mod table;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
mod transport;

pub use batch::{Applied, Check, ExportedRecord, Op, Outcome, Record, WriteBatch};
pub use error::{Error, Result, WriteError};
pub use forwarding::LeaderReply;
pub use keys::{DataKey, Kek};
pub use member::{Member, MemberState, RaftStatus};
pub use raft_types::TypeConfig;
pub use replicated::{ReplicatedStore, StoreConfig, CATCH_UP_TIMEOUT, MEMBERSHIP_TIMEOUT, WRITE_TIMEOUT};
pub use table::Table;
pub use transport::{RaftRpc, RaftRpcReply, Transport, TransportError};

/// The openraft storage implementations, public for openraft's conformance suite.
pub mod storage {
    pub use crate::log_store::LogStore;
    pub use crate::replicated::open_storage;
    pub use crate::state_machine::StateMachine;
}
