//! Python distributions: `*.dist-info/METADATA`, `*.egg-info/PKG-INFO` and `*.egg-info` files
//! under `site-packages` or `dist-packages` (core metadata: `Name`, `Version`, `License`).

use super::Parsed;
use crate::ecosystem::Ecosystem;
use crate::package::{Location, Package};

pub(crate) fn wants(path: &str) -> bool {
    (path.contains("/site-packages/") || path.contains("/dist-packages/"))
        && (path.ends_with(".dist-info/METADATA") || path.ends_with(".egg-info/PKG-INFO") || path.ends_with(".egg-info"))
}

pub(crate) fn parse(bytes: &[u8], loc: &Location) -> Parsed {
    let text = String::from_utf8_lossy(bytes);
    let (mut name, mut version, mut license) = (None, None, None);
    // Headers end at the first blank line (the description follows).
    for line in text.lines().take_while(|l| !l.trim().is_empty()) {
        match line.split_once(':') {
            Some(("Name", v)) => name = Some(v.trim().to_owned()),
            Some(("Version", v)) => version = Some(v.trim().to_owned()),
            Some(("License", v)) if !v.trim().is_empty() && v.trim() != "UNKNOWN" => license = Some(v.trim().to_owned()),
            _ => {}
        }
    }
    match (name, version) {
        (Some(n), Some(v)) if !n.is_empty() && !v.is_empty() => Ok((
            vec![Package { ecosystem: Ecosystem::PyPI, name: n, version: v, source_name: None, source_version: None, license, arch: None, location: loc.clone() }],
            Vec::new(),
        )),
        _ => Err("core metadata without Name or Version".into()),
    }
}
