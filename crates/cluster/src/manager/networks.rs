//! Overlay network records: create (subnet from the default address pool unless given, a
//! unique VXLAN identifier, the first key of an encrypted network), list, inspect, remove
//! (refused while a service or a running task uses the network; deferred while ending tasks
//! still hold addresses on it). Keys never leave through these calls.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use rand::RngCore;
use zeroize::Zeroizing;

use super::services::{random_object_id, resolve};
use super::Manager;
use crate::error::{Error, Result};
use crate::model::{
    NetworkKey, NetworkKeys, NetworkObject, ServiceObject, TaskObject, Versioned, WriteSet, FIRST_VNI, MAX_VNI,
    NETWORK_KEY_LEN,
};
use crate::rpc::{NetworkCreate, NetworkView};

/// Docker's default address pool for swarm networks, cut into /24s (the only pool Palisade
/// has: `swarm init --default-addr-pool` is refused).
pub(crate) const DEFAULT_POOL: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(10, 0, 0, 0), 8);
pub(crate) const DEFAULT_SUBNET_PREFIX: u8 = 24;
/// The pool's first /24, which Docker gives its ingress network: kept free for it.
const INGRESS_SUBNET: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 0);
/// The smallest subnet a network may have: a gateway and at least one task.
const MAX_PREFIX: u8 = 30;

impl Manager {
    /// Returns the new network's ID.
    pub(super) async fn network_create(&self, create: NetworkCreate) -> Result<String> {
        // Subnets and VNIs are decided from one snapshot and committed before the next.
        let _allocation = self.allocation.lock().await;
        let networks = self.network_list()?;
        if networks.iter().any(|n| n.value.name == create.name) {
            return Err(Error::AlreadyExists { kind: "network", name: create.name });
        }
        let subnet = match create.subnet {
            Some(subnet) => checked_subnet(subnet, &networks)?,
            None => free_subnet(&networks)?,
        };
        let gateway = match create.gateway {
            Some(gateway) if subnet.hosts().any(|h| h == gateway) => gateway,
            Some(gateway) => return Err(Error::invalid(format!("gateway {gateway} is not a host address of subnet {subnet}"))),
            None => subnet.hosts().next().ok_or_else(|| Error::invalid(format!("subnet {subnet} has no host addresses")))?,
        };
        let vni = (FIRST_VNI..=MAX_VNI)
            .find(|v| !networks.iter().any(|n| n.value.vni == *v))
            .ok_or_else(|| Error::precondition("no VXLAN network identifier is left"))?;
        let now = self.clock.now();
        let network = NetworkObject {
            id: random_object_id(),
            name: create.name,
            labels: create.labels,
            created_at: now,
            updated_at: now,
            attachable: create.attachable,
            vni,
            subnet,
            gateway,
            keys: create.encrypted.then(|| NetworkKeys { current: new_key(1, now), previous: None }),
            removing: false,
            ingress: false,
            containers: Vec::new(),
        };
        if networks.iter().any(|n| n.value.id == network.id) {
            return Err(Error::internal("network create", "object ID collision"));
        }
        match self.records.commit(WriteSet::new().put(&network, None)?).await {
            Ok(_) => {
                tracing::info!(network = %network.id, vni, %subnet, encrypted = network.encrypted(), "overlay network created");
                Ok(network.id)
            }
            Err(Error::OutOfSequence) => Err(Error::AlreadyExists { kind: "network", name: network.name }),
            Err(e) => Err(e),
        }
    }

    /// Every network record, those being removed ([`NetworkObject::removing`]) included: their
    /// addresses, VNIs and keys are still in use.
    pub(super) fn network_list(&self) -> Result<Vec<Versioned<NetworkObject>>> {
        self.records.list()
    }

    /// The networks users see: all but those being removed.
    pub(super) fn shown_networks(&self) -> Result<Vec<Versioned<NetworkObject>>> {
        Ok(self.network_list()?.into_iter().filter(|n| !n.value.removing).collect())
    }

    /// A network users see, as dockerd resolves it: exact ID, then exact name, then unique ID
    /// prefix.
    pub(super) fn resolve_network(&self, reference: &str) -> Result<Versioned<NetworkObject>> {
        resolve(self.shown_networks()?, reference, "network", |n| (&n.id, &n.name))
    }

