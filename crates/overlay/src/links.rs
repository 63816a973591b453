//! The links of a network's namespace, over rtnetlink (through palisade-net's namespace-aware
//! runner): the bridge `br0`, the VXLAN device `vxlan0` attached to it, for encrypted networks
//! the TUN device `wg0` that carries VXLAN between nodes, the peers' FDB entries, and the
//! containers' veth pairs. Names are fixed: each network has a namespace of its own.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};

use futures::{StreamExt as _, TryStreamExt as _};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST};
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use palisade_net::link::{self, Bridge, Veth};
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec, LinkVxlan, RouteMessageBuilder};

use crate::error::Result;
use crate::spec::{EndpointSpec, Vni, VXLAN_PORT};

/// The network's bridge, where the VXLAN device and the containers' veths are ports.
pub(crate) const BRIDGE: &str = "br0";
/// The network's VXLAN device.
const VXLAN: &str = "vxlan0";
/// The TUN device of an encrypted network.
pub(crate) const TUN: &str = "wg0";
/// Packets the TUN device queues for the tunnel's reader. TUN drops (rather than pushes
/// back) when its queue is full, and a TCP flow in the overlay then retransmits; the default
/// 500 overflows on every burst of a window, this absorbs them.
const TUN_QUEUE: u32 = 4096;

/// What the VXLAN device is made of.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VxlanParams {
    pub(crate) vni: Vni,
    /// The source address of VXLAN packets: the node's underlay address.
    pub(crate) local: Ipv4Addr,
    pub(crate) mtu: u32,
}

impl VxlanParams {
    /// Learning stays on: remote containers' MACs are learnt from the frames their node
    /// sends (only authenticated peers can send any on an encrypted network); broadcast and
    /// unknown destinations go to every peer through the all-zeros FDB entries.
    fn link(self) -> LinkMessageBuilder<LinkVxlan> {
        LinkVxlan::new(VXLAN, self.vni.get()).port(VXLAN_PORT).local(self.local).learning(true).mtu(self.mtu)
    }
}

fn bridge(netns: &Path) -> Bridge {
    Bridge { name: BRIDGE.into(), gateway: None, netns: Some(netns.to_owned()) }
}

/// The bridge and the VXLAN device as its port, both up, in `handle`'s namespace (the
/// network's); the VXLAN device is created there unless `created` says it already was.
async fn bridge_and_vxlan(handle: &Handle, netns: &Path, vxlan: Option<VxlanParams>) -> palisade_net::Result<()> {
    let lo = LinkUnspec::new_with_name("lo").up().build();
    handle.link().set(lo).execute().await.map_err(link::netlink_error("bringing up", "lo"))?;
    let bridge_index = link::ensure_bridge(handle, &bridge(netns)).await?;
    if let Some(params) = vxlan {
        handle.link().add(params.link().build()).execute().await.map_err(link::netlink_error("creating", VXLAN))?;
    }
    let port = LinkUnspec::new_with_name(VXLAN).controller(bridge_index).up().build();
    handle.link().set(port).execute().await.map_err(link::netlink_error("attaching to the bridge", VXLAN))?;
    Ok(())
}

/// Plain network: the VXLAN device is created from the underlay's namespace and moved into
/// the network's, so its UDP socket stays on the underlay (as Docker's overlay driver does);
/// then it joins the bridge.
pub(crate) fn build_plain(underlay: Option<&Path>, netns: &Path, vxlan: VxlanParams) -> Result<()> {
    let ns = File::open(netns).map_err(|source| palisade_net::Error::Io { op: "opening", path: netns.to_owned(), source })?;
    link::run_in(underlay, move |handle| async move {
        let moved = vxlan.link().setns_by_fd(ns.as_raw_fd()).build();
        handle.link().add(moved).execute().await.map_err(link::netlink_error("creating", VXLAN))
    })?;
    let path = netns.to_owned();
    link::run_in(Some(netns), move |handle| async move { bridge_and_vxlan(&handle, &path, None).await })?;
    Ok(())
}

/// Encrypted network: the TUN device (already opened in the network's namespace) gets the
/// node's underlay address and the default route, so VXLAN packets to any peer go into the
/// tunnel and nowhere else; the VXLAN device is created inside the namespace, its socket
/// bound there.
pub(crate) fn build_encrypted(netns: &Path, vxlan: VxlanParams, tunnel_mtu: u32) -> Result<()> {
    let path: PathBuf = netns.to_owned();
    link::run_in(Some(netns), move |handle| async move {
        let tun = link::index_of(&handle, TUN).await?;
        let up = LinkUnspec::new_with_index(tun).mtu(tunnel_mtu).txqueuelen(TUN_QUEUE).up().build();
        handle.link().set(up).execute().await.map_err(link::netlink_error("bringing up", TUN))?;
        handle.address().add(tun, IpAddr::V4(vxlan.local), 32).execute().await.map_err(link::netlink_error("addressing", TUN))?;
        let route = RouteMessageBuilder::<Ipv4Addr>::new().output_interface(tun).build();
        handle.route().add(route).execute().await.map_err(link::netlink_error("routing through", TUN))?;
        bridge_and_vxlan(&handle, &path, Some(vxlan)).await
    })?;
    Ok(())
}

