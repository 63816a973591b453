//! The boundary between the cluster model and the Engine API's types: every conversion, both
//! ways, is here and nowhere else.

use std::time::Duration;

use base64::Engine as _;
use palisade_engine_api::types::{
    self as api, CaConfig, ClusterInfo, DispatcherConfig, EncryptionConfig, ExternalCa, ManagerStatus, NodeStatus,
    ObjectVersion, OrchestrationConfig, RaftConfig, SwarmSpec, TlsInfo,
};
use palisade_pki::IssuerInfo;

use crate::error::{Error, Result};
use crate::manager::{DEFAULT_POOL, DEFAULT_SUBNET_PREFIX};
use crate::model::{ClusterSpec, ExternalCaSpec, RaftSettings};
use crate::rpc::{NodeView, SecretView, SwarmView};

/// A spec from the Engine API, with the defaults dockerd fills for zero values. The signing
/// fields (`SigningCACert/Key`) are not part of the model: callers take them separately.
pub(crate) fn cluster_spec(spec: &SwarmSpec) -> Result<ClusterSpec> {
    let defaults = ClusterSpec::default();
    let nanos = |value: Option<i64>, default: Duration, what: &str| -> Result<Duration> {
        match value {
            None | Some(0) => Ok(default),
            Some(ns) if ns < 0 => Err(Error::invalid(format!("{what} must not be negative"))),
            Some(ns) => Ok(Duration::from_nanos(ns.unsigned_abs())),
        }
    };
    let node_cert_expiry = match spec.ca_config.node_cert_expiry {
        Some(ns) if ns < 0 => return Err(Error::invalid("minimum certificate expiry time is: 1h0m0s")),
        other => nanos(other, defaults.node_cert_expiry, "certificate expiry")?,
    };
    let or = |value: u64, default: u64| if value == 0 { default } else { value };
    let mut unmodelled = spec.extra.clone();
    if !spec.task_defaults.is_empty() {
        unmodelled.insert("TaskDefaults".to_owned(), serde_json::Value::Object(spec.task_defaults.clone()));
    }
    Ok(ClusterSpec {
        name: if spec.name.is_empty() { defaults.name } else { spec.name.clone() },
        labels: spec.labels.clone(),
        task_history_retention_limit: spec
            .orchestration
            .task_history_retention_limit
            .unwrap_or(defaults.task_history_retention_limit),
        raft: RaftSettings {
            snapshot_interval: or(spec.raft.snapshot_interval, defaults.raft.snapshot_interval),
            keep_old_snapshots: spec.raft.keep_old_snapshots.unwrap_or(defaults.raft.keep_old_snapshots),
            log_entries_for_slow_followers: or(
                spec.raft.log_entries_for_slow_followers,
                defaults.raft.log_entries_for_slow_followers,
            ),
            election_tick: if spec.raft.election_tick == 0 {
                defaults.raft.election_tick
            } else {
                spec.raft.election_tick
            },
            heartbeat_tick: if spec.raft.heartbeat_tick == 0 {
                defaults.raft.heartbeat_tick
            } else {
                spec.raft.heartbeat_tick
            },
        },
        heartbeat_period: nanos(spec.dispatcher.heartbeat_period, defaults.heartbeat_period, "heartbeat period")?,
        node_cert_expiry,
        external_cas: spec
            .ca_config
            .external_cas
            .iter()
            .map(|e| ExternalCaSpec {
                protocol: e.protocol.clone(),
                url: e.url.clone(),
                options: e.options.clone(),
                ca_cert: e.ca_cert.clone(),
            })
            .collect(),
        force_rotate: spec.ca_config.force_rotate,
        autolock: spec.encryption_config.auto_lock_managers,
        unmodelled,
    })
}

