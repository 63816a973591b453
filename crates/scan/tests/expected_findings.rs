//! With fixture advisories whose ranges straddle the installed versions (fixed below, equal
//! to and above; epochs and tildes), exactly the expected findings are reported — for dpkg,
//! apk, a Python site-packages tree, a node_modules tree and a Cargo.lock made by cargo.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use palisade_scan::{assess, Ecosystem, Filter, Scanner, Severity};

#[test]
fn debian_ranges_epochs_and_tildes_by_source_package() {
    let status = [
        dpkg_entry("libssl3", "3.0.11-1~deb12u2", Some("openssl")),
        dpkg_entry("openssl", "3.0.11-1~deb12u2", None),
        dpkg_entry("bsdutils", "1:2.38.1-5+b1", Some("util-linux (2.38.1-5)")),
        dpkg_entry("libc6", "2.36-9+deb12u3", Some("glibc")),
        dpkg_entry("tzdata", "2024a-0+deb12u1", None),
    ]
    .concat();
    let layer = LayerBuilder::new().file("etc/os-release", DEBIAN_OS_RELEASE).file("var/lib/dpkg/status", status.as_bytes()).tar();
    let dir = tmp();
    let archive = path(&dir, "image.tar");
    let diff_ids = docker_archive(&archive, &[layer]);
    let db = db_with(
        dir.path(),
        &[
            // openssl 3.0.11-1~deb12u2: tilde sorts before the release.
            osv("DEB-ABOVE-TILDE", "Debian:12", "openssl", &[("introduced", "0"), ("fixed", "3.0.11-1")]),
            osv("DEB-EQUAL", "Debian:12", "openssl", &[("introduced", "0"), ("fixed", "3.0.11-1~deb12u2")]),
            osv("DEB-BELOW-TILDE", "Debian:12", "openssl", &[("introduced", "0"), ("fixed", "3.0.11-1~deb12u1")]),
            // util-linux matched by its source version 2.38.1-5, not the binary 1:2.38.1-5+b1.
            osv("DEB-SOURCE-VERSION", "Debian:12", "util-linux", &[("introduced", "0"), ("fixed", "2.38.1-6")]),
            // An epoch in the fix makes every epoch-0 version older.
            osv("DEB-EPOCH", "Debian:12", "glibc", &[("introduced", "0"), ("fixed", "1:2.0-1")]),
            osv("DEB-LAST-AFFECTED", "Debian:12", "glibc", &[("introduced", "2.36-1"), ("last_affected", "2.36-9+deb12u2")]),
            osv("DEB-OTHER-RELEASE", "Debian:11", "openssl", &[("introduced", "0"), ("fixed", "9:9")]),
            osv("DEB-BINARY-NAME", "Debian:12", "libssl3", &[("introduced", "0"), ("fixed", "9:9")]),
            osv("DEB-UNFIXED", "Debian:12", "tzdata", &[("introduced", "0")]),
        ],
    );
    let r = scan_archive(&archive, &db);
    assert_eq!(
        found(&r),
        set(&[
            ("DEB-ABOVE-TILDE", "libssl3"),
            ("DEB-ABOVE-TILDE", "openssl"),
            ("DEB-SOURCE-VERSION", "bsdutils"),
            ("DEB-EPOCH", "libc6"),
            ("DEB-UNFIXED", "tzdata"),
        ]),
        "{:#?}",
        r.findings
    );
    let f = r.findings.iter().find(|f| f.id == "DEB-SOURCE-VERSION").unwrap();
    assert_eq!((f.installed.as_str(), f.fixed.as_deref()), ("2.38.1-5", Some("2.38.1-6")));
    assert_eq!(f.package.location.layer, diff_ids[0]);
    assert_eq!(f.package.location.path, "/var/lib/dpkg/status");
    // --ignore-unfixed drops the finding without a fix.
    let filtered = assess(Scanner::new().archive(&archive).unwrap(), &db, &Filter { ignore_unfixed: true, ..Filter::default() }).unwrap();
    assert!(!found(&filtered).contains(&("DEB-UNFIXED".to_owned(), "tzdata".to_owned())));
    assert_eq!(filtered.findings.len(), 4);
}

