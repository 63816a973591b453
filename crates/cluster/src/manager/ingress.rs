//! The routing mesh: ports a service publishes answer on every node.
//!
//! * The ingress network is an overlay network the leader makes when a service first
//!   publishes a port: `ingress`, 10.0.0.0/24 (the default pool's first /24, kept for it),
//!   VNI 4096 (Docker's), and — unlike Docker's — encrypted like every other network.
//! * The tasks of a service that publishes ports get an address on it ([`TaskSpec::ingress`]),
//!   and each node one of its own ([`NodeObject::ingress_addr`], allocated at its first
//!   heartbeat once the network exists): a node forwards a connection to a published port to
//!   a task's ingress address, from its own, so the task's replies come back through it.
//! * A published port (protocol and number) belongs to one service at a time.
//!
//! [`TaskSpec::ingress`]: crate::model::TaskSpec::ingress
//! [`NodeObject::ingress_addr`]: crate::model::NodeObject::ingress_addr

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::networks::{checked_subnet, new_key};
use super::services::random_object_id;
use super::Manager;
use crate::error::{Error, Result};
use crate::model::{
    NetworkKeys, NetworkObject, NodeObject, Protocol, PublishedPort, ServiceObject, ServiceSpec, Versioned, WriteSet, DYNAMIC_PORTS,
    INGRESS_NAME, INGRESS_VNI,
};

/// The ingress network's subnet: the default pool's first /24.
const INGRESS_SUBNET: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(10, 0, 0, 0), 24);

impl Manager {
    /// Points `spec`'s tasks at the ingress network when it publishes ports (made if there is
    /// none yet) and returns the ports it publishes now: a port the spec leaves to the cluster
    /// keeps the one `current` (the service's ports before an update) has for it, or gets the
    /// lowest free one of [`DYNAMIC_PORTS`]. A port another service (`except` is the one being
    /// updated) publishes is refused. The caller holds the allocation lock.
    pub(super) async fn attach_ingress(
        &self,
        spec: &mut ServiceSpec,
        current: &[PublishedPort],
        except: Option<&str>,
    ) -> Result<Vec<PublishedPort>> {
        if spec.ports.is_empty() {
            spec.task.ingress = None;
            return Ok(Vec::new());
        }
        let others: Vec<(ServiceObject, PublishedPort)> = self
            .records
            .list::<ServiceObject>()?
            .into_iter()
            .filter(|o| Some(o.value.id.as_str()) != except)
            .flat_map(|o| o.value.published.clone().into_iter().map(move |p| (o.value.clone(), p)))
            .collect();
        // Taken: by another service, by a port of this spec chosen so far, or named by this
        // spec (a port left to the cluster never gets one the spec names, wherever it is).
        let taken = |port: u16, protocol: Protocol, chosen: &[PublishedPort]| {
            let holds = |p: &PublishedPort| p.published == port && p.protocol == protocol;
            others.iter().any(|(_, o)| holds(o)) || chosen.iter().any(holds) || spec.ports.iter().any(holds)
        };
        let mut published = Vec::with_capacity(spec.ports.len());
        for port in &spec.ports {
            if port.published != 0 {
                if let Some((other, _)) = others.iter().find(|(_, o)| o.published == port.published && o.protocol == port.protocol) {
                    return Err(Error::invalid(format!(
                        "port '{}' is already in use by service '{}' ({}) as an ingress port",
                        port.published, other.spec.name, other.id
                    )));
                }
                published.push(*port);
                continue;
            }
            // Only a port the cluster chose is kept for it (not one the spec used to name).
            let kept = current
                .iter()
                .filter(|c| DYNAMIC_PORTS.contains(&c.published))
                .find(|c| c.target == port.target && c.protocol == port.protocol && !taken(c.published, c.protocol, &published))
                .map(|c| c.published);
            let chosen = kept
                .or_else(|| DYNAMIC_PORTS.clone().find(|p| !taken(*p, port.protocol, &published)))
                .ok_or_else(|| Error::precondition(format!("no port of {}-{} is left to publish", DYNAMIC_PORTS.start(), DYNAMIC_PORTS.end())))?;
            published.push(PublishedPort { published: chosen, ..*port });
        }
        spec.task.ingress = Some(self.ingress_network().await?);
        Ok(published)
    }

    /// The ingress network, if it exists.
    pub(super) fn ingress(&self) -> Result<Option<Versioned<NetworkObject>>> {
        Ok(self.network_list()?.into_iter().find(|n| n.value.is_live_ingress()))
    }

    /// The ingress network's ID, made if there is none. The caller holds the allocation lock.
    async fn ingress_network(&self) -> Result<String> {
        if let Some(ingress) = self.ingress()? {
            return Ok(ingress.value.id);
        }
        let networks = self.network_list()?;
        let subnet = checked_subnet(INGRESS_SUBNET, &networks)
            .map_err(|e| Error::precondition(format!("the ingress network cannot be made: {e}")))?;
        if networks.iter().any(|n| n.value.vni == INGRESS_VNI || n.value.name == INGRESS_NAME) {
            return Err(Error::precondition("the ingress network cannot be made: its name or VNI is taken"));
        }
        let gateway = subnet.hosts().next().ok_or_else(|| Error::internal("ingress network", "empty subnet"))?;
        let now = self.clock.now();
        let network = NetworkObject {
            id: random_object_id(),
            name: INGRESS_NAME.into(),
            labels: Default::default(),
            created_at: now,
            updated_at: now,
            attachable: false,
            vni: INGRESS_VNI,
            subnet,
            gateway,
            keys: Some(NetworkKeys { current: new_key(1, now), previous: None }),
            removing: false,
            ingress: true,
            containers: Vec::new(),
        };
        self.records.commit(WriteSet::new().put(&network, None)?).await?;
        tracing::info!(network = %network.id, %subnet, "ingress network created");
        Ok(network.id)
    }

