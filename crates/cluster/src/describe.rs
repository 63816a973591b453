//! What a node reports about itself.

use palisade_engine_api::types::{EngineDescription, NodeDescription, NodePlatform, NodeResources, PluginDescription, TlsInfo};

/// The host name, as the kernel has it.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "localhost".to_owned())
}

/// Total memory in bytes, from `/proc/meminfo`.
pub(crate) fn memory_bytes() -> i64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// Number of CPUs available to this process.
pub(crate) fn cpus() -> i64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as i64)
}

/// This node's description, with the trust root it holds.
pub(crate) fn local_description(tls_info: TlsInfo) -> NodeDescription {
    let plugin = |kind: &str, name: &str| PluginDescription { r#type: kind.to_owned(), name: name.to_owned() };
    NodeDescription {
        hostname: hostname(),
        platform: NodePlatform { architecture: std::env::consts::ARCH.to_owned(), os: std::env::consts::OS.to_owned() },
        resources: NodeResources { nano_cpus: cpus() * 1_000_000_000, memory_bytes: memory_bytes() },
        engine: EngineDescription {
            engine_version: env!("CARGO_PKG_VERSION").to_owned(),
            labels: Default::default(),
            plugins: vec![plugin("Log", "json-file"), plugin("Network", "host"), plugin("Network", "null"), plugin("Volume", "local")],
        },
        tls_info,
    }
}
