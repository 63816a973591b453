//! [`Networks`]: the node's networks and the containers attached to them.
//!
//! ```text
//! <root>/networks/<id>.json          one record per network (host, none, bridge, user ones)
//! <root>/endpoints/<veth>.json       one per host end of a veth pair until it is deleted, so
//!                                    that a restarted daemon removes what a crashed one left
//! <root>/resolv/<cid>.conf           the container's /etc/resolv.conf
//! <netns_dir>/<cid>                  the container's network namespace (a bind mount)
//! ```
//! Addresses are allocated under the state lock; netlink and nft run outside it. A stopped
//! container's ports are released at once, its veth pairs on a thread of their own (deleting a
//! link waits for the kernel's RCU grace periods): until that thread is done, their addresses
//! stay reserved (`State::releasing`) and the container does not attach again.

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;

use crate::dns::{self, Directory, DnsServer};
use crate::error::{Error, Result};
use crate::firewall::{self, Published};
use crate::port_maps::{Change, PortMaps};
use crate::ipam;
use crate::link::{self, Bridge, Veth};
use crate::netns;
use crate::network::{random_id, valid_name, Driver, Network, Subnet};
use crate::ports::{ContainerPort, PortBinding};

/// The default bridge: its Linux bridge name and, optionally, `--bip`-style address/prefix.
#[derive(Clone, Debug)]
pub struct DefaultBridge {
    /// Bridge device name (`palisade0`).
    pub name: String,
    /// Gateway address with prefix (`172.17.0.1/16`); default: 172.17.0.1/16 unless the host
    /// routes that subnet, else the next free pool.
    pub bip: Option<String>,
}

/// How the daemon's networking is set up.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// `<data-root>/net`.
    pub root: PathBuf,
    /// Where container namespaces are bound (under the runtime's state directory).
    pub netns_dir: PathBuf,
    /// `None`: no default bridge (`--bridge none`): `docker run` without `--network` gets none.
    pub default_bridge: Option<DefaultBridge>,
    /// Let containers on the default bridge talk to each other (off by default).
    pub icc: bool,
}

/// `docker network create`.
#[derive(Clone, Debug, Default)]
pub struct NetworkCreate {
    /// Name.
    pub name: String,
    /// Driver (`bridge` or empty).
    pub driver: String,
    /// `--internal`.
    pub internal: bool,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// `--opt`.
    pub options: BTreeMap<String, String>,
    /// `--subnet`.
    pub subnet: Option<String>,
    /// `--gateway`.
    pub gateway: Option<String>,
    /// `--ip-range`.
    pub ip_range: Option<String>,
}

/// What a container asks of one network.
#[derive(Clone, Debug, Default)]
pub struct EndpointRequest {
    /// `--network-alias`.
    pub aliases: Vec<String>,
    /// `--ip`.
    pub ipv4: Option<Ipv4Addr>,
}

/// A container's networking, as `docker create` asks for it.
#[derive(Clone, Debug, Default)]
pub struct ContainerRequest {
    /// Networks by reference (name, id, prefix; `bridge`/`default` is the default bridge),
    /// the first being `HostConfig.NetworkMode`.
    pub networks: Vec<(String, EndpointRequest)>,
    /// `-p` and, resolved from `ExposedPorts`, `-P`.
    pub ports: Vec<PortBinding>,
    /// `ExposedPorts`.
    pub exposed: Vec<ContainerPort>,
    /// A swarm task's: the names of the services on its overlay networks, which its embedded
    /// DNS server resolves after the names of the containers it shares networks with here.
    /// With it the container gets a namespace and the DNS server even without a network here
    /// (`networks` empty: its interfaces are the overlay ones its node's data plane adds).
    pub service_names: Option<Arc<dyn ServiceNames>>,
}

/// Names beyond the node's own networks, as a swarm task resolves them (its services'
/// names and `tasks.NAME` on its overlay networks).
pub trait ServiceNames: Send + Sync + std::fmt::Debug + 'static {
    /// The addresses of `name` (as asked, without the trailing dot); `None` when it is not a
    /// name this source knows.
    fn lookup(&self, name: &str) -> Option<Vec<Ipv4Addr>>;
}

/// What the runtime needs for a networked container.
#[derive(Clone, Debug)]
pub struct Sandbox {
    /// The network namespace to join.
    pub netns: PathBuf,
    /// The file to bind at `/etc/resolv.conf`.
    pub resolv_conf: PathBuf,
}

/// An endpoint as inspect shows it.
#[derive(Clone, Debug, Default)]
pub struct EndpointView {
    /// Network name.
    pub network_name: String,
    /// Network id.
    pub network_id: String,
    /// Endpoint id.
    pub endpoint_id: String,
    /// `--network-alias`.
    pub aliases: Vec<String>,
    /// `--ip`.
    pub requested_ip: Option<Ipv4Addr>,
    /// Address while attached.
    pub ip: Option<Ipv4Addr>,
    /// Prefix length of the subnet.
    pub prefix_len: u8,
    /// Gateway while attached (none on internal networks).
    pub gateway: Option<Ipv4Addr>,
    /// MAC address while attached.
    pub mac: String,
}

