//! Swarm networks for containers outside services (`docker run --network <attachable
//! overlay>`), through the [`ClusterNetworks`] the daemon's wiring installs (the node's swarm
//! membership):
//!
//! * At create, each network the request names that no local network answers to is looked up
//!   in the swarm. The container keeps those it found ([`ClusterEndpoint`], in its record too)
//!   and is prepared on its local networks only: with a namespace and an embedded DNS server
//!   even when it has no local network.
//! * At start, after its local networks, it is attached to its swarm networks (an interface
//!   on each, after its local ones); when its process exits, it is detached. As dockerd does,
//!   an address is held only while the container runs.
//! * While attached, its DNS server resolves the swarm networks' names (services, their
//!   tasks, other attached containers) through what the attach returned.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use ipnet::Ipv4Net;
use palisade_engine_api::containers::types::ContainerCreateRequest;
use palisade_engine_api::types::EndpointSettings;
use palisade_net::ServiceNames;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::records::RecordedEndpoint;
use crate::state::{Engine, Entry};

/// A swarm network a container may join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNetwork {
    /// The network's ID.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// A container to attach to its swarm networks.
#[derive(Debug, Clone)]
pub struct ClusterAttach {
    /// The container's ID.
    pub container_id: String,
    /// Its name.
    pub name: String,
    /// Its network namespace.
    pub netns: PathBuf,
    /// How many interfaces it has on local networks: its swarm interfaces follow them.
    pub first_interface: usize,
    /// Its swarm networks, in order.
    pub endpoints: Vec<ClusterEndpoint>,
}

/// One swarm network of a container, with what the container asks of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterEndpoint {
    /// The network's ID.
    pub network_id: String,
    /// Its name (what inspect shows the endpoint under).
    pub network_name: String,
    /// The container's other names there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// The address it asks for (`--ip`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<Ipv4Addr>,
}

/// A container attached to its swarm networks.
pub struct ClusterAttachment {
    /// Its address on each network, in order.
    pub addresses: Vec<Ipv4Net>,
    /// What those networks' names resolve to.
    pub names: Arc<dyn ServiceNames>,
}

/// The node's swarm networks, as the engine uses them.
pub trait ClusterNetworks: Send + Sync + 'static {
    /// The swarm network `reference` names; `Ok(None)` when none does (or the node is in no
    /// swarm). Refused when containers may not join it.
    fn find<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<Option<ClusterNetwork>>>;
    /// Attaches a container; on failure nothing stays attached.
    fn attach(&self, request: ClusterAttach) -> BoxFuture<'_, Result<ClusterAttachment>>;
    /// Detaches a container from all its swarm networks.
    fn detach<'a>(&'a self, container_id: &'a str) -> BoxFuture<'a, ()>;
}

/// A container's side of its swarm networks.
#[derive(Debug, Default)]
pub(crate) struct ClusterSandbox {
    /// What its DNS server asks; answers while it is attached.
    names: Arc<AttachedNames>,
    /// Its endpoints and addresses while attached.
    attached: Vec<(ClusterEndpoint, Ipv4Net)>,
}

/// The names of a container's swarm networks while it is attached; none otherwise.
#[derive(Default)]
struct AttachedNames(Mutex<Option<Arc<dyn ServiceNames>>>);

impl std::fmt::Debug for AttachedNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AttachedNames")
    }
}

impl AttachedNames {
    fn set(&self, names: Option<Arc<dyn ServiceNames>>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = names;
    }
}

impl ServiceNames for AttachedNames {
    fn lookup(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        let names = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        names?.lookup(name)
    }
}

/// The swarm networks' state of every container that has some.
pub(crate) type ClusterSandboxes = Mutex<HashMap<String, ClusterSandbox>>;

impl Engine {
    /// Installs the node's swarm networks; they can be set once.
    pub fn set_cluster_networks(&self, networks: Box<dyn ClusterNetworks>) -> Result<()> {
        self.inner.cluster.set(networks).map_err(|_| Error::Internal("the swarm networks are already set".into()))
    }

