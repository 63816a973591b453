//! The published-port map elements of Palisade's nftables table, added and deleted in-process
//! over one netlink socket to nf_tables that stays open for the daemon's life.
//!
//! Why not `nft`: each `nft` run costs a process, a cache dump of the table and, after a
//! deletion, an RCU grace period when it closes its socket (the kernel flushes the deferred
//! destruction of the deleted elements on `NETLINK_URELEASE`). A container start and stop
//! paid that twice. On a socket that stays open the deferred work runs in the background.
//!
//! Each change is one nf_tables transaction (`BATCH_BEGIN`, the element messages, each with
//! `NLM_F_ACK`, `BATCH_END`): all of it applies or none. The table, its maps and its rules are
//! still written by `nft` (see [`crate::firewall`]), which also reads what is written here.
//!
//! Key and data layout: nft registers are 32-bit, so each field of a concatenated key is
//! padded to a multiple of four bytes (`ipv4_addr` 4, `inet_proto` 1 + 3, `inet_service`
//! 2 + 2, network byte order); a map's data is the field unpadded.

use std::os::fd::AsFd as _;
use std::sync::Mutex;
use std::time::Duration;

use netlink_packet_core::{NetlinkBuffer, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST};
use netlink_packet_netfilter::nftables::{DataAttribute, ListAttribute, NfTablesMessage, SetElementAttribute, SetElementList, SetElementMessage};
use netlink_packet_netfilter::none::ControlMessage;
use netlink_packet_netfilter::{NetfilterHeader, NetfilterMessage, NetfilterProtoFamily};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};
use nix::sys::socket::{setsockopt, sockopt::ReceiveTimeout};
use nix::sys::time::TimeVal;

use crate::error::{Error, Result};
use crate::firewall::{map_names, Published, TABLE};

/// `NFNL_SUBSYS_NFTABLES`: the subsystem a batch is addressed to.
const NFNL_SUBSYS_NFTABLES: u16 = 10;
/// How long to wait for the kernel's acknowledgements (it answers at once; this only bounds a
/// daemon bug).
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Adds or deletes elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Add,
    Delete,
}

/// The socket, and the sequence number of the next message. Invariant: only the holder of
/// the lock sends, and it reads every acknowledgement of its batch before letting go.
pub(crate) struct PortMaps {
    socket: Mutex<(Socket, u32)>,
}

impl std::fmt::Debug for PortMaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PortMaps")
    }
}

fn socket_error(op: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::Netlink { op, what: "the nf_tables socket".into(), message: e.to_string() }
}

impl PortMaps {
    /// Opens the socket in the calling thread's network namespace (the daemon's).
    pub(crate) fn open() -> Result<Self> {
        let mut socket = Socket::new(NETLINK_NETFILTER).map_err(socket_error("opening"))?;
        socket.bind_auto().map_err(socket_error("binding"))?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(socket_error("connecting"))?;
        let timeout = TimeVal::new(ACK_TIMEOUT.as_secs().try_into().unwrap_or(5), 0);
        setsockopt(&socket.as_fd(), ReceiveTimeout, &timeout).map_err(|e| socket_error("setting a timeout on")(e.into()))?;
        Ok(Self { socket: Mutex::new((socket, 1)) })
    }

    /// Adds or deletes `ports`' elements in one transaction. Deleting an element that is not
    /// there is not an error (a table rebuild may have dropped it already).
    pub(crate) fn change(&self, change: Change, ports: &[Published]) -> Result<()> {
        if ports.is_empty() {
            return Ok(());
        }
        let mut guard = self.socket.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (socket, next_seq) = &mut *guard;
        let first = *next_seq;
        let messages = batch(change, ports, first);
        let elements = messages.len() - 2;
        *next_seq = first.wrapping_add(u32::try_from(messages.len()).unwrap_or(u32::MAX));
        let mut wire = Vec::new();
        for mut message in messages {
            message.finalize();
            let start = wire.len();
            wire.resize(start + message.buffer_len(), 0);
            message.serialize(&mut wire[start..]);
        }
        socket.send(&wire, 0).map_err(socket_error("writing to"))?;
        let gone = |errno: i32| change == Change::Delete && errno == nix::errno::Errno::ENOENT as i32;
        match read_acks(socket, first, elements)?.into_iter().find(|&errno| errno != 0 && !gone(errno)) {
            None => Ok(()),
            Some(errno) => Err(Error::Netlink {
                op: if change == Change::Add { "publishing ports in" } else { "releasing ports in" },
                what: format!("nftables table ip {TABLE}"),
                message: std::io::Error::from_raw_os_error(errno).to_string(),
            }),
        }
    }
}

