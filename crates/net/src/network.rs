//! Network records: what `docker network create` asked for, validated, persisted one JSON
//! file per network under `<net-root>/networks/<id>.json`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A network's driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// A Linux bridge.
    Bridge,
    /// The host's namespace (`--network host`).
    Host,
    /// No network (`--network none`).
    Null,
}

impl Driver {
    /// docker's name of the driver.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bridge => "bridge",
            Self::Host => "host",
            Self::Null => "null",
        }
    }
}

/// The addressing of a bridge network. Invariants (checked by [`Subnet::new`]): `subnet` has
/// no host bits and room for at least two hosts; `gateway` and `ip_range` are inside it and
/// the gateway is neither its network nor its broadcast address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// The subnet.
    pub subnet: Ipv4Net,
    /// The bridge's address (unused on internal networks, which have no way out).
    pub gateway: Ipv4Addr,
    /// Where container addresses are allocated from (default: the whole subnet).
    pub ip_range: Option<Ipv4Net>,
}

impl Subnet {
    /// Parses and checks `--subnet`, `--gateway`, `--ip-range`.
    pub fn new(subnet: &str, gateway: Option<&str>, ip_range: Option<&str>) -> Result<Self> {
        let bad = |m: String| Error::InvalidArgument(m);
        if subnet.contains(':') {
            return Err(bad(format!("invalid subnet {subnet}: IPv6 networks are not supported by Palisade")));
        }
        let net: Ipv4Net = subnet.parse().map_err(|_| bad(format!("invalid subnet {subnet}: not an IPv4 CIDR such as 10.10.0.0/24")))?;
        if net.trunc() != net {
            return Err(bad(format!("invalid subnet {subnet}: it has host bits set (did you mean {}?)", net.trunc())));
        }
        if net.prefix_len() > 30 {
            return Err(bad(format!("invalid subnet {subnet}: too small, the prefix must be /30 or shorter")));
        }
        let usable = |a: Ipv4Addr| net.contains(&a) && a != net.network() && a != net.broadcast();
        let gateway = match gateway.filter(|g| !g.is_empty()) {
            Some(g) => {
                let a: Ipv4Addr = g.parse().map_err(|_| bad(format!("invalid gateway {g}: not an IPv4 address")))?;
                if !usable(a) {
                    return Err(bad(format!("invalid gateway {g}: not a host address of subnet {net}")));
                }
                a
            }
            None => net.hosts().next().ok_or_else(|| bad(format!("subnet {net} has no host addresses")))?,
        };
        let ip_range = match ip_range.filter(|r| !r.is_empty()) {
            Some(r) => {
                let range: Ipv4Net = r.parse().map_err(|_| bad(format!("invalid ip-range {r}: not an IPv4 CIDR")))?;
                if !net.contains(&range) {
                    return Err(bad(format!("invalid ip-range {r}: not inside subnet {net}")));
                }
                Some(range.trunc())
            }
            None => None,
        };
        Ok(Self { subnet: net, gateway, ip_range })
    }

    /// Whether `a` may be given to a container.
    pub fn assignable(&self, a: Ipv4Addr) -> bool {
        self.subnet.contains(&a) && a != self.subnet.network() && a != self.subnet.broadcast() && a != self.gateway
    }
}

/// One network.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Network {
    /// 64 hex digits.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Driver.
    pub driver: Driver,
    /// RFC 3339.
    pub created: String,
    /// The Linux bridge (bridge networks only).
    pub bridge: Option<String>,
    /// Addressing (bridge networks only).
    pub subnet: Option<Subnet>,
    /// No way out: no gateway route, no masquerade, no forwarded DNS.
    pub internal: bool,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// `--opt`.
    pub options: BTreeMap<String, String>,
    /// The default `bridge` network (no name resolution between its containers; isolated
    /// ports unless the daemon runs with `--icc`).
    #[serde(default)]
    pub default_bridge: bool,
}

impl Network {
    /// Whether the network is one of the three built-in ones (which cannot be removed).
    pub fn predefined(&self) -> bool {
        self.default_bridge || self.driver != Driver::Bridge
    }

    /// Whether containers on it get the embedded DNS server.
    pub fn has_dns(&self) -> bool {
        self.driver == Driver::Bridge && !self.default_bridge
    }

    pub(crate) fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(format!("{}.json", self.id));
        let tmp = dir.join(format!(".{}.json", self.id));
        let json = serde_json::to_vec_pretty(self).map_err(|source| Error::Parse { what: "a network record".into(), source })?;
        std::fs::write(&tmp, json).map_err(Error::io("writing", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(Error::io("renaming", &path))
    }

    pub(crate) fn delete(&self, dir: &Path) -> Result<()> {
        let path = dir.join(format!("{}.json", self.id));
        std::fs::remove_file(&path).map_err(Error::io("removing", &path))
    }

    pub(crate) fn load_all(dir: &Path) -> Result<Vec<Self>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(Error::io("reading", dir))? {
            let path = entry.map_err(Error::io("reading", dir))?.path();
            if path.extension().is_some_and(|e| e == "json") && !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                let bytes = std::fs::read(&path).map_err(Error::io("reading", &path))?;
                out.push(serde_json::from_slice(&bytes).map_err(|source| Error::Parse { what: path.display().to_string(), source })?);
            }
        }
        Ok(out)
    }
}

/// A name docker accepts for a network: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric()) && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// A new random id (64 hex digits).
pub(crate) fn random_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_are_checked_before_anything_is_made() {
        let s = Subnet::new("10.20.0.0/24", None, None).unwrap();
        assert_eq!(s.gateway, Ipv4Addr::new(10, 20, 0, 1));
        assert!(!s.assignable(s.gateway) && s.assignable(Ipv4Addr::new(10, 20, 0, 2)));
        let err = |s: &str, g: Option<&str>, r: Option<&str>| Subnet::new(s, g, r).unwrap_err().to_string();
        assert!(err("10.20.0.5/24", None, None).contains("host bits"));
        assert!(err("bogus", None, None).contains("invalid subnet bogus"));
        assert!(err("10.0.0.0/31", None, None).contains("too small"));
        assert!(err("fd00::/64", None, None).contains("IPv6"));
        assert!(err("10.20.0.0/24", Some("10.30.0.1"), None).contains("invalid gateway"));
        assert!(err("10.20.0.0/24", Some("10.20.0.255"), None).contains("invalid gateway"));
        assert!(err("10.20.0.0/24", None, Some("10.30.0.0/28")).contains("invalid ip-range"));
        assert!(valid_name("my-net.1") && !valid_name("-x") && !valid_name("a b") && !valid_name(""));
    }
}