/// A container's networking as inspect shows it.
#[derive(Clone, Debug, Default)]
pub struct ContainerView {
    /// The namespace file.
    pub sandbox_key: String,
    /// Its endpoints, in attachment order.
    pub endpoints: Vec<EndpointView>,
    /// Published ports (host ports resolved while running).
    pub ports: Vec<PortBinding>,
    /// Exposed ports.
    pub exposed: Vec<ContainerPort>,
    /// Whether the ports are in effect.
    pub running: bool,
}

/// A network with the containers attached to it.
#[derive(Clone, Debug)]
pub struct NetworkView {
    /// The record.
    pub network: Network,
    /// (container id, container name, endpoint) for each container on it.
    pub containers: Vec<(String, String, EndpointView)>,
}

/// What a restarted daemon needs to undo an endpoint a crashed one left.
#[derive(Debug, Serialize, Deserialize)]
struct EndpointRecord {
    host_veth: String,
}

#[derive(Debug)]
struct Endpoint {
    network_id: String,
    endpoint_id: String,
    ifname: String,
    aliases: Vec<String>,
    requested_ip: Option<Ipv4Addr>,
    /// Set while attached (reserved before the links are made).
    ip: Option<Ipv4Addr>,
    mac: String,
    attached: bool,
    /// The host end of the veth pair while attached (a new name each time).
    host_veth: Option<String>,
}

#[derive(Debug)]
struct Member {
    name: String,
    netns: PathBuf,
    endpoints: Vec<Endpoint>,
    ports: Vec<PortBinding>,
    published: Vec<PortBinding>,
    exposed: Vec<ContainerPort>,
    running: bool,
    dns: Option<DnsServer>,
    /// See [`ContainerRequest::service_names`].
    service_names: Option<Arc<dyn ServiceNames>>,
    /// Threads deleting the veth pairs of earlier attachments.
    unlinking: Vec<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct State {
    networks: BTreeMap<String, Network>,
    members: BTreeMap<String, Member>,
    /// (network id, address) of detached endpoints whose veth pair is still being deleted.
    releasing: HashSet<(String, Ipv4Addr)>,
}

struct Shared {
    config: NetConfig,
    runtime: Handle,
    host_resolv: String,
    upstreams: Arc<Vec<SocketAddr>>,
    /// Published ports' map elements are written through this (the table itself by `nft`).
    port_maps: PortMaps,
    state: Mutex<State>,
}

/// The node's networks. Cheap to clone.
#[derive(Clone)]
pub struct Networks(Arc<Shared>);

impl std::fmt::Debug for Networks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Networks").field("root", &self.0.config.root).finish_non_exhaustive()
    }
}

fn now() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn not_found(reference: &str) -> Error {
    Error::NotFound(format!("network {reference} not found"))
}

impl State {
    fn resolve(&self, reference: &str) -> Result<&Network> {
        if let Some(n) = self.networks.get(reference) {
            return Ok(n);
        }
        if let Some(n) = self.networks.values().find(|n| n.name == reference) {
            return Ok(n);
        }
        let mut m = self.networks.values().filter(|n| !reference.is_empty() && n.id.starts_with(reference));
        match (m.next(), m.next()) {
            (Some(n), None) => Ok(n),
            (Some(_), Some(_)) => Err(Error::InvalidArgument(format!("network {reference} is ambiguous (multiple networks match)"))),
            _ => Err(not_found(reference)),
        }
    }

    fn default_bridge(&self) -> Option<&Network> {
        self.networks.values().find(|n| n.default_bridge)
    }

    fn used_ips(&self, network_id: &str) -> HashSet<Ipv4Addr> {
        self.members
            .values()
            .flat_map(|m| &m.endpoints)
            .filter(|e| e.network_id == network_id)
            .filter_map(|e| e.ip.or(e.requested_ip))
            .chain(self.releasing.iter().filter(|(n, _)| n == network_id).map(|(_, ip)| *ip))
            .collect()
    }

    fn bridge_networks(&self) -> Vec<&Network> {
        self.networks.values().filter(|n| n.driver == Driver::Bridge).collect()
    }

    /// The ports in effect: those of every attached first endpoint.
    fn published(&self) -> Vec<Published> {
        self.members
            .values()
            .filter_map(|m| m.endpoints.first().and_then(|e| e.ip.filter(|_| e.attached)).map(|ip| (m, ip)))
            .flat_map(|(m, ip)| m.published.iter().map(move |b| Published { binding: b.clone(), container_ip: ip }))
            .collect()
    }
}