/// A spec as the Engine API shows it.
pub(crate) fn swarm_spec(spec: &ClusterSpec) -> SwarmSpec {
    let mut extra = spec.unmodelled.clone();
    let task_defaults = match extra.remove("TaskDefaults") {
        Some(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    SwarmSpec {
        name: spec.name.clone(),
        labels: spec.labels.clone(),
        orchestration: OrchestrationConfig { task_history_retention_limit: Some(spec.task_history_retention_limit) },
        raft: RaftConfig {
            snapshot_interval: spec.raft.snapshot_interval,
            keep_old_snapshots: Some(spec.raft.keep_old_snapshots),
            log_entries_for_slow_followers: spec.raft.log_entries_for_slow_followers,
            election_tick: spec.raft.election_tick,
            heartbeat_tick: spec.raft.heartbeat_tick,
        },
        dispatcher: DispatcherConfig { heartbeat_period: Some(nanos(spec.heartbeat_period)) },
        ca_config: CaConfig {
            node_cert_expiry: Some(nanos(spec.node_cert_expiry)),
            external_cas: spec
                .external_cas
                .iter()
                .map(|e| ExternalCa {
                    protocol: e.protocol.clone(),
                    url: e.url.clone(),
                    options: e.options.clone(),
                    ca_cert: e.ca_cert.clone(),
                })
                .collect(),
            signing_ca_cert: String::new(),
            signing_ca_key: String::new(),
            force_rotate: spec.force_rotate,
        },
        task_defaults,
        encryption_config: EncryptionConfig { auto_lock_managers: spec.autolock },
        extra,
    }
}

/// `TLSInfo`: the trust root and its issuer, base64 as Go renders `[]byte`.
pub(crate) fn tls_info(trust_root_pem: &str, issuer: &IssuerInfo) -> TlsInfo {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    TlsInfo {
        trust_root: trust_root_pem.to_owned(),
        cert_issuer_subject: b64(&issuer.subject_der),
        cert_issuer_public_key: b64(&issuer.public_key_der),
    }
}

pub(crate) fn cluster_info(view: &SwarmView) -> ClusterInfo {
    ClusterInfo {
        id: view.id.to_string(),
        version: ObjectVersion { index: view.version },
        created_at: api::timestamp(view.created_at),
        updated_at: api::timestamp(view.updated_at),
        spec: swarm_spec(&view.spec),
        tls_info: tls_info(&view.trust_root_pem, &view.issuer),
        root_rotation_in_progress: view.root_rotation_in_progress,
        data_path_port: 4789,
        default_addr_pool: vec![DEFAULT_POOL.to_string()],
        subnet_size: DEFAULT_SUBNET_PREFIX.into(),
    }
}

/// Refuses address pools other than the one Palisade has (`--default-addr-pool`,
/// `--default-addr-pool-mask-length`), rather than ignoring them.
pub(crate) fn check_address_pool(pools: &[String], subnet_size: u32) -> Result<()> {
    let default = DEFAULT_POOL.to_string();
    let pools_ok = pools.iter().all(|p| *p == default);
    let size_ok = subnet_size == 0 || subnet_size == u32::from(DEFAULT_SUBNET_PREFIX);
    if pools_ok && size_ok {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "--default-addr-pool and --default-addr-pool-mask-length are not supported by Palisade: overlay networks take /{DEFAULT_SUBNET_PREFIX}s of {default}"
    )))
}

pub(crate) fn swarm(view: &SwarmView) -> api::Swarm {
    api::Swarm {
        cluster: cluster_info(view),
        join_tokens: api::JoinTokens { worker: view.worker_token.clone(), manager: view.manager_token.clone() },
    }
}

pub(crate) fn node(view: &NodeView) -> api::Node {
    let n = &view.node;
    let d = &n.description;
    let plugin = |(kind, name): &(String, String)| api::PluginDescription { r#type: kind.clone(), name: name.clone() };
    api::Node {
        id: n.id.to_string(),
        version: ObjectVersion { index: view.version },
        created_at: api::timestamp(n.created_at),
        updated_at: api::timestamp(n.updated_at),
        spec: api::NodeSpec {
            name: n.name.clone(),
            labels: n.labels.clone(),
            role: n.role.as_str().to_owned(),
            availability: n.availability.as_str().to_owned(),
        },
        description: api::NodeDescription {
            hostname: d.hostname.clone(),
            platform: api::NodePlatform { architecture: d.architecture.clone(), os: d.os.clone() },
            resources: api::NodeResources { nano_cpus: d.nano_cpus, memory_bytes: d.memory_bytes },
            engine: api::EngineDescription {
                engine_version: d.engine_version.clone(),
                labels: Default::default(),
                plugins: d.plugins.iter().map(plugin).collect(),
            },
            tls_info: tls_info(&d.trust_root_pem, &n.issuer),
        },
        status: NodeStatus {
            state: if view.ready { "ready" } else { "down" }.to_owned(),
            message: String::new(),
            addr: n.addr.clone(),
        },
        manager_status: view.manager.as_ref().map(|m| ManagerStatus {
            leader: m.leader,
            reachability: if m.reachable { "reachable" } else { "unreachable" }.to_owned(),
            addr: m.addr.clone(),
        }),
    }
}

pub(crate) fn secret(view: &SecretView) -> api::Secret {
    api::Secret {
        id: view.id.clone(),
        version: ObjectVersion { index: view.version },
        created_at: api::timestamp(view.created_at),
        updated_at: api::timestamp(view.updated_at),
        spec: api::SecretSpec {
            name: view.name.clone(),
            labels: view.labels.clone(),
            data: None,
            driver: None,
            templating: None,
        },
    }
}
