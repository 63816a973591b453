//! The SARIF, CycloneDX and SPDX outputs validate against their JSON schemas (vendored under
//! tests/data/schemas, formats checked too).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::*;
use palisade_scan::{Format, Report};
use serde_json::Value;

fn schema(name: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/schemas").join(name);
    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()
}

fn validate(schema_value: &Value, resources: &[(&str, &str)], doc: &Value) {
    let mut opts = jsonschema::options();
    opts.should_validate_formats(true);
    for (uri, file) in resources {
        opts.with_resource(*uri, jsonschema::Resource::from_contents(schema(file)).unwrap());
    }
    let v = opts.build(schema_value).unwrap();
    let errors: Vec<String> = v.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "{} schema errors:\n{}\n{}", errors.len(), errors.join("\n"), serde_json::to_string_pretty(doc).unwrap());
}

fn report() -> Report {
    let status = dpkg_entry("libssl3", "3.0.11-1~deb12u2", Some("openssl")) + &dpkg_entry("tzdata", "2024a-0+deb12u1", None);
    let layer = LayerBuilder::new()
        .file("etc/os-release", DEBIAN_OS_RELEASE)
        .file("var/lib/dpkg/status", status.as_bytes())
        .file("app/node_modules/@babel/traverse/package.json", br#"{"name":"@babel/traverse","version":"7.23.1"}"#)
        .file("usr/lib/python3/site-packages/Django-4.2.1.dist-info/METADATA", b"Name: Django\nVersion: 4.2.1\n\n")
        .tar();
    let dir = tmp();
    let archive = path(&dir, "image.tar");
    docker_archive(&archive, &[layer]);
    let mut crit = osv("CVE-2024-0001", "Debian:12", "openssl", &[("introduced", "0"), ("fixed", "3.0.11-1")]);
    crit["severity"] = serde_json::json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]);
    crit["references"] = serde_json::json!([{"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/CVE-2024-0001"}]);
    crit["aliases"] = serde_json::json!(["DSA-0001-1"]);
    let mut ghsa = osv("GHSA-67hx-6x53-jw92", "npm", "@babel/traverse", &[("introduced", "0"), ("fixed", "7.23.2")]);
    ghsa["database_specific"] = serde_json::json!({"severity": "CRITICAL"});
    let unfixed = osv("CVE-2024-0002", "Debian:12", "tzdata", &[("introduced", "0")]);
    let db = db_with(dir.path(), &[crit, ghsa, unfixed]);
    let r = scan_archive(&archive, &db);
    assert_eq!(r.findings.len(), 3, "{:#?}", r.findings);
    r
}

const NOW: &str = "2026-01-02T03:04:05Z";
const UUID: &str = "3e671687-395b-41f5-a30f-a58921a69b79";

fn render(r: &Report, f: Format) -> Value {
    serde_json::from_str(&r.render(f, NOW, UUID).unwrap()).unwrap()
}

#[test]
fn sarif_validates() {
    let r = report();
    let doc = render(&r, Format::Sarif);
    validate(&schema("sarif-2.1.0.json"), &[], &doc);
    assert_eq!(doc["runs"][0]["results"].as_array().unwrap().len(), 3);
    assert_eq!(doc["runs"][0]["results"][0]["level"], "error");
}

#[test]
fn cyclonedx_validates() {
    let r = report();
    let doc = render(&r, Format::CycloneDx);
    validate(
        &schema("bom-1.5.schema.json"),
        &[
            ("http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json", "spdx.schema.json"),
            ("http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json", "jsf-0.82.schema.json"),
        ],
        &doc,
    );
    let comps = doc["components"].as_array().unwrap();
    assert_eq!(comps.len(), 4);
    let purls: Vec<&str> = comps.iter().map(|c| c["purl"].as_str().unwrap()).collect();
    assert!(purls.contains(&"pkg:deb/debian/libssl3@3.0.11-1~deb12u2?distro=debian-12&upstream=openssl"), "{purls:?}");
    assert!(purls.contains(&"pkg:npm/%40babel/traverse@7.23.1"), "{purls:?}");
    assert!(purls.contains(&"pkg:pypi/Django@4.2.1"), "{purls:?}");
    assert_eq!(doc["vulnerabilities"].as_array().unwrap().len(), 3);
}

#[test]
fn a_broken_document_fails_validation() {
    // The validator is not vacuous: a CycloneDX document with a bad severity is refused.
    let r = report();
    let mut doc = render(&r, Format::CycloneDx);
    doc["vulnerabilities"][0]["ratings"][0]["severity"] = "apocalyptic".into();
    let mut opts = jsonschema::options();
    for (uri, file) in [
        ("http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json", "spdx.schema.json"),
        ("http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json", "jsf-0.82.schema.json"),
    ] {
        opts.with_resource(uri, jsonschema::Resource::from_contents(schema(file)).unwrap());
    }
    assert!(!opts.build(&schema("bom-1.5.schema.json")).unwrap().is_valid(&doc));
    // Nor is the SPDX one: a package purpose SPDX does not define, or a package without its
    // name, is refused.
    let spdx = jsonschema::options().build(&schema("spdx-2.3.schema.json")).unwrap();
    let good = render(&r, Format::Spdx);
    assert!(spdx.is_valid(&good));
    let mut bad = good.clone();
    bad["packages"][0]["primaryPackagePurpose"] = "SHIPPING_CONTAINER".into();
    assert!(!spdx.is_valid(&bad));
    let mut bad = good;
    bad["packages"][1].as_object_mut().unwrap().remove("name");
    assert!(!spdx.is_valid(&bad));
}

#[test]
fn spdx_validates() {
    let r = report();
    let doc = render(&r, Format::Spdx);
    validate(&schema("spdx-2.3.schema.json"), &[], &doc);
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["dataLicense"], "CC0-1.0");
    assert_eq!(doc["SPDXID"], "SPDXRef-DOCUMENT");
    assert_eq!(doc["creationInfo"]["created"], NOW);
    let pkgs = doc["packages"].as_array().unwrap();
    assert_eq!(pkgs.len(), 5);
    for p in pkgs {
        for k in ["SPDXID", "name", "downloadLocation"] {
            assert!(p.get(k).is_some(), "package without {k}: {p}");
        }
    }
    assert_eq!(doc["relationships"].as_array().unwrap().len(), 5);
}
