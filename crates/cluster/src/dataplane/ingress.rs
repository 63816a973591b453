//! The node's side of the routing mesh: it answers on every published port and forwards each
//! connection (or UDP flow) to one of the port's tasks, anywhere in the cluster, over the
//! ingress network.
//!
//! The node's own namespace is attached to the ingress network's bridge (interface
//! [`INTERFACE`], at the node's ingress address), and the table `ip palisade_ingress` there
//! DNATs each published port to a random task's ingress address and target port (prerouting
//! for other hosts, output for the node's own connections to its addresses), then
//! masquerades what leaves through the ingress interface, so that the task's replies come
//! back through this node, which undoes both. The table is replaced whole, in one `nft -f`
//! transaction, whenever the ports or their tasks change. The text is made only of typed
//! addresses, numbers and fixed words.

use std::fmt::Write as _;

use crate::error::{Error, Result};
use crate::overlay::OverlayIngress;

/// The node's interface on the ingress network.
pub(super) const INTERFACE: &str = "palingress";

const TABLE: &str = "palisade_ingress";

/// The ruleset for `ingress` (`None`: no port is published; the table goes).
pub(super) fn rules(ingress: Option<&OverlayIngress>) -> String {
    let mut text = format!("table ip {TABLE}\ndelete table ip {TABLE}\n");
    let Some(ingress) = ingress else { return text };
    let mut forwards = String::new();
    for port in ingress.ports.iter().filter(|p| !p.tasks.is_empty() && matches!(p.protocol.as_str(), "tcp" | "udp")) {
        let targets: Vec<String> = port.tasks.iter().enumerate().map(|(i, t)| format!("{i} : {t} . {}", port.target)).collect();
        let _ = writeln!(
            forwards,
            "{} dport {} dnat ip to numgen random mod {} map {{ {} }}",
            port.protocol,
            port.published,
            port.tasks.len(),
            targets.join(", ")
        );
    }
    let _ = write!(
        text,
        "table ip {TABLE} {{\n  chain prerouting {{\n    type nat hook prerouting priority -100; policy accept;\n{}  }}\n",
        indent(&forwards, "    ")
    );
    let _ = write!(
        text,
        "  chain output {{\n    type nat hook output priority -100; policy accept;\n{}  }}\n",
        indent(&forwards, "    fib daddr type local ")
    );
    let _ = write!(
        text,
        "  chain postrouting {{\n    type nat hook postrouting priority 100; policy accept;\n    oifname \"{INTERFACE}\" masquerade\n  }}\n}}\n"
    );
    text
}

fn indent(lines: &str, prefix: &str) -> String {
    lines.lines().map(|l| format!("{prefix}{l}\n")).collect()
}

/// Installs `rules` in the daemon's own namespace, with packet forwarding on (the mesh
/// forwards between the underlay and the ingress network).
pub(super) fn install(rules: &str, forwarding: bool) -> Result<()> {
    if forwarding {
        let path = "/proc/sys/net/ipv4/ip_forward";
        std::fs::write(path, "1").map_err(|e| Error::internal(format!("writing {path}"), e))?;
    }
    super::nft(rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::IngressPort;

    #[test]
    fn each_published_port_leads_to_its_running_tasks() {
        let ip = |s: &str| s.parse().unwrap();
        let ingress = OverlayIngress {
            network_id: "ing".into(),
            address: "10.0.0.5/24".parse().unwrap(),
            ports: vec![
                IngressPort { protocol: "tcp".into(), published: 8080, target: 80, tasks: vec![ip("10.0.0.3"), ip("10.0.0.4")] },
                IngressPort { protocol: "udp".into(), published: 5353, target: 53, tasks: vec![ip("10.0.0.6")] },
                IngressPort { protocol: "tcp".into(), published: 9090, target: 90, tasks: Vec::new() },
            ],
        };
        let text = rules(Some(&ingress));
        let to_web = "tcp dport 8080 dnat ip to numgen random mod 2 map { 0 : 10.0.0.3 . 80, 1 : 10.0.0.4 . 80 }";
        assert!(text.contains(&format!("    {to_web}\n")), "prerouting: {text}");
        assert!(text.contains(&format!("    fib daddr type local {to_web}\n")), "output: {text}");
        assert!(text.contains("udp dport 5353 dnat ip to numgen random mod 1 map { 0 : 10.0.0.6 . 53 }"), "{text}");
        assert!(!text.contains("9090"), "a port without running tasks is not forwarded: {text}");
        assert!(text.contains("oifname \"palingress\" masquerade"), "{text}");
        assert_eq!(rules(None), "table ip palisade_ingress\ndelete table ip palisade_ingress\n", "no ports: the table goes");
    }
}
