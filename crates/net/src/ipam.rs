//! Address management: free subnets for new networks, free addresses for endpoints.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::network::Subnet;

/// The first free address of `subnet` (its `ip_range` if set) not in `used`.
pub(crate) fn allocate(subnet: &Subnet, used: &HashSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    let pool = subnet.ip_range.unwrap_or(subnet.subnet);
    pool.hosts().find(|a| subnet.assignable(*a) && !used.contains(a))
}

/// docker's local pools, in order: 172.17–31.0.0/16, then 192.168.0–240.0/20.
fn candidates() -> impl Iterator<Item = Ipv4Net> {
    let b = (17u8..=31).filter_map(|x| Ipv4Net::new(Ipv4Addr::new(172, x, 0, 0), 16).ok());
    let c = (0u8..16).filter_map(|x| Ipv4Net::new(Ipv4Addr::new(192, 168, x * 16, 0), 20).ok());
    b.chain(c)
}

/// The first candidate subnet overlapping none of `taken`.
pub(crate) fn free_subnet(taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    candidates().find(|c| !taken.iter().any(|t| overlaps(c, t)))
}

/// Whether two subnets share an address.
pub(crate) fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The destinations of the host's IPv4 routes other than the default one
/// (`/proc/net/route`), so that no new network shadows a network the host reaches.
pub(crate) fn host_routes() -> Vec<Ipv4Net> {
    let table = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // The kernel prints these in host byte order of a little-endian u32 read of the
            // network-order bytes.
            let dest = Ipv4Addr::from(dest.swap_bytes());
            let prefix = u8::try_from(mask.count_ones()).ok()?;
            (prefix > 0).then(|| Ipv4Net::new(dest, prefix).ok()).flatten()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_skip_the_gateway_and_used_ones() {
        let s = Subnet::new("10.9.0.0/29", None, None).unwrap();
        let mut used = HashSet::new();
        assert_eq!(allocate(&s, &used), Some(Ipv4Addr::new(10, 9, 0, 2)));
        used.extend((2..=6).map(|i| Ipv4Addr::new(10, 9, 0, i)));
        assert_eq!(allocate(&s, &used), None);
        let taken: Vec<Ipv4Net> = vec!["172.17.0.0/16".parse().unwrap(), "172.18.5.0/24".parse().unwrap()];
        assert_eq!(free_subnet(&taken), Some("172.19.0.0/16".parse().unwrap()));
    }
}
