//! The wire of raft between managers: typed requests and replies, one encoding, and the
//! [`Transport`] the cluster crate implements over its mutual-TLS port.
//!
//! Besides raft's own messages, a member that does not lead passes writes and read barriers
//! on to the leader here (see `forwarding`).
//!
//! Encoding is JSON; byte payloads (record values, snapshot chunks) are base64 strings.
//! Messages carry plaintext record values: they must only travel over an authenticated,
//! encrypted channel, and must never be logged.

use futures::future::BoxFuture;
use openraft::error::InstallSnapshotError;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::{SnapshotMeta, Vote};
use serde::{Deserialize, Serialize};

use crate::batch::WriteBatch;
use crate::error::{Error, Result};
use crate::forwarding::LeaderReply;
use crate::member::Member;
use crate::raft_types::TypeConfig;

/// A raft request from one member to another. `Debug` shows no record values or snapshot
/// bytes.
pub enum RaftRpc {
    /// Log replication and heartbeats.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// A candidate asks for a vote.
    Vote(VoteRequest<u64>),
    /// One chunk of a snapshot.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A write another member passes on to the leader (`ReplicatedStore::write_via_leader`).
    Write(WriteBatch),
    /// Another member asks the leader how far it must apply before its reads are linearizable
    /// (`ReplicatedStore::read_barrier`).
    ReadIndex,
}

impl std::fmt::Debug for RaftRpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // Entries print through `WriteBatch`'s redacting `Debug`.
            Self::AppendEntries(r) => f.debug_tuple("AppendEntries").field(r).finish(),
            Self::Vote(r) => f.debug_tuple("Vote").field(r).finish(),
            // `Display` shows the chunk's length, not its bytes.
            Self::InstallSnapshot(r) => write!(f, "InstallSnapshot({r})"),
            // `WriteBatch`'s `Debug` shows neither keys nor values.
            Self::Write(batch) => f.debug_tuple("Write").field(batch).finish(),
            Self::ReadIndex => f.write_str("ReadIndex"),
        }
    }
}

/// The answer to a [`RaftRpc`].
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftRpcReply {
    /// Answer to [`RaftRpc::AppendEntries`].
    AppendEntries(AppendEntriesResponse<u64>),
    /// Answer to [`RaftRpc::Vote`].
    Vote(VoteResponse<u64>),
    /// Answer to [`RaftRpc::InstallSnapshot`].
    InstallSnapshot(InstallSnapshotResponse<u64>),
    /// The receiver refused a snapshot chunk (it expects another offset or snapshot).
    SnapshotRefused(InstallSnapshotError),
    /// The receiver's raft could not handle the request (for example it is shutting down).
    Failed(String),
    /// Answer to [`RaftRpc::Write`] and [`RaftRpc::ReadIndex`].
    Leader(LeaderReply),
}

/// A send failed: the target is unreachable, the connection broke, or it timed out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("raft transport: {0}")]
pub struct TransportError(pub String);

/// Carries raft RPCs to other members. Implementations encode with [`RaftRpc::encode`], send the
/// bytes to `member.addr` over an authenticated channel, and decode the answer with
/// [`RaftRpcReply::decode`]; the receiver feeds the request to `ReplicatedStore::handle`.
pub trait Transport: Send + Sync + 'static {
    /// Sends `rpc` to the member with raft ID `target` and waits for its answer.
    fn send(
        &self,
        target: u64,
        member: &Member,
        rpc: RaftRpc,
    ) -> BoxFuture<'_, std::result::Result<RaftRpcReply, TransportError>>;
}

/// Borrowed wire form, so encoding does not copy entries.
#[derive(Serialize)]
enum WireRef<'a> {
    AppendEntries(&'a AppendEntriesRequest<TypeConfig>),
    Vote(&'a VoteRequest<u64>),
    InstallSnapshot(ChunkRef<'a>),
    Write(&'a WriteBatch),
    ReadIndex,
}

#[derive(Serialize)]
struct ChunkRef<'a> {
    vote: &'a Vote<u64>,
    meta: &'a SnapshotMeta<u64, Member>,
    offset: u64,
    #[serde(serialize_with = "ser_bytes")]
    data: &'a [u8],
    done: bool,
}

fn ser_bytes<S: serde::Serializer>(bytes: &&[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
    crate::codec::b64::serialize(bytes, s)
}

#[derive(Deserialize)]
enum Wire {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<u64>),
    InstallSnapshot(Chunk),
    Write(WriteBatch),
    ReadIndex,
}

#[derive(Deserialize)]
struct Chunk {
    vote: Vote<u64>,
    meta: SnapshotMeta<u64, Member>,
    offset: u64,
    #[serde(with = "crate::codec::b64")]
    data: Vec<u8>,
    done: bool,
}

impl RaftRpc {
    /// The wire bytes of this request.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let wire = match self {
            Self::AppendEntries(r) => WireRef::AppendEntries(r),
            Self::Vote(r) => WireRef::Vote(r),
            Self::InstallSnapshot(r) => WireRef::InstallSnapshot(ChunkRef {
                vote: &r.vote,
                meta: &r.meta,
                offset: r.offset,
                data: &r.data,
                done: r.done,
            }),
            Self::Write(batch) => WireRef::Write(batch),
            Self::ReadIndex => WireRef::ReadIndex,
        };
        serde_json::to_vec(&wire).map_err(|e| Error::Wire(crate::codec::json_fault(&e)))
    }

    /// A request from its wire bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let wire: Wire = serde_json::from_slice(bytes).map_err(|e| Error::Wire(crate::codec::json_fault(&e)))?;
        Ok(match wire {
            Wire::AppendEntries(r) => Self::AppendEntries(r),
            Wire::Vote(r) => Self::Vote(r),
            Wire::InstallSnapshot(c) => Self::InstallSnapshot(InstallSnapshotRequest {
                vote: c.vote,
                meta: c.meta,
                offset: c.offset,
                data: c.data,
                done: c.done,
            }),
            Wire::Write(batch) => Self::Write(batch),
            Wire::ReadIndex => Self::ReadIndex,
        })
    }
}

