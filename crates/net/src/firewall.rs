//! Palisade's own iptables chain between networks, rebuilt whole (one `iptables-restore
//! --noflush` batch) whenever the set of bridge networks changes. Invariant: `FORWARD` jumps
//! to `PALISADE-FORWARD` first; in it, traffic between two different Palisade bridges, and
//! into or out of an internal network, is dropped before anything else is accepted.

use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::network::Network;

const CHAIN: &str = "PALISADE-FORWARD";

fn tool(program: &str, args: &[&str], stdin: Option<&str>) -> Result<bool> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Tool { program: program.into(), message: format!("{e} (install iptables)") })?;
    if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
        input.write_all(text.as_bytes()).map_err(|e| Error::Tool { program: program.into(), message: e.to_string() })?;
    }
    let out = child.wait_with_output().map_err(|e| Error::Tool { program: program.into(), message: e.to_string() })?;
    if !out.status.success() && stdin.is_some() {
        return Err(Error::Tool { program: program.into(), message: String::from_utf8_lossy(&out.stderr).trim().to_owned() });
    }
    Ok(out.status.success())
}

/// The rules for `networks` (bridge networks only), as an `iptables-restore` batch.
pub(crate) fn rules(networks: &[&Network]) -> String {
    let bridges: Vec<(&str, bool)> =
        networks.iter().filter_map(|n| n.bridge.as_deref().map(|b| (b, n.internal))).collect();
    let mut out = format!("*filter\n:{CHAIN} - [0:0]\n");
    for (a, internal) in &bridges {
        if *internal {
            out.push_str(&format!("-A {CHAIN} -i {a} ! -o {a} -j DROP\n-A {CHAIN} -o {a} ! -i {a} -j DROP\n"));
        }
        for (b, _) in &bridges {
            if a != b {
                out.push_str(&format!("-A {CHAIN} -i {a} -o {b} -j DROP\n"));
            }
        }
    }
    for (a, _) in &bridges {
        out.push_str(&format!("-A {CHAIN} -i {a} -j ACCEPT\n"));
        out.push_str(&format!("-A {CHAIN} -o {a} -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT\n"));
    }
    out.push_str("COMMIT\n");
    out
}

/// Installs the chain for `networks` and makes sure `FORWARD` jumps to it first, with packet
/// forwarding on. With no bridge network at all (`--bridge none` and no user network) the
/// chain is removed and the host's forwarding setting is left as it is.
pub(crate) fn apply(networks: &[&Network]) -> Result<()> {
    if networks.is_empty() {
        if tool("iptables", &["-w", "-C", "FORWARD", "-j", CHAIN], None)? {
            tool("iptables", &["-w", "-D", "FORWARD", "-j", CHAIN], None)?;
        }
        if tool("iptables", &["-w", "-F", CHAIN], None)? {
            tool("iptables", &["-w", "-X", CHAIN], None)?;
        }
        return Ok(());
    }
    enable_forwarding()?;
    tool("iptables-restore", &["--noflush", "-w"], Some(&rules(networks)))?;
    if !tool("iptables", &["-w", "-C", "FORWARD", "-j", CHAIN], None)? {
        tool("iptables", &["-w", "-I", "FORWARD", "1", "-j", CHAIN], None)?;
    }
    Ok(())
}

/// Turns packet forwarding on (masquerading and published ports need it).
fn enable_forwarding() -> Result<()> {
    let path = "/proc/sys/net/ipv4/ip_forward";
    std::fs::write(path, "1").map_err(Error::io("writing", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Driver;

    fn net(bridge: &str, internal: bool) -> Network {
        Network {
            id: bridge.into(),
            name: bridge.into(),
            driver: Driver::Bridge,
            created: String::new(),
            bridge: Some(bridge.into()),
            subnet: None,
            internal,
            labels: Default::default(),
            options: Default::default(),
            default_bridge: false,
        }
    }

    #[test]
    fn bridges_are_cut_from_each_other_and_internal_ones_from_everything() {
        let (a, b) = (net("pa", false), net("pb", true));
        let r = rules(&[&a, &b]);
        assert!(r.contains("-A PALISADE-FORWARD -i pa -o pb -j DROP"), "{r}");
        assert!(r.contains("-A PALISADE-FORWARD -i pb -o pa -j DROP"), "{r}");
        assert!(r.contains("-A PALISADE-FORWARD -i pb ! -o pb -j DROP"), "{r}");
        let drop_at = r.rfind("DROP").unwrap();
        assert!(r.find("ACCEPT").unwrap() > drop_at, "drops come before accepts: {r}");
    }
}
