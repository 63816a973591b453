//! Machine-readable outputs: SARIF 2.1.0 (OASIS), CycloneDX 1.5 and SPDX 2.3 (JSON).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::Report;
use crate::package::Package;
use crate::severity::Severity;

const TOOL: &str = "palisade";
const TOOL_URI: &str = "https://github.com/palisade/palisade";
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn distro(r: &Report) -> Option<String> {
    r.inventory.os.as_ref().and_then(crate::package::OsInfo::distro)
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Unknown => "note",
    }
}

/// SARIF 2.1.0: one rule per advisory, one result per finding, located at the package's
/// metadata file.
pub(super) fn sarif(r: &Report) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &r.findings {
        if index.contains_key(f.id.as_str()) {
            continue;
        }
        index.insert(&f.id, rules.len());
        let mut rule = json!({
            "id": f.id,
            "name": "OsPackageVulnerability",
            "shortDescription": {"text": if f.title.is_empty() { f.id.clone() } else { f.title.clone() }},
            "fullDescription": {"text": f.title},
            "defaultConfiguration": {"level": sarif_level(f.severity)},
            "properties": {
                "tags": ["vulnerability", "security", f.severity.as_str()],
                "precision": "very-high",
                "security-severity": format!("{:.1}", f.score.unwrap_or(match f.severity {
                    Severity::Critical => 9.5, Severity::High => 8.0, Severity::Medium => 5.5, Severity::Low => 2.0, Severity::Unknown => 0.0,
                })),
            },
        });
        if let Some(u) = &f.url {
            rule["helpUri"] = json!(u);
        }
        rules.push(rule);
    }
    let results: Vec<Value> = r
        .findings
        .iter()
        .map(|f| {
            let text = format!(
                "Package: {}\nInstalled: {}\nFixed in: {}\nSeverity: {}\nLayer: {}",
                f.package.name,
                f.installed,
                f.fixed.as_deref().unwrap_or("no fix"),
                f.severity,
                if f.package.location.layer.is_empty() { "-" } else { &f.package.location.layer }
            );
            json!({
                "ruleId": f.id,
                "ruleIndex": index.get(f.id.as_str()).copied().unwrap_or(0),
                "level": sarif_level(f.severity),
                "message": {"text": text},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": f.package.location.path.trim_start_matches('/'), "uriBaseId": "ROOTPATH"}}}],
            })
        })
        .collect();
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {"name": TOOL, "informationUri": TOOL_URI, "version": VERSION, "fullName": "Palisade image scanner", "rules": rules}},
            "results": results,
            "originalUriBaseIds": {"ROOTPATH": {"uri": "file:///"}},
            "properties": {"target": r.inventory.target},
        }],
    })
}

fn component_ref(i: usize) -> String {
    format!("pkg-{i}")
}

fn cdx_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
        Severity::Unknown => "unknown",
    }
}

fn cvss_method(vector: &str) -> &'static str {
    if vector.starts_with("CVSS:3.1") {
        "CVSSv31"
    } else if vector.starts_with("CVSS:3.0") {
        "CVSSv3"
    } else if vector.starts_with("CVSS:4") {
        "CVSSv4"
    } else {
        "other"
    }
}

fn package_index(r: &Report, p: &Package) -> Option<usize> {
    r.inventory.packages.iter().position(|q| q == p)
}

/// CycloneDX 1.5: the image as the metadata component, every package as a library (purl,
/// layer and path as properties), findings as vulnerabilities that affect them.
pub(super) fn cyclonedx(r: &Report, now: &str, uuid: &str) -> Value {
    let d = distro(r);
    let components: Vec<Value> = r
        .inventory
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut props = vec![json!({"name": "palisade:package:path", "value": p.location.path})];
            if !p.location.layer.is_empty() {
                props.push(json!({"name": "palisade:package:layer", "value": p.location.layer}));
            }
            if let Some(src) = &p.source_name {
                props.push(json!({"name": "palisade:package:source", "value": src}));
            }
            json!({
                "type": "library",
                "bom-ref": component_ref(i),
                "name": p.name,
                "version": p.version,
                "purl": p.purl(d.as_deref()),
                "properties": props,
            })
        })
        .collect();
    let vulns: Vec<Value> = r
        .findings
        .iter()
        .map(|f| {
            let mut rating = json!({"severity": cdx_severity(f.severity)});
            if let (Some(score), Some(v)) = (f.score, f.vector.as_deref()) {
                rating["score"] = json!(score);
                rating["method"] = json!(cvss_method(v));
                rating["vector"] = json!(v);
            }
            let mut v = json!({
                "id": f.id,
                "source": {"name": "OSV"},
                "ratings": [rating],
                "description": f.title,
                "affects": [{"ref": package_index(r, &f.package).map(component_ref).unwrap_or_default()}],
            });
            if let Some(u) = &f.url {
                v["source"]["url"] = json!(u);
            }
            if let Some(fixed) = &f.fixed {
                v["recommendation"] = json!(format!("Upgrade {} to {fixed}", f.package.name));
            }
            v
        })
        .collect();
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{uuid}"),
        "version": 1,
        "metadata": {
            "timestamp": now,
            "tools": {"components": [{"type": "application", "name": TOOL, "version": VERSION}]},
            "component": {"type": "container", "bom-ref": "image", "name": r.inventory.target},
        },
        "components": components,
        "dependencies": [{"ref": "image", "dependsOn": (0..r.inventory.packages.len()).map(component_ref).collect::<Vec<_>>()}],
        "vulnerabilities": vulns,
    })
}

/// SPDX 2.3: the image as the described package, every package contained in it, with purls.
pub(super) fn spdx(r: &Report, now: &str, uuid: &str) -> Value {
    let d = distro(r);
    let mut packages = vec![json!({
        "SPDXID": "SPDXRef-Image",
        "name": r.inventory.target,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
    })];
    let mut relationships = vec![json!({"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-Image"})];
    for (i, p) in r.inventory.packages.iter().enumerate() {
        let id = format!("SPDXRef-Package-{i}");
        packages.push(json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "sourceInfo": format!("found at {}{}", p.location.path, if p.location.layer.is_empty() { String::new() } else { format!(" in layer {}", p.location.layer) }),
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": p.purl(d.as_deref())}],
        }));
        relationships.push(json!({"spdxElementId": "SPDXRef-Image", "relationshipType": "CONTAINS", "relatedSpdxElement": id}));
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": r.inventory.target,
        "documentNamespace": format!("https://palisade.invalid/spdx/{uuid}"),
        "creationInfo": {"created": now, "creators": [format!("Tool: {TOOL}-{VERSION}")]},
        "packages": packages,
        "relationships": relationships,
    })
}