    /// Removes the network, unless a service or a container attaches to it or a task still
    /// wanted running holds an address on it (as swarmkit refuses it). While tasks that are
    /// ending still hold addresses on it, it is only marked [`NetworkObject::removing`], and
    /// [`Self::finish_network_removals`] deletes it once they have ended: `docker stack rm`
    /// removes a stack's networks right after its services, whose tasks take a while to stop.
    /// Ended tasks keep their record of the address.
    pub(super) async fn network_remove(&self, reference: &str) -> Result<()> {
        let _allocation = self.allocation.lock().await;
        let network = self.resolve_network(reference)?;
        let id = &network.value.id;
        let name = &network.value.name;
        let services = self.records.list::<ServiceObject>()?;
        if let Some(service) = services.iter().find(|s| s.value.spec.attaches(id)) {
            return Err(Error::precondition(format!("network {name} is in use by service {}", service.value.spec.name)));
        }
        if let Some(container) = network.value.containers.first() {
            let holder = container.names.first().unwrap_or(&container.container_id);
            return Err(Error::precondition(format!("network {name} is in use by container {holder}")));
        }
        let tasks = self.records.list::<TaskObject>()?;
        let attached: Vec<&TaskObject> = tasks.iter().map(|t| &t.value).filter(|t| t.is_attached_to(id)).collect();
        // A task of a removed service is not wanted, though the orchestrator may not have
        // marked it for removal yet.
        let wanted = |t: &TaskObject| t.is_live() && services.iter().any(|s| s.value.id == t.service_id);
        if let Some(task) = attached.iter().find(|t| wanted(t)) {
            return Err(Error::precondition(format!("network {name} is in use by task {}", task.id)));
        }
        if !attached.is_empty() {
            let mut marked = network.value.clone();
            marked.removing = true;
            marked.updated_at = self.clock.now();
            self.records.commit(WriteSet::new().put(&marked, Some(network.version))?).await?;
            tracing::info!(network = %id, "overlay network to be removed once its last tasks have ended");
            return Ok(());
        }
        self.records.commit(WriteSet::new().delete::<NetworkObject>(name, network.version)).await?;
        tracing::info!(network = %id, "overlay network removed");
        Ok(())
    }

    /// Deletes the networks being removed that no task is attached to any more. Run by the
    /// leader after each orchestration pass.
    pub(crate) async fn finish_network_removals(&self) -> Result<()> {
        let _allocation = self.allocation.lock().await;
        let removing: Vec<_> = self.network_list()?.into_iter().filter(|n| n.value.removing).collect();
        if removing.is_empty() {
            return Ok(());
        }
        let tasks = self.records.list::<TaskObject>()?;
        for network in removing {
            if tasks.iter().any(|t| t.value.is_attached_to(&network.value.id)) {
                continue;
            }
            self.records.commit(WriteSet::new().delete::<NetworkObject>(&network.value.name, network.version)).await?;
            tracing::info!(network = %network.value.id, "overlay network removed after its last tasks ended");
        }
        Ok(())
    }
}

impl Manager {
    /// Points each of the spec's attachments at the network it names (by ID, name or unique
    /// ID prefix); refuses unknown networks and a network attached twice.
    pub(super) fn resolve_attachments(&self, spec: &mut crate::model::ServiceSpec) -> Result<()> {
        let mut seen = Vec::new();
        for attachment in &mut spec.task.networks {
            let network = self.resolve_network(&attachment.network_id)?.value;
            if seen.contains(&network.id) {
                return Err(Error::invalid(format!("network {} is attached more than once", network.name)));
            }
            attachment.network_id.clone_from(&network.id);
            seen.push(network.id);
        }
        Ok(())
    }
}

/// A network's view: everything but its keys.
pub(super) fn network_view(network: &Versioned<NetworkObject>) -> NetworkView {
    let n = &network.value;
    NetworkView {
        id: n.id.clone(),
        version: network.version,
        name: n.name.clone(),
        labels: n.labels.clone(),
        created_at: n.created_at,
        attachable: n.attachable,
        vni: n.vni,
        subnet: n.subnet,
        gateway: n.gateway,
        encrypted: n.encrypted(),
        ingress: n.ingress,
    }
}

