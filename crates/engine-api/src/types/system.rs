//! `/version`, `/info`.

use serde::{Deserialize, Serialize};

use super::ClusterInfo;

/// `GET /version`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Version {
    /// `{"Name": ...}`.
    pub platform: Platform,
    /// Server components (the docker CLI prints the "Engine" one).
    pub components: Vec<Component>,
    /// Product version.
    pub version: String,
    /// Highest API version served.
    pub api_version: String,
    /// Lowest API version served.
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    /// Source revision.
    pub git_commit: String,
    /// Compiler version.
    pub go_version: String,
    /// Operating system.
    pub os: String,
    /// CPU architecture.
    pub arch: String,
    /// Kernel release.
    pub kernel_version: String,
    /// Build time, RFC 3339.
    pub build_time: String,
}

/// `Version.Platform`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Platform {
    /// Product name.
    pub name: String,
}

/// `Version.Components[]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Component {
    /// Component name.
    pub name: String,
    /// Component version.
    pub version: String,
    /// Free-form details (ApiVersion, MinAPIVersion, GitCommit, GoVersion, Os, Arch, …).
    pub details: std::collections::BTreeMap<String, String>,
}

/// `GET /info` (the fields the docker CLI renders).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Info {
    /// Daemon ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Number of containers.
    pub containers: u64,
    /// Running containers.
    pub containers_running: u64,
    /// Paused containers.
    pub containers_paused: u64,
    /// Stopped containers.
    pub containers_stopped: u64,
    /// Number of images.
    pub images: u64,
    /// Storage driver name.
    pub driver: String,
    /// Logging driver.
    pub logging_driver: String,
    /// cgroup driver.
    pub cgroup_driver: String,
    /// cgroup version.
    pub cgroup_version: String,
    /// Kernel release.
    pub kernel_version: String,
    /// Operating system.
    pub operating_system: String,
    /// OS version.
    #[serde(rename = "OSVersion")]
    pub os_version: String,
    /// OS type.
    #[serde(rename = "OSType")]
    pub os_type: String,
    /// CPU architecture.
    pub architecture: String,
    /// CPUs.
    #[serde(rename = "NCPU")]
    pub ncpu: u64,
    /// Memory in bytes.
    pub mem_total: u64,
    /// Data root.
    pub docker_root_dir: String,
    /// Host name.
    pub name: String,
    /// Product version.
    pub server_version: String,
    /// Default runtime.
    pub default_runtime: String,
    /// Available runtimes.
    pub runtimes: std::collections::BTreeMap<String, Runtime>,
    /// Security options, e.g. `name=seccomp,profile=builtin`.
    pub security_options: Vec<String>,
    /// Swarm state of this node.
    pub swarm: SwarmInfo,
    /// Whether live-restore is on.
    pub live_restore_enabled: bool,
    /// Isolation technology.
    pub isolation: String,
    /// Init binary.
    pub init_binary: String,
    /// Experimental build.
    pub experimental_build: bool,
}

/// `Info.Runtimes[name]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Runtime {
    /// Path of the runtime binary.
    pub path: String,
}

/// `Info.Swarm`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmInfo {
    /// This node's ID (empty when not in a swarm).
    #[serde(rename = "NodeID")]
    pub node_id: String,
    /// The address this node advertises.
    pub node_addr: String,
    /// `inactive`, `pending`, `active`, `error` or `locked`.
    pub local_node_state: String,
    /// Whether this node is a manager that can serve cluster state.
    pub control_available: bool,
    /// Last error.
    pub error: String,
    /// Known managers.
    pub remote_managers: Option<Vec<PeerNode>>,
    /// Number of nodes (managers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u64>,
    /// Number of managers (managers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managers: Option<u64>,
    /// The cluster (managers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterInfo>,
}

/// `Info.Swarm.RemoteManagers[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PeerNode {
    /// Manager node ID.
    #[serde(rename = "NodeID")]
    pub node_id: String,
    /// Manager cluster address (`ip:port`).
    pub addr: String,
}
