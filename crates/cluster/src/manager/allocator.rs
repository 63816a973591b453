//! Addresses on overlay networks, and the rotation of their keys: decisions the leader makes.
//!
//! * Each task gets one address on each network its spec attaches to, when the orchestrator
//!   makes it; each service in `vip` mode gets one virtual IP per network, when it is created
//!   or updated. An address is held until the task record is deleted (or the service drops
//!   the network): held addresses are recomputed from the store at each allocation, so a
//!   deleted record releases its addresses.
//! * Invariant: no two holders share an address on a network, and the gateway is never
//!   given. Every allocation runs under the manager's `allocation` lock and commits before
//!   releasing it, so two allocations never decide from the same snapshot.
//! * An encrypted network's key is replaced every [`NETWORK_KEY_ROTATION`]; the replaced key
//!   stays valid for [`NETWORK_KEY_GRACE`] so that traffic sealed with it still opens.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::Ipv4Net;

use super::networks::new_key;
use super::Manager;
use crate::error::{Error, Result};
use crate::model::{EndpointMode, NetworkAddress, NetworkObject, NodeObject, ServiceObject, TaskObject, Versioned, WriteSet};

/// How long a network key is current (Swarm rotates its overlay keys every 12 hours).
pub(crate) const NETWORK_KEY_ROTATION: Duration = Duration::from_secs(12 * 3600);
/// How long a replaced key stays valid, so connections keyed with it survive the rotation.
pub(crate) const NETWORK_KEY_GRACE: Duration = Duration::from_secs(3600);

/// The addresses held on each network, as one snapshot of the store shows them.
pub(super) struct Pools {
    networks: HashMap<String, (Ipv4Net, HashSet<Ipv4Addr>)>,
}

impl Pools {
    /// Held: every network's gateway and attached containers' addresses, every task record's
    /// addresses, every service's VIPs, and every node's ingress address.
    pub(super) fn new(
        networks: &[Versioned<NetworkObject>],
        services: &[&ServiceObject],
        tasks: &[&TaskObject],
        nodes: &[&NodeObject],
    ) -> Self {
        let mut pools: HashMap<String, (Ipv4Net, HashSet<Ipv4Addr>)> = networks
            .iter()
            .map(|n| {
                let mut used = HashSet::from([n.value.gateway]);
                used.extend(n.value.containers.iter().map(|c| c.addr.addr()));
                (n.value.id.clone(), (n.value.subnet, used))
            })
            .collect();
        let held = tasks.iter().flat_map(|t| &t.addresses).chain(services.iter().flat_map(|s| &s.virtual_ips));
        for address in held {
            if let Some((_, used)) = pools.get_mut(&address.network_id) {
                used.insert(address.addr.addr());
            }
        }
        if let Some((_, used)) = networks.iter().find(|n| n.value.ingress).and_then(|n| pools.get_mut(&n.value.id)) {
            used.extend(nodes.iter().filter_map(|n| n.ingress_addr).map(|a| a.addr()));
        }
        Self { networks: pools }
    }

    /// The lowest free address on the network, now held.
    pub(super) fn allocate_on(&mut self, network_id: &str) -> Result<NetworkAddress> {
        self.allocate(network_id)
    }

    /// `ip` on the network, now held: refused unless it is a free host address of its subnet
    /// (the gateway is never free).
    pub(super) fn take(&mut self, network_id: &str, ip: Ipv4Addr) -> Result<NetworkAddress> {
        let (subnet, used) = self
            .networks
            .get_mut(network_id)
            .ok_or_else(|| Error::precondition(format!("network {network_id} no longer exists")))?;
        if !subnet.hosts().any(|h| h == ip) {
            return Err(Error::invalid(format!("address {ip} is not a host address of the network's subnet {subnet}")));
        }
        if !used.insert(ip) {
            return Err(Error::precondition(format!("address {ip} is already in use on the network")));
        }
        let addr = Ipv4Net::new(ip, subnet.prefix_len()).map_err(|e| Error::internal("network address", e))?;
        Ok(NetworkAddress { network_id: network_id.to_owned(), addr })
    }

    /// Gives `ip` back to the network's pool (its holder is being replaced in the same write).
    pub(super) fn release(&mut self, network_id: &str, ip: Ipv4Addr) {
        if let Some((_, used)) = self.networks.get_mut(network_id) {
            used.remove(&ip);
        }
    }