impl Networks {
    /// Loads the networks, makes the built-in ones, undoes endpoints a crashed daemon left,
    /// and installs the isolation rules. `runtime` runs the DNS servers.
    pub fn open(config: NetConfig, runtime: Handle) -> Result<Self> {
        for d in [config.root.join("networks"), config.root.join("endpoints"), config.root.join("resolv"), config.netns_dir.clone()] {
            std::fs::create_dir_all(&d).map_err(Error::io("creating", &d))?;
        }
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let upstreams = Arc::new(dns::host_resolvers(&host_resolv).into_iter().filter(|a| !a.ip().is_loopback()).collect());
        let port_maps = PortMaps::open()?;
        let shared = Shared { runtime, host_resolv, upstreams, port_maps, state: Mutex::new(State::default()), config };
        let this = Self(Arc::new(shared));
        this.cleanup_stale();
        let dir = this.networks_dir();
        let mut networks = Network::load_all(&dir)?;
        for (name, driver) in [("host", Driver::Host), ("none", Driver::Null)] {
            if !networks.iter().any(|n| n.name == name) {
                let n = Network {
                    id: random_id(),
                    name: name.into(),
                    driver,
                    created: now(),
                    bridge: None,
                    subnet: None,
                    internal: false,
                    labels: BTreeMap::new(),
                    options: BTreeMap::new(),
                    default_bridge: false,
                };
                n.save(&dir)?;
                networks.push(n);
            }
        }
        let wanted = this.0.config.default_bridge.clone();
        let current = networks.iter().position(|n| n.default_bridge);
        let keep = match (&wanted, current) {
            (Some(w), Some(i)) => networks[i].bridge.as_deref() == Some(w.name.as_str()) && w.bip.as_deref().is_none_or(|b| {
                networks[i].subnet.as_ref().is_some_and(|s| format!("{}/{}", s.gateway, s.subnet.prefix_len()) == b)
            }),
            _ => false,
        };
        if let (false, Some(i)) = (keep, current) {
            networks.remove(i).delete(&dir)?;
        }
        if let (false, Some(w)) = (keep, wanted) {
            let subnet = match &w.bip {
                Some(bip) => {
                    let (gw, _) = bip.split_once('/').ok_or_else(|| Error::InvalidArgument(format!("--bip {bip}: expected ADDRESS/PREFIX")))?;
                    let net: ipnet::Ipv4Net = bip.parse().map_err(|_| Error::InvalidArgument(format!("--bip {bip}: not an IPv4 address/prefix")))?;
                    Subnet::new(&net.trunc().to_string(), Some(gw), None)?
                }
                None => {
                    let mut taken = ipam::host_routes();
                    taken.extend(networks.iter().filter_map(|n| n.subnet.as_ref().map(|s| s.subnet)));
                    let net = ipam::free_subnet(&taken).ok_or_else(|| Error::InvalidArgument("no free subnet for the default bridge".into()))?;
                    Subnet::new(&net.to_string(), None, None)?
                }
            };
            let n = Network {
                id: random_id(),
                name: "bridge".into(),
                driver: Driver::Bridge,
                created: now(),
                bridge: Some(w.name.clone()),
                subnet: Some(subnet),
                internal: false,
                labels: BTreeMap::new(),
                options: BTreeMap::new(),
                default_bridge: true,
            };
            n.save(&dir)?;
            networks.push(n);
        }
        {
            let mut state = this.lock();
            state.networks = networks.into_iter().map(|n| (n.id.clone(), n)).collect();
        }
        this.apply_firewall()?;
        Ok(this)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn networks_dir(&self) -> PathBuf {
        self.0.config.root.join("networks")
    }

    fn endpoint_record(&self, host_veth: &str) -> PathBuf {
        self.0.config.root.join("endpoints").join(format!("{host_veth}.json"))
    }

    fn resolv_conf(&self, cid: &str) -> PathBuf {
        self.0.config.root.join("resolv").join(format!("{cid}.conf"))
    }

    /// Writes `cid`'s resolv.conf: the embedded DNS server, or the host's resolvers. In place
    /// (truncated, rewritten): the container has the file bind-mounted, which pins its inode.
    fn write_resolv_conf(&self, cid: &str, embedded: bool) -> Result<()> {
        let body = if embedded { dns::embedded_resolv_conf(&self.0.host_resolv) } else { dns::copied_resolv_conf(&self.0.host_resolv) };
        let path = self.resolv_conf(cid);
        std::fs::write(&path, body).map_err(Error::io("writing", &path))
    }

    fn apply_firewall(&self) -> Result<()> {
        let state = self.lock();
        firewall::apply(&state.bridge_networks(), &state.published())
    }

    /// Undoes endpoints and namespaces a previous daemon left (its containers are gone).
    fn cleanup_stale(&self) {
        let dir = self.0.config.root.join("endpoints");
        let mut stale = Vec::new();
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if let Ok(record) = std::fs::read(&path).map_err(|_| ()).and_then(|b| serde_json::from_slice::<EndpointRecord>(&b).map_err(|_| ())) {
                stale.push(record.host_veth);
            }
            let _ = std::fs::remove_file(&path);
        }
        match link::delete_links(None, stale.clone()) {
            Ok(()) if !stale.is_empty() => tracing::info!("removed the endpoints {stale:?} left by a previous run"),
            Ok(()) => {}
            Err(e) => tracing::warn!("removing endpoints left by a previous run: {e}"),
        }
        // Their ports went with the table, rebuilt by `open`.
        for entry in std::fs::read_dir(&self.0.config.netns_dir).into_iter().flatten().flatten() {
            if let Err(e) = netns::remove(&entry.path()) {
                tracing::warn!("removing a network namespace left by a previous run: {e}");
            }
        }
        let resolv = self.0.config.root.join("resolv");
        for entry in std::fs::read_dir(&resolv).into_iter().flatten().flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
    }

