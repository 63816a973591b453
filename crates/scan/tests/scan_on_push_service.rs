//! The scan-on-push service: a queued manifest is scanned in the background, its result is
//! kept per digest, and a database update recomputes results without reading layers again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use palisade_scan::{AdvisoryDb, BlobSource, RegistryContent, ScanService, ScanStatus, ServiceOptions};
use serde_json::json;

#[derive(Default)]
struct Fake {
    blobs: HashMap<String, Vec<u8>>,
    reads: Mutex<usize>,
}

impl BlobSource for Fake {
    fn open(&self, digest: &str) -> io::Result<Box<dyn Read + '_>> {
        *self.reads.lock().unwrap() += 1;
        self.blobs.get(digest).map(|b| Box::new(b.as_slice()) as Box<dyn Read>).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, digest.to_owned()))
    }
}

impl RegistryContent for Fake {
    fn manifest(&self, _repo: &str, digest: &str) -> io::Result<Vec<u8>> {
        self.blobs.get(digest).cloned().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, digest.to_owned()))
    }
}

fn wait_for(service: &ScanService, digest: &str, pred: impl Fn(&palisade_scan::ScanResult) -> bool) -> palisade_scan::ScanResult {
    let start = Instant::now();
    loop {
        if let Some(r) = service.result(digest).unwrap() {
            if pred(&r) {
                return r;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(30), "timed out: {:?}", service.result(digest));
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn pushed_manifest_is_scanned_and_rematched_after_a_db_update() {
    let layer = LayerBuilder::new()
        .file("etc/os-release", DEBIAN_OS_RELEASE)
        .file("var/lib/dpkg/status", dpkg_entry("libssl3", "3.0.11-1~deb12u2", Some("openssl")).as_bytes())
        .gz();
    let ld = sha256(&layer);
    let manifest = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": ld, "size": 1},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": layer.len()}]}))
    .unwrap();
    let md = sha256(&manifest);
    let mut fake = Fake::default();
    fake.blobs.insert(ld.clone(), layer);
    fake.blobs.insert(md.clone(), manifest);
    let fake = Arc::new(fake);

    let dir = tmp();
    let scan_dir = dir.path().join("scan");
    let service = ScanService::start(&scan_dir, fake.clone(), ServiceOptions { capacity: 4, poll: Duration::from_millis(100) }).unwrap();
    assert!(service.result(&md).unwrap().is_none());
    service.enqueue("team/app", &md);
    let r = wait_for(&service, &md, |r| r.status == ScanStatus::Done);
    let report = r.report.unwrap();
    assert_eq!(report.inventory.packages.len(), 1);
    assert!(report.findings.is_empty(), "no database yet");
    assert_eq!(report.inventory.packages[0].location.layer, ld);
    let reads = *fake.reads.lock().unwrap();

    // An advisory database appears: the stored inventory is matched again.
    let osv_dir = dir.path().join("osv");
    std::fs::create_dir_all(&osv_dir).unwrap();
    std::fs::write(osv_dir.join("a.json"), serde_json::to_vec(&osv("DSA-1", "Debian:12", "openssl", &[("introduced", "0"), ("fixed", "3.0.11-1")])).unwrap()).unwrap();
    AdvisoryDb::create(&service.db_path()).unwrap().import(std::slice::from_ref(&osv_dir)).unwrap();
    let r = wait_for(&service, &md, |r| r.report.as_ref().is_some_and(|rep| !rep.findings.is_empty()));
    let rep = r.report.unwrap();
    assert_eq!((rep.findings[0].id.as_str(), rep.db_generation), ("DSA-1", 1));
    assert_eq!(*fake.reads.lock().unwrap(), reads, "layers are not read again");

    // An unknown digest fails with a reason; results survive a restart.
    let missing = format!("sha256:{}", "0".repeat(64));
    service.enqueue("team/app", &missing);
    let r = wait_for(&service, &missing, |r| r.status == ScanStatus::Failed);
    assert!(r.error.unwrap().contains(&missing));
    service.stop();
    drop(service);
    let again = ScanService::start(&scan_dir, fake, ServiceOptions::default()).unwrap();
    assert_eq!(again.result(&md).unwrap().unwrap().status, ScanStatus::Done);
}

/// A registry whose manifest reads wait until the test opens a gate.
struct Gated {
    gate: Mutex<bool>,
    open: std::sync::Condvar,
}

impl BlobSource for Gated {
    fn open(&self, digest: &str) -> io::Result<Box<dyn Read + '_>> {
        Err(io::Error::new(io::ErrorKind::NotFound, digest.to_owned()))
    }
}

impl RegistryContent for Gated {
    fn manifest(&self, _repo: &str, digest: &str) -> io::Result<Vec<u8>> {
        let mut g = self.gate.lock().unwrap();
        while !*g {
            g = self.open.wait(g).unwrap();
        }
        Err(io::Error::new(io::ErrorKind::NotFound, digest.to_owned()))
    }
}

#[test]
fn a_busy_worker_never_blocks_pushes_and_the_queue_is_bounded() {
    let dir = tmp();
    let gated = Arc::new(Gated { gate: Mutex::new(false), open: std::sync::Condvar::new() });
    let service = ScanService::start(&dir.path().join("scan"), gated.clone(), ServiceOptions { capacity: 2, poll: Duration::from_millis(50) }).unwrap();
    let d = |i: u32| format!("sha256:{i:064x}");
    service.enqueue("r", &d(0));
    wait_for(&service, &d(0), |r| r.status == ScanStatus::Scanning);
    // The worker is stuck on d(0): pushes still return at once; two wait, the rest are dropped.
    let start = Instant::now();
    for i in 1..=5 {
        service.enqueue("r", &d(i));
    }
    assert!(start.elapsed() < Duration::from_millis(500), "enqueue blocked for {:?}", start.elapsed());
    let status = |i| service.result(&d(i)).unwrap().unwrap().status;
    assert_eq!([status(1), status(2), status(3), status(5)], [ScanStatus::Queued, ScanStatus::Queued, ScanStatus::Dropped, ScanStatus::Dropped]);
    *gated.gate.lock().unwrap() = true;
    gated.open.notify_all();
    for i in [0, 1, 2] {
        wait_for(&service, &d(i), |r| r.status == ScanStatus::Failed);
    }
    assert_eq!(status(3), ScanStatus::Dropped);
}
