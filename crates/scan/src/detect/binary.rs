//! ELF binaries: Go build info (`.go.buildinfo`: toolchain version and module list, Go ≥ 1.18
//! inline format) and cargo-auditable dependency lists (`.dep-v0`: zlib-compressed JSON).

use std::io::Read;

use object::{Object, ObjectSection};
use serde::Deserialize;

use crate::ecosystem::Ecosystem;
use crate::package::{Location, Package};
use crate::version::go_toolchain_version;

const GO_MAGIC: &[u8] = b"\xff Go buildinf:";
/// Largest decompressed cargo-auditable list read.
const MAX_AUDIT_JSON: u64 = 8 << 20;

/// Packages an ELF binary declares; an unreadable section is a warning.
pub(crate) fn packages(bytes: &[u8], loc: &Location, warnings: &mut Vec<String>) -> Vec<Package> {
    let Ok(file) = object::File::parse(bytes) else { return Vec::new() };
    let mut out = Vec::new();
    if let Some(data) = file.section_by_name(".go.buildinfo").and_then(|s| s.data().ok()) {
        match go_buildinfo(data) {
            Some((version, modinfo)) => out.extend(go_packages(&version, &modinfo, loc)),
            None => warnings.push(format!("{}: Go build info in an unsupported (pre-1.18) format", loc.path)),
        }
    }
    if let Some(data) = file.section_by_name(".dep-v0").and_then(|s| s.data().ok()) {
        match auditable(data, loc) {
            Ok(p) => out.extend(p),
            Err(e) => warnings.push(format!("{}: cargo-auditable data: {e}", loc.path)),
        }
    }
    out
}

fn uvarint(b: &[u8]) -> Option<(usize, usize)> {
    let mut x: u64 = 0;
    for (i, byte) in b.iter().enumerate().take(10) {
        x |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((usize::try_from(x).ok()?, i + 1));
        }
    }
    None
}

/// `(go version, modinfo)` from the inline build-info format (runtime/debug, Go 1.18+).
fn go_buildinfo(data: &[u8]) -> Option<(String, String)> {
    let start = data.windows(GO_MAGIC.len()).position(|w| w == GO_MAGIC)?;
    let blob = data.get(start..)?;
    let flags = *blob.get(15)?;
    if flags & 0x2 == 0 {
        return None;
    }
    let mut rest = blob.get(32..)?;
    let mut next = || -> Option<String> {
        let (len, n) = uvarint(rest)?;
        let s = rest.get(n..n.checked_add(len)?)?;
        rest = rest.get(n + len..)?;
        Some(String::from_utf8_lossy(s).into_owned())
    };
    let version = next()?;
    let mut modinfo = next()?;
    // The module info is framed by 16-byte sentinels.
    if modinfo.len() >= 33 && modinfo.as_bytes().get(modinfo.len() - 17) == Some(&b'\n') {
        modinfo = modinfo.get(16..modinfo.len() - 16).unwrap_or_default().to_owned();
    }
    Some((version, modinfo))
}

fn go_packages(version: &str, modinfo: &str, loc: &Location) -> Vec<Package> {
    let pkg = |name: &str, version: &str| Package {
        ecosystem: Ecosystem::Go,
        name: name.to_owned(),
        version: version.to_owned(),
        source_name: None,
        source_version: None,
        license: None,
        arch: None,

        location: loc.clone(),
    };
    let mut out = vec![pkg("stdlib", &go_toolchain_version(version))];
    for line in modinfo.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["mod", path, v, ..] | ["dep", path, v, ..] if *v != "(devel)" && !v.is_empty() => out.push(pkg(path, v)),
            // A replacement applies to the dependency just before it.
            ["=>", path, v, ..] if v.starts_with('v') => {
                if let Some(last) = out.last_mut() {
                    *last = pkg(path, v);
                }
            }
            _ => {}
        }
    }
    out
}

#[derive(Deserialize)]
struct AuditInfo {
    packages: Vec<AuditPackage>,
}

#[derive(Deserialize)]
struct AuditPackage {
    name: String,
    version: String,
    #[serde(default)]
    source: String,
}

fn auditable(data: &[u8], loc: &Location) -> Result<Vec<Package>, String> {
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(data).take(MAX_AUDIT_JSON).read_to_end(&mut json).map_err(|e| e.to_string())?;
    let info: AuditInfo = serde_json::from_slice(&json).map_err(|e| e.to_string())?;
    Ok(info
        .packages
        .into_iter()
        .filter(|p| p.source == "crates.io" || p.source.starts_with("registry"))
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
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modinfo_lines() {
        let m = "path\texample.com/app\nmod\texample.com/app\t(devel)\t\ndep\tgolang.org/x/text\tv0.3.7\th1:x\ndep\tgithub.com/a/b\tv1.0.0\th1:y\n=>\tgithub.com/c/b\tv1.2.0\th1:z\n";
        let p = go_packages("go1.19.8", m, &Location::default());
        let got: Vec<_> = p.iter().map(|p| format!("{}@{}", p.name, p.version)).collect();
        assert_eq!(got, ["stdlib@1.19.8", "golang.org/x/text@v0.3.7", "github.com/c/b@v1.2.0"]);
    }
}