/// The kernel's answer to each of the `count` element messages numbered after `first` (the
/// batch's begin): an errno, 0 when done. Replies to earlier batches are skipped; an error for
/// the batch itself is returned as such.
fn read_acks(socket: &Socket, first: u32, count: usize) -> Result<Vec<i32>> {
    let table_error = |errno: i32| Error::Netlink { op: "changing", what: format!("nftables table ip {TABLE}"), message: std::io::Error::from_raw_os_error(errno).to_string() };
    let mut errnos = Vec::with_capacity(count);
    let mut buffer = vec![0u8; 64 * 1024];
    while errnos.len() < count {
        let len = socket.recv(&mut &mut buffer[..], 0).map_err(socket_error("reading from"))?;
        let mut offset = 0;
        while offset < len {
            let frame = &buffer[offset..len];
            let length = NetlinkBuffer::new(frame).length() as usize;
            if length == 0 || length > frame.len() {
                return Err(Error::Netlink { op: "reading", what: "the nf_tables socket".into(), message: "a truncated reply".into() });
            }
            offset += (length + 3) & !3;
            let Ok(reply) = NetlinkMessage::<NetfilterMessage>::deserialize(&frame[..length]) else { continue };
            let index = reply.header.sequence_number.wrapping_sub(first) as usize;
            let NetlinkPayload::Error(e) = reply.payload else { continue };
            let errno = e.code.map_or(0, |c| -c.get());
            match index {
                0 => return Err(table_error(errno)),
                i if i <= count => errnos.push(errno),
                _ => {} // an earlier batch's
            }
        }
    }
    Ok(errnos)
}

fn header(family: NetfilterProtoFamily, res_id: u16) -> NetfilterHeader {
    NetfilterHeader::new(family, 0, res_id)
}

/// `BATCH_BEGIN`, two element messages per port (its address map and its port map),
/// `BATCH_END`, numbered from `first`.
fn batch(change: Change, ports: &[Published], first: u32) -> Vec<NetlinkMessage<NetfilterMessage>> {
    let control = |m: ControlMessage| NetlinkMessage::from(NetfilterMessage::new(header(NetfilterProtoFamily::Unspec, NFNL_SUBSYS_NFTABLES), m));
    let mut out = vec![control(ControlMessage::BatchBegin)];
    for p in ports {
        let [addr_map, port_map] = map_names(p);
        let key = key(p);
        for (map, data) in [(addr_map, p.container_ip.octets().to_vec()), (port_map, p.binding.container.port.to_be_bytes().to_vec())] {
            let mut element = vec![SetElementAttribute::Key(DataAttribute::Value(key.clone()))];
            if change == Change::Add {
                element.push(SetElementAttribute::Data(DataAttribute::Value(data)));
            }
            let attributes = vec![
                SetElementList::Table(TABLE.to_owned()),
                SetElementList::Set(map.to_owned()),
                SetElementList::Elements(vec![ListAttribute::Element(element)]),
            ];
            let body = SetElementMessage { attributes };
            let inner = if change == Change::Add { NfTablesMessage::NewSetElement(body) } else { NfTablesMessage::DeleteSetElement(body) };
            let mut message = NetlinkMessage::from(NetfilterMessage::new(header(NetfilterProtoFamily::IPv4, 0), inner));
            message.header.flags = NLM_F_REQUEST | NLM_F_ACK | if change == Change::Add { NLM_F_CREATE } else { 0 };
            out.push(message);
        }
    }
    out.push(control(ControlMessage::BatchEnd));
    for (i, message) in out.iter_mut().enumerate() {
        message.header.sequence_number = first.wrapping_add(u32::try_from(i).unwrap_or(u32::MAX));
        if message.header.flags == 0 {
            message.header.flags = NLM_F_REQUEST;
        }
    }
    out
}

