//! A lab for tests and benchmarks (feature `test-util`): nodes as network namespaces joined
//! by veth pairs to one bridge in an underlay namespace, overlay networks across them with a
//! container namespace per node, TCP through those namespaces, and `tcpdump` on the underlay.
//! Everything lives under one temporary directory and is removed on drop.
//!
//! ```text
//!   underlay ns: bridge ubr ── un0 ─┬─ eth0 node0 ns (192.168.77.1/24)
//!                           ── un1 ─┼─ eth0 node1 ns (192.168.77.2/24)
//!                           ── …    ┘
//! ```

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ipnet::Ipv4Net;
use palisade_net::link::{self, Bridge, Veth};
use palisade_net::netns;
use rtnetlink::LinkUnspec;
use tokio::io::AsyncBufReadExt as _;
use tokio::net::{TcpListener, TcpStream};

use crate::error::{Error, Result};
use crate::keys::{NetworkKey, NodeKey};
use crate::overlay::{Endpoint, Overlay};
use crate::spec::{EndpointSpec, Encryption, OverlaySpec, Peer, Underlay, Vni};

/// The underlay bridge's name, in [`Lab::underlay_netns`].
pub const UNDERLAY_BRIDGE: &str = "ubr";
/// The underlay's MTU unless the lab is made with another ([`Lab::with_underlay_mtu`]).
pub const UNDERLAY_MTU: u32 = 1500;

/// One node: its namespace, underlay address and WireGuard key.
pub struct LabNode {
    /// The node's namespace (its `eth0` is on the underlay).
    pub netns: PathBuf,
    /// Its underlay address.
    pub address: Ipv4Addr,
    /// Its static WireGuard key.
    pub key: NodeKey,
}

/// Nodes on an underlay. Invariant: every namespace file under `dir` was made by the lab
/// and is removed by its drop (overlays' own namespaces by [`Overlay`]'s).
pub struct Lab {
    dir: tempfile::TempDir,
    underlay: PathBuf,
    underlay_mtu: u32,
    nodes: Vec<LabNode>,
}

/// How a lab network protects traffic between nodes.
pub enum LabKeys {
    /// VXLAN in clear (`encrypted=false`).
    Plain,
    /// WireGuard, with the network key each node is given (normally the same for all).
    Encrypted(Vec<NetworkKey>),
}

/// An overlay network on every node of a lab, with one container per node.
pub struct LabNetwork {
    /// The network on each node, in node order.
    pub overlays: Vec<Overlay>,
    /// Each node's container namespace, in node order.
    pub containers: Vec<PathBuf>,
    /// Each container's attachment, in node order.
    pub endpoints: Vec<Endpoint>,
    subnet: Ipv4Net,
}

impl LabNetwork {
    /// The overlay address of node `i`'s container.
    pub fn address(&self, i: usize) -> Ipv4Addr {
        container_address(self.subnet, i).addr()
    }
}

impl Drop for LabNetwork {
    fn drop(&mut self) {
        self.overlays.clear();
        for c in &self.containers {
            let _ = netns::remove(c);
        }
    }
}

fn container_address(subnet: Ipv4Net, i: usize) -> Ipv4Net {
    let base = u32::from(subnet.network());
    // i + 1 < 255 for any lab the helpers build (they take a handful of nodes).
    Ipv4Net::new(Ipv4Addr::from(base + i as u32 + 1), subnet.prefix_len()).unwrap_or(subnet)
}

fn lab_error(what: impl Into<String>) -> Error {
    Error::InvalidArgument(what.into())
}

impl Lab {
    /// A lab of `nodes` nodes (at most 200) on an underlay of [`UNDERLAY_MTU`].
    pub fn new(nodes: usize) -> Result<Self> {
        Self::with_underlay_mtu(nodes, UNDERLAY_MTU)
    }

