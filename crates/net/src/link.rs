//! Links, addresses and routes over rtnetlink, in-process: the bridge of a network, and each
//! endpoint's veth pair (one end `ethN` inside the container's namespace, the other a port
//! of the bridge on the host side).
//!
//! Every batch of requests runs on a short-lived thread of its own with a current-thread
//! tokio runtime: the daemon's runtime is never blocked, and callers may be async or not. A
//! netlink socket belongs to the namespace its thread was in when it was opened, so one
//! thread opens the host's socket first, then enters the container's namespace and opens
//! that one.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};


use futures::TryStreamExt as _;
use nix::sched::{setns, CloneFlags};
use rtnetlink::{Handle, LinkBridge, LinkBridgePort, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::error::{Error, Result};

/// The bridge of a network: its name and, unless the network is internal, the gateway
/// address it carries.
#[derive(Clone, Debug)]
pub(crate) struct Bridge {
    pub(crate) name: String,
    /// `(gateway, prefix length)`; `None` on internal networks (no way out through the host).
    pub(crate) gateway: Option<(Ipv4Addr, u8)>,
}

/// One endpoint's link. Invariant: `host_veth` is at most 15 bytes (`IFNAMSIZ - 1`).
#[derive(Clone, Debug)]
pub(crate) struct Veth {
    /// The container's namespace file.
    pub(crate) netns: PathBuf,
    /// Name inside the container (`eth0`, …).
    pub(crate) ifname: String,
    /// Name of the host end (a port of the bridge).
    pub(crate) host_veth: String,
    /// The container end's MAC address.
    pub(crate) mac: [u8; 6],
    /// The container's address and prefix length.
    pub(crate) address: (Ipv4Addr, u8),
    /// Default route through this gateway (none on internal networks).
    pub(crate) default_route: Option<Ipv4Addr>,
    /// Bridge port isolation (`IFLA_BRPORT_ISOLATED`): the port forwards only to
    /// non-isolated ones, i.e. the bridge itself, never to another container.
    pub(crate) isolated: bool,
}

fn netlink_error(op: &'static str, what: &str) -> impl FnOnce(rtnetlink::Error) -> Error {
    let what = what.to_owned();
    move |e| Error::Netlink { op, what, message: e.to_string() }
}

/// Whether `e` is the kernel's `errno` (as a positive number).
fn is_errno(e: &rtnetlink::Error, errno: nix::errno::Errno) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m) if m.raw_code().abs() == errno as i32)
}

/// Runs `f` with a netlink handle of the daemon's namespace, on a thread of its own (which
/// `f` may move into a container's namespace with [`enter`]).
fn run<T, F, Fut>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T>>,
{
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(Error::io("starting a netlink runtime", "(thread)"))?;
        rt.block_on(async move {
            let (conn, host, _) = rtnetlink::new_connection().map_err(Error::io("opening a netlink socket", "(host)"))?;
            tokio::spawn(conn);
            f(host).await
        })
    })
    .join()
    .unwrap_or_else(|_| Err(Error::InvalidArgument("the netlink thread panicked".into())))
}

/// Moves the current thread (one of [`run`]) into the namespace `ns` (opened from `path`)
/// and returns a handle there. Sockets opened before stay where they were opened.
async fn enter(ns: &File, path: &Path) -> Result<Handle> {
    setns(ns, CloneFlags::CLONE_NEWNET).map_err(Error::errno("entering the network namespace", path))?;
    let (conn, handle, _) = rtnetlink::new_connection().map_err(Error::io("opening a netlink socket in", path))?;
    tokio::spawn(conn);
    Ok(handle)
}

async fn index_of(handle: &Handle, name: &str) -> Result<u32> {
    let link = handle.link().get().match_name(name.to_owned()).execute().try_next().await.map_err(netlink_error("looking up", name))?;
    link.map(|l| l.header.index).ok_or_else(|| Error::Netlink { op: "looking up", what: name.to_owned(), message: "no such link".into() })
}

/// Makes sure `bridge` exists, carries its gateway address and is up (each step is a no-op
/// when already done), and lets it route traffic from 127.0.0.0/8 (published ports bound to
/// a loopback address are DNATed to containers behind it).
async fn ensure_bridge(handle: &Handle, bridge: &Bridge) -> Result<u32> {
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

/// Creates the endpoint's veth pair on `bridge` and configures the container's side:
/// address, MAC, default route, loopback, all up. On failure the pair is removed.
pub(crate) fn attach(bridge: &Bridge, veth: &Veth) -> Result<()> {
    let (bridge, veth) = (bridge.clone(), veth.clone());
    let ns = File::open(&veth.netns).map_err(Error::io("opening", &veth.netns))?;
    run(move |host| async move {
        // Before entering the container's namespace: /proc/sys/net is the opener's.
        let bridge_index = ensure_bridge(&host, &bridge).await?;
        // The container end is made inside the container's namespace under its final name;
        // the peer (host end) stays in the daemon's.
        let pair = LinkVeth::new(&veth.ifname, &veth.host_veth).address(veth.mac.to_vec()).setns_by_fd(ns.as_raw_fd()).build();
        host.link().add(pair).execute().await.map_err(netlink_error("creating the veth pair", &veth.host_veth))?;
        let configured = async {
            let port = LinkUnspec::new_with_name(&veth.host_veth).controller(bridge_index).up().build();
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

/// The container's side, from inside its namespace: loopback up, address, link up, route.
async fn configure(inner: &Handle, veth: &Veth) -> Result<()> {
    let lo = LinkUnspec::new_with_name("lo").up().build();
    inner.link().set(lo).execute().await.map_err(netlink_error("bringing up", "lo"))?;
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

async fn delete(handle: &Handle, name: &str) -> Result<()> {
    match handle.link().del_with_message(LinkUnspec::new_with_name(name).build()).execute().await {
        Err(e) if !is_errno(&e, nix::errno::Errno::ENODEV) => Err(netlink_error("deleting", name)(e)),
        _ => Ok(()),
    }
}

/// Deletes links of the daemon's namespace by name (a veth's peer goes with it); missing
/// ones are not an error. Every link is tried; the first error is returned.
pub(crate) fn delete_links(names: Vec<String>) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    run(move |host| async move {
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
pub(crate) fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

/// `aa:bb:…` as inspect shows it.
pub(crate) fn mac_string(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}