/// An FDB entry of the VXLAN device: all-zeros MAC (broadcast and unknown unicast) to `peer`.
/// Invariant: the MAC is the first attribute (`remove_peer` replaces it).
fn flood_entry(vxlan_index: u32, peer: Ipv4Addr) -> NeighbourMessage {
    let mut message = NeighbourMessage::default();
    message.header.family = AddressFamily::Bridge;
    message.header.ifindex = vxlan_index;
    message.header.state = NeighbourState::Permanent;
    message.header.flags = NeighbourFlags::Own;
    message.attributes.push(NeighbourAttribute::LinkLayerAddress(vec![0; 6]));
    message.attributes.push(NeighbourAttribute::Destination(NeighbourAddress::Inet(peer)));
    message
}

/// Adds `peer` to the head-end replication list (`bridge fdb append 00:00:00:00:00:00 dev
/// vxlan0 dst PEER`): appended, since every peer shares the all-zeros MAC.
pub(crate) fn add_peer(netns: &Path, peer: Ipv4Addr) -> Result<()> {
    link::run_in(Some(netns), move |mut handle| async move {
        let index = link::index_of(&handle, VXLAN).await?;
        let mut request = NetlinkMessage::from(RouteNetlinkMessage::NewNeighbour(flood_entry(index, peer)));
        request.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND;
        let what = peer.to_string();
        let mut answers = handle.request(request).map_err(link::netlink_error("adding the FDB entry of", &what))?;
        while let Some(answer) = answers.next().await {
            if let NetlinkPayload::Error(e) = answer.payload {
                return Err(link::netlink_error("adding the FDB entry of", &what)(rtnetlink::Error::NetlinkError(e)));
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// Removes every FDB entry of the VXLAN device that points at `peer`: its place in the
/// replication list and the remote MACs learnt behind it (else unicast to them would go on
/// until they age out). An entry already gone is not an error.
pub(crate) fn remove_peer(netns: &Path, peer: Ipv4Addr) -> Result<()> {
    link::run_in(Some(netns), move |handle| async move {
        let what = peer.to_string();
        let index = link::index_of(&handle, VXLAN).await?;
        let mut entries = handle.neighbours().get().set_address_family(AddressFamily::Bridge).execute();
        let mut macs = Vec::new();
        while let Some(entry) = entries.try_next().await.map_err(link::netlink_error("listing the FDB entries of", VXLAN))? {
            // netlink-packet-route parses a bridge-family NDA_DST as raw bytes.
            let to_peer = entry.attributes.iter().any(|a| match a {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => *ip == peer,
                NeighbourAttribute::Destination(NeighbourAddress::Other(bytes)) => bytes[..] == peer.octets(),
                _ => false,
            });
            let mac = entry.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::LinkLayerAddress(mac) => Some(mac.clone()),
                _ => None,
            });
            if let (true, true, Some(mac)) = (entry.header.ifindex == index, to_peer, mac) {
                macs.push(mac);
            }
        }
        for mac in macs {
            let mut entry = flood_entry(index, peer);
            entry.attributes[0] = NeighbourAttribute::LinkLayerAddress(mac);
            match handle.neighbours().del(entry).execute().await {
                Err(e) if !link::is_errno(&e, nix::errno::Errno::ENOENT) => return Err(link::netlink_error("removing an FDB entry of", &what)(e)),
                _ => {}
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// The bridge-side name of an endpoint's veth: `ve` and the MAC in hex (unique on a
/// network, whose endpoints have distinct MACs). Invariant: 14 bytes, under `IFNAMSIZ`.
pub(crate) fn host_veth(mac: [u8; 6]) -> String {
    let name = format!("ve{}", mac.iter().map(|b| format!("{b:02x}")).collect::<String>());
    debug_assert!(name.len() < 16);
    name
}

/// A veth pair from the container's namespace to the network's bridge, with the overlay's MTU.
pub(crate) fn attach(netns: &Path, endpoint: &EndpointSpec, mtu: u32) -> Result<String> {
    let veth = Veth {
        netns: endpoint.netns.clone(),
        ifname: endpoint.ifname.clone(),
        host_veth: host_veth(endpoint.mac),
        mac: endpoint.mac,
        address: (endpoint.address.addr(), endpoint.address.prefix_len()),
        default_route: None,
        isolated: false,
        mtu: Some(mtu),
    };
    link::attach(&bridge(netns), &veth)?;
    Ok(veth.host_veth)
}

/// Deletes an endpoint's veth pair (both ends go).
pub(crate) fn detach(netns: &Path, host_veth: &str) -> Result<()> {
    link::delete_links(Some(netns), vec![host_veth.to_owned()])?;
    Ok(())
}
