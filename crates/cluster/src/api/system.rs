//! `GET /version` and `GET /info`.

use palisade_engine_api::types::{Component, Info, PeerNode, Platform, Runtime, SwarmInfo, Version};
use palisade_engine_api::{API_VERSION, MIN_API_VERSION};
use palisade_pki::NodeRole;

use super::convert;
use crate::daemon::{Daemon, NodeState};
use crate::describe::{cpus, hostname, memory_bytes};
use crate::node::ActiveNode;
use crate::rpc::{ClusterSummary, ControlCall, ControlReply};

const BUILD_TIME: &str = "2026-11-23T00:00:00.000000000+00:00";

pub(super) fn version() -> Version {
    let details = [
        ("ApiVersion", API_VERSION),
        ("MinAPIVersion", MIN_API_VERSION),
        ("GitCommit", "palisade"),
        ("GoVersion", "rust"),
        ("Os", std::env::consts::OS),
        ("Arch", arch()),
        ("BuildTime", BUILD_TIME),
        ("Experimental", "false"),
    ];
    Version {
        platform: Platform { name: "Palisade".to_owned() },
        components: vec![Component {
            name: "Engine".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            details: details.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        }],
        version: env!("CARGO_PKG_VERSION").to_owned(),
        api_version: API_VERSION.to_owned(),
        min_api_version: MIN_API_VERSION.to_owned(),
        git_commit: "palisade".to_owned(),
        go_version: "rust".to_owned(),
        os: std::env::consts::OS.to_owned(),
        arch: arch().to_owned(),
        kernel_version: kernel_version(),
        build_time: BUILD_TIME.to_owned(),
    }
}

pub(super) async fn info(daemon: &Daemon) -> Info {
    let swarm = match daemon.current().await {
        NodeState::Inactive => SwarmInfo { local_node_state: "inactive".to_owned(), ..SwarmInfo::default() },
        NodeState::Locked(locked) => SwarmInfo {
            node_id: locked.identity.cert.node_id.to_string(),
            node_addr: locked.membership.advertise_addr.clone(),
            local_node_state: "locked".to_owned(),
            ..SwarmInfo::default()
        },
        NodeState::Active(node) => swarm_info(&node).await,
    };
    Info {
        id: swarm.node_id.clone(),
        driver: "overlayfs".to_owned(),
        logging_driver: "json-file".to_owned(),
        cgroup_driver: "cgroupfs".to_owned(),
        cgroup_version: if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() { "2" } else { "1" }
            .to_owned(),
        kernel_version: kernel_version(),
        operating_system: "Palisade".to_owned(),
        os_version: env!("CARGO_PKG_VERSION").to_owned(),
        os_type: std::env::consts::OS.to_owned(),
        architecture: arch().to_owned(),
        ncpu: cpus().unsigned_abs(),
        mem_total: memory_bytes().unsigned_abs(),
        docker_root_dir: daemon.config.data_root.path().display().to_string(),
        name: hostname(),
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
        default_runtime: "crun".to_owned(),
        runtimes: [("crun", "crun"), ("runc", "runc")]
            .into_iter()
            .map(|(name, path)| (name.to_owned(), Runtime { path: path.to_owned() }))
            .collect(),
        security_options: vec!["name=seccomp,profile=builtin".to_owned(), "name=no-new-privileges".to_owned()],
        swarm,
        isolation: String::new(),
        init_binary: String::new(),
        ..Info::default()
    }
}

/// `Info.Swarm` of an active node; managers add the cluster, counts and managers from raft.
async fn swarm_info(node: &ActiveNode) -> SwarmInfo {
    let identity = node.identity();
    let membership = node.membership();
    let is_manager = identity.role() == NodeRole::Manager;
    let mut info = SwarmInfo {
        node_id: identity.cert.node_id.to_string(),
        node_addr: membership.advertise_addr.clone(),
        local_node_state: "active".to_owned(),
        control_available: is_manager,
        remote_managers: Some(
            membership.managers.iter().map(|addr| PeerNode { node_id: String::new(), addr: addr.clone() }).collect(),
        ),
        ..SwarmInfo::default()
    };
    if let Some(error) = node.error() {
        info.local_node_state = "error".to_owned();
        info.error = error;
        return info;
    }
    if is_manager {
        match node.control(ControlCall::Summary).await {
            Ok(ControlReply::Summary(ClusterSummary { swarm, nodes, managers, remote_managers })) => {
                info.cluster = Some(convert::cluster_info(&swarm));
                info.nodes = Some(nodes);
                info.managers = Some(managers);
                info.remote_managers =
                    Some(remote_managers.into_iter().map(|(node_id, addr)| PeerNode { node_id, addr }).collect());
            }
            Ok(other) => info.error = format!("unexpected reply {other:?}"),
            Err(e) => info.error = e.to_string(),
        }
    }
    info
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()).unwrap_or_default()
}