    /// `docker network create`: returns the new network.
    pub fn create(&self, request: NetworkCreate) -> Result<Network> {
        let bad = |m: String| Err(Error::InvalidArgument(m));
        if !valid_name(&request.name) {
            return bad(format!("invalid network name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", request.name));
        }
        match request.driver.as_str() {
            "" | "bridge" => {}
            "host" | "null" => return Err(Error::Forbidden(format!("only one instance of \"{}\" network is allowed", request.driver))),
            other => return bad(format!("network driver {other:?} is not supported by Palisade: only bridge networks")),
        }
        let mut bridge = None;
        for (k, v) in &request.options {
            match k.as_str() {
                "com.docker.network.bridge.name" => {
                    if v.is_empty() || v.len() > 15 || !v.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
                        return bad(format!("invalid bridge name {v:?}: at most 15 of [a-zA-Z0-9_.-]"));
                    }
                    bridge = Some(v.clone());
                }
                other => return bad(format!("network option {other} is not supported by Palisade")),
            }
        }
        if request.subnet.is_none() && (request.gateway.is_some() || request.ip_range.is_some()) {
            return bad("--gateway and --ip-range need --subnet".into());
        }
        let mut state = self.lock();
        if let Some(n) = state.networks.values().find(|n| n.name == request.name) {
            return Err(Error::Conflict(format!("network with name {} already exists", n.name)));
        }
        let existing: Vec<ipnet::Ipv4Net> = state.networks.values().filter_map(|n| n.subnet.as_ref().map(|s| s.subnet)).collect();
        let subnet = match &request.subnet {
            Some(s) => {
                let subnet = Subnet::new(s, request.gateway.as_deref(), request.ip_range.as_deref())?;
                if existing.iter().any(|e| ipam::overlaps(e, &subnet.subnet)) {
                    return bad(format!("invalid pool request: Pool overlaps with other one on this address space ({s})"));
                }
                subnet
            }
            None => {
                let mut taken = ipam::host_routes();
                taken.extend(existing);
                let net = ipam::free_subnet(&taken).ok_or_else(|| Error::InvalidArgument("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into()))?;
                Subnet::new(&net.to_string(), None, None)?
            }
        };
        let id = random_id();
        let bridge = bridge.unwrap_or_else(|| format!("pb-{}", &id[..12]));
        if state.networks.values().any(|n| n.bridge.as_deref() == Some(bridge.as_str())) {
            return Err(Error::Conflict(format!("bridge {bridge} is used by another network")));
        }
        let network = Network {
            id,
            name: request.name,
            driver: Driver::Bridge,
            created: now(),
            bridge: Some(bridge),
            subnet: Some(subnet),
            internal: request.internal,
            labels: request.labels,
            options: request.options,
            default_bridge: false,
        };
        network.save(&self.networks_dir())?;
        state.networks.insert(network.id.clone(), network.clone());
        let applied = firewall::apply(&state.bridge_networks(), &state.published());
        if let Err(e) = applied {
            state.networks.remove(&network.id);
            let _ = network.delete(&self.networks_dir());
            return Err(e);
        }
        Ok(network)
    }

    /// `GET /networks`.
    pub fn list(&self) -> Vec<NetworkView> {
        let state = self.lock();
        state.networks.values().map(|n| view(&state, n)).collect()
    }

    /// `GET /networks/{ref}`.
    pub fn inspect(&self, reference: &str) -> Result<NetworkView> {
        let state = self.lock();
        let n = state.resolve(reference)?;
        Ok(view(&state, n))
    }

    /// `docker network rm`: refused for the built-in networks and while containers use it.
    pub fn remove(&self, reference: &str) -> Result<()> {
        let mut state = self.lock();
        let n = state.resolve(reference)?.clone();
        if n.predefined() {
            return Err(Error::Forbidden(format!("{} is a pre-defined network and cannot be removed", n.name)));
        }
        let users: Vec<&str> = state.members.values().filter(|m| m.endpoints.iter().any(|e| e.network_id == n.id)).map(|m| m.name.as_str()).collect();
        if !users.is_empty() {
            return Err(Error::Forbidden(format!(
                "error while removing network: network {} id {} has active endpoints (containers: {})",
                n.name,
                n.id,
                users.join(", ")
            )));
        }
        n.delete(&self.networks_dir())?;
        state.networks.remove(&n.id);
        let applied = firewall::apply(&state.bridge_networks(), &state.published());
        drop(state);
        if let Some(b) = &n.bridge {
            if let Err(e) = link::delete_links(None, vec![b.clone()]) {
                tracing::warn!("removing the bridge of network {}: {e}", n.name);
            }
        }
        applied
    }

    /// `docker network prune`: removes every unused user network; returns their names.
    pub fn prune(&self) -> Vec<String> {
        let candidates: Vec<(String, String)> = {
            let state = self.lock();
            state.networks.values().filter(|n| !n.predefined()).map(|n| (n.id.clone(), n.name.clone())).collect()
        };
        candidates.into_iter().filter(|(id, _)| self.remove(id).is_ok()).map(|(_, name)| name).collect()
    }

    /// Whether containers on the default bridge may talk to each other (`--icc`).
    pub fn icc(&self) -> bool {
        self.0.config.icc
    }

    /// Whether a default bridge exists (`docker run` without `--network` joins it).
    pub fn has_default_bridge(&self) -> bool {
        self.lock().default_bridge().is_some()
    }

    fn resolve_request(state: &State, reference: &str) -> Result<Network> {
        match reference {
            "default" | "bridge" => state.default_bridge().cloned().ok_or_else(|| not_found("bridge")),
            r => state.resolve(r).cloned(),
        }
    }

    /// `docker create` of a networked container: checks the request, makes its namespace and
    /// resolv.conf. Nothing is attached until [`Networks::attach`].
    pub fn prepare(&self, cid: &str, name: &str, request: ContainerRequest) -> Result<Sandbox> {
        let mut endpoints = Vec::new();
        {
            let state = self.lock();
            for (i, (reference, ep)) in request.networks.iter().enumerate() {
                let n = Self::resolve_request(&state, reference)?;
                check_endpoint(&n, ep)?;
                if endpoints.iter().any(|e: &Endpoint| e.network_id == n.id) {
                    return Err(Error::InvalidArgument(format!("container cannot join network {} twice", n.name)));
                }
                endpoints.push(Endpoint {
                    network_id: n.id.clone(),
                    endpoint_id: random_id(),
                    ifname: format!("eth{i}"),
                    aliases: ep.aliases.clone(),
                    requested_ip: ep.ipv4,
                    ip: None,
                    mac: String::new(),
                    attached: false,
                    host_veth: None,
                });
            }
            if endpoints.is_empty() && request.service_names.is_none() {
                return Err(Error::InvalidArgument("no network given".into()));
            }
        }
        let netns = self.0.config.netns_dir.join(cid);
        let t = Instant::now();
        netns::create(&netns)?;
        tracing::debug!(cid, elapsed = ?t.elapsed(), "network namespace created");
        let has_dns = request.service_names.is_some() || endpoints_want_dns(&self.lock().networks, &endpoints);
        if let Err(e) = self.write_resolv_conf(cid, has_dns) {
            let _ = netns::remove(&netns);
            return Err(e);
        }
        let resolv_conf = self.resolv_conf(cid);
        let member = Member {
            name: name.to_owned(),
            netns: netns.clone(),
            endpoints,
            ports: request.ports,
            published: Vec::new(),
            exposed: request.exposed,
            running: false,
            dns: None,
            service_names: request.service_names,
            unlinking: Vec::new(),
        };
        self.lock().members.insert(cid.to_owned(), member);
        Ok(Sandbox { netns, resolv_conf })
    }

    /// Before the container starts: every endpoint attached (loopback up, ports published on
    /// the first one), the DNS server started. On failure everything is undone.
    pub fn attach(&self, cid: &str) -> Result<()> {
        let netns = match self.lock().members.get(cid) {
            Some(m) => m.netns.clone(),
            None => return Ok(()),
        };
        let count = self.lock().members.get(cid).map_or(0, |m| m.endpoints.len());
        for i in 0..count {
            if let Err(e) = self.attach_endpoint(cid, i) {
                self.detach(cid);
                return Err(e);
            }
        }
        let wants_dns = {
            let mut state = self.lock();
            let dns = state.members.get(cid).is_some_and(|m| m.wants_dns(&state.networks));
            if let Some(m) = state.members.get_mut(cid) {
                m.running = true;
            }
            dns
        };
        if wants_dns {
            let t = Instant::now();
            // A container without endpoints here (on overlay networks only) has no interface
            // whose setup brought its loopback up.
            if count == 0 {
                crate::link::loopback_up(&netns).inspect_err(|_| self.detach(cid))?;
            }
            self.start_dns(cid, &netns).inspect_err(|_| self.detach(cid))?;
            tracing::debug!(cid, elapsed = ?t.elapsed(), "DNS server started");
        }
        Ok(())
    }

    fn start_dns(&self, cid: &str, netns: &Path) -> Result<()> {
        let directory: Arc<dyn Directory> = Arc::new(self.clone());
        let server = dns::serve(netns, &self.0.runtime, directory, cid.to_owned(), Arc::clone(&self.0.upstreams))?;
        if let Some(m) = self.lock().members.get_mut(cid) {
            m.dns = Some(server);
        }
        Ok(())
    }

    /// Attaches endpoint `index` of `cid`: an address is reserved under the lock, then the
    /// veth pair is made on the network's bridge (netlink) and, for the first endpoint, its
    /// ports are published (one nf_tables transaction).
    fn attach_endpoint(&self, cid: &str, index: usize) -> Result<()> {
        self.settle(cid);
        let (network, subnet, netns, host_veth, ports, ip) = {
            let mut guard = self.lock();
            let state = &mut *guard;
            let member = state.members.get(cid).ok_or_else(|| Error::NotFound(format!("container {cid} has no network")))?;
            let ep = &member.endpoints[index];
            let network = state.networks.get(&ep.network_id).cloned().ok_or_else(|| not_found(&ep.network_id))?;
            let subnet = network.subnet.clone().ok_or_else(|| Error::InvalidArgument(format!("network {} has no subnet", network.name)))?;
            let mut used = state.used_ips(&network.id);
            let ip = match ep.requested_ip {
                Some(ip) => {
                    used.remove(&ip);
                    let taken = state.releasing.contains(&(network.id.clone(), ip))
                        || state.members.iter().any(|(id, m)| id != cid && m.endpoints.iter().any(|e| e.network_id == network.id && (e.ip == Some(ip) || e.requested_ip == Some(ip))));
                    if taken {
                        return Err(Error::Conflict(format!("Address already in use: {ip} on network {}", network.name)));
                    }
                    ip
                }
                None => ipam::allocate(&subnet, &used).ok_or_else(|| Error::Conflict(format!("no available IPv4 addresses on network {}", network.name)))?,
            };
            let mut ports = Vec::new();
            if index == 0 && !network.internal {
                let others: Vec<PortBinding> = state.members.iter().filter(|(id, _)| id.as_str() != cid).flat_map(|(_, m)| m.published.clone()).collect();
                for p in &member.ports {
                    let mut p = p.clone();
                    p.resolve_port()?;
                    if others.iter().chain(&ports).any(|o| o.clashes(&p)) {
                        let host = p.host_ip.map_or_else(|| "0.0.0.0".to_owned(), |a| a.to_string());
                        return Err(Error::Conflict(format!("Bind for {host}:{} failed: port is already allocated", p.host_port)));
                    }
                    ports.push(p);
                }
            }
            let id = random_id();
            let host_veth = format!("vp{}", id.get(..12).unwrap_or(&id));
            let netns = member.netns.clone();
            let member = state.members.get_mut(cid).ok_or_else(|| Error::NotFound(cid.to_owned()))?;
            member.endpoints[index].ip = Some(ip);
            if index == 0 {
                member.published = ports.clone();
            }
            (network, subnet, netns, host_veth, ports, ip)
        };
        let unreserve = || {
            if let Some(m) = self.lock().members.get_mut(cid) {
                m.endpoints[index].ip = None;
                if index == 0 {
                    m.published.clear();
                }
            }
        };
        // Recorded first, so that a daemon that crashes from here on has it undone on restart.
        let record = self.endpoint_record(&host_veth);
        let json = serde_json::to_vec(&EndpointRecord { host_veth: host_veth.clone() }).map_err(|source| Error::Parse { what: "an endpoint record".into(), source })?;
        if let Err(e) = std::fs::write(&record, json) {
            unreserve();
            return Err(Error::io("writing", &record)(e));
        }
        let prefix = subnet.subnet.prefix_len();
        let bridge = Bridge {
            name: network.bridge.clone().unwrap_or_default(),
            gateway: (!network.internal).then_some((subnet.gateway, prefix)),
            netns: None,
        };
        let mac = link::mac_for(ip);
        let veth = Veth {
            netns,
            ifname: self.lock().members.get(cid).map(|m| m.endpoints[index].ifname.clone()).unwrap_or_default(),
            host_veth,
            mac,
            address: (ip, prefix),
            default_route: (!network.internal).then_some(subnet.gateway),
            isolated: network.default_bridge && !self.0.config.icc,
            mtu: None,
        };
        let published: Vec<Published> = ports.into_iter().map(|binding| Published { binding, container_ip: ip }).collect();
        let t = Instant::now();
        let attached = link::attach(&bridge, &veth).and_then(|()| {
            let linked = t.elapsed();
            self.0.port_maps.change(Change::Add, &published)
                .inspect_err(|_| {
                    let _ = link::delete_links(None, vec![veth.host_veth.clone()]);
                })
                .inspect(|()| tracing::debug!(cid, ?linked, published = ?(t.elapsed() - linked), "endpoint attached"))
        });
        if let Err(e) = attached {
            unreserve();
            let _ = std::fs::remove_file(&record);
            return Err(e);
        }
        let mut state = self.lock();
        if let Some(m) = state.members.get_mut(cid) {
            let ep = &mut m.endpoints[index];
            ep.mac = link::mac_string(mac);
            ep.attached = true;
            ep.ip = Some(ip);
            ep.host_veth = Some(veth.host_veth);
        }
        Ok(())
    }

    /// Detaches endpoint `index` of `cid`: its ports are released now, its veth pair on a
    /// thread (see the module doc), its address once that is done.
    fn detach_endpoint(&self, cid: &str, index: usize) -> Result<()> {
        let (nid, ip, host_veth, published) = {
            let mut state = self.lock();
            let Some(m) = state.members.get_mut(cid) else { return Ok(()) };
            let ep = &mut m.endpoints[index];
            let ip = ep.ip.filter(|_| ep.attached);
            let host_veth = ep.host_veth.take();
            ep.attached = false;
            ep.ip = None;
            ep.mac.clear();
            let mut published = Vec::new();
            if index == 0 {
                let ports = std::mem::take(&mut m.published);
                published = ip.map(|ip| ports.into_iter().map(|binding| Published { binding, container_ip: ip }).collect()).unwrap_or_default();
            }
            let nid = m.endpoints[index].network_id.clone();
            if let (Some(ip), Some(_)) = (ip, &host_veth) {
                state.releasing.insert((nid.clone(), ip));
            }
            (nid, ip, host_veth, published)
        };
        let t = Instant::now();
        let unpublished = self.0.port_maps.change(Change::Delete, &published);
        tracing::debug!(cid, elapsed = ?t.elapsed(), "ports released");
        let Some(host_veth) = host_veth else { return unpublished };
        let this = self.clone();
        let owner = cid.to_owned();
        let unlink = std::thread::spawn(move || {
            let t = Instant::now();
            match link::delete_links(None, vec![host_veth.clone()]) {
                Ok(()) => {
                    let _ = std::fs::remove_file(this.endpoint_record(&host_veth));
                    tracing::debug!(cid = owner, elapsed = ?t.elapsed(), "veth pair deleted");
                }
                // The record stays: the next daemon start tries again.
                Err(e) => tracing::warn!("detaching container {owner} from its network: {e}"),
            }
            if let Some(ip) = ip {
                this.lock().releasing.remove(&(nid, ip));
            }
        });
        if let Some(m) = self.lock().members.get_mut(cid) {
            m.unlinking.push(unlink);
        }
        unpublished
    }

    /// Waits for the deletion of `cid`'s earlier veth pairs (their names inside its
    /// namespace, and their addresses, are free afterwards).
    fn settle(&self, cid: &str) {
        let pending = self.lock().members.get_mut(cid).map(|m| std::mem::take(&mut m.unlinking)).unwrap_or_default();
        for thread in pending {
            let _ = thread.join();
        }
    }

    /// After the container stopped: its endpoints are detached and its ports released.
    pub fn detach(&self, cid: &str) {
        let count = {
            let mut state = self.lock();
            let Some(m) = state.members.get_mut(cid) else { return };
            m.running = false;
            m.dns = None;
            m.endpoints.len()
        };
        for i in (0..count).rev() {
            if let Err(e) = self.detach_endpoint(cid, i) {
                tracing::warn!("detaching container {cid} from its network: {e}");
            }
        }
    }

    /// `docker rm`: detached, its namespace and resolv.conf removed, forgotten.
    pub fn forget(&self, cid: &str) {
        self.detach(cid);
        self.settle(cid);
        let Some(member) = self.lock().members.remove(cid) else { return };
        if let Err(e) = netns::remove(&member.netns) {
            tracing::warn!("removing the network namespace of {cid}: {e}");
        }
        let _ = std::fs::remove_file(self.resolv_conf(cid));
    }

    /// `docker network connect`: attaches at once if the container runs.
    pub fn connect(&self, reference: &str, cid: &str, request: EndpointRequest) -> Result<()> {
        let (index, dns_gained) = {
            let mut guard = self.lock();
            let state = &mut *guard;
            let n = state.resolve(reference)?.clone();
            let Some(m) = state.members.get_mut(cid) else {
                return Err(Error::InvalidArgument(format!("container {cid} uses the host's network or none: it cannot be connected to {}", n.name)));
            };
            check_endpoint(&n, &request)?;
            if m.endpoints.iter().any(|e| e.network_id == n.id) {
                return Err(Error::Forbidden(format!("endpoint with name {} already exists in network {}", m.name, n.name)));
            }
            let had_dns = m.wants_dns(&state.networks);
            let used: HashSet<&str> = m.endpoints.iter().map(|e| e.ifname.as_str()).collect();
            let ifname = (0..).map(|i| format!("eth{i}")).find(|n| !used.contains(n.as_str())).unwrap_or_default();
            m.endpoints.push(Endpoint {
                network_id: n.id.clone(),
                endpoint_id: random_id(),
                ifname,
                aliases: request.aliases,
                requested_ip: request.ipv4,
                ip: None,
                mac: String::new(),
                attached: false,
                host_veth: None,
            });
            (m.running.then_some(m.endpoints.len() - 1), !had_dns && m.wants_dns(&state.networks))
        };
        // Its first network with the embedded DNS server: names resolve there from now on.
        if dns_gained {
            self.write_resolv_conf(cid, true)?;
        }
        if let Some(i) = index {
            if let Err(e) = self.attach_endpoint(cid, i) {
                if let Some(m) = self.lock().members.get_mut(cid) {
                    m.endpoints.pop();
                }
                if dns_gained {
                    let _ = self.write_resolv_conf(cid, false);
                }
                return Err(e);
            }
            let (netns, needs_dns) = {
                let state = self.lock();
                let m = state.members.get(cid);
                let has = m.is_some_and(|m| m.dns.is_some());
                let wants = m.is_some_and(|m| m.wants_dns(&state.networks));
                (m.map(|m| m.netns.clone()), wants && !has)
            };
            if let (Some(netns), true) = (netns, needs_dns) {
                self.start_dns(cid, &netns)?;
            }
        }
        Ok(())
    }

    /// `docker network disconnect`.
    pub fn disconnect(&self, reference: &str, cid: &str) -> Result<()> {
        let (index, attached) = {
            let state = self.lock();
            let n = state.resolve(reference)?;
            let m = state.members.get(cid).ok_or_else(|| Error::InvalidArgument(format!("container {cid} is not connected to network {}", n.name)))?;
            let i = m.endpoints.iter().position(|e| e.network_id == n.id).ok_or_else(|| Error::InvalidArgument(format!("container {cid} is not connected to network {}", n.name)))?;
            (i, m.endpoints[i].attached)
        };
        if attached {
            self.detach_endpoint(cid, index)?;
        }
        let dns_lost = {
            let mut guard = self.lock();
            let state = &mut *guard;
            state.members.get_mut(cid).is_some_and(|m| {
                let had_dns = m.wants_dns(&state.networks);
                m.endpoints.remove(index);
                had_dns && !m.wants_dns(&state.networks)
            })
        };
        if dns_lost {
            self.write_resolv_conf(cid, false)?;
        }
        Ok(())
    }

    /// A container's networking for inspect; `None` for host/none containers.
    pub fn container(&self, cid: &str) -> Option<ContainerView> {
        let state = self.lock();
        let m = state.members.get(cid)?;
        Some(ContainerView {
            sandbox_key: m.netns.display().to_string(),
            endpoints: m.endpoints.iter().filter_map(|e| endpoint_view(&state, e)).collect(),
            ports: if m.running { m.published.clone() } else { m.ports.clone() },
            exposed: m.exposed.clone(),
            running: m.running,
        })
    }
}

/// Whether any of `endpoints` is on a network with the embedded DNS server.
fn endpoints_want_dns(networks: &BTreeMap<String, Network>, endpoints: &[Endpoint]) -> bool {
    endpoints.iter().any(|e| networks.get(&e.network_id).is_some_and(Network::has_dns))
}

impl Member {
    /// Whether the container has the embedded DNS server: a swarm task on overlay networks
    /// (it has service names) always, another container while it is on a network with DNS.
    fn wants_dns(&self, networks: &BTreeMap<String, Network>) -> bool {
        self.service_names.is_some() || endpoints_want_dns(networks, &self.endpoints)
    }
}

fn endpoint_view(state: &State, e: &Endpoint) -> Option<EndpointView> {
    let n = state.networks.get(&e.network_id)?;
    let subnet = n.subnet.as_ref();
    Some(EndpointView {
        network_name: n.name.clone(),
        network_id: n.id.clone(),
        endpoint_id: e.endpoint_id.clone(),
        aliases: e.aliases.clone(),
        requested_ip: e.requested_ip,
        ip: e.ip.filter(|_| e.attached),
        prefix_len: subnet.map_or(0, |s| s.subnet.prefix_len()),
        gateway: subnet.filter(|_| e.attached && !n.internal).map(|s| s.gateway),
        mac: e.mac.clone(),
    })
}

fn view(state: &State, n: &Network) -> NetworkView {
    let containers = state
        .members
        .iter()
        .flat_map(|(cid, m)| m.endpoints.iter().filter(|e| e.network_id == n.id && e.attached).map(move |e| (cid, m, e)))
        .filter_map(|(cid, m, e)| endpoint_view(state, e).map(|v| (cid.clone(), m.name.clone(), v)))
        .collect();
    NetworkView { network: n.clone(), containers }
}

fn check_endpoint(n: &Network, ep: &EndpointRequest) -> Result<()> {
    if n.driver != Driver::Bridge {
        return Err(Error::InvalidArgument(format!("container cannot be connected to network {}: use --network {} alone", n.name, n.name)));
    }
    if n.default_bridge && !ep.aliases.is_empty() {
        return Err(Error::InvalidArgument("network-scoped alias is supported only for containers in user defined networks".into()));
    }
    if let Some(ip) = ep.ipv4 {
        if n.default_bridge {
            return Err(Error::InvalidArgument("user specified IP address is supported on user defined networks only".into()));
        }
        let ok = n.subnet.as_ref().is_some_and(|s| s.assignable(ip));
        if !ok {
            return Err(Error::InvalidArgument(format!("invalid IP address {ip}: not an assignable address of network {}", n.name)));
        }
    }
    for a in &ep.aliases {
        if a.is_empty() || a.len() > 255 || !a.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)) {
            return Err(Error::InvalidArgument(format!("invalid network alias {a:?}")));
        }
    }
    Ok(())
}

