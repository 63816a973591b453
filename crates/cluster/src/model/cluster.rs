//! The cluster object: the one record that holds the cluster's settings and its secrets (CA
//! material, join-token secrets, unlock key).

use std::collections::BTreeMap;
use std::time::Duration;

use palisade_pki::{CaState, CertExpiry, ClusterId, JoinToken, NodeId};
use palisade_store::Table;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Object;
use crate::error::{Error, Result};

/// Key of the cluster object in its table.
pub(crate) const CLUSTER_KEY: &str = "cluster";

/// The cluster. Sealed at rest like every record; it holds the CA key and the join secrets.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct ClusterObject {
    pub(crate) id: ClusterId,
    #[serde(with = "super::timestamp")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "super::timestamp")]
    pub(crate) updated_at: OffsetDateTime,
    pub(crate) spec: ClusterSpec,
    /// Root CA material and any rotation under way.
    pub(crate) ca: CaState,
    /// `SWMTKN-1-…` texts of the current join tokens.
    pub(crate) worker_token: String,
    pub(crate) manager_token: String,
    /// `SWMKEY-1-…` while autolock is on.
    pub(crate) unlock_key: Option<zeroize::Zeroizing<String>>,
    /// Removed nodes, refused until their last certificate would have expired.
    pub(crate) removed: BTreeMap<NodeId, RemovedNode>,
}

impl std::fmt::Debug for ClusterObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterObject").field("id", &self.id).field("spec", &self.spec).finish_non_exhaustive()
    }
}

impl Object for ClusterObject {
    const TABLE: Table = Table::Cluster;
    const KIND: &'static str = "cluster";
    fn key(&self) -> String {
        CLUSTER_KEY.to_owned()
    }
}

impl ClusterObject {
    /// The parsed join tokens (worker, manager).
    pub(crate) fn tokens(&self) -> Result<(JoinToken, JoinToken)> {
        let parse = |text: &str| text.parse::<JoinToken>().map_err(|e| Error::internal("load join token", e));
        Ok((parse(&self.worker_token)?, parse(&self.manager_token)?))
    }
}

/// A tombstone for a removed node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RemovedNode {
    #[serde(with = "super::timestamp")]
    pub(crate) until: OffsetDateTime,
}

/// What the operator controls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ClusterSpec {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) task_history_retention_limit: i64,
    pub(crate) raft: RaftSettings,
    /// How often nodes report in.
    pub(crate) heartbeat_period: Duration,
    /// Lifetime of node certificates (checked against policy when set).
    pub(crate) node_cert_expiry: Duration,
    pub(crate) external_cas: Vec<ExternalCaSpec>,
    /// Bumped by `docker swarm ca --rotate` to ask for a new generated root.
    pub(crate) force_rotate: u64,
    pub(crate) autolock: bool,
    /// Settings the Engine API carries that Palisade does not interpret (task defaults and
    /// fields of later API versions), returned as they were given.
    pub(crate) unmodelled: serde_json::Map<String, serde_json::Value>,
}

/// `Spec.Raft`: reported as given; Palisade's own timing comes from its raft configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RaftSettings {
    pub(crate) snapshot_interval: u64,
    pub(crate) keep_old_snapshots: u64,
    pub(crate) log_entries_for_slow_followers: u64,
    pub(crate) election_tick: i64,
    pub(crate) heartbeat_tick: i64,
}

/// An external cfssl CA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ExternalCaSpec {
    pub(crate) protocol: String,
    pub(crate) url: String,
    pub(crate) options: BTreeMap<String, String>,
    /// PEM of the root it signs for.
    pub(crate) ca_cert: String,
}

/// Docker's defaults for an empty spec.
pub(crate) const DEFAULT_HEARTBEAT_PERIOD: Duration = Duration::from_secs(5);

impl Default for ClusterSpec {
    fn default() -> Self {
        Self {
            name: "default".to_owned(),
            labels: BTreeMap::new(),
            task_history_retention_limit: 5,
            raft: RaftSettings {
                snapshot_interval: 10_000,
                keep_old_snapshots: 0,
                log_entries_for_slow_followers: 500,
                election_tick: 10,
                heartbeat_tick: 1,
            },
            heartbeat_period: DEFAULT_HEARTBEAT_PERIOD,
            node_cert_expiry: palisade_pki::DEFAULT_NODE_CERT_EXPIRY,
            external_cas: Vec::new(),
            force_rotate: 0,
            autolock: false,
            unmodelled: serde_json::Map::new(),
        }
    }
}

impl ClusterSpec {
    /// Checks what a spec asks for; a refused spec changes nothing.
    pub(crate) fn validate(&self) -> Result<()> {
        self.cert_expiry()?;
        self.external_ca()?;
        if self.heartbeat_period < Duration::from_millis(1) {
            return Err(Error::invalid("heartbeat period must be at least 1ms"));
        }
        Ok(())
    }

    /// The node certificate lifetime, checked against policy.
    pub(crate) fn cert_expiry(&self) -> Result<CertExpiry> {
        CertExpiry::new(self.node_cert_expiry).map_err(Error::invalid)
    }

    /// The cfssl external CA, checked: at most one, protocol `cfssl`, an https URL.
    pub(crate) fn external_ca(&self) -> Result<Option<&ExternalCaSpec>> {
        match self.external_cas.as_slice() {
            [] => Ok(None),
            [one] => {
                if !one.protocol.eq_ignore_ascii_case("cfssl") {
                    return Err(Error::invalid(format!("unrecognized external CA protocol {}", one.protocol)));
                }
                if !one.url.starts_with("https://") {
                    return Err(Error::invalid(format!("external CA URL {:?} must use https", one.url)));
                }
                Ok(Some(one))
            }
            _ => Err(Error::invalid("only one external CA is supported")),
        }
    }
}
