//! Linux capabilities: docker's default set and `--cap-add`/`--cap-drop` arithmetic.

use std::collections::BTreeSet;
use std::str::FromStr;

use oci_spec::runtime::{Capabilities, Capability};

use crate::error::{Error, Result};

/// Every capability with its bit number (capabilities(7)).
pub const ALL_CAPABILITIES: &[(&str, u32)] = &[
    ("CAP_CHOWN", 0),
    ("CAP_DAC_OVERRIDE", 1),
    ("CAP_DAC_READ_SEARCH", 2),
    ("CAP_FOWNER", 3),
    ("CAP_FSETID", 4),
    ("CAP_KILL", 5),
    ("CAP_SETGID", 6),
    ("CAP_SETUID", 7),
    ("CAP_SETPCAP", 8),
    ("CAP_LINUX_IMMUTABLE", 9),
    ("CAP_NET_BIND_SERVICE", 10),
    ("CAP_NET_BROADCAST", 11),
    ("CAP_NET_ADMIN", 12),
    ("CAP_NET_RAW", 13),
    ("CAP_IPC_LOCK", 14),
    ("CAP_IPC_OWNER", 15),
    ("CAP_SYS_MODULE", 16),
    ("CAP_SYS_RAWIO", 17),
    ("CAP_SYS_CHROOT", 18),
    ("CAP_SYS_PTRACE", 19),
    ("CAP_SYS_PACCT", 20),
    ("CAP_SYS_ADMIN", 21),
    ("CAP_SYS_BOOT", 22),
    ("CAP_SYS_NICE", 23),
    ("CAP_SYS_RESOURCE", 24),
    ("CAP_SYS_TIME", 25),
    ("CAP_SYS_TTY_CONFIG", 26),
    ("CAP_MKNOD", 27),
    ("CAP_LEASE", 28),
    ("CAP_AUDIT_WRITE", 29),
    ("CAP_AUDIT_CONTROL", 30),
    ("CAP_SETFCAP", 31),
    ("CAP_MAC_OVERRIDE", 32),
    ("CAP_MAC_ADMIN", 33),
    ("CAP_SYSLOG", 34),
    ("CAP_WAKE_ALARM", 35),
    ("CAP_BLOCK_SUSPEND", 36),
    ("CAP_AUDIT_READ", 37),
    ("CAP_PERFMON", 38),
    ("CAP_BPF", 39),
    ("CAP_CHECKPOINT_RESTORE", 40),
];

/// Docker's 14 default capabilities (moby `oci/caps/defaults.go`); as a `CapEff` mask this is
/// `0x00000000a80425fb`.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Bit mask of a set of `CAP_*` names, as `/proc/<pid>/status` prints it.
pub fn capability_mask<'a>(names: impl IntoIterator<Item = &'a str>) -> u64 {
    names
        .into_iter()
        .filter_map(|n| ALL_CAPABILITIES.iter().find(|(c, _)| *c == n))
        .fold(0, |m, (_, bit)| m | (1u64 << bit))
}

/// Upper-cases and adds the `CAP_` prefix (`net_admin` → `CAP_NET_ADMIN`); `ALL` stays.
fn normalize(name: &str, option: &'static str) -> Result<String> {
    let up = name.trim().to_ascii_uppercase();
    if up == "ALL" {
        return Ok(up);
    }
    let full = if up.starts_with("CAP_") { up } else { format!("CAP_{up}") };
    if ALL_CAPABILITIES.iter().any(|(c, _)| *c == full) {
        Ok(full)
    } else {
        Err(Error::InvalidOption { option, reason: format!("unknown capability: {name:?}") })
    }
}

/// Applies `cap_add`/`cap_drop` to docker's defaults with docker's rules: `--cap-add ALL`
/// gives every capability the kernel knows except the dropped ones; `--cap-drop ALL` keeps
/// only the added ones; otherwise drop from the defaults, then add.
pub fn effective_capabilities(cap_add: &[String], cap_drop: &[String], cap_last_cap: u32) -> Result<BTreeSet<String>> {
    let add = cap_add.iter().map(|c| normalize(c, "cap-add")).collect::<Result<Vec<_>>>()?;
    let drop = cap_drop.iter().map(|c| normalize(c, "cap-drop")).collect::<Result<Vec<_>>>()?;
    let known: Vec<String> =
        ALL_CAPABILITIES.iter().filter(|(_, b)| *b <= cap_last_cap).map(|(c, _)| (*c).to_owned()).collect();
    let mut caps: BTreeSet<String> = if add.iter().any(|c| c == "ALL") {
        known.iter().filter(|c| !drop.contains(c)).cloned().collect()
    } else if drop.iter().any(|c| c == "ALL") {
        add.into_iter().collect()
    } else {
        let mut s: BTreeSet<String> =
            DEFAULT_CAPABILITIES.iter().map(|c| (*c).to_owned()).filter(|c| !drop.contains(c)).collect();
        s.extend(add);
        s
    };
    caps.retain(|c| c != "ALL" && known.contains(c));
    Ok(caps)
}

/// Converts `CAP_*` names into oci-spec capabilities.
pub(crate) fn to_oci(names: &BTreeSet<String>) -> Result<Capabilities> {
    names
        .iter()
        .map(|n| {
            Capability::from_str(n.trim_start_matches("CAP_"))
                .map_err(|_| Error::Unsupported(format!("capability {n} unknown to oci-spec")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn defaults_give_docker_capeff_mask() {
        let caps = effective_capabilities(&[], &[], 40).unwrap();
        assert_eq!(caps.len(), 14);
        assert_eq!(capability_mask(caps.iter().map(String::as_str)), 0xa80425fb);
        assert_eq!(to_oci(&caps).unwrap().len(), 14);
    }

    #[test]
    fn add_and_drop_follow_docker_rules() {
        let c = effective_capabilities(&s(&["net_admin"]), &s(&["CAP_CHOWN", "mknod"]), 40).unwrap();
        assert!(c.contains("CAP_NET_ADMIN") && !c.contains("CAP_CHOWN") && !c.contains("CAP_MKNOD"));
        assert!(effective_capabilities(&[], &s(&["ALL"]), 40).unwrap().is_empty());
        assert_eq!(effective_capabilities(&s(&["kill"]), &s(&["all"]), 40).unwrap(), ["CAP_KILL".to_owned()].into());
        let all = effective_capabilities(&s(&["ALL"]), &s(&["SYS_ADMIN"]), 40).unwrap();
        assert_eq!(all.len(), 40);
        assert_eq!(effective_capabilities(&s(&["ALL"]), &[], 37).unwrap().len(), 38);
        assert!(matches!(effective_capabilities(&s(&["CAP_BOGUS"]), &[], 40), Err(Error::InvalidOption { .. })));
    }
}