impl Directory for Networks {
    fn lookup(&self, asker: &str, name: &str) -> Option<Vec<Ipv4Addr>> {
        let (local, services) = {
            let state = self.lock();
            let me = state.members.get(asker)?;
            (Self::lookup_local(&state, me, name), me.service_names.clone())
        };
        local.or_else(|| services?.lookup(name))
    }

    fn may_forward(&self, asker: &str) -> bool {
        let state = self.lock();
        state.members.get(asker).is_some_and(|m| m.endpoints.iter().any(|e| state.networks.get(&e.network_id).is_some_and(|n| !n.internal)))
    }
}

impl Networks {
    /// `name` among the containers on the networks with DNS that `me` is attached to.
    fn lookup_local(state: &State, me: &Member, name: &str) -> Option<Vec<Ipv4Addr>> {
        let shared: Vec<&str> = me
            .endpoints
            .iter()
            .filter(|e| e.attached && state.networks.get(&e.network_id).is_some_and(Network::has_dns))
            .map(|e| e.network_id.as_str())
            .collect();
        let mut ips = Vec::new();
        for (cid, m) in &state.members {
            for e in m.endpoints.iter().filter(|e| e.attached && shared.contains(&e.network_id.as_str())) {
                let matches = m.name.eq_ignore_ascii_case(name) || cid.get(..12) == Some(name) || e.aliases.iter().any(|a| a.eq_ignore_ascii_case(name));
                if let (true, Some(ip)) = (matches, e.ip) {
                    ips.push(ip);
                }
            }
        }
        (!ips.is_empty()).then_some(ips)
    }
}
