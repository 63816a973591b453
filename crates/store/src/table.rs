//! The tables of the cluster store.

use serde::{Deserialize, Serialize};

/// The tables of the cluster store. Serialized as [`Table::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Table {
    /// The cluster object (one record).
    Cluster,
    /// Nodes by node ID.
    Nodes,
    /// Secrets by ID.
    Secrets,
    /// Configs by ID.
    Configs,
    /// Services by ID.
    Services,
    /// Tasks by ID.
    Tasks,
    /// Networks by ID.
    Networks,
    /// The cluster's admission policy (one record).
    Policies,
    /// Admission decisions worth keeping (refusals, audits, policy changes), oldest first.
    #[serde(rename = "policy_log")]
    PolicyLog,
}

impl Table {
    /// Every table, in a fixed order.
    pub const ALL: [Table; 9] = [
        Self::Cluster,
        Self::Nodes,
        Self::Secrets,
        Self::Configs,
        Self::Services,
        Self::Tasks,
        Self::Networks,
        Self::Policies,
        Self::PolicyLog,
    ];

    /// The table's name: lowercase plural (`"cluster"`, `"nodes"`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Cluster => "cluster",
            Self::Nodes => "nodes",
            Self::Secrets => "secrets",
            Self::Configs => "configs",
            Self::Services => "services",
            Self::Tasks => "tasks",
            Self::Networks => "networks",
            Self::Policies => "policies",
            Self::PolicyLog => "policy_log",
        }
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