    fn sandboxes(&self) -> std::sync::MutexGuard<'_, HashMap<String, ClusterSandbox>> {
        self.inner.cluster_sandboxes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Splits a create request's networks: the request on its local networks, and the swarm
    /// networks it names (looked up where no local network has the name).
    pub(crate) async fn split_networks<'a>(
        &self,
        request: &'a ContainerCreateRequest,
    ) -> Result<(Cow<'a, ContainerCreateRequest>, Vec<ClusterEndpoint>)> {
        let unchanged = || Ok((Cow::Borrowed(request), Vec::new()));
        let (Some(cluster), Some(networks)) = (self.inner.cluster.get(), self.inner.net.get()) else { return unchanged() };
        let mode = self.shown_network_mode(&request.host_config.network_mode);
        if mode == "host" || mode == "none" || mode.starts_with("container:") {
            return unchanged();
        }
        let mut local = Vec::new();
        let mut swarm = Vec::new();
        for (reference, endpoint) in Self::endpoint_list(&mode, request)? {
            let found = match networks.inspect(&reference) {
                Err(palisade_net::Error::NotFound(_)) => cluster.find(&reference).await.map_err(|e| refused_attach(&reference, e))?,
                // A local network, or a reference prepare reports.
                _ => None,
            };
            match found {
                Some(network) => swarm.push(ClusterEndpoint {
                    network_id: network.id,
                    network_name: network.name,
                    aliases: endpoint.aliases,
                    ipv4: endpoint.ipv4,
                }),
                None => local.push(RecordedEndpoint { network: reference, aliases: endpoint.aliases, ipv4: endpoint.ipv4 }),
            }
        }
        if swarm.is_empty() {
            return unchanged();
        }
        let publishes = !request.host_config.port_bindings.is_empty() || request.host_config.publish_all_ports;
        if local.is_empty() && publishes {
            return Err(Error::InvalidArgument(format!(
                "port publishing (-p/-P) needs a bridge network: swarm network {} publishes no container ports (publish a service's ports instead)",
                swarm[0].network_name
            )));
        }
        Ok((crate::networks::wired_request(request, Some(&local)), swarm))
    }

    /// What the DNS server of a container with swarm networks `endpoints` resolves beyond its
    /// local networks (`None` without any): their names, while it is attached.
    pub(crate) fn cluster_names(&self, id: &str, endpoints: &[ClusterEndpoint]) -> Option<Arc<dyn ServiceNames>> {
        if endpoints.is_empty() {
            return None;
        }
        let names = Arc::clone(&self.sandboxes().entry(id.to_owned()).or_default().names);
        Some(names)
    }

    /// Start hook, after the local networks: attaches the container to its swarm networks.
    pub(crate) async fn attach_cluster(&self, entry: &Entry) -> Result<()> {
        if entry.cluster.is_empty() {
            return Ok(());
        }
        let refused = |why: &str| Error::Unavailable(format!("container {} cannot join swarm network {}: {why}", entry.name, entry.cluster[0].network_name));
        let cluster = self.inner.cluster.get().ok_or_else(|| refused("this daemon has no swarm membership"))?;
        let (netns, first_interface) = self.sandbox(entry.id.as_str()).ok_or_else(|| refused("it has no network namespace"))?;
        let request = ClusterAttach {
            container_id: entry.id.to_string(),
            name: entry.name.clone(),
            netns,
            first_interface,
            endpoints: entry.cluster.clone(),
        };
        let attached = cluster.attach(request).await.map_err(|e| refused_attach(&entry.cluster[0].network_name, e))?;
        let mut sandboxes = self.sandboxes();
        let sandbox = sandboxes.entry(entry.id.to_string()).or_default();
        sandbox.names.set(Some(attached.names));
        sandbox.attached = entry.cluster.iter().cloned().zip(attached.addresses).collect();
        Ok(())
    }

    /// Exit hook: detaches the container from its swarm networks, if it is attached.
    pub(crate) async fn detach_cluster(&self, id: &str) {
        let attached = match self.sandboxes().get_mut(id) {
            Some(sandbox) if !sandbox.attached.is_empty() => {
                sandbox.names.set(None);
                sandbox.attached.clear();
                true
            }
            _ => false,
        };
        if let (true, Some(cluster)) = (attached, self.inner.cluster.get()) {
            cluster.detach(id).await;
        }
    }

    /// Remove hook.
    pub(crate) fn forget_cluster(&self, id: &str) {
        self.sandboxes().remove(id);
    }

    /// The container's endpoints on swarm networks while attached, as inspect shows them.
    pub(crate) fn cluster_endpoint_settings(&self, id: &str) -> Vec<(String, EndpointSettings)> {
        let sandboxes = self.sandboxes();
        let Some(sandbox) = sandboxes.get(id) else { return Vec::new() };
        let settings = |(endpoint, address): &(ClusterEndpoint, Ipv4Net)| EndpointSettings {
            aliases: endpoint.aliases.clone(),
            network_id: endpoint.network_id.clone(),
            ip_address: address.addr().to_string(),
            ip_prefix_len: address.prefix_len(),
            mac_address: palisade_net::link::mac_string(palisade_net::link::mac_for(address.addr())),
            ..EndpointSettings::default()
        };
        sandbox.attached.iter().map(|a| (a.0.network_name.clone(), settings(a))).collect()
    }
}

/// dockerd's wording for a swarm network a container could not join.
fn refused_attach(network: &str, e: Error) -> Error {
    match e {
        Error::Refused(m) => Error::Refused(format!("Could not attach to network {network}: rpc error: code = PermissionDenied desc = {m}")),
        Error::InvalidArgument(m) => Error::InvalidArgument(format!("Could not attach to network {network}: {m}")),
        other => other,
    }
}