    /// Gives `node` its address on the ingress network when the network exists and the node
    /// has none yet.
    pub(super) async fn allocate_node_ingress(&self, node: &Versioned<NodeObject>) -> Result<()> {
        if node.value.ingress_addr.is_some() || self.ingress()?.is_none() {
            return Ok(());
        }
        let _allocation = self.allocation.lock().await;
        let Some(ingress) = self.ingress()? else { return Ok(()) };
        let Some(current) = self.node(&node.value.id)? else { return Ok(()) };
        if current.value.ingress_addr.is_some() {
            return Ok(());
        }
        let address = self.pools()?.allocate_on(&ingress.value.id)?;
        let mut updated = current.value;
        updated.ingress_addr = Some(address.addr);
        updated.updated_at = self.clock.now();
        self.records.commit(WriteSet::new().put(&updated, Some(current.version))?).await?;
        tracing::info!(node = %updated.id, address = %address.addr, "node address on the ingress network");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TaskSpec;

    fn spec(name: &str, published: u16, protocol: Protocol) -> ServiceSpec {
        ServiceSpec { ports: vec![PublishedPort { protocol, target: 80, published }], ..ServiceSpec::replicated(name, TaskSpec::default()) }
    }

    #[tokio::test]
    async fn the_ingress_network_is_made_once_and_a_published_port_has_one_service() {
        let dir = tempfile::tempdir().unwrap();
        let manager = crate::manager::tests::manager_with_clock(dir.path(), std::sync::Arc::new(palisade_pki::SystemClock)).await;
        let mut web = spec("web", 8080, Protocol::Tcp);
        let published = manager.attach_ingress(&mut web, &[], None).await.unwrap();
        assert_eq!(published, web.ports, "named ports are published as named");
        let ingress = manager.ingress().unwrap().unwrap().value;
        assert_eq!(web.task.ingress.as_deref(), Some(ingress.id.as_str()));
        assert_eq!((ingress.name.as_str(), ingress.vni, ingress.subnet, ingress.encrypted()), ("ingress", INGRESS_VNI, INGRESS_SUBNET, true));
        let now = manager.clock.now();
        let service = |id: &str, spec: ServiceSpec, published: Vec<PublishedPort>| ServiceObject::new(id.into(), spec, published, now);
        manager.records.commit(WriteSet::new().put(&service("web-id", web.clone(), published), None).unwrap()).await.unwrap();

        let err = manager.attach_ingress(&mut spec("other", 8080, Protocol::Tcp), &[], None).await.unwrap_err();
        assert!(err.to_string().contains("port '8080' is already in use by service 'web'"), "{err}");
        let mut udp = spec("dns", 8080, Protocol::Udp);
        manager.attach_ingress(&mut udp, &[], None).await.unwrap();
        assert_eq!(udp.task.ingress, web.task.ingress, "one ingress network");
        manager.attach_ingress(&mut web, &[], Some("web-id")).await.expect("a service keeps its own ports on update");
        let mut none = spec("none", 1, Protocol::Tcp);
        none.ports.clear();
        none.task.ingress = Some("stale".into());
        assert!(manager.attach_ingress(&mut none, &[], None).await.unwrap().is_empty());
        assert_eq!(none.task.ingress, None, "no ports, no ingress");

        // A port left to the cluster: the lowest free one of the dynamic range, kept across
        // updates, never one another service publishes.
        let mut first = spec("first", 0, Protocol::Tcp);
        let given = manager.attach_ingress(&mut first, &[], None).await.unwrap();
        assert_eq!(given[0].published, *DYNAMIC_PORTS.start());
        manager.records.commit(WriteSet::new().put(&service("first-id", first.clone(), given.clone()), None).unwrap()).await.unwrap();
        let mut second = spec("second", 0, Protocol::Tcp);
        assert_eq!(manager.attach_ingress(&mut second, &[], None).await.unwrap()[0].published, DYNAMIC_PORTS.start() + 1);
        assert_eq!(manager.attach_ingress(&mut first, &given, Some("first-id")).await.unwrap(), given, "kept on update");
        // The CLI's `--publish-add target=80` to a service publishing 8080->80 sends the new
        // port first: it must not take 8080 over.
        let mut both = spec("web", 0, Protocol::Tcp);
        both.ports.push(PublishedPort { protocol: Protocol::Tcp, target: 80, published: 8080 });
        let current = [PublishedPort { protocol: Protocol::Tcp, target: 80, published: 8080 }];
        let published = manager.attach_ingress(&mut both, &current, Some("web-id")).await.unwrap();
        assert_eq!(published.iter().map(|p| p.published).collect::<Vec<_>>(), [DYNAMIC_PORTS.start() + 1, 8080]);
        // A port the spec used to name is not kept for a port left to the cluster.
        let mut dynamic_only = spec("web", 0, Protocol::Tcp);
        let published = manager.attach_ingress(&mut dynamic_only, &current, Some("web-id")).await.unwrap();
        assert_eq!(published[0].published, DYNAMIC_PORTS.start() + 1);

        // Each node gets an address of its own there, never handed out again.
        let node = manager.node(&manager.self_id).unwrap().unwrap();
        manager.allocate_node_ingress(&node).await.unwrap();
        let address = manager.node(&manager.self_id).unwrap().unwrap().value.ingress_addr.unwrap();
        assert!(INGRESS_SUBNET.contains(&address.addr()) && address.addr() != ingress.gateway, "{address}");
        let next = manager.pools().unwrap().allocate_on(&ingress.id).unwrap();
        assert_ne!(next.addr.addr(), address.addr());
    }
}
