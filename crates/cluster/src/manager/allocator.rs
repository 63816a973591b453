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
use crate::model::{EndpointMode, NetworkAddress, NetworkObject, ServiceObject, TaskObject, Versioned, WriteSet};

/// How long a network key is current (Swarm rotates its overlay keys every 12 hours).
pub(crate) const NETWORK_KEY_ROTATION: Duration = Duration::from_secs(12 * 3600);
/// How long a replaced key stays valid, so connections keyed with it survive the rotation.
pub(crate) const NETWORK_KEY_GRACE: Duration = Duration::from_secs(3600);

/// The addresses held on each network, as one snapshot of the store shows them.
pub(super) struct Pools {
    networks: HashMap<String, (Ipv4Net, HashSet<Ipv4Addr>)>,
}

impl Pools {
    /// Held: every network's gateway, every task record's addresses, every service's VIPs.
    pub(super) fn new(networks: &[Versioned<NetworkObject>], services: &[&ServiceObject], tasks: &[&TaskObject]) -> Self {
        let mut pools: HashMap<String, (Ipv4Net, HashSet<Ipv4Addr>)> =
            networks.iter().map(|n| (n.value.id.clone(), (n.value.subnet, HashSet::from([n.value.gateway])))).collect();
        let held = tasks.iter().flat_map(|t| &t.addresses).chain(services.iter().flat_map(|s| &s.virtual_ips));
        for address in held {
            if let Some((_, used)) = pools.get_mut(&address.network_id) {
                used.insert(address.addr.addr());
            }
        }
        Self { networks: pools }
    }

    /// The lowest free address on the network, now held.
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
        let addresses = task.spec.networks.iter().map(|n| self.allocate(&n.network_id)).collect::<Result<Vec<_>>>()?;
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
        let services: Vec<&ServiceObject> = services.iter().map(|s| &s.value).collect();
        let tasks: Vec<&TaskObject> = tasks.iter().map(|t| &t.value).collect();
        Ok(Pools::new(&self.network_list()?, &services, &tasks))
    }

    /// Rotates the keys of encrypted networks whose current key is due, and forgets replaced
    /// keys whose grace period is over.
    pub(super) async fn rotate_network_keys(&self) -> Result<()> {
        let now = self.clock.now();
        for network in self.network_list()? {
            let Some(keys) = &network.value.keys else { continue };
            let mut changed = network.value.clone();
            let Some(next) = changed.keys.as_mut() else { continue };
            if now >= keys.current.created_at + NETWORK_KEY_ROTATION {
                let mut replaced = std::mem::replace(&mut next.current, new_key(keys.current.generation + 1, now));
                replaced.valid_until = Some(now + NETWORK_KEY_GRACE);
                next.previous = Some(replaced);
                tracing::info!(network = %changed.id, generation = next.current.generation, "network key rotated");
            } else if keys.previous.as_ref().and_then(|p| p.valid_until).is_some_and(|until| now >= until) {
                next.previous = None;
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
