//! npm: `node_modules/<name>/package.json` (scoped: `node_modules/@s/<name>/package.json`) and
//! `package-lock.json` (lockfile v1 `dependencies`, v2/v3 `packages`).

use serde_json::Value;

use super::Parsed;
use crate::ecosystem::Ecosystem;
use crate::package::{Location, Package};

pub(crate) fn wants(path: &str) -> bool {
    if path.ends_with("package-lock.json") {
        return !path.contains("node_modules/");
    }
    let Some(dir) = path.strip_suffix("/package.json") else { return false };
    let parts: Vec<&str> = dir.rsplit('/').take(3).collect();
    match parts.as_slice() {
        [_, "node_modules", ..] => true,
        [_, scope, "node_modules"] => scope.starts_with('@'),
        _ => false,
    }
}

fn package(name: &str, version: &str, license: Option<&str>, loc: &Location) -> Package {
    Package {
        ecosystem: Ecosystem::Npm,
        name: name.to_owned(),
        version: version.to_owned(),
        source_name: None,
        source_version: None,
        license: license.map(str::to_owned),
        arch: None,

        location: loc.clone(),
    }
}

pub(crate) fn parse(path: &str, bytes: &[u8], loc: &Location) -> Parsed {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    if !path.ends_with("package-lock.json") {
        let (Some(name), Some(version)) = (s(&v, "name"), s(&v, "version")) else {
            return Err("package.json without name or version".into());
        };
        let license = s(&v, "license");
        return Ok((vec![package(&name, &version, license.as_deref(), loc)], Vec::new()));
    }
    let mut out = Vec::new();
    if let Some(pkgs) = v.get("packages").and_then(Value::as_object) {
        for (key, p) in pkgs {
            // "" is the project itself; links point at workspace folders.
            let Some(idx) = key.rfind("node_modules/") else { continue };
            if p.get("link").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let name = s(p, "name").unwrap_or_else(|| key.get(idx + "node_modules/".len()..).unwrap_or_default().to_owned());
            if let Some(version) = s(p, "version") {
                out.push(package(&name, &version, s(p, "license").as_deref(), loc));
            }
        }
    } else if let Some(deps) = v.get("dependencies").and_then(Value::as_object) {
        let mut todo: Vec<(&String, &Value)> = deps.iter().collect();
        while let Some((name, d)) = todo.pop() {
            if let Some(version) = d.get("version").and_then(Value::as_str) {
                out.push(package(name, version, None, loc));
            }
            if let Some(more) = d.get("dependencies").and_then(Value::as_object) {
                todo.extend(more.iter());
            }
        }
    }
    Ok((out, Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::wants;

    #[test]
    fn package_json_paths() {
        assert!(wants("app/node_modules/lodash/package.json"));
        assert!(wants("app/node_modules/@babel/core/package.json"));
        assert!(wants("app/node_modules/a/node_modules/b/package.json"));
        assert!(!wants("app/package.json"));
        assert!(!wants("app/node_modules/lodash/lib/package.json"));
        assert!(wants("app/package-lock.json"));
        assert!(!wants("app/node_modules/.package-lock.json"));
    }
}
