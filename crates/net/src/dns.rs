//! The embedded DNS server (hickory-server), one per container on a user network, listening
//! at 127.0.0.11:53 (udp and tcp) inside the container's network namespace as Docker's does.
//! It answers the names, aliases and short ids of the containers on the networks the asking
//! container shares, and forwards other names to the host's resolvers unless every network
//! of the asking container is internal.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Header, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_server::authority::MessageResponseBuilder;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::ServerFuture;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::netns;

/// Where the server listens inside every container namespace.
pub const DNS_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// How long a forwarded query may take.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(3);

/// TTL of the answers about containers (short: containers come and go).
const TTL: u32 = 10;

/// The names a container may resolve.
pub(crate) trait Directory: Send + Sync + 'static {
    /// Addresses of `name` (lowercase, no trailing dot) on networks `asker` shares; `None`
    /// when no container there has that name.
    fn lookup(&self, asker: &str, name: &str) -> Option<Vec<Ipv4Addr>>;
    /// Whether `asker` may have other names resolved by the host's resolvers.
    fn may_forward(&self, asker: &str) -> bool;
}

struct Handler {
    directory: Arc<dyn Directory>,
    asker: String,
    upstreams: Arc<Vec<SocketAddr>>,
}

impl Handler {
    async fn forward(&self, query: Query) -> Option<Message> {
        let mut message = Message::new();
        message.set_id(rand::random()).set_message_type(MessageType::Query).set_op_code(OpCode::Query).set_recursion_desired(true);
        message.add_query(query);
        let bytes = message.to_vec().ok()?;
        for upstream in self.upstreams.iter() {
            let bind: SocketAddr = if upstream.is_ipv4() { (Ipv4Addr::UNSPECIFIED, 0).into() } else { "[::]:0".parse().ok()? };
            let Ok(socket) = tokio::net::UdpSocket::bind(bind).await else { continue };
            if socket.send_to(&bytes, upstream).await.is_err() {
                continue;
            }
            let mut buf = vec![0u8; 4096];
            if let Ok(Ok((n, from))) = tokio::time::timeout(FORWARD_TIMEOUT, socket.recv_from(&mut buf)).await {
                if from == *upstream {
                    if let Ok(answer) = Message::from_vec(&buf[..n]) {
                        if answer.id() == message.id() {
                            return Some(answer);
                        }
                    }
                }
            }
        }
        None
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler>(&self, request: &Request, mut response: R) -> ResponseInfo {
        let builder = MessageResponseBuilder::from_message_request(request);
        let mut header = Header::response_from_request(request.header());
        header.set_recursion_available(true);
        let Ok(info) = request.request_info() else {
            let m = builder.error_msg(request.header(), ResponseCode::FormErr);
            return response.send_response(m).await.unwrap_or_else(|_| header.into());
        };
        let query = info.query;
        let qname = Name::from(query.name().clone());
        let name = qname.to_ascii().trim_end_matches('.').to_ascii_lowercase();
        if let Some(ips) = self.directory.lookup(&self.asker, &name) {
            header.set_authoritative(true);
            let records: Vec<Record> = if query.query_type() == RecordType::A {
                ips.into_iter().map(|ip| Record::from_rdata(qname.clone(), TTL, RData::A(A(ip)))).collect()
            } else {
                Vec::new()
            };
            let m = builder.build(header, records.iter(), &[], &[], &[]);
            return response.send_response(m).await.unwrap_or_else(|_| header.into());
        }
        let answer = if self.directory.may_forward(&self.asker) {
            self.forward(Query::query(qname, query.query_type())).await
        } else {
            None
        };
        match answer {
            Some(answer) => {
                header.set_response_code(answer.response_code());
                let m = builder.build(header, answer.answers().iter(), &[], &[], &[]);
                response.send_response(m).await.unwrap_or_else(|_| header.into())
            }
            None => {
                let code = if self.directory.may_forward(&self.asker) { ResponseCode::ServFail } else { ResponseCode::NXDomain };
                let m = builder.error_msg(request.header(), code);
                response.send_response(m).await.unwrap_or_else(|_| header.into())
            }
        }
    }
}

/// A running server; stopped on drop.
#[derive(Debug)]
pub(crate) struct DnsServer(JoinHandle<()>);

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the server for container `asker` inside the namespace at `netns` (its loopback must
/// be up), on the daemon's runtime `rt`.
pub(crate) fn serve(netns: &Path, rt: &Handle, directory: Arc<dyn Directory>, asker: String, upstreams: Arc<Vec<SocketAddr>>) -> Result<DnsServer> {
    let address = SocketAddr::from((DNS_ADDRESS, 53));
    let (udp, tcp) = netns::run_in(netns, move || {
        let udp = std::net::UdpSocket::bind(address).map_err(Error::io("binding udp 127.0.0.11:53 in", "the container's namespace"))?;
        let tcp = std::net::TcpListener::bind(address).map_err(Error::io("binding tcp 127.0.0.11:53 in", "the container's namespace"))?;
        udp.set_nonblocking(true).map_err(Error::io("configuring", "the DNS socket"))?;
        tcp.set_nonblocking(true).map_err(Error::io("configuring", "the DNS socket"))?;
        Ok((udp, tcp))
    })?;
    let _in_runtime = rt.enter();
    let udp = tokio::net::UdpSocket::from_std(udp).map_err(Error::io("registering", "the DNS socket"))?;
    let tcp = tokio::net::TcpListener::from_std(tcp).map_err(Error::io("registering", "the DNS socket"))?;
    let mut server = ServerFuture::new(Handler { directory, asker, upstreams });
    server.register_socket(udp);
    server.register_listener(tcp, FORWARD_TIMEOUT);
    Ok(DnsServer(rt.spawn(async move {
        let _ = server.block_until_done().await;
    })))
}

/// The host's resolvers (`nameserver` lines of `/etc/resolv.conf`), port 53.
pub(crate) fn host_resolvers(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// The `resolv.conf` of a container on the default bridge: the host's, without loopback
/// resolvers (unreachable from the container).
pub(crate) fn copied_resolv_conf(host: &str) -> String {
    host.lines()
        .filter(|l| {
            let ns = l.trim().strip_prefix("nameserver").map(str::trim);
            !ns.is_some_and(|a| a.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The `resolv.conf` of a container on a user network: the embedded server, the host's
/// search domains and options.
pub(crate) fn embedded_resolv_conf(host: &str) -> String {
    let mut out = format!("nameserver {DNS_ADDRESS}\n");
    for l in host.lines() {
        let t = l.trim();
        if t.starts_with("search") || t.starts_with("options") {
            out.push_str(t);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_drops_loopback_resolvers() {
        let host = "search example.org\nnameserver 127.0.0.53\nnameserver 192.0.2.1\noptions edns0\n";
        assert_eq!(copied_resolv_conf(host), "search example.org\nnameserver 192.0.2.1\noptions edns0\n");
        assert_eq!(embedded_resolv_conf(host), "nameserver 127.0.0.11\nsearch example.org\noptions edns0\n");
        assert_eq!(host_resolvers(host).len(), 2);
    }
}