/// The concatenated key: `[address .] protocol . port`, each field padded to 32 bits.
fn key(p: &Published) -> Vec<u8> {
    let b = &p.binding;
    let mut key = Vec::with_capacity(12);
    if let Some(ip) = b.host_ip {
        key.extend(ip.octets());
    }
    key.extend([b.container.protocol.number(), 0, 0, 0]);
    key.extend(b.host_port.to_be_bytes());
    key.extend([0, 0]);
    key
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::path::Path;
    use std::process::Command;

    use super::*;
    use crate::firewall::{self, tests::net};
    use crate::netns;
    use crate::ports::{ContainerPort, PortBinding};

    fn published(spec: (&str, &str, &str), container_ip: [u8; 4]) -> Published {
        let (container, host_ip, host_port) = spec;
        let binding = PortBinding::parse(ContainerPort::parse(container).unwrap(), host_ip, host_port).unwrap();
        Published { binding, container_ip: Ipv4Addr::from(container_ip) }
    }

    /// `nft list map ip palisade NAME` as the real nft prints it, inside the namespace.
    fn list(ns: &Path, map: &str) -> String {
        let out = Command::new("nsenter").arg(format!("--net={}", ns.display())).args(["nft", "list", "map", "ip", TABLE, map]).output().expect("nsenter (util-linux) and nft (nftables) are installed");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn nft_reads_the_elements_written_here_and_elements_nft_wrote_are_deleted_here() {
        let dir = tempfile::tempdir().unwrap();
        let ns = dir.path().join("ns");
        netns::create(&ns).unwrap();
        let at = published(("80/tcp", "127.0.0.1", "8080"), [10, 1, 0, 2]);
        let any = published(("53/udp", "", "5353"), [10, 1, 0, 3]);
        let by_nft = published(("443/tcp", "127.0.0.1", "8443"), [10, 1, 0, 4]);
        let (a, b, c) = (at.clone(), any.clone(), by_nft.clone());
        // All in the namespace: nft's table (with one element of its own), then this socket.
        let maps = netns::run_in(&ns, move || {
            firewall::apply(&[&net("pa", "10.1.0.0/24", false)], &[c])?;
            let maps = PortMaps::open()?;
            maps.change(Change::Add, &[a, b])?;
            Ok(maps)
        })
        .unwrap();
        let at_addr = list(&ns, "published_at_addr");
        assert!(at_addr.contains("127.0.0.1 . tcp . 8080 : 10.1.0.2"), "{at_addr}");
        assert!(at_addr.contains("127.0.0.1 . tcp . 8443 : 10.1.0.4"), "{at_addr}");
        assert!(list(&ns, "published_at_port").contains("127.0.0.1 . tcp . 8080 : 80"));
        assert!(list(&ns, "published_any_addr").contains("udp . 5353 : 10.1.0.3"));
        assert!(list(&ns, "published_any_port").contains("udp . 5353 : 53"));

        maps.change(Change::Delete, &[at.clone(), by_nft]).unwrap();
        let at_addr = list(&ns, "published_at_addr");
        assert!(!at_addr.contains("8080") && !at_addr.contains("8443"), "{at_addr}");
        assert!(!list(&ns, "published_at_port").contains("8080"));
        assert!(list(&ns, "published_any_addr").contains("udp . 5353"), "only the deleted ports go");
        // Releasing what is gone already is not an error; a batch the kernel refuses is one.
        maps.change(Change::Delete, &[at]).unwrap();
        netns::run_in(&ns, || firewall::apply(&[], &[])).unwrap();
        let err = maps.change(Change::Add, &[any]).unwrap_err().to_string();
        assert!(err.contains("ip palisade") && err.contains("No such file"), "{err}");
        drop(maps);
        netns::remove(&ns).unwrap();
    }
}
