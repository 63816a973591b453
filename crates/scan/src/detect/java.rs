//! Java archives (`.jar`, `.war`, `.ear`): `META-INF/maven/<g>/<a>/pom.properties`, else the
//! manifest's `Implementation-Vendor-Id`/`-Title`/`-Version`; jars inside jars, three deep.

use std::io::{Cursor, Read};

use crate::ecosystem::Ecosystem;
use crate::layers::Limits;
use crate::package::{Location, Package};

const MAX_DEPTH: usize = 3;
/// Largest pom.properties or manifest read.
const MAX_SMALL: u64 = 1 << 20;

pub(crate) fn wants(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".jar") || lower.ends_with(".war") || lower.ends_with(".ear")
}

pub(crate) fn packages(bytes: &[u8], loc: &Location, limits: &Limits, warnings: &mut Vec<String>) -> Vec<Package> {
    let mut out = Vec::new();
    walk(bytes, loc, &loc.path, 0, limits, warnings, &mut out);
    out
}

fn pkg(group: &str, artifact: &str, version: &str, loc: &Location, path: &str) -> Package {
    Package {
        ecosystem: Ecosystem::Maven,
        name: format!("{group}:{artifact}"),
        version: version.to_owned(),
        source_name: None,
        source_version: None,
        license: None,
        arch: None,

        location: Location { layer: loc.layer.clone(), path: path.to_owned() },
    }
}

fn props(text: &str) -> impl Fn(&str) -> Option<String> + '_ {
    move |key| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(['=', ':'])?;
            (k.trim() == key).then(|| v.trim().to_owned()).filter(|v| !v.is_empty())
        })
    }
}

fn walk(bytes: &[u8], loc: &Location, path: &str, depth: usize, limits: &Limits, warnings: &mut Vec<String>, out: &mut Vec<Package>) {
    let mut zip = match zip::ZipArchive::new(Cursor::new(bytes)) {
        Ok(z) => z,
        Err(e) => {
            warnings.push(format!("{path}: not a readable jar ({e})"));
            return;
        }
    };
    let mut found_pom = false;
    let mut manifest = None;
    for i in 0..zip.len() {
        let Ok(mut member) = zip.by_index(i) else { continue };
        let name = member.name().to_owned();
        let read = |m: &mut zip::read::ZipFile<'_, Cursor<&[u8]>>, cap: u64| -> Option<Vec<u8>> {
            if m.size() > cap {
                return None;
            }
            let mut buf = Vec::new();
            m.take(cap).read_to_end(&mut buf).ok()?;
            Some(buf)
        };
        if name.starts_with("META-INF/maven/") && name.ends_with("/pom.properties") {
            let Some(b) = read(&mut member, MAX_SMALL) else { continue };
            let text = String::from_utf8_lossy(&b);
            let get = props(&text);
            if let (Some(g), Some(a), Some(v)) = (get("groupId"), get("artifactId"), get("version")) {
                out.push(pkg(&g, &a, &v, loc, path));
                found_pom = true;
            }
        } else if name == "META-INF/MANIFEST.MF" {
            manifest = read(&mut member, MAX_SMALL);
        } else if depth < MAX_DEPTH && wants(&name) {
            match read(&mut member, limits.max_binary_bytes) {
                Some(inner) => walk(&inner, loc, &format!("{path}!/{name}"), depth + 1, limits, warnings, out),
                None => warnings.push(format!("{path}!/{name}: too large to inspect")),
            }
        }
    }
    if !found_pom {
        if let Some(m) = manifest {
            let text = String::from_utf8_lossy(&m);
            let get = props(&text);
            if let (Some(g), Some(a), Some(v)) = (get("Implementation-Vendor-Id"), get("Implementation-Title"), get("Implementation-Version")) {
                out.push(pkg(&g, &a, &v, loc, path));
            }
        }
    }
}