#[test]
fn alpine_apk_db_by_origin() {
    let installed = "C:Q1abc=\nP:libcrypto3\nV:3.1.4-r5\no:openssl\nL:Apache-2.0\n\nP:busybox\nV:1.36.1-r15\no:busybox\n\nP:zlib\nV:1.3.1-r0\n\n";
    let layer = LayerBuilder::new().file("etc/os-release", ALPINE_OS_RELEASE).file("lib/apk/db/installed", installed.as_bytes()).tar();
    let dir = tmp();
    let archive = path(&dir, "image.tar");
    docker_archive(&archive, &[layer]);
    let db = db_with(
        dir.path(),
        &[
            osv("ALP-ABOVE", "Alpine:v3.19", "openssl", &[("introduced", "0"), ("fixed", "3.1.4-r6")]),
            osv("ALP-EQUAL", "Alpine:v3.19", "openssl", &[("introduced", "0"), ("fixed", "3.1.4-r5")]),
            osv("ALP-BELOW", "Alpine:v3.19", "busybox", &[("introduced", "0"), ("fixed", "1.36.1-r2")]),
            osv("ALP-SUFFIX", "Alpine:v3.19", "busybox", &[("introduced", "0"), ("fixed", "1.36.1_p1-r0")]),
            osv("ALP-PRE", "Alpine:v3.19", "zlib", &[("introduced", "0"), ("fixed", "1.3.1_rc1-r0")]),
            osv("ALP-OTHER-RELEASE", "Alpine:v3.18", "zlib", &[("introduced", "0"), ("fixed", "9")]),
        ],
    );
    let r = scan_archive(&archive, &db);
    assert_eq!(found(&r), set(&[("ALP-ABOVE", "libcrypto3"), ("ALP-SUFFIX", "busybox")]), "{:#?}", r.findings);
}

#[test]
fn python_site_packages() {
    let meta = |n: &str, v: &str| format!("Metadata-Version: 2.1\nName: {n}\nVersion: {v}\nLicense: MIT\n\nDescription body\nVersion: 0.0.0\n");
    let layer = LayerBuilder::new()
        .file("usr/lib/python3/dist-packages/Django-4.2.1.dist-info/METADATA", meta("Django", "4.2.1").as_bytes())
        .file("usr/local/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA", meta("requests", "2.31.0").as_bytes())
        .file("usr/local/lib/python3.11/site-packages/PyYAML.egg-info/PKG-INFO", meta("PyYAML", "5.3.1").as_bytes())
        .file("usr/local/lib/python3.11/site-packages/six-1.16.0.egg-info", meta("six", "1.16.0").as_bytes())
        .file("home/user/notes/METADATA", meta("decoy", "0.1").as_bytes())
        .tar();
    let dir = tmp();
    let archive = path(&dir, "image.tar");
    docker_archive(&archive, &[layer]);
    let db = db_with(
        dir.path(),
        &[
            osv("PY-ABOVE", "PyPI", "django", &[("introduced", "4.2"), ("fixed", "4.2.2")]),
            osv("PY-EQUAL", "PyPI", "requests", &[("introduced", "0"), ("fixed", "2.31.0")]),
            osv("PY-PRE", "PyPI", "requests", &[("introduced", "0"), ("fixed", "2.31.0rc1")]),
            osv("PY-NORMALISED", "PyPI", "pyyaml", &[("introduced", "0"), ("fixed", "5.4")]),
            osv("PY-BELOW", "PyPI", "six", &[("introduced", "0"), ("fixed", "1.15")]),
            osv("PY-DECOY", "PyPI", "decoy", &[("introduced", "0")]),
        ],
    );
    let r = scan_archive(&archive, &db);
    assert_eq!(found(&r), set(&[("PY-ABOVE", "Django"), ("PY-NORMALISED", "PyYAML")]), "{:#?}", r.findings);
    assert_eq!(r.inventory.packages.iter().filter(|p| p.ecosystem == Ecosystem::PyPI).count(), 4);
}