/// A fresh key from the OS's random source.
pub(super) fn new_key(generation: u64, at: time::OffsetDateTime) -> NetworkKey {
    let mut key = Zeroizing::new(vec![0u8; NETWORK_KEY_LEN]);
    rand::rngs::OsRng.fill_bytes(&mut key);
    NetworkKey { generation, key, created_at: at, valid_until: None }
}

/// A requested subnet: a network address (no host bits), small enough to be sensible, and
/// overlapping no other network's.
pub(super) fn checked_subnet(subnet: Ipv4Net, networks: &[Versioned<NetworkObject>]) -> Result<Ipv4Net> {
    if subnet != subnet.trunc() {
        return Err(Error::invalid(format!("invalid subnet {subnet}: it has host bits set (did you mean {}?)", subnet.trunc())));
    }
    if subnet.prefix_len() > MAX_PREFIX {
        return Err(Error::invalid(format!("invalid subnet {subnet}: the prefix may be at most /{MAX_PREFIX}")));
    }
    if let Some(other) = networks.iter().find(|n| overlaps(&n.value.subnet, &subnet)) {
        return Err(Error::invalid(format!(
            "invalid pool request: subnet {subnet} overlaps with subnet {} of network {}",
            other.value.subnet, other.value.name
        )));
    }
    Ok(subnet)
}

