//! What a node reports about itself.

use crate::model::NodeDescription;

/// The host name, as the kernel has it.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
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

/// This node's description, with the trust root it holds and its overlay key's public half.
pub(crate) fn local_description(trust_root_pem: &str, overlay_key: Option<&str>) -> NodeDescription {
    let plugin = |kind: &str, name: &str| (kind.to_owned(), name.to_owned());
    NodeDescription {
        hostname: hostname(),
        os: std::env::consts::OS.to_owned(),
        architecture: std::env::consts::ARCH.to_owned(),
        nano_cpus: cpus() * 1_000_000_000,
        memory_bytes: memory_bytes(),
        engine_version: env!("CARGO_PKG_VERSION").to_owned(),
        plugins: vec![
            plugin("Log", "json-file"),
            plugin("Network", "host"),
            plugin("Network", "null"),
            plugin("Volume", "local"),
        ],
        trust_root_pem: trust_root_pem.to_owned(),
        overlay_key: overlay_key.unwrap_or_default().to_owned(),
        run: daemon_run().to_owned(),
    }
}

/// This run of the daemon (this process): 16 random hex digits, drawn once.
pub(crate) fn daemon_run() -> &'static str {
    static RUN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    RUN.get_or_init(|| {
        let mut bytes = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    })
}
