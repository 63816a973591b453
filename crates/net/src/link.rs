//! Links, addresses and routes over rtnetlink, in-process: the bridge of a network, and each
//! endpoint's veth pair (one end `ethN` inside the container's namespace, the other a port
//! of the bridge on the bridge's side: the daemon's namespace for bridge networks, a
//! network's own namespace for overlay networks, see palisade-overlay).
//!
//! Every batch of requests runs on a short-lived thread of its own with a current-thread
//! tokio runtime: the daemon's runtime is never blocked, and callers may be async or not. A
//! netlink socket belongs to the namespace its thread was in when it was opened, so one
//! thread opens the bridge side's socket first, then enters the container's namespace and
//! opens that one.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};


use futures::TryStreamExt as _;
use nix::sched::{setns, CloneFlags};
use rtnetlink::{Handle, LinkBridge, LinkBridgePort, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::error::{Error, Result};

/// The bridge of a network: its name, the namespace it lives in and, unless the network is
/// internal, the gateway address it carries.
#[derive(Clone, Debug)]
pub struct Bridge {
    /// The link's name.
    pub name: String,
    /// `(gateway, prefix length)`; `None` on internal networks (no way out through the host).
    pub gateway: Option<(Ipv4Addr, u8)>,
    /// The namespace file the bridge lives in; `None` for the daemon's own namespace.
    pub netns: Option<PathBuf>,
}

/// One endpoint's link. Invariant: `host_veth` is at most 15 bytes (`IFNAMSIZ - 1`).
#[derive(Clone, Debug)]
pub struct Veth {
    /// The container's namespace file.
    pub netns: PathBuf,
    /// Name inside the container (`eth0`, …).
    pub ifname: String,
    /// Name of the bridge side's end (a port of the bridge).
    pub host_veth: String,
    /// The container end's MAC address.
    pub mac: [u8; 6],
    /// The container's address and prefix length.
    pub address: (Ipv4Addr, u8),
    /// Default route through this gateway (none on internal networks).
    pub default_route: Option<Ipv4Addr>,
    /// Bridge port isolation (`IFLA_BRPORT_ISOLATED`): the port forwards only to
    /// non-isolated ones, i.e. the bridge itself, never to another container.
    pub isolated: bool,
    /// MTU of both ends; `None` keeps the kernel's default (1500). Overlay networks set it
    /// below the underlay's to leave room for encapsulation.
    pub mtu: Option<u32>,
}

/// Maps a failed netlink request on `what` to [`Error::Netlink`].
pub fn netlink_error(op: &'static str, what: &str) -> impl FnOnce(rtnetlink::Error) -> Error {
    let what = what.to_owned();
    move |e| Error::Netlink { op, what, message: e.to_string() }
}

/// Whether `e` is the kernel's `errno` (as a positive number).
pub fn is_errno(e: &rtnetlink::Error, errno: nix::errno::Errno) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m) if m.raw_code().abs() == errno as i32)
}