/// The first /24 of the default pool (after the ingress network's) that no network overlaps.
fn free_subnet(networks: &[Versioned<NetworkObject>]) -> Result<Ipv4Net> {
    DEFAULT_POOL
        .subnets(DEFAULT_SUBNET_PREFIX)
        .map_err(|e| Error::internal("default address pool", e))?
        .filter(|s| s.network() != INGRESS_SUBNET)
        .find(|s| !networks.iter().any(|n| overlaps(&n.value.subnet, s)))
        .ok_or_else(|| Error::precondition("the default address pool (10.0.0.0/8) is exhausted"))
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(name: &str, subnet: &str) -> Versioned<NetworkObject> {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        let subnet: Ipv4Net = subnet.parse().unwrap();
        Versioned {
            version: 1,
            value: NetworkObject {
                id: name.into(),
                name: name.into(),
                labels: Default::default(),
                created_at: now,
                updated_at: now,
                attachable: false,
                vni: FIRST_VNI,
                gateway: subnet.hosts().next().unwrap(),
                subnet,
                keys: None,
                removing: false,
                ingress: false,
                containers: Vec::new(),
            },
        }
    }

    #[test]
    fn subnets_come_from_the_default_pool_after_the_ingress_one() {
        assert_eq!(free_subnet(&[]).unwrap().to_string(), "10.0.1.0/24");
        let taken = [network("a", "10.0.1.0/24"), network("b", "10.0.2.0/23")];
        assert_eq!(free_subnet(&taken).unwrap().to_string(), "10.0.4.0/24");
    }

    #[test]
    fn a_requested_subnet_must_not_overlap_nor_have_host_bits() {
        let taken = [network("a", "10.0.1.0/24")];
        let refused = checked_subnet("10.0.0.0/16".parse().unwrap(), &taken).unwrap_err().to_string();
        assert!(refused.contains("overlaps") && refused.contains("network a"), "{refused}");
        assert!(checked_subnet("10.0.1.128/25".parse().unwrap(), &taken).is_err());
        assert!(checked_subnet("192.168.7.5/24".parse().unwrap(), &taken).unwrap_err().to_string().contains("host bits"));
        assert!(checked_subnet("192.168.7.0/31".parse().unwrap(), &taken).is_err());
        assert_eq!(checked_subnet("192.168.7.0/24".parse().unwrap(), &taken).unwrap().to_string(), "192.168.7.0/24");
    }

    /// Slot 1 of `service`, running on no node in particular, with an address on `network`.
    fn task_on(manager: &Manager, id: &str, service: &str, network: &str) -> crate::model::TaskObject {
        let now = time::OffsetDateTime::now_utc();
        let mut task = TaskObject {
            id: id.into(),
            service_id: service.into(),
            service_name: service.into(),
            service_labels: Default::default(),
            slot: 1,
            node_id: None,
            spec: crate::model::TaskSpec::default(),
            spec_version: 1,
            desired: crate::model::TaskState::Running,
            status: crate::model::TaskStatus::new(crate::model::TaskState::Running, now, "running"),
            addresses: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        task.spec.networks = vec![crate::model::NetworkAttachment { network_id: network.into(), aliases: Vec::new() }];
        manager.pools().unwrap().allocate_task(&mut task).unwrap();
        task
    }

    #[tokio::test]
    async fn a_network_removed_after_its_service_goes_once_the_service_s_tasks_have_ended() {
        let dir = tempfile::tempdir().unwrap();
        let manager = crate::manager::tests::manager_with_clock(dir.path(), std::sync::Arc::new(palisade_pki::SystemClock)).await;
        let create = || NetworkCreate { name: "demo_backend".into(), labels: Default::default(), attachable: false, subnet: None, gateway: None, encrypted: true };
        let id = manager.network_create(create()).await.unwrap();
        // A task of a service that still exists (detached from the network by an update, not
        // yet replaced) holds the network; one of a removed service, still stopping, does not.
        let spec = crate::model::ServiceSpec::replicated("kept", crate::model::TaskSpec::default());
        let service = crate::model::ServiceObject::new("kept".into(), spec, Vec::new(), time::OffsetDateTime::now_utc());
        let wanted = task_on(&manager, "t1", "kept", &id);
        manager.records.commit(WriteSet::new().put(&service, None).unwrap().put(&wanted, None).unwrap()).await.unwrap();
        let refused = manager.network_remove("demo_backend").await.unwrap_err().to_string();
        assert!(refused.contains("network demo_backend is in use by task t1"), "{refused}");
        let stopping = task_on(&manager, "t2", "removed", &id);
        let version = |key: &str| manager.records.get::<TaskObject>(key).unwrap().unwrap().version;
        let service_version = manager.records.get::<crate::model::ServiceObject>("kept").unwrap().unwrap().version;
        let writes = WriteSet::new()
            .delete::<crate::model::ServiceObject>("kept", service_version)
            .delete::<TaskObject>("t1", version("t1"))
            .put(&stopping, None)
            .unwrap();
        manager.records.commit(writes).await.unwrap();

        // Removed: hidden at once, its name still taken, the record kept while t2 runs.
        manager.network_remove("demo_backend").await.unwrap();
        assert!(manager.shown_networks().unwrap().is_empty());
        assert!(matches!(manager.resolve_network(&id), Err(Error::NotFound { .. })));
        assert!(matches!(manager.network_create(create()).await, Err(Error::AlreadyExists { .. })));
        manager.finish_network_removals().await.unwrap();
        assert_eq!(manager.network_list().unwrap().len(), 1, "the stopping task's node still needs it");

        // Once t2 has ended, the record goes and the name is free.
        let stored = manager.records.get::<TaskObject>("t2").unwrap().unwrap();
        let mut ended = stored.value;
        ended.status = crate::model::TaskStatus::new(crate::model::TaskState::Shutdown, time::OffsetDateTime::now_utc(), "shut down");
        manager.records.commit(WriteSet::new().put(&ended, Some(stored.version)).unwrap()).await.unwrap();
        manager.finish_network_removals().await.unwrap();
        assert!(manager.network_list().unwrap().is_empty());
        manager.network_create(create()).await.unwrap();
    }

    #[test]
    fn keys_are_random_and_of_the_right_length() {
        let (a, b) = (new_key(1, time::OffsetDateTime::UNIX_EPOCH), new_key(1, time::OffsetDateTime::UNIX_EPOCH));
        assert_eq!(a.key.len(), NETWORK_KEY_LEN);
        assert_ne!(*a.key, *b.key);
        let shown = format!("{:?}", &a.key[..4]);
        assert!(!format!("{a:?}").contains(shown.trim_end_matches(']')), "keys are redacted in Debug");
    }
}