    fn allocate(&mut self, network_id: &str) -> Result<NetworkAddress> {
        let (subnet, used) = self
            .networks
            .get_mut(network_id)
            .ok_or_else(|| Error::precondition(format!("network {network_id} no longer exists")))?;
        let addr = subnet
            .hosts()
            .find(|a| !used.contains(a))
            .ok_or_else(|| Error::precondition(format!("no free address is left on network {network_id} ({subnet})")))?;
        used.insert(addr);
        let addr = Ipv4Net::new(addr, subnet.prefix_len()).map_err(|e| Error::internal("network address", e))?;
        Ok(NetworkAddress { network_id: network_id.to_owned(), addr })
    }

    /// An address on each of the task's networks.
    pub(super) fn allocate_task(&mut self, task: &mut TaskObject) -> Result<()> {
        let addresses = task.spec.network_ids().map(|id| self.allocate(id)).collect::<Result<Vec<_>>>()?;
        task.addresses = addresses;
        Ok(())
    }

    /// The service's VIPs for its spec: kept for networks it still attaches to, new ones for
    /// networks it newly attaches to, none in `dnsrr` mode.
    pub(super) fn allocate_service(&mut self, service: &mut ServiceObject) -> Result<()> {
        let spec = &service.spec;
        let wanted: Vec<&str> = match spec.endpoint_mode {
            EndpointMode::Vip => spec.task.networks.iter().map(|n| n.network_id.as_str()).collect(),
            EndpointMode::Dnsrr => Vec::new(),
        };
        let mut vips = Vec::new();
        for network in wanted {
            match service.virtual_ips.iter().find(|v| v.network_id == network) {
                Some(kept) => vips.push(kept.clone()),
                None => vips.push(self.allocate(network)?),
            }
        }
        service.virtual_ips = vips;
        Ok(())
    }
}

impl Manager {
    /// Address pools as the store holds them now.
    pub(super) fn pools(&self) -> Result<Pools> {
        let services = self.records.list::<ServiceObject>()?;
        let tasks = self.records.list::<TaskObject>()?;
        let nodes = self.nodes()?;
        let services: Vec<&ServiceObject> = services.iter().map(|s| &s.value).collect();
        let tasks: Vec<&TaskObject> = tasks.iter().map(|t| &t.value).collect();
        let nodes: Vec<&NodeObject> = nodes.iter().map(|n| &n.value).collect();
        Ok(Pools::new(&self.network_list()?, &services, &tasks, &nodes))
    }

