//! `/swarm*`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use secrecy::SecretString;
use serde_json::{Map, Value};

use super::ObjectVersion;

/// `GET /swarm`: the cluster as a manager sees it, with the join tokens.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Swarm {
    /// The cluster object.
    #[serde(flatten)]
    pub cluster: ClusterInfo,
    /// Current join tokens.
    pub join_tokens: JoinTokens,
}

/// The cluster object (`Info.Swarm.Cluster`, and `GET /swarm` without the tokens).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClusterInfo {
    /// Cluster ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Version for `POST /swarm/update?version=`.
    pub version: ObjectVersion,
    /// Creation time.
    pub created_at: String,
    /// Last update.
    pub updated_at: String,
    /// The operator-controlled settings.
    pub spec: SwarmSpec,
    /// The cluster's root of trust.
    #[serde(rename = "TLSInfo")]
    pub tls_info: TlsInfo,
    /// Whether a root CA rotation is under way.
    pub root_rotation_in_progress: bool,
    /// VXLAN port.
    pub data_path_port: u32,
    /// Address pools for overlay networks.
    pub default_addr_pool: Vec<String>,
    /// Subnet size of the pools.
    pub subnet_size: u32,
}

/// `TLSInfo`: a trust root and the issuer of node certificates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TlsInfo {
    /// PEM of the root CA bundle.
    pub trust_root: String,
    /// Base64 of the DER subject of the certificate issuer.
    pub cert_issuer_subject: String,
    /// Base64 of the DER SubjectPublicKeyInfo of the certificate issuer.
    pub cert_issuer_public_key: String,
}

/// `JoinTokens`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JoinTokens {
    /// Token that joins as a worker.
    pub worker: String,
    /// Token that joins as a manager.
    pub manager: String,
}

/// The swarm spec. The docker CLI round-trips it whole on every update, so unknown fields are
/// kept (`extra`) and returned unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmSpec {
    /// Cluster name.
    #[serde(default)]
    pub name: String,
    /// Labels.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// Orchestration settings.
    #[serde(default)]
    pub orchestration: OrchestrationConfig,
    /// Raft settings.
    #[serde(default)]
    pub raft: RaftConfig,
    /// Dispatcher settings.
    #[serde(default)]
    pub dispatcher: DispatcherConfig,
    /// CA settings.
    #[serde(default, rename = "CAConfig")]
    pub ca_config: CaConfig,
    /// Task defaults.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub task_defaults: Map<String, Value>,
    /// Encryption settings.
    #[serde(default)]
    pub encryption_config: EncryptionConfig,
    /// Fields this server does not interpret, returned as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `Spec.Orchestration`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrchestrationConfig {
    /// Completed tasks kept per slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_history_retention_limit: Option<i64>,
}

/// `Spec.Raft`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RaftConfig {
    /// Log entries between snapshots.
    #[serde(default)]
    pub snapshot_interval: u64,
    /// Old snapshots kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_old_snapshots: Option<u64>,
    /// Entries kept for slow followers.
    #[serde(default)]
    pub log_entries_for_slow_followers: u64,
    /// Ticks without a leader before an election.
    #[serde(default)]
    pub election_tick: i64,
    /// Ticks between leader heartbeats.
    #[serde(default)]
    pub heartbeat_tick: i64,
}

/// `Spec.Dispatcher`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DispatcherConfig {
    /// Node heartbeat period, nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_period: Option<i64>,
}

/// `Spec.CAConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CaConfig {
    /// Node certificate lifetime, nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_cert_expiry: Option<i64>,
    /// External signing CAs.
    #[serde(default, rename = "ExternalCAs", deserialize_with = "super::null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub external_cas: Vec<ExternalCa>,
    /// Desired root CA certificate (PEM), for rotation.
    #[serde(default, rename = "SigningCACert", skip_serializing_if = "String::is_empty")]
    pub signing_ca_cert: String,
    /// Desired root CA key (PEM), for rotation. Never returned by the server.
    #[serde(default, rename = "SigningCAKey", skip_serializing_if = "String::is_empty")]
    pub signing_ca_key: String,
    /// Bumped to force a root rotation.
    #[serde(default)]
    pub force_rotate: u64,
}

