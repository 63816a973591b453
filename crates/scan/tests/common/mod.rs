//! Fixture builders for the scanner's tests: layers, image archives and OSV records, all
//! made here so every test states exactly what it scans.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use palisade_scan::{assess, AdvisoryDb, Filter, Report, Scanner};
use serde_json::json;
use sha2::Digest as _;

/// A layer tarball built entry by entry.
pub struct LayerBuilder {
    b: tar::Builder<Vec<u8>>,
}

impl Default for LayerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerBuilder {
    pub fn new() -> Self {
        Self { b: tar::Builder::new(Vec::new()) }
    }

    pub fn file(self, path: &str, bytes: &[u8]) -> Self {
        self.file_mode(path, bytes, 0o644)
    }

    pub fn file_mode(mut self, path: &str, bytes: &[u8], mode: u32) -> Self {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(mode);
        h.set_entry_type(tar::EntryType::Regular);
        self.b.append_data(&mut h, path, bytes).unwrap();
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        self.b.append_link(&mut h, path, target).unwrap();
        self
    }

    pub fn whiteout(self, path: &str) -> Self {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let p = if dir.is_empty() { format!(".wh.{name}") } else { format!("{dir}/.wh.{name}") };
        self.file(&p, b"")
    }

    pub fn opaque(self, dir: &str) -> Self {
        self.file(&format!("{dir}/.wh..wh..opq"), b"")
    }

    /// Uncompressed tar bytes.
    pub fn tar(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }

    /// gzip-compressed tar bytes.
    pub fn gz(self) -> Vec<u8> {
        gzip(&self.tar())
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

fn append(b: &mut tar::Builder<std::fs::File>, name: &str, bytes: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(bytes.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, name, bytes).unwrap();
}

/// A `docker save` style archive of uncompressed layers; returns the layer diff_ids.
pub fn docker_archive(path: &Path, layers: &[Vec<u8>]) -> Vec<String> {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256(l)).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {},
    }))
    .unwrap();
    let config_name = format!("{}.json", &sha256(&config)[7..]);
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut names = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let name = format!("layer{i}/layer.tar");
        append(&mut b, &name, l);
        names.push(name);
    }
    append(&mut b, &config_name, &config);
    let manifest = serde_json::to_vec(&json!([{"Config": config_name, "RepoTags": ["fixture:latest"], "Layers": names}])).unwrap();
    append(&mut b, "manifest.json", &manifest);
    b.into_inner().unwrap().flush().unwrap();
    diff_ids
}

/// An OCI archive (tarred OCI layout) of gzip layers; returns the layer digests.
pub fn oci_archive(path: &Path, layers: &[Vec<u8>]) -> Vec<String> {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut descs = Vec::new();
    let mut digests = Vec::new();
    let mut diff_ids = Vec::new();
    for l in layers {
        let gz = gzip(l);
        let d = sha256(&gz);
        append(&mut b, &format!("blobs/sha256/{}", &d[7..]), &gz);
        descs.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": gz.len()}));
        digests.push(d);
        diff_ids.push(sha256(l));
    }
    let config = serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}})).unwrap();
    let cd = sha256(&config);
    append(&mut b, &format!("blobs/sha256/{}", &cd[7..]), &config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": descs,
    }))
    .unwrap();
    let md = sha256(&manifest);
    append(&mut b, &format!("blobs/sha256/{}", &md[7..]), &manifest);
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": manifest.len()}]})).unwrap();
    append(&mut b, "index.json", &index);
    append(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    b.into_inner().unwrap().flush().unwrap();
    digests
}

/// An OSV record with one affected package and one ECOSYSTEM range.
pub fn osv(id: &str, ecosystem: &str, name: &str, events: &[(&str, &str)]) -> serde_json::Value {
    let events: Vec<serde_json::Value> = events.iter().map(|(k, v)| json!({ *k: v })).collect();
    json!({
        "id": id, "modified": "2024-01-01T00:00:00Z", "summary": format!("{id} in {name}"),
        "affected": [{"package": {"ecosystem": ecosystem, "name": name}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}],
    })
}

/// Writes records as files in a fresh directory and imports them into a fresh database.
pub fn db_with(dir: &Path, records: &[serde_json::Value]) -> AdvisoryDb {
    let osv = dir.join("osv");
    std::fs::create_dir_all(&osv).unwrap();
    for r in records {
        let id = r["id"].as_str().unwrap();
        std::fs::write(osv.join(format!("{id}.json")), serde_json::to_vec(r).unwrap()).unwrap();
    }
    let db = AdvisoryDb::create(&dir.join("db.redb")).unwrap();
    let stats = db.import(&[osv]).unwrap();
    assert_eq!(stats.malformed, 0, "{:?}", stats.warnings);
    db
}

/// Scans an archive against a database with no filter.
pub fn scan_archive(archive: &Path, db: &AdvisoryDb) -> Report {
    assess(Scanner::new().archive(archive).unwrap(), db, &Filter::default()).unwrap()
}

/// `(id, package name)` of every finding.
pub fn found(r: &Report) -> BTreeSet<(String, String)> {
    r.findings.iter().map(|f| (f.id.clone(), f.package.name.clone())).collect()
}

pub fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

pub const DEBIAN_OS_RELEASE: &[u8] = b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n";
pub const ALPINE_OS_RELEASE: &[u8] = b"NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n";

/// A dpkg status paragraph.
pub fn dpkg_entry(name: &str, version: &str, source: Option<&str>) -> String {
    let mut s = format!("Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n");
    if let Some(src) = source {
        s.push_str(&format!("Source: {src}\n"));
    }
    s.push_str("Description: fixture\n long description\n\n");
    s
}
