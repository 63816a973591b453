//! A real Debian rootfs (debootstrap minbase), packed as an image and loaded into a daemon:
//! `palisade scan IMAGE` finds every package `dpkg-query -W` lists, with its version and
//! source package; `--input` and `--rootfs` agree; advisories keyed by source package reach
//! every binary package built from it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod scan_support;

use std::collections::BTreeSet;
use std::process::Command;

use common::{stderr, stdout, Node, PALISADE};
use serde_json::Value;

fn packages(report: &Value) -> BTreeSet<(String, String, String, String)> {
    report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["ecosystem"] == "Debian")
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
            (s("name"), s("version"), s("source_name"), s("source_version"))
        })
        .collect()
}

#[test]
fn every_dpkg_package_is_found_with_version_and_source() {
    let rootfs = scan_support::debian_rootfs();
    let expected = scan_support::dpkg_query(&rootfs);
    assert!(expected.len() > 80, "a minbase system has ~90 packages, dpkg-query listed {}", expected.len());
    let (archive, diff_id) = scan_support::debian_image();

    // An advisory set: glibc (source of libc6 and libc-bin) affected, fixed above the
    // installed version; one already fixed below it.
    let glibc = expected.iter().find(|p| p.0 == "libc6").unwrap().3.clone();
    let work = tempfile::tempdir().unwrap();
    let osv = work.path().join("osv");
    std::fs::create_dir_all(&osv).unwrap();
    let rec = |id: &str, fixed: &str| {
        serde_json::json!({"id": id, "modified": "2024-01-01T00:00:00Z", "summary": "glibc fixture",
            "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]})
    };
    std::fs::write(osv.join("a.json"), serde_json::to_vec(&rec("FIXTURE-GLIBC-OPEN", &format!("{glibc}+zz9"))).unwrap()).unwrap();
    std::fs::write(osv.join("b.json"), serde_json::to_vec(&rec("FIXTURE-GLIBC-FIXED", "2.0-1")).unwrap()).unwrap();
    let db = work.path().join("db.redb");
    let out = Command::new(PALISADE).args(["scan", "db", "import", "--db"]).arg(&db).arg(&osv).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = Command::new(PALISADE).args(["scan", "db", "info", "--db"]).arg(&db).output().unwrap();
    let info = stdout(&out);
    assert!(info.contains("advisories:  2") && info.contains("Debian:12        2 package entries"), "{info}");

    let node = Node::start();
    let out = node.palisade(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.status.success(), "load: {}", stderr(&out));

    let data_root = node.data_root();
    let scan = |target: &[&str]| -> Value {
        let out = Command::new(PALISADE)
            .args(["scan", "--format", "json", "--db", db.to_str().unwrap(), "--data-root", data_root.to_str().unwrap()])
            .args(target)
            .output()
            .unwrap();
        assert!(out.status.success(), "scan {target:?}: {}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    };

    let report = scan(&["debian-minbase:latest"]);
    assert_eq!(packages(&report), expected);
    assert_eq!(report["os"]["id"], "debian");
    assert_eq!(report["layers"], serde_json::json!([diff_id]));
    let pkg = report["packages"].as_array().unwrap().iter().find(|p| p["name"] == "bash").unwrap();
    assert_eq!(pkg["location"], serde_json::json!({"layer": diff_id, "path": "/var/lib/dpkg/status"}));

    let libc_binaries: BTreeSet<String> = expected.iter().filter(|p| p.2 == "glibc").map(|p| p.0.clone()).collect();
    assert!(libc_binaries.contains("libc6") && libc_binaries.contains("libc-bin"), "{libc_binaries:?}");
    let found: BTreeSet<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["id"].as_str().unwrap().to_owned(), f["package"]["name"].as_str().unwrap().to_owned()))
        .collect();
    let want: BTreeSet<(String, String)> = libc_binaries.iter().map(|b| ("FIXTURE-GLIBC-OPEN".to_owned(), b.clone())).collect();
    assert_eq!(found, want);

    // The same image as an archive and as a directory.
    assert_eq!(packages(&scan(&["--input", archive.to_str().unwrap()])), expected);
    assert_eq!(packages(&scan(&["--rootfs", rootfs.to_str().unwrap()])), expected);

    // --exit-code turns findings into a failing status; the table names the package and fix.
    let out = Command::new(PALISADE)
        .args(["scan", "--db", db.to_str().unwrap(), "--exit-code", "3", "--input", archive.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.contains("FIXTURE-GLIBC-OPEN") && table.contains("libc6 (glibc)") && table.contains(&format!("{glibc}+zz9")), "{table}");
}
