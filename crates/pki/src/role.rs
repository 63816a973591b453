//! Node roles and their certificate organisational units.

use std::fmt;
use std::str::FromStr;

/// The role a node certificate grants. It is encoded in the certificate's `OU`, so a node's
/// authority is decided by what the CA signed, never by what the node claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// A manager: holds cluster state, serves the cluster port, issues certificates.
    Manager,
    /// A worker: runs tasks, talks only to managers.
    Worker,
}

impl NodeRole {
    /// The certificate `OU` for this role (`swarm-manager` / `swarm-worker`).
    pub fn organizational_unit(self) -> &'static str {
        match self {
            Self::Manager => "swarm-manager",
            Self::Worker => "swarm-worker",
        }
    }

    /// Parses a certificate `OU`.
    pub fn from_organizational_unit(ou: &str) -> Option<Self> {
        match ou {
            "swarm-manager" => Some(Self::Manager),
            "swarm-worker" => Some(Self::Worker),
            _ => None,
        }
    }

    /// The name the Engine API uses (`manager` / `worker`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manager => "manager",
            Self::Worker => "worker",
        }
    }
}

impl fmt::Display for NodeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NodeRole {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "manager" => Ok(Self::Manager),
            "worker" => Ok(Self::Worker),
            other => Err(format!("invalid role '{other}', expected manager or worker")),
        }
    }
}
