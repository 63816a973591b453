//! Containers outside services on attachable overlay networks (`docker run --network NAME`
//! on any node): the leader gives each an address, recorded on the network
//! ([`ContainerAttachment`]), and the dispatcher then sends the network (and its keys) to the
//! container's node as it does for a task's.
//!
//! Every call is authorised by the caller's verified node ID: a node attaches and detaches its
//! own containers only. An attachment is released when its node detaches the container (it
//! stopped), when the node's daemon reports a new run (it restarted, so the container stopped
//! with it: see [`Manager::release_earlier_runs`]), or when the node is removed.
//!
//! Any node may attach a container to an attachable network, and so receive its keys: that is
//! what `--attachable` allows.

use palisade_pki::{NodeCertInfo, NodeId};

use super::Manager;
use crate::error::{Error, Result};
use crate::model::{ContainerAttachment, NetworkObject, Versioned, WriteSet};
use crate::rpc::{ContainerAttach, NetworkView};

/// The most names (the container's, then its aliases) one attachment may carry.
const MAX_NAMES: usize = 32;
/// The longest name, container ID or run a node may send (a DNS name's limit).
const MAX_TEXT: usize = 253;

/// Whether `text` is a container name or alias as dockerd accepts them
/// (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`, palisade-net's rule), short enough to be a DNS name.
fn valid_name(text: &str) -> bool {
    text.len() <= MAX_TEXT && palisade_net::valid_name(text)
}

/// Checks what a node sent, before anything is read or written.
fn check(attach: &ContainerAttach) -> Result<()> {
    let hex = |t: &str| !t.is_empty() && t.len() <= MAX_TEXT && t.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(&attach.container_id) || !hex(&attach.run) {
        return Err(Error::invalid("a network attachment needs the container's ID and the daemon's run, in hexadecimal"));
    }
    if attach.names.is_empty() || attach.names.len() > MAX_NAMES {
        return Err(Error::invalid(format!("a network attachment names its container, with at most {MAX_NAMES} names")));
    }
    if let Some(bad) = attach.names.iter().find(|n| !valid_name(n)) {
        return Err(Error::invalid(format!("invalid container name or alias {bad:?}")));
    }
    Ok(())
}

/// Refuses a network not created `--attachable` (the ingress network never is), in dockerd's
/// words.
fn ensure_attachable(network: &NetworkObject) -> Result<()> {
    if network.attachable && !network.ingress {
        return Ok(());
    }
    Err(Error::PermissionDenied(format!("network {} not manually attachable", network.name)))
}

impl Manager {
    /// The network `reference` names, for a container of the caller: refused unless it was
    /// created `--attachable` (the ingress network never is).
    pub(super) fn attachable_network(&self, peer: &NodeCertInfo, reference: &str) -> Result<NetworkView> {
        let cluster = self.records.cluster()?.value;
        self.authorize(&cluster, peer)?;
        let network = self.resolve_network(reference)?;
        ensure_attachable(&network.value)?;
        Ok(super::networks::network_view(&network))
    }

    /// Gives one of the caller's containers an address on an attachable network: the one it
    /// asks for, or the lowest free one. Attaching a container again (its daemon restarted
    /// it) keeps its address unless it asks for another.
    pub(super) async fn attach_container(&self, peer: &NodeCertInfo, attach: ContainerAttach) -> Result<ipnet::Ipv4Net> {
        check(&attach)?;
        let cluster = self.records.cluster()?.value;
        self.authorize(&cluster, peer)?;
        let _allocation = self.allocation.lock().await;
        let network = self.resolve_network(&attach.network_id)?;
        if network.value.id != attach.network_id {
            return Err(Error::NotFound { kind: "network", reference: attach.network_id });
        }
        ensure_attachable(&network.value)?;
        let node = &peer.node_id;
        let mut changed = network.value;
        let earlier = changed.containers.iter().position(|c| c.container_id == attach.container_id && c.node_id == *node);
        let earlier = earlier.map(|i| changed.containers.remove(i).addr);
        let addr = match earlier {
            Some(addr) if attach.ipv4.is_none_or(|ip| ip == addr.addr()) => addr,
            _ => {
                let mut pools = self.pools()?;
                // The store still holds the earlier address: it is the container's to take.
                if let Some(addr) = earlier {
                    pools.release(&changed.id, addr.addr());
                }
                match attach.ipv4 {
                    Some(ip) => pools.take(&changed.id, ip)?.addr,
                    None => pools.allocate_on(&changed.id)?.addr,
                }
            }
        };
        changed.containers.push(ContainerAttachment {
            container_id: attach.container_id,
            names: attach.names,
            node_id: node.clone(),
            run: attach.run,
            addr,
        });
        changed.updated_at = self.clock.now();
        self.records.commit(WriteSet::new().put(&changed, Some(network.version))?).await?;
        tracing::info!(network = %changed.id, node = %node, %addr, "container attached to the network");
        Ok(addr)
    }

