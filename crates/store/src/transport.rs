//! The wire of raft between managers: typed requests and replies, one encoding, and the
//! [`Transport`] the cluster crate implements over its mutual-TLS port.
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

use crate::error::{Error, Result};
use crate::member::Member;
use crate::raft_types::TypeConfig;

/// A raft request from one member to another.
#[derive(Debug)]
pub enum RaftRpc {
    /// Log replication and heartbeats.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// A candidate asks for a vote.
    Vote(VoteRequest<u64>),
    /// One chunk of a snapshot.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
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
    fn send(&self, target: u64, member: &Member, rpc: RaftRpc) -> BoxFuture<'_, std::result::Result<RaftRpcReply, TransportError>>;
}

/// Borrowed wire form, so encoding does not copy entries.
#[derive(Serialize)]
enum WireRef<'a> {
    AppendEntries(&'a AppendEntriesRequest<TypeConfig>),
    Vote(&'a VoteRequest<u64>),
    InstallSnapshot(ChunkRef<'a>),
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
        };
        serde_json::to_vec(&wire).map_err(|e| Error::Wire(e.to_string()))
    }

    /// A request from its wire bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let wire: Wire = serde_json::from_slice(bytes).map_err(|e| Error::Wire(e.to_string()))?;
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
        })
    }
}

impl RaftRpcReply {
    /// The wire bytes of this reply.
    pub fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Wire(e.to_string()))
    }

    /// A reply from its wire bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| Error::Wire(e.to_string()))
    }
}