impl RaftRpcReply {
    /// What kind of answer this is, for errors about unexpected ones.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::AppendEntries(_) => "append-entries",
            Self::Vote(_) => "vote",
            Self::InstallSnapshot(_) => "install-snapshot",
            Self::SnapshotRefused(_) => "snapshot-refused",
            Self::Failed(_) => "failed",
            Self::Leader(_) => "leader",
        }
    }

    /// The wire bytes of this reply.
    pub fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Wire(crate::codec::json_fault(&e)))
    }

    /// A reply from its wire bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| Error::Wire(crate::codec::json_fault(&e)))
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Membership, StoredMembership};

    use super::*;
    use crate::batch::WriteBatch;
    use crate::table::Table;

    fn log_id(index: u64) -> LogId<u64> {
        LogId::new(CommittedLeaderId::new(3, 1), index)
    }

    #[test]
    fn requests_round_trip_with_base64_payloads_and_redacted_debug() {
        let batch = crate::batch::Proposal {
            batches: vec![WriteBatch::default().put(Table::Secrets, "s1", b"{\"data\":\"hunter2\"}".to_vec())],
        };
        let rpc = RaftRpc::AppendEntries(AppendEntriesRequest {
            vote: Vote::new_committed(3, 1),
            prev_log_id: Some(log_id(6)),
            entries: vec![Entry { log_id: log_id(7), payload: EntryPayload::Normal(batch.clone()) }],
            leader_commit: Some(log_id(6)),
        });
        let bytes = rpc.encode().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("eyJkYXRhIjoiaHVudGVyMiJ9"), "{text}");
        assert!(!text.contains("hunter2"));
        assert!(!format!("{rpc:?}").contains("hunter2"));
        let RaftRpc::AppendEntries(back) = RaftRpc::decode(&bytes).unwrap() else { panic!("wrong kind") };
        assert_eq!(back.entries[0].payload, EntryPayload::Normal(batch.clone()));

        let meta = SnapshotMeta {
            last_log_id: Some(log_id(9)),
            last_membership: StoredMembership::new(Some(log_id(1)), Membership::new(vec![[1u64].into()], None)),
            snapshot_id: "3-1-9-x".into(),
        };
        let chunk = vec![0u8, 1, 2, 250, 251, 252, 253];
        let rpc = RaftRpc::InstallSnapshot(InstallSnapshotRequest {
            vote: Vote::new_committed(3, 1),
            meta: meta.clone(),
            offset: 0,
            data: chunk.clone(),
            done: true,
        });
        let bytes = rpc.encode().unwrap();
        assert!(String::from_utf8(bytes.clone()).unwrap().contains("\"AAEC+vv8/Q==\""));
        let RaftRpc::InstallSnapshot(back) = RaftRpc::decode(&bytes).unwrap() else { panic!("wrong kind") };
        assert_eq!((back.data, back.meta, back.done), (chunk, meta, true));

        let rpc = RaftRpc::Write(batch.batches[0].clone());
        let bytes = rpc.encode().unwrap();
        assert!(!String::from_utf8(bytes.clone()).unwrap().contains("hunter2") && !format!("{rpc:?}").contains("hunter2"));
        let RaftRpc::Write(back) = RaftRpc::decode(&bytes).unwrap() else { panic!("wrong kind") };
        assert_eq!(back, batch.batches[0]);
        assert!(matches!(RaftRpc::decode(&RaftRpc::ReadIndex.encode().unwrap()).unwrap(), RaftRpc::ReadIndex));
        let conflict = RaftRpcReply::Leader(LeaderReply::Conflict { table: Table::Secrets, key: "s1".into() });
        assert!(matches!(
            RaftRpcReply::decode(&conflict.encode().unwrap()).unwrap(),
            RaftRpcReply::Leader(LeaderReply::Conflict { table: Table::Secrets, key }) if key == "s1"
        ));

        assert!(RaftRpc::decode(b"{\"Vote\": 7}").is_err());
        let reply = RaftRpcReply::Failed("stopped".into());
        assert!(
            matches!(RaftRpcReply::decode(&reply.encode().unwrap()).unwrap(), RaftRpcReply::Failed(m) if m == "stopped")
        );
    }
}
