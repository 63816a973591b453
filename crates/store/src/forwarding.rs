//! Writes and read barriers from any member: a member that does not lead passes them on to the
//! leader over the [`Transport`] ([`RaftRpc::Write`], [`RaftRpc::ReadIndex`]), then waits until
//! it has applied what the leader answered, so its own reads see it.
//!
//! Invariants:
//! - the leader never passes a request on: it answers [`LeaderReply::NotLeader`] when it no
//!   longer leads, so a request crosses at most one hop, and the sender asks again (until
//!   [`WRITE_TIMEOUT`]) once it knows the new leader;
//! - a write is sent again only when it was certainly not applied (`NotLeader`, or no leader
//!   known); when its outcome is unknown (the transport failed, no quorum in time) it is
//!   reported as [`WriteError::NoQuorum`] and not repeated. A read index is asked again after
//!   a transport failure too (the leader may have gone: wait for the next one);
//! - passing a write on grants a member nothing it did not have: raft members can already
//!   write anything (a voter can become the leader), and only members may send raft RPCs.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::batch::{Applied, WriteBatch};
use crate::error::WriteError;
use crate::member::Member;
use crate::replicated::{ReplicatedStore, WRITE_TIMEOUT};
use crate::table::Table;
use crate::transport::{RaftRpc, RaftRpcReply, TransportError};

/// How long a member waits between two looks for the leader while one is being elected.
const LEADER_POLL: Duration = Duration::from_millis(50);

/// The leader's answer to a request another member passed on to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeaderReply {
    /// Done: the log index the write was committed at, or the index a read must wait for.
    Done {
        /// The index.
        index: u64,
    },
    /// A check of the write failed; nothing was written.
    Conflict {
        /// The table of the failed check.
        table: Table,
        /// The key of the failed check.
        key: String,
    },
    /// The receiver does not lead: nothing was done.
    NotLeader,
    /// Not committed (or leadership not confirmed) in time: a write's outcome is unknown.
    NoQuorum,
    /// The receiver failed (the message says how; it holds no record values).
    Failed(String),
}

impl From<Result<u64, WriteError>> for LeaderReply {
    fn from(result: Result<u64, WriteError>) -> Self {
        match result {
            Ok(index) => Self::Done { index },
            Err(WriteError::Conflict { table, key }) => Self::Conflict { table, key },
            Err(WriteError::NotLeader { .. }) => Self::NotLeader,
            Err(WriteError::NoQuorum) => Self::NoQuorum,
            Err(WriteError::Store(e)) => Self::Failed(e.to_string()),
        }
    }
}

/// Where this member's requests go now.
enum Route {
    Here,
    Leader(u64, Member),
    /// No leader is known (an election is under way, or this member is cut off).
    Unknown,
}

fn route(store: &ReplicatedStore) -> Route {
    let status = store.status();
    match status.leader {
        _ if status.is_leader => Route::Here,
        Some(id) => match status.members.get(&id) {
            Some(state) => Route::Leader(id, state.member.clone()),
            None => Route::Unknown,
        },
        None => Route::Unknown,
    }
}

/// Sends `rpc` to the leader `id`; what it answered, as this member's outcome, or `Err` when
/// the transport failed (the request may or may not have reached the leader).
async fn ask_leader(
    store: &ReplicatedStore,
    id: u64,
    member: &Member,
    rpc: RaftRpc,
) -> Result<Result<u64, WriteError>, TransportError> {
    let reply = store.transport().send(id, member, rpc).await.inspect_err(|e| {
        tracing::debug!(leader = %member.addr, "passing a request on to the leader: {e}");
    })?;
    Ok(match reply {
        RaftRpcReply::Leader(LeaderReply::Done { index }) => Ok(index),
        RaftRpcReply::Leader(LeaderReply::Conflict { table, key }) => Err(WriteError::Conflict { table, key }),
        RaftRpcReply::Leader(LeaderReply::NotLeader) => Err(WriteError::NotLeader { leader: None }),
        RaftRpcReply::Leader(LeaderReply::NoQuorum) => Err(WriteError::NoQuorum),
        RaftRpcReply::Leader(LeaderReply::Failed(why)) => Err(WriteError::Store(crate::Error::Raft(why))),
        other => Err(WriteError::Store(crate::Error::Wire(format!("the leader answered {}", other.kind())))),
    })
}

