//! Published ports (`-p [IP:]HOST:CONTAINER[/PROTO]`, `-P`): what was asked, checked.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `tcp` or `udp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// `tcp` or `udp`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }

    /// The IP protocol number (`meta l4proto`): 6 or 17.
    pub fn number(self) -> u8 {
        match self {
            Self::Tcp => 6,
            Self::Udp => 17,
        }
    }
}

/// A container port as the Engine API keys it: `80/tcp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContainerPort {
    /// The port inside the container (non-zero).
    pub port: u16,
    /// Its protocol.
    pub protocol: Protocol,
}

impl ContainerPort {
    /// Parses `80`, `80/tcp`, `53/udp`.
    pub fn parse(key: &str) -> Result<Self> {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let protocol = match proto {
            "tcp" | "" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            other => return Err(Error::InvalidArgument(format!("invalid proto: {other} (Palisade publishes tcp and udp ports)"))),
        };
        let port: u16 = port.parse().ok().filter(|p| *p != 0).ok_or_else(|| Error::InvalidArgument(format!("invalid containerPort: {port}")))?;
        Ok(Self { port, protocol })
    }

    /// `80/tcp`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.port, self.protocol.name())
    }
}

/// One published port. `host_port` 0 means "pick a free one" until the container starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    /// The container side.
    pub container: ContainerPort,
    /// Host address to bind (`None`: every address of the host).
    pub host_ip: Option<Ipv4Addr>,
    /// Host port.
    pub host_port: u16,
}

impl PortBinding {
    /// Parses the Engine API's `{"HostIp": "", "HostPort": "8080"}` for `container`.
    pub fn parse(container: ContainerPort, host_ip: &str, host_port: &str) -> Result<Self> {
        let host_ip = match host_ip {
            "" | "0.0.0.0" => None,
            ip => match ip.parse::<Ipv4Addr>() {
                Ok(a) => Some(a),
                Err(_) if ip.contains(':') => {
                    return Err(Error::InvalidArgument(format!("invalid host IP {ip}: IPv6 is not supported by Palisade")))
                }
                Err(_) => return Err(Error::InvalidArgument(format!("invalid IP address: {ip}"))),
            },
        };
        let host_port = match host_port {
            "" => 0,
            p if p.contains('-') => {
                return Err(Error::InvalidArgument(format!("host port ranges ({p}) are not supported by Palisade")))
            }
            p => p.parse().map_err(|_| Error::InvalidArgument(format!("invalid hostPort: {p}")))?,
        };
        Ok(Self { container, host_ip, host_port })
    }

    /// Whether two bindings would take the same host port.
    pub(crate) fn clashes(&self, other: &Self) -> bool {
        self.host_port == other.host_port
            && self.container.protocol == other.container.protocol
            && (self.host_ip.is_none() || other.host_ip.is_none() || self.host_ip == other.host_ip)
    }

    /// Picks a free host port when none was given (the kernel's choice for an ephemeral
    /// socket on the host address).
    pub(crate) fn resolve_port(&mut self) -> Result<()> {
        if self.host_port != 0 {
            return Ok(());
        }
        let ip = self.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let port = match self.container.protocol {
            Protocol::Tcp => std::net::TcpListener::bind((ip, 0)).and_then(|l| l.local_addr()),
            Protocol::Udp => std::net::UdpSocket::bind((ip, 0)).and_then(|s| s.local_addr()),
        }
        .map_err(Error::io("finding a free port on", ip.to_string()))?
        .port();
        self.host_port = port;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs_parse_as_docker_sends_them() {
        let c = ContainerPort::parse("80/tcp").unwrap();
        let b = PortBinding::parse(c, "127.0.0.1", "8080").unwrap();
        assert_eq!((b.host_ip, b.host_port), (Some(Ipv4Addr::LOCALHOST), 8080));
        assert_eq!(ContainerPort::parse("53/udp").unwrap().protocol, Protocol::Udp);
        assert!(ContainerPort::parse("80/sctp").is_err());
        assert!(ContainerPort::parse("0/tcp").is_err());
        assert!(PortBinding::parse(c, "::1", "80").unwrap_err().to_string().contains("IPv6"));
        assert!(PortBinding::parse(c, "", "99999").is_err());
        let any = PortBinding::parse(c, "", "8080").unwrap();
        assert!(any.clashes(&b) && !PortBinding::parse(c, "127.0.0.2", "8080").unwrap().clashes(&b));
    }
}
