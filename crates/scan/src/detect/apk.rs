//! apk: `/lib/apk/db/installed` (`P:` name, `V:` version, `o:` origin, `L:` license).

use super::Parsed;
use crate::ecosystem::Ecosystem;
use crate::package::{Location, Package};

pub(crate) fn wants(path: &str) -> bool {
    path == "lib/apk/db/installed"
}

pub(crate) fn parse(bytes: &[u8], loc: &Location) -> Parsed {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not an apk database (not UTF-8: {e})"))?;
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for (i, block) in text.split("\n\n").enumerate() {
        if block.trim().is_empty() {
            continue;
        }
        let (mut name, mut version, mut origin, mut license) = (None, None, None, None);
        for line in block.lines() {
            match line.split_once(':') {
                Some(("P", v)) => name = Some(v),
                Some(("V", v)) => version = Some(v),
                Some(("o", v)) => origin = Some(v),
                Some(("L", v)) => license = Some(v),
                _ => {}
            }
        }
        match (name, version) {
            (Some(n), Some(v)) if !n.is_empty() && !v.is_empty() => out.push(Package {
                ecosystem: Ecosystem::Alpine,
                name: n.to_owned(),
                version: v.to_owned(),
                source_name: Some(origin.unwrap_or(n).to_owned()),
                source_version: None,
                license: license.map(str::to_owned),
                arch: None,

                location: loc.clone(),
            }),
            _ => warnings.push(format!("entry {} has no P: or V: line; skipped", i + 1)),
        }
    }
    Ok((out, warnings))
}