/// Runs `attempt` against the current route until it is done, fails for good, or no leader
/// took it before [`WRITE_TIMEOUT`] (then [`WriteError::NoQuorum`]). `attempt` is only
/// repeated after `NotLeader`, which means it did nothing.
async fn on_leader<F, Fut>(store: &ReplicatedStore, mut attempt: F) -> Result<u64, WriteError>
where
    F: FnMut(Route) -> Fut,
    Fut: std::future::Future<Output = Result<u64, WriteError>>,
{
    let deadline = tokio::time::Instant::now() + WRITE_TIMEOUT;
    loop {
        let result = match route(store) {
            Route::Unknown => Err(WriteError::NotLeader { leader: None }),
            known => attempt(known).await,
        };
        match result {
            Err(WriteError::NotLeader { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(LEADER_POLL).await;
            }
            Err(WriteError::NotLeader { .. }) => return Err(WriteError::NoQuorum),
            other => return other,
        }
    }
}

/// Waits (until `deadline`) for this member to apply `index`.
async fn applied_here(store: &ReplicatedStore, index: u64, deadline: tokio::time::Instant) -> Result<(), WriteError> {
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    match store.raft().wait(Some(left)).applied_index_at_least(Some(index), "applying what the leader answered").await {
        Ok(_) => Ok(()),
        Err(openraft::metrics::WaitError::Timeout(..)) => Err(WriteError::NoQuorum),
        Err(openraft::metrics::WaitError::ShuttingDown) => Err(WriteError::Store(crate::Error::Closed)),
    }
}

/// See [`ReplicatedStore::write_via_leader`].
pub(crate) async fn write(store: &ReplicatedStore, mut batch: WriteBatch) -> Result<Applied, WriteError> {
    let written = on_leader(store, |route| {
        let batch = batch.clone();
        async move {
            match route {
                // The outcome is unknown: not sent again.
                Route::Leader(id, member) => {
                    ask_leader(store, id, &member, RaftRpc::Write(batch)).await.unwrap_or(Err(WriteError::NoQuorum))
                }
                _ => store.write(batch).await.map(|applied| applied.index),
            }
        }
    })
    .await;
    batch.zeroize();
    let index = written?;
    // Committed: even if this member is slow to apply it, the write stands.
    if let Err(e) = applied_here(store, index, tokio::time::Instant::now() + WRITE_TIMEOUT).await {
        tracing::debug!(index, "a write passed on to the leader is not applied here yet: {e}");
    }
    Ok(Applied { index })
}

/// See [`ReplicatedStore::read_barrier`].
pub(crate) async fn read_barrier(store: &ReplicatedStore) -> Result<(), WriteError> {
    let deadline = tokio::time::Instant::now() + WRITE_TIMEOUT;
    let index = on_leader(store, |route| async move {
        match route {
            // Asking again does no harm: as if no leader were known (an election may be under way).
            Route::Leader(id, member) => ask_leader(store, id, &member, RaftRpc::ReadIndex)
                .await
                .unwrap_or(Err(WriteError::NotLeader { leader: None })),
            // The leader's own barrier also waits until it applied everything before it.
            _ => store.linearizable().await.map(|()| 0),
        }
    })
    .await?;
    applied_here(store, index, deadline).await
}

/// The leader's side of [`RaftRpc::ReadIndex`]: confirms leadership with a quorum and answers
/// the index up to which a member must have applied for its reads to be linearizable.
pub(crate) async fn read_index(store: &ReplicatedStore) -> LeaderReply {
    use openraft::error::{CheckIsLeaderError, RaftError};
    match tokio::time::timeout(WRITE_TIMEOUT, store.raft().get_read_log_id()).await {
        Ok(Ok((read, _applied))) => LeaderReply::Done { index: read.map_or(0, |id| id.index) },
        Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_)))) => LeaderReply::NotLeader,
        Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(_)))) | Err(_) => LeaderReply::NoQuorum,
        Ok(Err(RaftError::Fatal(f))) => LeaderReply::Failed(crate::replicated::fatal(f).to_string()),
    }
}
