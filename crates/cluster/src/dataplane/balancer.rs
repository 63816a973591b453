//! Virtual IPs: in each task's sandbox, connections to a service's VIP are spread over the
//! service's running tasks by nftables DNAT (one random choice per connection, which
//! conntrack then keeps for the connection's life). The kernels Palisade runs on offer no
//! IPVS, so this is the nftables path the issue allows.
//!
//! The table `ip palisade_vip` lives in the sandbox's own namespace, so it only ever touches
//! the task's own connections, and the task cannot change it (it has no `CAP_NET_ADMIN`). It
//! is replaced whole, in one `nft -f` transaction, whenever the services' tasks change.
//! The text is made only of typed addresses and numbers.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{Error, Result};
use crate::overlay::OverlayState;

const TABLE: &str = "palisade_vip";

/// The ruleset for a task on `networks`: one DNAT rule per service VIP there with running
/// tasks (a VIP with none is left alone: connections to it fail as to an absent host).
pub(super) fn rules(state: &OverlayState, networks: &[String]) -> String {
    let mut text = format!("table ip {TABLE}\ndelete table ip {TABLE}\ntable ip {TABLE} {{\n");
    text.push_str("  chain output {\n    type nat hook output priority -100; policy accept;\n");
    let services = state.networks.iter().filter(|n| networks.contains(&n.id)).flat_map(|n| &n.services);
    for service in services {
        let (Some(vip), false) = (service.vip, service.tasks.is_empty()) else { continue };
        let targets: Vec<String> = service.tasks.iter().enumerate().map(|(i, t)| format!("{i} : {t}")).collect();
        let _ = writeln!(text, "    ip daddr {vip} dnat to numgen random mod {} map {{ {} }}", service.tasks.len(), targets.join(", "));
    }
    text.push_str("  }\n}\n");
    text
}

/// Installs `rules` in the namespace at `netns` (`nft -f -` run there).
pub(super) fn install(netns: &Path, rules: &str) -> Result<()> {
    let rules = rules.to_owned();
    // The child inherits the namespace of the thread that spawns it.
    palisade_net::netns::run_in(netns, move || Ok(super::nft(&rules))).map_err(|e| Error::internal("entering a task's namespace", e))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::{OverlayNetwork, OverlayService};

    #[test]
    fn each_vip_with_tasks_is_spread_over_them() {
        let ip = |s: &str| s.parse().unwrap();
        let services = vec![
            OverlayService { names: vec!["web".into()], vip: Some(ip("10.0.1.2")), tasks: vec![ip("10.0.1.3"), ip("10.0.1.4")] },
            OverlayService { names: vec!["idle".into()], vip: Some(ip("10.0.1.5")), tasks: Vec::new() },
            OverlayService { names: vec!["rr".into()], vip: None, tasks: vec![ip("10.0.1.6")] },
        ];
        let network = OverlayNetwork {
            id: "n1".into(),
            name: "front".into(),
            vni: 4097,
            subnet: "10.0.1.0/24".parse().unwrap(),
            gateway: ip("10.0.1.1"),
            keys: Vec::new(),
            peers: Vec::new(),
            attachments: Vec::new(),
            services,
            containers: Vec::new(),
        };
        let state = OverlayState { networks: vec![network], ingress: None };
        let text = rules(&state, &["n1".into()]);
        assert!(text.contains("ip daddr 10.0.1.2 dnat to numgen random mod 2 map { 0 : 10.0.1.3, 1 : 10.0.1.4 }"), "{text}");
        assert!(!text.contains("10.0.1.5"), "no rule for a VIP without tasks: {text}");
        assert!(!text.contains("10.0.1.6"), "no rule for dnsrr: {text}");
        assert!(!rules(&state, &["other".into()]).contains("dnat"), "only the task's networks");
    }
}