    /// A lab of `nodes` nodes (at most 200) on an underlay of MTU `underlay_mtu` (9000 for
    /// jumbo frames); the networks' specs carry it.
    pub fn with_underlay_mtu(nodes: usize, underlay_mtu: u32) -> Result<Self> {
        if nodes > 200 {
            return Err(lab_error("a lab has at most 200 nodes"));
        }
        let dir = tempfile::Builder::new().prefix("palisade-overlay-lab").tempdir().map_err(Error::io("making the lab directory"))?;
        let underlay = dir.path().join("underlay");
        netns::create(&underlay)?;
        let mut lab = Self { dir, underlay, underlay_mtu, nodes: Vec::new() };
        for i in 0..nodes {
            let netns = lab.dir.path().join(format!("node{i}"));
            netns::create(&netns)?;
            let address = Ipv4Addr::new(192, 168, 77, i as u8 + 1);
            lab.nodes.push(LabNode { netns: netns.clone(), address, key: NodeKey::generate() });
            let bridge = Bridge { name: UNDERLAY_BRIDGE.into(), gateway: None, netns: Some(lab.underlay.clone()) };
            let veth = Veth {
                netns,
                ifname: "eth0".into(),
                host_veth: format!("un{i}"),
                mac: link::mac_for(address),
                address: (address, 24),
                default_route: None,
                isolated: false,
                mtu: Some(underlay_mtu),
            };
            link::attach(&bridge, &veth)?;
            // The underlay's end of the pair too (palisade-net sets the node's end only).
            let host = veth.host_veth.clone();
            link::run_in(Some(&lab.underlay), move |handle| async move {
                let set = LinkUnspec::new_with_name(&host).mtu(underlay_mtu).build();
                handle.link().set(set).execute().await.map_err(link::netlink_error("setting the MTU of", &host))
            })?;
        }
        Ok(lab)
    }

    /// The underlay's namespace (where [`UNDERLAY_BRIDGE`] is).
    pub fn underlay_netns(&self) -> &Path {
        &self.underlay
    }

    /// The nodes.
    pub fn nodes(&self) -> &[LabNode] {
        &self.nodes
    }

    /// A new, empty namespace (a container's) named `name` in the lab.
    pub fn namespace(&self, name: &str) -> Result<PathBuf> {
        let path = self.dir.path().join(name);
        netns::create(&path)?;
        Ok(path)
    }

    /// The tunnel port of network `vni` on every node.
    pub fn listen_port(vni: u32) -> u16 {
        40_000 + (vni % 20_000) as u16
    }

    /// The spec of network `vni` on node `i`.
    pub fn spec(&self, i: usize, vni: u32, encryption: Encryption) -> Result<OverlaySpec> {
        let node = self.nodes.get(i).ok_or_else(|| lab_error(format!("no node {i}")))?;
        Ok(OverlaySpec {
            vni: Vni::new(vni)?,
            netns: self.dir.path().join(format!("ovl{vni}-{i}")),
            underlay: Underlay { netns: Some(node.netns.clone()), address: node.address, mtu: self.underlay_mtu },
            encryption,
        })
    }

    /// Node `i` as the other nodes' peer on a network.
    pub fn peer(&self, i: usize, vni: u32, encrypted: bool) -> Result<Peer> {
        let node = self.nodes.get(i).ok_or_else(|| lab_error(format!("no node {i}")))?;
        Ok(if encrypted {
            Peer::Encrypted { endpoint: SocketAddrV4::new(node.address, Self::listen_port(vni)), public_key: node.key.public_key() }
        } else {
            Peer::Plain(node.address)
        })
    }

    /// Network `vni` on every node, each node a peer of every other, and a container on each
    /// (`c<vni>-<i>`, `eth0` at `subnet`'s host `i + 1`).
    pub async fn network(&self, vni: u32, keys: LabKeys, subnet: Ipv4Net) -> Result<LabNetwork> {
        let encrypted = matches!(keys, LabKeys::Encrypted(_));
        let mut network_keys = match keys {
            LabKeys::Plain => Vec::new(),
            LabKeys::Encrypted(k) if k.len() == self.nodes.len() => k,
            LabKeys::Encrypted(_) => return Err(lab_error("one network key per node")),
        }
        .into_iter();
        let mut network = LabNetwork { overlays: Vec::new(), containers: Vec::new(), endpoints: Vec::new(), subnet };
        for (i, node) in self.nodes.iter().enumerate() {
            let encryption = match network_keys.next() {
                Some(network_key) => Encryption::WireGuard { node_key: node.key.clone(), network_key, listen_port: Self::listen_port(vni) },
                None => Encryption::Off,
            };
            let mut overlay = Overlay::create(self.spec(i, vni, encryption)?).await?;
            for j in (0..self.nodes.len()).filter(|&j| j != i) {
                overlay.add_peer(self.peer(j, vni, encrypted)?).await?;
            }
            let container = self.namespace(&format!("c{vni}-{i}"))?;
            network.containers.push(container.clone());
            let address = container_address(subnet, i);
            let endpoint = EndpointSpec { netns: container, ifname: "eth0".into(), address, mac: link::mac_for(address.addr()) };
            network.endpoints.push(overlay.attach(&endpoint).await?);
            network.overlays.push(overlay);
        }
        Ok(network)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for node in &self.nodes {
            let _ = netns::remove(&node.netns);
        }
        let _ = netns::remove(&self.underlay);
        if let Ok(entries) = std::fs::read_dir(self.dir.path()) {
            for entry in entries.flatten() {
                let _ = netns::remove(&entry.path());
            }
        }
    }
}