    /// Rotates the keys of encrypted networks whose current key is due, and forgets replaced
    /// keys whose grace period is over.
    pub(super) async fn rotate_network_keys(&self) -> Result<()> {
        let now = self.clock.now();
        for network in self.network_list()? {
            let mut changed = network.value;
            let Some(keys) = changed.keys.as_mut() else { continue };
            if now >= keys.current.created_at + NETWORK_KEY_ROTATION {
                let next = new_key(keys.current.generation + 1, now);
                let mut replaced = std::mem::replace(&mut keys.current, next);
                replaced.valid_until = Some(now + NETWORK_KEY_GRACE);
                keys.previous = Some(replaced);
                tracing::info!(network = %changed.id, generation = keys.current.generation, "network key rotated");
            } else if keys.previous.as_ref().and_then(|p| p.valid_until).is_some_and(|until| now >= until) {
                keys.previous = None;
                tracing::info!(network = %changed.id, generation = keys.current.generation, "previous network key expired");
            } else {
                continue;
            }
            changed.updated_at = now;
            match self.records.commit(WriteSet::new().put(&changed, Some(network.version))?).await {
                Ok(_) | Err(Error::OutOfSequence) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use palisade_pki::{Clock, FixedClock, NodeId};
    use time::OffsetDateTime;

    use super::*;
    use crate::model::{TaskSpec, TaskState, TaskStatus, FIRST_VNI, NETWORK_KEY_LEN};
    use crate::rpc::NetworkCreate;

    fn create(name: &str, encrypted: bool) -> NetworkCreate {
        NetworkCreate { name: name.into(), labels: Default::default(), attachable: false, subnet: None, gateway: None, encrypted }
    }

    /// A key's generation and bytes.
    type Key = (u64, Vec<u8>);

    /// A network's current key's generation and bytes, and its previous key's.
    fn keys_of(manager: &Manager, name: &str) -> Option<(u64, Vec<u8>, Option<Key>)> {
        let network = manager.resolve_network(name).unwrap().value;
        network.keys.map(|k| {
            (k.current.generation, k.current.key.to_vec(), k.previous.map(|p| (p.generation, p.key.to_vec())))
        })
    }

    #[tokio::test]
    async fn keys_rotate_every_twelve_hours_and_the_replaced_one_stays_for_the_grace_period() {
        let dir = tempfile::tempdir().unwrap();
        let start = OffsetDateTime::now_utc();
        let clock = Arc::new(FixedClock::new(start));
        let manager = crate::manager::tests::manager_with_clock(dir.path(), clock.clone()).await;
        manager.network_create(create("secure", true)).await.unwrap();
        manager.network_create(create("plain", false)).await.unwrap();
        let (generation, first, previous) = keys_of(&manager, "secure").unwrap();
        assert_eq!((generation, first.len(), previous), (1, NETWORK_KEY_LEN, None));

        // Not yet due: nothing changes.
        clock.set(start + NETWORK_KEY_ROTATION - Duration::from_secs(1));
        manager.rotate_network_keys().await.unwrap();
        assert_eq!(keys_of(&manager, "secure").unwrap(), (1, first.clone(), None));

        // Due: a new key, the replaced one kept as previous.
        let rotated_at = start + NETWORK_KEY_ROTATION;
        clock.set(rotated_at);
        manager.rotate_network_keys().await.unwrap();
        let (generation, second, previous) = keys_of(&manager, "secure").unwrap();
        assert_eq!(generation, 2);
        assert_ne!(second, first);
        assert_eq!(previous, Some((1, first.clone())));

        // Within the grace period the previous key stays; after it, it goes.
        clock.set(rotated_at + NETWORK_KEY_GRACE - Duration::from_secs(1));
        manager.rotate_network_keys().await.unwrap();
        assert_eq!(keys_of(&manager, "secure").unwrap().2, Some((1, first)));
        clock.set(rotated_at + NETWORK_KEY_GRACE);
        manager.rotate_network_keys().await.unwrap();
        assert_eq!(keys_of(&manager, "secure").unwrap(), (2, second, None));

        // The opted-out network never has keys.
        assert!(keys_of(&manager, "plain").is_none());
    }

    #[tokio::test]
    async fn a_node_receives_a_network_and_its_keys_only_while_a_task_of_its_is_on_it() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock::new(OffsetDateTime::now_utc()));
        let manager = crate::manager::tests::manager_with_clock(dir.path(), clock.clone()).await;
        let on = manager.network_create(create("on", true)).await.unwrap();
        manager.network_create(create("off", true)).await.unwrap();
        let node = manager.self_id.clone();
        let stranger = NodeId::generate(&mut rand::rngs::OsRng);

        let mut task = TaskObject {
            id: "task1".into(),
            service_id: "svc".into(),
            service_name: "svc".into(),
            service_labels: Default::default(),
            slot: 1,
            node_id: Some(node.clone()),
            spec: TaskSpec::default(),
            spec_version: 1,
            desired: TaskState::Running,
            status: TaskStatus::new(TaskState::Running, clock.now(), "running"),
            addresses: Vec::new(),
            created_at: clock.now(),
            updated_at: clock.now(),
        };
        task.spec.networks = vec![crate::model::NetworkAttachment { network_id: on.clone(), aliases: Vec::new() }];
        manager.pools().unwrap().allocate_task(&mut task).unwrap();
        assert_eq!(task.addresses[0].addr.to_string(), "10.0.1.2/24", "the gateway is never given");

        let state = manager.overlay_state(&node, std::slice::from_ref(&task)).unwrap();
        assert_eq!(state.networks.len(), 1, "{state:?}");
        let received = &state.networks[0];
        assert_eq!((received.id.as_str(), received.vni, received.keys.len()), (on.as_str(), FIRST_VNI, 1));
        let (_, key, _) = keys_of(&manager, "on").unwrap();
        assert_eq!(received.keys[0].expose(), key.as_slice());
        assert_eq!(received.attachments[0].addr.to_string(), "10.0.1.2");
        let shown = format!("{:?}", &key[..8]);
        assert!(!format!("{state:?}").contains(shown.trim_end_matches(']')), "keys are redacted in Debug");

        assert!(manager.overlay_state(&stranger, &[]).unwrap().networks.is_empty());
        // While the task stops it stays; once it has ended, the network goes.
        task.desired = TaskState::Shutdown;
        assert_eq!(manager.overlay_state(&node, std::slice::from_ref(&task)).unwrap().networks.len(), 1);
        task.status = TaskStatus::new(TaskState::Shutdown, clock.now(), "shutdown");
        assert!(manager.overlay_state(&node, std::slice::from_ref(&task)).unwrap().networks.is_empty());
    }
}
