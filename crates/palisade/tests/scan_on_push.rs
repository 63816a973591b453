//! Scan-on-push: skopeo pushes the Debian image to `palisade up`'s registry and its scan
//! result appears through the API without another command; a database update recomputes it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "registry_support.rs"]
#[allow(unused_macros)]
mod support;
mod scan_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{stderr, Up, PALISADE};
use serde_json::{json, Value};
use support::skopeo;

fn curl_json(ca: &Path, auth: &[&str], url: &str) -> (u16, Value) {
    let out = Command::new("curl").args(["-s", "-w", "\n%{http_code}", "--cacert", ca.to_str().unwrap()]).args(auth).arg(url).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), serde_json::from_str(body).unwrap_or(Value::Null))
}

fn import(data: &Path, dir: &Path, records: &[Value]) {
    std::fs::create_dir_all(dir).unwrap();
    for r in records {
        std::fs::write(dir.join(format!("{}.json", r["id"].as_str().unwrap())), serde_json::to_vec(r).unwrap()).unwrap();
    }
    let out = Command::new(PALISADE).args(["scan", "db", "import", "--data-root"]).arg(data).arg(dir).output().unwrap();
    assert!(out.status.success(), "import: {}", stderr(&out));
}

fn record(id: &str, source: &str, fixed: &str) -> Value {
    json!({"id": id, "modified": "2024-01-01T00:00:00Z", "summary": format!("{source} fixture"),
        "affected": [{"package": {"ecosystem": "Debian:12", "name": source},
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]})
}

#[test]
fn skopeo_push_is_scanned_and_served_through_the_api() {
    let rootfs = scan_support::debian_rootfs();
    let expected = scan_support::dpkg_query(&rootfs);
    let (archive, _) = scan_support::debian_image();
    let source_version = |src: &str| expected.iter().find(|p| p.2 == src).unwrap().3.clone();

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = Up::start(&data);
    let ca = data.join("node/root-ca.crt");
    let registry = up.registry();
    let password = up.password();
    import(&data, &dir.path().join("osv1"), &[record("FIXTURE-GLIBC", "glibc", &format!("{}+zz9", source_version("glibc")))]);

    let certs = tempfile::tempdir().unwrap();
    std::fs::copy(&ca, certs.path().join("ca.crt")).unwrap();
    let digest_file = dir.path().join("digest");
    let (ok, err) = skopeo(&[
        "copy",
        "--dest-cert-dir",
        certs.path().to_str().unwrap(),
        "--dest-creds",
        &format!("admin:{password}"),
        "--digestfile",
        digest_file.to_str().unwrap(),
        &format!("docker-archive:{}", archive.display()),
        &format!("docker://{registry}/debian/minbase:12"),
    ]);
    assert!(ok, "skopeo copy: {err}");
    let digest = std::fs::read_to_string(&digest_file).unwrap().trim().to_owned();
    let url = format!("https://{registry}/scan/v1/debian/minbase/manifests/{digest}");

    // Without a token: the registry's challenge.
    let (code, _) = curl_json(&ca, &[], &url);
    assert_eq!(code, 401);
    let token_url = format!("https://{registry}/token?service=palisade-registry&scope=repository:debian/minbase:pull");
    let (code, token) = curl_json(&ca, &["-u", &format!("admin:{password}")], &token_url);
    assert_eq!(code, 200, "{token}");
    let bearer = format!("Authorization: Bearer {}", token["token"].as_str().unwrap());

    let poll = |want: &dyn Fn(&Value) -> bool| -> Value {
        let start = Instant::now();
        loop {
            let (code, v) = curl_json(&ca, &["-H", &bearer], &url);
            if code == 200 && want(&v) {
                return v;
            }
            assert!(code == 200 || code == 202, "{code}: {v}");
            assert!(start.elapsed() < Duration::from_secs(180), "no scan result: {code} {v}");
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    let findings = |v: &Value| -> Vec<(String, String)> {
        v["report"]["findings"].as_array().map_or(Vec::new(), |a| {
            a.iter().map(|f| (f["id"].as_str().unwrap().to_owned(), f["package"]["name"].as_str().unwrap().to_owned())).collect()
        })
    };
    let v = poll(&|v| v["status"] == "done");
    assert_eq!(v["digest"], digest.as_str());
    assert_eq!(v["repository"], "debian/minbase");
    let packages: std::collections::BTreeSet<(String, String)> = v["report"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_owned(), p["version"].as_str().unwrap().to_owned()))
        .collect();
    let want: std::collections::BTreeSet<(String, String)> = expected.iter().map(|p| (p.0.clone(), p.1.clone())).collect();
    assert_eq!(packages, want);
    let f = findings(&v);
    assert!(f.contains(&("FIXTURE-GLIBC".to_owned(), "libc6".to_owned())), "{f:?}");

    // A database update: the stored result is recomputed, with no new push.
    import(&data, &dir.path().join("osv2"), &[record("FIXTURE-ZLIB", "zlib", &format!("{}+zz9", source_version("zlib")))]);
    let v = poll(&|v| findings(v).iter().any(|(id, _)| id == "FIXTURE-ZLIB"));
    assert!(findings(&v).contains(&("FIXTURE-ZLIB".to_owned(), "zlib1g".to_owned())), "{:?}", findings(&v));
    assert_eq!(v["report"]["db_generation"], 2);

    // The same image scanned remotely, through the registry client.
    let out = Command::new(PALISADE)
        .args(["scan", "--format", "json", "--db"])
        .arg(data.join("scan/advisories.redb"))
        .args(["--tls-ca", ca.to_str().unwrap(), "--creds", &format!("admin:{password}"), &format!("{registry}/debian/minbase@{digest}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "remote scan: {}", stderr(&out));
    let remote: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(remote["packages"].as_array().unwrap().len(), v["report"]["packages"].as_array().unwrap().len());
    assert_eq!(remote["findings"].as_array().unwrap().len(), v["report"]["findings"].as_array().unwrap().len());

    // A digest that is not in the repository is unknown.
    let other = format!("https://{registry}/scan/v1/debian/minbase/manifests/sha256:{}", "0".repeat(64));
    assert_eq!(curl_json(&ca, &["-H", &bearer], &other).0, 404);
}
