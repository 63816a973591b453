//! The tables of the cluster store.

use serde::{Deserialize, Serialize};

/// The tables of the cluster store. Serialized as [`Table::name`].
///
/// Invariant: [`Table::ALL`] lists every variant once and [`Table::name`] is the variant's serde
/// name (checked below); the state machine keeps each table in the file table `sm_<name>`
/// (checked in `state_machine`). A new variant goes at the end of `ALL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
    PolicyLog,
    /// The trusted registry's users by name (`palisade-accounts`).
    AccountUsers,
    /// The trusted registry's organisations by name (`palisade-accounts`).
    AccountOrganisations,
    /// The trusted registry's teams by `organisation/team` (`palisade-accounts`).
    AccountTeams,
    /// The trusted registry's repository records by repository name (`palisade-accounts`).
    AccountRepositories,
}

impl Table {
    /// Every table, in a fixed order.
    pub const ALL: [Table; 13] = [
        Self::Cluster,
        Self::Nodes,
        Self::Secrets,
        Self::Configs,
        Self::Services,
        Self::Tasks,
        Self::Networks,
        Self::Policies,
        Self::PolicyLog,
        Self::AccountUsers,
        Self::AccountOrganisations,
        Self::AccountTeams,
        Self::AccountRepositories,
    ];

    /// The table's name: lowercase, words joined by `_` (`"cluster"`, `"policy_log"`, …).
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
            Self::AccountUsers => "account_users",
            Self::AccountOrganisations => "account_organisations",
            Self::AccountTeams => "account_teams",
            Self::AccountRepositories => "account_repositories",
        }
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn every_table_is_listed_once_and_serializes_as_its_name() {
        let mut names = std::collections::BTreeSet::new();
        for table in Table::ALL {
            assert!(names.insert(table.name()), "{table} is listed twice");
            assert_eq!(serde_json::to_value(table).unwrap(), serde_json::json!(table.name()));
            assert_eq!(serde_json::from_value::<Table>(serde_json::json!(table.name())).unwrap(), table);
        }
    }
}
