//! Containers outside services on attachable overlay networks: what the node's engine asks of
//! its swarm membership for `docker run --network NAME` (see `manager::attachments`).
//!
//! A container is attached when it starts: the leader gives it an address on each network,
//! the node receives those networks (and their keys) with its next assignments, and the data
//! plane gives the container an interface on each. It is detached when it stops.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;

use ipnet::Ipv4Net;

use super::Daemon;
use crate::error::{Error, Result};
use crate::rpc::{ContainerAttach, ControlReply, NodeCall};

/// A swarm network a container outside services may join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachableNetwork {
    /// The network's ID.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// A container to attach to swarm networks.
#[derive(Debug, Clone)]
pub struct ContainerAttachRequest {
    /// The container's ID.
    pub container_id: String,
    /// Its name (what the networks resolve, with each endpoint's aliases).
    pub name: String,
    /// Its network namespace.
    pub netns: PathBuf,
    /// How many interfaces it has already: its interfaces on these networks follow them
    /// (`eth<first_interface>`, …).
    pub first_interface: usize,
    /// The networks, in order.
    pub endpoints: Vec<ContainerEndpoint>,
}

/// One network a container asks for.
#[derive(Debug, Clone)]
pub struct ContainerEndpoint {
    /// The network's ID (from [`Daemon::attachable_network`]).
    pub network_id: String,
    /// Other names the container has there.
    pub aliases: Vec<String>,
    /// The address it asks for; `None`: any free one.
    pub ipv4: Option<Ipv4Addr>,
}

/// A container attached: its address on each network, in order, and what its embedded DNS
/// server resolves on them (services, their tasks, other attached containers).
pub struct ContainerAttached {
    /// The addresses, with the networks' prefix lengths.
    pub addresses: Vec<Ipv4Net>,
    /// The names the networks resolve.
    pub names: Arc<dyn palisade_net::ServiceNames>,
}

impl std::fmt::Debug for ContainerAttached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerAttached").field("addresses", &self.addresses).finish_non_exhaustive()
    }
}

impl Daemon {
    /// The swarm network `reference` names (ID, name or unique ID prefix), if this node is in
    /// a swarm that has one; refused when the network is not attachable.
    pub async fn attachable_network(&self, reference: &str) -> Result<Option<AttachableNetwork>> {
        let Ok(node) = self.active().await else { return Ok(None) };
        match node.node_call(NodeCall::AttachableNetwork { reference: reference.to_owned() }).await {
            Ok(ControlReply::Network(view)) => Ok(Some(AttachableNetwork { id: view.id, name: view.name })),
            Ok(other) => Err(Error::internal("attachable network", format!("unexpected reply {other:?}"))),
            Err(Error::NotFound { .. } | Error::Remote { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Attaches a container to its swarm networks. On failure nothing stays attached.
    pub async fn attach_container(&self, request: ContainerAttachRequest) -> Result<ContainerAttached> {
        let node = self.active().await?;
        let dataplane = node
            .dataplane
            .clone()
            .ok_or_else(|| Error::precondition("this node has no overlay data plane (see its log): it cannot join swarm networks"))?;
        let attached = async {
            let mut interfaces = Vec::new();
            for (i, endpoint) in request.endpoints.iter().enumerate() {
                let mut names = vec![request.name.clone()];
                names.extend(endpoint.aliases.iter().cloned());
                let attach = ContainerAttach {
                    network_id: endpoint.network_id.clone(),
                    container_id: request.container_id.clone(),
                    names,
                    ipv4: endpoint.ipv4,
                    run: crate::describe::daemon_run().to_owned(),
                };
                let addr = match node.node_call(NodeCall::AttachContainer(attach)).await? {
                    ControlReply::Attached(addr) => addr,
                    other => return Err(Error::internal("container attach", format!("unexpected reply {other:?}"))),
                };
                interfaces.push((endpoint.network_id.clone(), addr, format!("eth{}", request.first_interface + i)));
            }
            dataplane.connect(&request.container_id, &request.netns, &interfaces).await?;
            Ok(interfaces.into_iter().map(|(_, addr, _)| addr).collect())
        };
        match attached.await {
            Ok(addresses) => {
                let networks = request.endpoints.into_iter().map(|e| e.network_id).collect();
                Ok(ContainerAttached { addresses, names: Arc::new(dataplane.names(networks)) })
            }
            Err(e) => {
                self.detach_container(&request.container_id).await;
                Err(e)
            }
        }
    }

    /// Detaches a container from every swarm network (it stopped): its interfaces go, and its
    /// addresses are released. Failures are logged: the leader also releases them when this
    /// daemon next starts.
    pub async fn detach_container(&self, container_id: &str) {
        let Ok(node) = self.active().await else { return };
        if let Some(dataplane) = &node.dataplane {
            dataplane.disconnect(container_id).await;
        }
        if let Err(e) = node.node_call(NodeCall::DetachContainer { container_id: container_id.to_owned() }).await {
            tracing::warn!(container = container_id, "releasing its swarm network addresses: {e}");
        }
    }
}