/// Runs `f` with a netlink handle of the namespace `netns` (`None`: the daemon's), on a
/// thread of its own (which `f` may move into a container's namespace with [`enter`]).
pub fn run_in<T, F, Fut>(netns: Option<&Path>, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T>>,
{
    let ns = match netns {
        Some(path) => Some((File::open(path).map_err(Error::io("opening", path))?, path.to_owned())),
        None => None,
    };
    std::thread::spawn(move || {
        if let Some((ns, path)) = &ns {
            setns(ns, CloneFlags::CLONE_NEWNET).map_err(Error::errno("entering the network namespace", path))?;
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(Error::io("starting a netlink runtime", "(thread)"))?;
        rt.block_on(async move {
            let (conn, host, _) = rtnetlink::new_connection().map_err(Error::io("opening a netlink socket", "(bridge side)"))?;
            tokio::spawn(conn);
            f(host).await
        })
    })
    .join()
    .unwrap_or_else(|_| Err(Error::InvalidArgument("the netlink thread panicked".into())))
}

/// Moves the current thread (one of [`run_in`]) into the namespace `ns` (opened from `path`)
/// and returns a handle there. Sockets opened before stay where they were opened.
async fn enter(ns: &File, path: &Path) -> Result<Handle> {
    setns(ns, CloneFlags::CLONE_NEWNET).map_err(Error::errno("entering the network namespace", path))?;
    let (conn, handle, _) = rtnetlink::new_connection().map_err(Error::io("opening a netlink socket in", path))?;
    tokio::spawn(conn);
    Ok(handle)
}

/// The index of the link `name` in `handle`'s namespace.
pub async fn index_of(handle: &Handle, name: &str) -> Result<u32> {
    let link = handle.link().get().match_name(name.to_owned()).execute().try_next().await.map_err(netlink_error("looking up", name))?;
    link.map(|l| l.header.index).ok_or_else(|| Error::Netlink { op: "looking up", what: name.to_owned(), message: "no such link".into() })
}

/// Makes sure `bridge` exists, carries its gateway address and is up (each step is a no-op
/// when already done), and lets it route traffic from 127.0.0.0/8 (published ports bound to
/// a loopback address are DNATed to containers behind it).
pub async fn ensure_bridge(handle: &Handle, bridge: &Bridge) -> Result<u32> {
    match handle.link().add(LinkBridge::new(&bridge.name).build()).execute().await {
        Err(e) if !is_errno(&e, nix::errno::Errno::EEXIST) => return Err(netlink_error("creating the bridge", &bridge.name)(e)),
        _ => {}
    }
    let index = index_of(handle, &bridge.name).await?;
    if let Some((gateway, prefix)) = bridge.gateway {
        match handle.address().add(index, IpAddr::V4(gateway), prefix).execute().await {
            Err(e) if !is_errno(&e, nix::errno::Errno::EEXIST) => return Err(netlink_error("addressing the bridge", &bridge.name)(e)),
            _ => {}
        }
    }
    handle.link().set(LinkUnspec::new_with_index(index).up().build()).execute().await.map_err(netlink_error("bringing up", &bridge.name))?;
    let sysctl = format!("/proc/sys/net/ipv4/conf/{}/route_localnet", bridge.name);
    std::fs::write(&sysctl, "1").map_err(Error::io("writing", sysctl))?;
    Ok(index)
}

/// Creates the endpoint's veth pair on `bridge` (in the bridge's namespace) and configures
/// the container's side: address, MAC, MTU, default route, loopback, all up. On failure the
/// pair is removed.
pub fn attach(bridge: &Bridge, veth: &Veth) -> Result<()> {
    let (bridge, veth) = (bridge.clone(), veth.clone());
    let ns = File::open(&veth.netns).map_err(Error::io("opening", &veth.netns))?;
    run_in(bridge.netns.clone().as_deref(), move |host| async move {
        // Before entering the container's namespace: /proc/sys/net is the opener's.
        let bridge_index = ensure_bridge(&host, &bridge).await?;
        // The container end is made inside the container's namespace under its final name;
        // the peer (host end) stays in the daemon's.
        let mut pair = LinkVeth::new(&veth.ifname, &veth.host_veth).address(veth.mac.to_vec()).setns_by_fd(ns.as_raw_fd());
        if let Some(mtu) = veth.mtu {
            // The container's end only: the kernel gives the peer its default (1500), so the
            // host end takes the MTU below, when it joins the bridge.
            pair = pair.mtu(mtu);
        }
        let pair = pair.build();
        host.link().add(pair).execute().await.map_err(netlink_error("creating the veth pair", &veth.host_veth))?;
        let configured = async {
            let mut port = LinkUnspec::new_with_name(&veth.host_veth).controller(bridge_index).up();
            if let Some(mtu) = veth.mtu {
                port = port.mtu(mtu);
            }
            let port = port.build();
            host.link().set(port).execute().await.map_err(netlink_error("attaching to its bridge", &veth.host_veth))?;
            if veth.isolated {
                let index = index_of(&host, &veth.host_veth).await?;
                let port = LinkBridgePort::new(index).isolated(true).build();
                host.link().set_port(port).execute().await.map_err(netlink_error("isolating the bridge port", &veth.host_veth))?;
            }
            let inner = enter(&ns, &veth.netns).await?;
            configure(&inner, &veth).await
        }
        .await;
        if configured.is_err() {
            let _ = delete(&host, &veth.host_veth).await;
        }
        configured
    })
}

/// Brings up the loopback of `handle`'s namespace.
async fn up_loopback(handle: &Handle) -> Result<()> {
    let lo = LinkUnspec::new_with_name("lo").up().build();
    handle.link().set(lo).execute().await.map_err(netlink_error("bringing up", "lo"))
}

/// Brings up the loopback of the namespace at `netns`. Until then only 127.0.0.1 is local
/// there: a socket bound to another loopback address (the embedded DNS server's
/// 127.0.0.11) would answer from 127.0.0.1, which resolvers drop.
pub fn loopback_up(netns: &Path) -> Result<()> {
    run_in(Some(netns), |handle| async move { up_loopback(&handle).await })
}

/// The container's side, from inside its namespace: loopback up, address, link up, route.
async fn configure(inner: &Handle, veth: &Veth) -> Result<()> {
    up_loopback(inner).await?;
    let index = index_of(inner, &veth.ifname).await?;
    let (ip, prefix) = veth.address;
    inner.address().add(index, IpAddr::V4(ip), prefix).execute().await.map_err(netlink_error("addressing", &veth.ifname))?;
    inner.link().set(LinkUnspec::new_with_index(index).up().build()).execute().await.map_err(netlink_error("bringing up", &veth.ifname))?;
    if let Some(gateway) = veth.default_route {
        // The first network's default route stays (as Docker's first gateway does).
        let route = RouteMessageBuilder::<Ipv4Addr>::new().output_interface(index).gateway(gateway).build();
        match inner.route().add(route).execute().await {
            Err(e) if !is_errno(&e, nix::errno::Errno::EEXIST) => return Err(netlink_error("adding the default route on", &veth.ifname)(e)),
            _ => {}
        }
    }
    Ok(())
}

/// Deletes the link `name` of `handle`'s namespace; a missing one is not an error.
pub async fn delete(handle: &Handle, name: &str) -> Result<()> {
    match handle.link().del_with_message(LinkUnspec::new_with_name(name).build()).execute().await {
        Err(e) if !is_errno(&e, nix::errno::Errno::ENODEV) => Err(netlink_error("deleting", name)(e)),
        _ => Ok(()),
    }
}

/// Deletes links of the namespace `netns` (`None`: the daemon's) by name (a veth's peer goes
/// with it); missing ones are not an error. Every link is tried; the first error is returned.
pub fn delete_links(netns: Option<&Path>, names: Vec<String>) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    run_in(netns, move |host| async move {
        let mut first = Ok(());
        for name in &names {
            if let Err(e) = delete(&host, name).await {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    })
}

/// `02:42:` followed by the four address bytes: the MAC follows the address, as Docker's, so
/// a container that takes over a stopped one's address is reachable at once, with no stale
/// neighbour entry on the host.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

/// `aa:bb:…` as inspect shows it.
pub fn mac_string(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// The MTU of the interface that holds `address` in the namespace `netns` (`None`: the
/// daemon's), or else of the one whose subnet contains it (as `lo`'s 127.0.0.0/8 holds every
/// loopback address): what an overlay network on that address has to fit its encapsulation in.
pub fn mtu_at(netns: Option<&Path>, address: Ipv4Addr) -> Result<u32> {
    use rtnetlink::packet_route::address::AddressAttribute;
    use rtnetlink::packet_route::link::LinkAttribute;
    let what = address.to_string();
    run_in(netns, move |handle| async move {
        let mut addresses = handle.address().get().execute();
        // (interface index, whether it holds the address itself).
        let mut found: Option<(u32, bool)> = None;
        while let Some(message) = addresses.try_next().await.map_err(netlink_error("listing addresses for", &what))? {
            let prefix = message.header.prefix_len;
            for attribute in &message.attributes {
                let (AddressAttribute::Local(IpAddr::V4(a)) | AddressAttribute::Address(IpAddr::V4(a))) = attribute else { continue };
                let exact = *a == address;
                let contains = ipnet::Ipv4Net::new(*a, prefix).is_ok_and(|net| net.contains(&address));
                if exact || (contains && found.is_none()) {
                    found = Some((message.header.index, exact));
                }
            }
            if matches!(found, Some((_, true))) {
                break;
            }
        }
        let missing = || Error::Netlink { op: "looking up the interface of", what: what.clone(), message: "no interface has this address".into() };
        let (index, _) = found.ok_or_else(missing)?;
        let link = handle.link().get().match_index(index).execute().try_next().await.map_err(netlink_error("looking up the interface of", &what))?;
        link.and_then(|l| l.attributes.into_iter().find_map(|a| match a {
            LinkAttribute::Mtu(mtu) => Some(mtu),
            _ => None,
        }))
        .ok_or_else(missing)
    })
}