    /// Releases every attachment of one of the caller's containers.
    pub(super) async fn detach_container(&self, peer: &NodeCertInfo, container_id: &str) -> Result<()> {
        let cluster = self.records.cluster()?.value;
        self.authorize(&cluster, peer)?;
        self.release_attachments(&peer.node_id, |c| c.container_id == container_id).await
    }

    /// Releases the attachments `node` made in runs of its daemon other than `run`: that
    /// daemon restarted, and its containers stopped with it.
    pub(super) async fn release_earlier_runs(&self, node: &NodeId, run: &str) -> Result<()> {
        self.release_attachments(node, |c| c.run != run).await
    }

    /// Deletes `node`'s attachments that `which` selects, on every network.
    pub(super) async fn release_attachments(&self, node: &NodeId, which: impl Fn(&ContainerAttachment) -> bool) -> Result<()> {
        let _allocation = self.allocation.lock().await;
        let selected = |c: &ContainerAttachment| c.node_id == *node && which(c);
        let holding: Vec<Versioned<NetworkObject>> =
            self.network_list()?.into_iter().filter(|n| n.value.containers.iter().any(selected)).collect();
        for network in holding {
            let mut changed = network.value;
            changed.containers.retain(|c| !selected(c));
            changed.updated_at = self.clock.now();
            self.records.commit(WriteSet::new().put(&changed, Some(network.version))?).await?;
            tracing::info!(network = %changed.id, node = %node, "container attachments released");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use palisade_pki::NodeKey;

    use super::*;
    use crate::model::NodeDescription;
    use crate::rpc::{HeartbeatRequest, JoinCertRequest, NetworkCreate};

    async fn join_worker(manager: &Manager) -> NodeCertInfo {
        let token = manager.records.cluster().unwrap().value.worker_token;
        let request = JoinCertRequest {
            token,
            csr_pem: NodeKey::generate().unwrap().csr_pem().unwrap(),
            description: NodeDescription::default(),
            advertise_addr: String::new(),
            listen_port: 0,
            availability: String::new(),
        };
        let response = manager.join(request, "127.0.0.9".into()).await.unwrap();
        NodeCertInfo::from_pem(&response.cert_pem).unwrap()
    }

    fn attach(network_id: &str, container_id: &str, name: &str, ipv4: Option<&str>) -> ContainerAttach {
        ContainerAttach {
            network_id: network_id.into(),
            container_id: container_id.into(),
            names: vec![name.into(), format!("{name}-alias")],
            ipv4: ipv4.map(|ip| ip.parse().unwrap()),
            run: "0123abcd".into(),
        }
    }

    /// The networks `node` receives, with the names of the containers on each.
    fn received(manager: &Manager, node: &NodeCertInfo) -> Vec<(String, Vec<String>)> {
        let state = manager.overlay_state(&node.node_id, &[]).unwrap();
        state.networks.into_iter().map(|n| (n.name, n.containers.into_iter().flat_map(|c| c.names).collect())).collect()
    }

    #[tokio::test]
    async fn containers_join_attachable_networks_only_and_their_nodes_alone_receive_them() {
        let dir = tempfile::tempdir().unwrap();
        let manager = super::super::tests::manager_with_clock(dir.path(), std::sync::Arc::new(palisade_pki::SystemClock)).await;
        let create = |name: &str, attachable| NetworkCreate {
            name: name.into(),
            labels: Default::default(),
            attachable,
            subnet: None,
            gateway: None,
            encrypted: true,
        };
        let att = manager.network_create(create("att", true)).await.unwrap();
        manager.network_create(create("services-only", false)).await.unwrap();
        let (a, b) = (join_worker(&manager).await, join_worker(&manager).await);

        // Only an attachable network is found for a container.
        assert_eq!(manager.attachable_network(&a, "att").unwrap().id, att);
        let Err(Error::PermissionDenied(refused)) = manager.attachable_network(&a, "services-only") else { panic!("attached to a services-only network") };
        assert!(refused.contains("not manually attachable"), "{refused}");
        assert!(matches!(manager.attachable_network(&a, "nothing"), Err(Error::NotFound { .. })));

        // Bad input is refused before anything is written.
        for bad in [attach(&att, "not-hex", "web", None), attach(&att, "c1", "bad name", None)] {
            assert!(matches!(manager.attach_container(&a, bad).await, Err(Error::InvalidArgument(_))));
        }
        assert!(received(&manager, &a).is_empty());

        // Node a's container gets the first free address; node a alone receives the network.
        let first = manager.attach_container(&a, attach(&att, "c1", "box", None)).await.unwrap();
        assert_eq!(first.to_string(), "10.0.1.2/24", "the gateway is never given");
        assert_eq!(received(&manager, &a), vec![("att".to_owned(), vec!["box".to_owned(), "box-alias".to_owned()])]);
        assert!(received(&manager, &b).is_empty(), "a node with nothing on the network never receives it (nor its keys)");
        let again = manager.attach_container(&a, attach(&att, "c1", "box", None)).await.unwrap();
        assert_eq!(again, first, "attaching again keeps the address");

        // Node b's container may not take a held address, nor one outside the subnet.
        let taken = manager.attach_container(&b, attach(&att, "c2", "other", Some("10.0.1.2"))).await;
        assert!(matches!(taken, Err(Error::FailedPrecondition(_))), "{taken:?}");
        let outside = manager.attach_container(&b, attach(&att, "c2", "other", Some("10.9.0.2"))).await;
        assert!(matches!(outside, Err(Error::InvalidArgument(_))), "{outside:?}");
        let chosen = manager.attach_container(&b, attach(&att, "c2", "other", Some("10.0.1.9"))).await.unwrap();
        assert_eq!(chosen.to_string(), "10.0.1.9/24");
        let peers = manager.overlay_state(&a.node_id, &[]).unwrap().networks[0].peers.clone();
        assert_eq!(peers.iter().map(|p| p.node_id.as_str()).collect::<Vec<_>>(), vec![b.node_id.as_str()]);
        assert_eq!(received(&manager, &b)[0].1.len(), 4, "both containers' names resolve on the network");

        // In use: the network stays.
        let Err(Error::FailedPrecondition(in_use)) = manager.network_remove("att").await else { panic!("a network with containers was removed") };
        assert!(in_use.contains("in use by container"), "{in_use}");

        // Node a's daemon restarts: its containers stopped, their addresses are released.
        let description = NodeDescription { run: "feed".into(), ..NodeDescription::default() };
        manager.heartbeat(&a, HeartbeatRequest { description, policy_version: None }).await.unwrap();
        assert!(received(&manager, &a).is_empty());
        // Node b may only detach its own containers; once it has, the network can go.
        manager.detach_container(&a, "c2").await.unwrap();
        assert_eq!(received(&manager, &b).len(), 1);
        manager.detach_container(&b, "c2").await.unwrap();
        assert!(received(&manager, &b).is_empty());

        // A removed node's containers are released with it.
        manager.attach_container(&b, attach(&att, "c3", "third", None)).await.unwrap();
        manager.node_remove(b.node_id.as_str(), true).await.unwrap();
        manager.network_remove("att").await.unwrap();
    }
}