/// A TCP listener on `address` inside the namespace `ns`.
pub fn listen(ns: &Path, address: SocketAddr) -> Result<TcpListener> {
    let listener = netns::run_in(ns, move || {
        let l = std::net::TcpListener::bind(address).map_err(|source| palisade_net::Error::Io { op: "listening on", path: PathBuf::from(address.to_string()), source })?;
        l.set_nonblocking(true).map_err(|source| palisade_net::Error::Io { op: "making non-blocking", path: PathBuf::from(address.to_string()), source })?;
        Ok(l)
    })?;
    TcpListener::from_std(listener).map_err(Error::io("registering a listener"))
}

/// A TCP connection from inside the namespace `ns` to `to`, given up after `timeout`.
pub async fn connect(ns: &Path, to: SocketAddr, timeout: Duration) -> Result<TcpStream> {
    let ns = ns.to_owned();
    let stream = tokio::task::spawn_blocking(move || {
        netns::run_in(&ns, move || {
            let s = std::net::TcpStream::connect_timeout(&to, timeout).map_err(|source| palisade_net::Error::Io { op: "connecting to", path: PathBuf::from(to.to_string()), source })?;
            s.set_nonblocking(true).map_err(|source| palisade_net::Error::Io { op: "making non-blocking", path: PathBuf::from(to.to_string()), source })?;
            Ok(s)
        })
    })
    .await
    .map_err(|e| Error::Runtime(e.to_string()))??;
    TcpStream::from_std(stream).map_err(Error::io("registering a connection"))
}

/// `tcpdump` writing every packet on an interface of a namespace to a file.
pub struct Capture {
    child: tokio::process::Child,
    file: PathBuf,
}

impl Capture {
    /// Starts `tcpdump -i IFACE` inside `ns` (through `nsenter`) and returns once it listens.
    /// Fails if either tool is missing.
    pub async fn start(ns: &Path, iface: &str, file: &Path) -> Result<Self> {
        let mut child = tokio::process::Command::new("nsenter")
            .arg(format!("--net={}", ns.display()))
            // A 32 MiB ring (-B, in KiB): with whole packets (-s 0) and immediate mode, the
            // default 2 MiB holds only a handful, and a busy machine that runs tcpdump late
            // dropped the very packets a test looks for.
            .args(["tcpdump", "-i", iface, "--immediate-mode", "-U", "-n", "-s", "0", "-B", "32768", "-Z", "root", "-w"])
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(Error::io("starting nsenter tcpdump"))?;
        let stderr = child.stderr.take().ok_or_else(|| lab_error("tcpdump has no stderr"))?;
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let listening = tokio::time::timeout(Duration::from_secs(10), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("listening on") {
                    return Ok(());
                }
                tracing::info!("tcpdump: {line}");
            }
            Err(lab_error("tcpdump exited before listening (is it installed?)"))
        })
        .await
        .map_err(|_| lab_error("tcpdump did not start listening within 10 s"))?;
        listening?;
        Ok(Self { child, file: file.to_owned() })
    }

    /// Stops the capture (SIGTERM: tcpdump writes out what it holds) and returns the raw
    /// pcap file.
    pub async fn stop(mut self) -> Result<Vec<u8>> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        // nsenter without --fork execs tcpdump, so the child is tcpdump itself.
        if let Some(pid) = self.child.id().and_then(|id| i32::try_from(id).ok()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
        }
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await.is_err() {
            self.child.kill().await.map_err(Error::io("stopping tcpdump"))?;
        }
        std::fs::read(&self.file).map_err(Error::io("reading the capture"))
    }
}
