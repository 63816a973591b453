//! The node's swarm membership as the engine's swarm networks: `docker run --network NAME`
//! joins an attachable overlay network through the cluster daemon.

use std::sync::Weak;

use futures::future::BoxFuture;
use palisade_cluster::{ContainerAttachRequest, ContainerEndpoint, Daemon, Error as ClusterError};
use palisade_engine::{ClusterAttach, ClusterAttachment, ClusterNetwork, ClusterNetworks, Error};

/// Holds the daemon weakly: the daemon owns the engine (its task executor), not the reverse.
pub(crate) struct SwarmNetworks(pub(crate) Weak<Daemon>);

impl SwarmNetworks {
    fn daemon(&self) -> Result<std::sync::Arc<Daemon>, Error> {
        self.0.upgrade().ok_or_else(|| Error::Unavailable("the node is shutting down".into()))
    }
}

/// A cluster failure as the engine reports it, by whose fault it was.
fn engine_error(e: ClusterError) -> Error {
    match e {
        ClusterError::InvalidArgument(m) | ClusterError::FailedPrecondition(m) => Error::InvalidArgument(m),
        ClusterError::PermissionDenied(m) => Error::Refused(m),
        e @ ClusterError::NotFound { .. } => Error::NotFound(e.to_string()),
        ClusterError::Remote { status, message } => match status {
            400 => Error::InvalidArgument(message),
            403 => Error::Refused(message),
            404 => Error::NotFound(message),
            409 => Error::Conflict(message),
            _ => Error::Unavailable(message),
        },
        e @ (ClusterError::Unavailable(_) | ClusterError::NotLeader | ClusterError::Locked | ClusterError::NotInSwarm) => {
            Error::Unavailable(e.to_string())
        }
        e => Error::Internal(e.to_string()),
    }
}

impl ClusterNetworks for SwarmNetworks {
    fn find<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<Option<ClusterNetwork>, Error>> {
        Box::pin(async move {
            let found = self.daemon()?.attachable_network(reference).await.map_err(engine_error)?;
            Ok(found.map(|n| ClusterNetwork { id: n.id, name: n.name }))
        })
    }

    fn attach(&self, request: ClusterAttach) -> BoxFuture<'_, Result<ClusterAttachment, Error>> {
        Box::pin(async move {
            let endpoints = request
                .endpoints
                .into_iter()
                .map(|e| ContainerEndpoint { network_id: e.network_id, aliases: e.aliases, ipv4: e.ipv4 })
                .collect();
            let request = ContainerAttachRequest {
                container_id: request.container_id,
                name: request.name,
                netns: request.netns,
                first_interface: request.first_interface,
                endpoints,
            };
            let attached = self.daemon()?.attach_container(request).await.map_err(engine_error)?;
            Ok(ClusterAttachment { addresses: attached.addresses, names: attached.names })
        })
    }

    fn detach<'a>(&'a self, container_id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Ok(daemon) = self.daemon() {
                daemon.detach_container(container_id).await;
            }
        })
    }
}