/// `Spec.CAConfig.ExternalCAs[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExternalCa {
    /// `cfssl`.
    pub protocol: String,
    /// Signing endpoint.
    #[serde(rename = "URL")]
    pub url: String,
    /// Protocol options.
    #[serde(default, deserialize_with = "super::null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    /// The root this CA chains to (PEM).
    #[serde(default, rename = "CACert")]
    pub ca_cert: String,
}

/// `Spec.EncryptionConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptionConfig {
    /// Whether managers need the unlock key after a restart.
    #[serde(default)]
    pub auto_lock_managers: bool,
}

/// `POST /swarm/init`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InitRequest {
    /// Cluster listen address.
    #[serde(default)]
    pub listen_addr: String,
    /// Address advertised to other nodes.
    #[serde(default)]
    pub advertise_addr: String,
    /// Data path address (unused).
    #[serde(default)]
    pub data_path_addr: String,
    /// Data path port (unused).
    #[serde(default)]
    pub data_path_port: u32,
    /// Force a new cluster from existing state.
    #[serde(default)]
    pub force_new_cluster: bool,
    /// Initial spec.
    #[serde(default)]
    pub spec: SwarmSpec,
    /// Whether to lock managers.
    #[serde(default)]
    pub auto_lock_managers: bool,
    /// Initial availability of this node.
    #[serde(default)]
    pub availability: String,
    /// Address pools.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub default_addr_pool: Vec<String>,
    /// Pool subnet size.
    #[serde(default)]
    pub subnet_size: u32,
}

/// `POST /swarm/join`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JoinRequest {
    /// Cluster listen address.
    #[serde(default)]
    pub listen_addr: String,
    /// Address advertised to other nodes.
    #[serde(default)]
    pub advertise_addr: String,
    /// Data path address (unused).
    #[serde(default)]
    pub data_path_addr: String,
    /// Managers to contact.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub remote_addrs: Vec<String>,
    /// The join token.
    #[serde(default)]
    pub join_token: String,
    /// Initial availability of this node.
    #[serde(default)]
    pub availability: String,
}

/// Query of `POST /swarm/update`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateSwarmQuery {
    /// The cluster version the spec was read at.
    pub version: Option<u64>,
    /// Replace the worker join token.
    #[serde(default)]
    pub rotate_worker_token: bool,
    /// Replace the manager join token.
    #[serde(default)]
    pub rotate_manager_token: bool,
    /// Replace the unlock key.
    #[serde(default)]
    pub rotate_manager_unlock_key: bool,
}

/// `GET /swarm/unlockkey`. `Debug` does not show the key.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnlockKeyResponse {
    /// The key (`SWMKEY-1-…`), or empty when autolock is off.
    pub unlock_key: String,
}

impl std::fmt::Debug for UnlockKeyResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = if self.unlock_key.is_empty() { "" } else { "[REDACTED]" };
        f.debug_struct("UnlockKeyResponse").field("unlock_key", &shown).finish()
    }
}

/// `POST /swarm/unlock`: `{"UnlockKey": "SWMKEY-1-…"}`. The key is a [`SecretString`]: zeroed on
/// drop, redacted in `Debug`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnlockRequest {
    /// The unlock key as `docker swarm unlock-key` printed it.
    #[serde(default = "empty_secret", deserialize_with = "secret_string")]
    pub unlock_key: SecretString,
}

impl Serialize for UnlockRequest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use secrecy::ExposeSecret as _;
        use serde::ser::SerializeStruct as _;
        let mut s = serializer.serialize_struct("UnlockRequest", 1)?;
        s.serialize_field("UnlockKey", self.unlock_key.expose_secret())?;
        s.end()
    }
}

fn empty_secret() -> SecretString {
    SecretString::from(String::new())
}

fn secret_string<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<SecretString, D::Error> {
    let text = zeroize::Zeroizing::new(Option::<String>::deserialize(deserializer)?.unwrap_or_default());
    Ok(SecretString::from(text.as_str()))
}
