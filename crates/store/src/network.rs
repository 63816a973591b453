//! openraft's network over a [`Transport`], recording when each member last answered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};

use crate::member::Member;
use crate::raft_types::TypeConfig;
use crate::transport::{RaftRpc, RaftRpcReply, Transport, TransportError};

/// When each raft ID last answered an RPC this member sent (any well-formed answer counts).
#[derive(Default)]
pub(crate) struct Contacts(Mutex<HashMap<u64, Instant>>);

impl Contacts {
    fn record(&self, target: u64) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(target, Instant::now());
        }
    }

    /// When `target` last answered, if ever.
    pub(crate) fn last(&self, target: u64) -> Option<Instant> {
        self.0.lock().ok().and_then(|map| map.get(&target).copied())
    }
}

/// Builds one [`Network`] per replication target.
pub(crate) struct NetworkFactory {
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) contacts: Arc<Contacts>,
    /// Pause before retrying an unreachable member.
    pub(crate) backoff: Duration,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Network;

    async fn new_client(&mut self, target: u64, node: &Member) -> Network {
        Network {
            target,
            member: node.clone(),
            transport: self.transport.clone(),
            contacts: self.contacts.clone(),
            backoff: self.backoff,
        }
    }
}

/// Sends raft RPCs to one member.
pub(crate) struct Network {
    target: u64,
    member: Member,
    transport: Arc<dyn Transport>,
    contacts: Arc<Contacts>,
    backoff: Duration,
}

type RpcResult<T, E> = Result<T, RPCError<u64, Member, E>>;

impl Network {
    async fn call(&self, rpc: RaftRpc, option: &RPCOption) -> Result<RaftRpcReply, Unreachable> {
        let sent = tokio::time::timeout(option.hard_ttl(), self.transport.send(self.target, &self.member, rpc)).await;
        match sent {
            Ok(Ok(RaftRpcReply::Failed(why))) => Err(Unreachable::new(&TransportError(why))),
            Ok(Ok(reply)) => {
                self.contacts.record(self.target);
                Ok(reply)
            }
            Ok(Err(e)) => Err(Unreachable::new(&e)),
            Err(_) => Err(Unreachable::new(&TransportError("timed out".into()))),
        }
    }
}

fn unexpected(reply: &RaftRpcReply) -> Unreachable {
    Unreachable::new(&TransportError(format!("unexpected {} reply", reply.kind())))
}

impl RaftNetwork<TypeConfig> for Network {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>, RaftError<u64>> {
        match self.call(RaftRpc::AppendEntries(rpc), &option).await? {
            RaftRpcReply::AppendEntries(r) => Ok(r),
            other => Err(unexpected(&other).into()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>> {
        match self.call(RaftRpc::InstallSnapshot(rpc), &option).await? {
            RaftRpcReply::InstallSnapshot(r) => Ok(r),
            RaftRpcReply::SnapshotRefused(e) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, RaftError::APIError(e))))
            }
            other => Err(unexpected(&other).into()),
        }
    }

    async fn vote(&mut self, rpc: VoteRequest<u64>, option: RPCOption) -> RpcResult<VoteResponse<u64>, RaftError<u64>> {
        match self.call(RaftRpc::Vote(rpc), &option).await? {
            RaftRpcReply::Vote(r) => Ok(r),
            other => Err(unexpected(&other).into()),
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(self.backoff))
    }
}
