//! Rust: `Cargo.lock` files (crates from a registry; path and git crates are not on crates.io).

use serde::Deserialize;

use super::Parsed;
use crate::ecosystem::Ecosystem;
use crate::package::{Location, Package};

pub(crate) fn wants(path: &str) -> bool {
    path == "Cargo.lock" || path.ends_with("/Cargo.lock")
}

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<LockedPackage>,
}

#[derive(Deserialize)]
struct LockedPackage {
    name: String,
    version: String,
    #[serde(default)]
    source: Option<String>,
}

pub(crate) fn parse(bytes: &[u8], loc: &Location) -> Parsed {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let lock: Lock = toml::from_str(text).map_err(|e| format!("not a Cargo.lock: {}", e.message()))?;
    let out = lock
        .package
        .into_iter()
        .filter(|p| p.source.as_deref().is_some_and(|s| s.starts_with("registry+") || s.starts_with("sparse+")))
        .map(|p| Package {
            ecosystem: Ecosystem::CratesIo,
            name: p.name,
            version: p.version,
            source_name: None,
            source_version: None,
            license: None,
            arch: None,

            location: loc.clone(),
        })
        .collect();
    Ok((out, Vec::new()))
}
