//! Engine API bodies. Field names are the Engine API's (Go's), so most structs rename to
//! PascalCase; timestamps are RFC 3339 strings with nanoseconds, as Go writes them.

mod network;
mod node;
mod secret;
mod service;
mod swarm;
mod system;

pub use network::*;
pub use node::*;
pub use secret::*;
pub use service::*;
pub use swarm::*;
pub use system::*;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Formats a time as the Engine API does (`2025-06-01T12:00:00.000000000Z`).
pub fn timestamp(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC).format(&Rfc3339).unwrap_or_default()
}

/// `{"Index": n}`: an object's version, for optimistic concurrency on updates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectVersion {
    /// Bumped on every change.
    pub index: u64,
}

/// Whether a JSON value says nothing: `null`, `false`, `""`, `0`, or an array or object of
/// such values (the docker CLI sends every option it has, most of them unset like this).
pub fn is_unset(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Array(a) => a.iter().all(is_unset),
        Value::Object(o) => o.values().all(is_unset),
    }
}

/// Whether `labels` pass every one of the `label` filters of a list request: `KEY` (present,
/// whatever its value) or `KEY=VALUE` (present with that value). dockerd matches labels this
/// way on every list (`docker stack` finds its objects by `com.docker.stack.namespace=NAME`).
pub fn labels_match(filters: &[String], labels: &std::collections::BTreeMap<String, String>) -> bool {
    filters.iter().all(|label| match label.split_once('=') {
        Some((key, value)) => labels.get(key).is_some_and(|v| v == value),
        None => labels.contains_key(label),
    })
}

/// Go encodes nil maps and slices as `null`; read those as empty.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + serde::Deserialize<'de>,
{
    use serde::Deserialize;
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docker_cli_init_body_parses() {
        // Verbatim from docker CLI 28.2.2 `swarm init --advertise-addr 127.0.0.1`.
        let body = r#"{"ListenAddr":"0.0.0.0:2377","AdvertiseAddr":"127.0.0.1","DataPathAddr":"","DataPathPort":0,
 "ForceNewCluster":false,"Spec":{"Labels":null,"Orchestration":{},"Raft":{"ElectionTick":0,"HeartbeatTick":0},
 "Dispatcher":{},"CAConfig":{},"TaskDefaults":{},"EncryptionConfig":{"AutoLockManagers":false}},
 "AutoLockManagers":false,"Availability":"","DefaultAddrPool":[],"SubnetSize":24}"#;
        let request: InitRequest = serde_json::from_str(body).unwrap();
        assert_eq!(request.advertise_addr, "127.0.0.1");
        assert!(request.spec.labels.is_empty());
        assert_eq!(request.spec.ca_config.node_cert_expiry, None);
    }

    #[test]
    fn autolock_init_and_manager_info_carry_docker_s_fields() {
        let request: InitRequest =
            serde_json::from_str(r#"{"ForceNewCluster":true,"AutoLockManagers":true,"Spec":{"EncryptionConfig":{"AutoLockManagers":true}}}"#).unwrap();
        assert!(request.auto_lock_managers && request.force_new_cluster && request.spec.encryption_config.auto_lock_managers);
        let raft = RaftConfig { snapshot_interval: 10000, keep_old_snapshots: Some(0), log_entries_for_slow_followers: 500, election_tick: 10, heartbeat_tick: 1 };
        let info = SwarmInfo {
            local_node_state: "active".into(),
            managers: Some(3),
            nodes: Some(3),
            remote_managers: Some(vec![PeerNode { node_id: "n1".into(), addr: "127.0.0.1:2377".into() }]),
            cluster: Some(ClusterInfo { spec: SwarmSpec { raft, ..SwarmSpec::default() }, ..ClusterInfo::default() }),
            ..SwarmInfo::default()
        };
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!((json["Managers"].as_u64(), json["Nodes"].as_u64()), (Some(3), Some(3)));
        assert_eq!(json["RemoteManagers"][0]["Addr"], "127.0.0.1:2377");
        assert_eq!(
            json["Cluster"]["Spec"]["Raft"],
            serde_json::json!({"SnapshotInterval":10000,"KeepOldSnapshots":0,"LogEntriesForSlowFollowers":500,"ElectionTick":10,"HeartbeatTick":1})
        );
    }

    #[test]
    fn label_filters_ask_for_a_key_or_a_key_and_value() {
        let labels = std::collections::BTreeMap::from([("com.docker.stack.namespace".to_owned(), "web".to_owned()), ("tier".to_owned(), String::new())]);
        let filters = |f: &[&str]| f.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(labels_match(&[], &labels));
        assert!(labels_match(&filters(&["com.docker.stack.namespace"]), &labels));
        assert!(labels_match(&filters(&["com.docker.stack.namespace=web", "tier"]), &labels));
        assert!(labels_match(&filters(&["tier="]), &labels));
        assert!(!labels_match(&filters(&["com.docker.stack.namespace=webapp"]), &labels));
        assert!(!labels_match(&filters(&["com.docker.stack.namespace=we"]), &labels));
        assert!(!labels_match(&filters(&["com.docker.stack.namespace=web", "other"]), &labels));
        assert!(!labels_match(&filters(&["com.docker.stack"]), &labels));
    }

    #[test]
    fn unknown_spec_fields_round_trip() {
        let spec: SwarmSpec = serde_json::from_str(r#"{"Name":"default","Future":{"X":1}}"#).unwrap();
        assert_eq!(serde_json::to_value(&spec).unwrap()["Future"]["X"], 1);
    }
}
