//! Raft between managers, carried over the mutual-TLS cluster port.
//!
//! The server side refuses raft messages from anything but a manager certificate (see
//! `server.rs`); this client side verifies the peer as a manager (`swarm-manager` name) and
//! presents this node's manager certificate.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use palisade_store::{Member, RaftRpc, RaftRpcReply, Transport, TransportError};

use super::client::ManagerClients;

/// A raft message not answered within this long counts as lost (snapshots get longer).
const RAFT_TIMEOUT: Duration = Duration::from_secs(2);
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(60);

/// [`Transport`] over the cluster port.
pub(crate) struct ClusterTransport {
    clients: Arc<ManagerClients>,
}

impl ClusterTransport {
    pub(crate) fn new(clients: Arc<ManagerClients>) -> Self {
        Self { clients }
    }
}

impl Transport for ClusterTransport {
    fn send(&self, _target: u64, member: &Member, rpc: RaftRpc) -> BoxFuture<'_, Result<RaftRpcReply, TransportError>> {
        let addr = member.addr.clone();
        Box::pin(async move {
            let timeout = if matches!(rpc, RaftRpc::InstallSnapshot(_)) { SNAPSHOT_TIMEOUT } else { RAFT_TIMEOUT };
            let body = rpc.encode().map_err(|e| TransportError(e.to_string()))?;
            let client = self.clients.get(&addr).await.map_err(|e| TransportError(e.to_string()))?;
            let reply = client.raft(body, timeout).await.map_err(|e| TransportError(e.to_string()))?;
            RaftRpcReply::decode(&reply).map_err(|e| TransportError(e.to_string()))
        })
    }
}