#[test]
fn node_modules_tree() {
    let pj = |n: &str, v: &str| format!(r#"{{"name":"{n}","version":"{v}","license":"MIT"}}"#);
    let layer = LayerBuilder::new()
        .file("app/node_modules/lodash/package.json", pj("lodash", "4.17.20").as_bytes())
        .file("app/node_modules/@babel/traverse/package.json", pj("@babel/traverse", "7.23.1").as_bytes())
        .file("app/node_modules/express/node_modules/qs/package.json", pj("qs", "6.7.0").as_bytes())
        .file("app/node_modules/express/package.json", pj("express", "4.18.2").as_bytes())
        .file("app/node_modules/lodash/fp/package.json", pj("not-a-package", "1.0.0").as_bytes())
        .file("app/package.json", pj("my-app", "1.0.0").as_bytes())
        .tar();
    let dir = tmp();
    let archive = path(&dir, "image.tar");
    docker_archive(&archive, &[layer]);
    let db = db_with(
        dir.path(),
        &[
            osv("NPM-ABOVE", "npm", "lodash", &[("introduced", "0"), ("fixed", "4.17.21")]),
            osv("NPM-SCOPED", "npm", "@babel/traverse", &[("introduced", "0"), ("fixed", "7.23.2")]),
            osv("NPM-NESTED", "npm", "qs", &[("introduced", "6.7.0"), ("fixed", "6.7.3")]),
            osv("NPM-EQUAL", "npm", "express", &[("introduced", "0"), ("fixed", "4.18.2")]),
            osv("NPM-APP", "npm", "my-app", &[("introduced", "0")]),
            osv("NPM-DECOY", "npm", "not-a-package", &[("introduced", "0")]),
        ],
    );
    let r = scan_archive(&archive, &db);
    assert_eq!(found(&r), set(&[("NPM-ABOVE", "lodash"), ("NPM-SCOPED", "@babel/traverse"), ("NPM-NESTED", "qs")]), "{:#?}", r.findings);
    let qs = r.findings.iter().find(|f| f.id == "NPM-NESTED").unwrap();
    assert_eq!(qs.package.location.path, "/app/node_modules/express/node_modules/qs/package.json");
}

#[test]
fn cargo_lock_made_by_cargo() {
    // A real Cargo.lock: cargo resolves a dependency from its local registry cache.
    let dir = tmp();
    let proj = dir.path().join("proj");
    std::fs::create_dir_all(proj.join("src")).unwrap();
    std::fs::write(proj.join("Cargo.toml"), "[package]\nname = \"fixture\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nsemver = \"1\"\n").unwrap();
    std::fs::write(proj.join("src/main.rs"), "fn main() {}\n").unwrap();
    let out = std::process::Command::new(env!("CARGO")).args(["generate-lockfile", "--offline"]).current_dir(&proj).output().unwrap();
    assert!(out.status.success(), "cargo generate-lockfile: {}", String::from_utf8_lossy(&out.stderr));
    let lock = std::fs::read(proj.join("Cargo.lock")).unwrap();
    let text = String::from_utf8_lossy(&lock);
    let version = text.split("name = \"semver\"\nversion = \"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_owned();
    let v = semver::Version::parse(&version).unwrap();
    let above = format!("{}.{}.{}", v.major, v.minor, v.patch + 1);

    let layer = LayerBuilder::new().file("srv/app/Cargo.lock", &lock).tar();
    let archive = path(&dir, "image.tar");
    docker_archive(&archive, &[layer]);
    let db = db_with(
        dir.path(),
        &[
            osv("RUST-ABOVE", "crates.io", "semver", &[("introduced", "0"), ("fixed", &above)]),
            osv("RUST-EQUAL", "crates.io", "semver", &[("introduced", "0"), ("fixed", &version)]),
            osv("RUST-BELOW", "crates.io", "semver", &[("introduced", "0"), ("fixed", "1.0.0")]),
            osv("RUST-LOCAL", "crates.io", "fixture", &[("introduced", "0")]),
        ],
    );
    let r = scan_archive(&archive, &db);
    assert_eq!(found(&r), set(&[("RUST-ABOVE", "semver")]), "{:#?}", r.findings);
    let f = &r.findings[0];
    assert_eq!((f.installed.as_str(), f.fixed.as_deref()), (version.as_str(), Some(above.as_str())));
}

#[test]
fn severity_filter_and_cvss() {
    let status = dpkg_entry("openssl", "3.0.11-1", None) + &dpkg_entry("zlib1g", "1:1.2.13.dfsg-1", Some("zlib"));
    let layer = LayerBuilder::new().file("etc/os-release", DEBIAN_OS_RELEASE).file("var/lib/dpkg/status", status.as_bytes()).tar();
    let dir = tmp();
    let archive = path(&dir, "image.tar");
    docker_archive(&archive, &[layer]);
    let mut crit = osv("CRIT", "Debian:12", "openssl", &[("introduced", "0"), ("fixed", "3.0.12-1")]);
    crit["severity"] = serde_json::json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]);
    let mut low = osv("LOW", "Debian:12", "zlib", &[("introduced", "0"), ("fixed", "1:1.2.13.dfsg-2")]);
    low["affected"][0]["ecosystem_specific"] = serde_json::json!({"urgency": "low"});
    let db = db_with(dir.path(), &[crit, low]);
    let inv = Scanner::new().archive(&archive).unwrap();
    let all = assess(inv.clone(), &db, &Filter::default()).unwrap();
    assert_eq!(all.findings.iter().map(|f| (f.id.as_str(), f.severity)).collect::<Vec<_>>(), [("CRIT", Severity::Critical), ("LOW", Severity::Low)]);
    assert_eq!(all.findings[0].score, Some(9.8));
    let only = assess(inv, &db, &Filter { severities: vec![Severity::High, Severity::Critical], ..Filter::default() }).unwrap();
    assert_eq!(found(&only), set(&[("CRIT", "openssl")]));
}
