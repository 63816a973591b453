//! Crash safety: SIGKILL the registry while 20 clients upload in parallel, and while the real
//! `skopeo` pushes images in a loop; after a restart every acknowledged blob, manifest and image
//! is intact (checked by digest) and no partial blob is visible.
//! (SIGKILL keeps the page cache, so this checks atomic visibility and acknowledgement order;
//! power-loss durability rests on the fsync discipline of the filesystem driver.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "registry_support.rs"]
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::fault::kill_mid_flight;
use support::{build_image, pseudo_random, sha256, skopeo, start, Image, Kind, Opts};

type Acked = Arc<Mutex<Vec<(String, String, String)>>>;

/// One client: chunked blob uploads, and a manifest per pair of blobs, until an error.
fn client_loop(base: String, id: u64, blobs: Acked, manifests: Acked, stop: Arc<AtomicBool>) {
    let c = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let repo = format!("crash/c{id}");
    let mut n = 0u64;
    let mut pending: Vec<(String, usize)> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let data = pseudo_random(id * 1_000_003 + n, 256 * 1024 + ((id * 7919 + n * 104_729) % (768 * 1024)) as usize);
        let d = sha256(&data);
        let step = || -> Option<()> {
            let r = c.post(format!("{base}/v2/{repo}/blobs/uploads/")).send().ok()?;
            let mut loc = format!("{base}{}", r.headers().get("location")?.to_str().ok()?);
            let (a, b) = data.split_at(data.len() / 2);
            for (start, chunk) in [(0, a), (a.len(), b)] {
                let r = c
                    .patch(&loc)
                    .header("content-range", format!("{start}-{}", start + chunk.len() - 1))
                    .body(chunk.to_vec())
                    .send()
                    .ok()?;
                if r.status() != 202 {
                    return None;
                }
                loc = format!("{base}{}", r.headers().get("location")?.to_str().ok()?);
            }
            let r = c.put(format!("{loc}?digest={d}")).send().ok()?;
            (r.status() == 201).then_some(())
        };
        if step().is_none() {
            return;
        }
        blobs.lock().unwrap().push((repo.clone(), d.clone(), String::new()));
        pending.push((d, data.len()));
        if pending.len() == 2 {
            let (cfg, layer) = (pending.remove(0), pending.remove(0));
            let m = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg.0, "size": cfg.1},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.0, "size": layer.1}],
            }))
            .unwrap();
            let tag = format!("t{n}");
            let Ok(r) = c
                .put(format!("{base}/v2/{repo}/manifests/{tag}"))
                .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                .body(m.clone())
                .send()
            else {
                return;
            };
            if r.status() != 201 {
                return;
            }
            manifests.lock().unwrap().push((repo.clone(), tag, sha256(&m)));
        }
    }
}

#[test]
fn kill9_during_parallel_uploads_keeps_acknowledged_content_palisade() {
    let mut s = start(Kind::Palisade, &Opts::default());
    let blobs: Acked = Arc::default();
    let manifests: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..20u64)
        .map(|id| {
            let (base, b, m, st) = (s.base(), blobs.clone(), manifests.clone(), stop.clone());
            std::thread::spawn(move || client_loop(base, id, b, m, st))
        })
        .collect();
    // Let real work happen (progress-based, bounded), then kill mid-flight.
    for _ in 0..6000 {
        if blobs.lock().unwrap().len() >= 60 && manifests.lock().unwrap().len() >= 10 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    s.kill9_and_restart();
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    let blobs = blobs.lock().unwrap().clone();
    let manifests = manifests.lock().unwrap().clone();
    assert!(blobs.len() >= 60 && manifests.len() >= 10, "too little work before the kill");

    let c = s.client();
    for (repo, d, _) in &blobs {
        let r = c.get(s.url(&format!("/v2/{repo}/blobs/{d}"))).send().unwrap();
        assert_eq!(r.status(), 200, "acknowledged blob {d} in {repo} lost");
        assert_eq!(&sha256(&r.bytes().unwrap()), d, "acknowledged blob {d} corrupt");
    }
    for (repo, tag, d) in &manifests {
        let r = c.get(s.url(&format!("/v2/{repo}/manifests/{tag}"))).send().unwrap();
        assert_eq!(r.status(), 200, "acknowledged manifest {repo}:{tag} lost");
        assert_eq!(r.headers()["docker-content-digest"], d.as_str());
        assert_eq!(&sha256(&r.bytes().unwrap()), d);
    }
    // Every blob visible in the content store hashes to its name: nothing partial.
    let mut checked = 0;
    let root = s.storage_root().join("blobs/sha256");
    for prefix in std::fs::read_dir(&root).unwrap().flatten() {
        for blob in std::fs::read_dir(prefix.path()).unwrap().flatten() {
            let name = blob.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") {
                continue;
            }
            let path = blob.path().join("data");
            if !path.exists() {
                // Killed before the rename: only an invisible temp file may be there.
                for e in std::fs::read_dir(blob.path()).unwrap().flatten() {
                    assert!(e.file_name().to_string_lossy().starts_with(".tmp-"), "{:?}", e.path());
                }
                let r = c.head(s.url(&format!("/v2/crash/c0/blobs/sha256:{name}"))).send().unwrap();
                assert_eq!(r.status(), 404);
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            assert_eq!(sha256(&data), format!("sha256:{name}"), "partial or corrupt blob visible");
            checked += 1;
        }
    }
    assert!(checked >= blobs.len());
    // And the restarted registry still accepts writes.
    support::push_blob(&s, &c, "crash/after", b"still writable");
}

/// `skopeo copy` of fresh images to `crash/skopeo:<thread>-<n>` until a push fails; each
/// acknowledged push is recorded with its image (the layout, to check against by digest).
fn skopeo_loop(addr: std::net::SocketAddr, thread: usize, acked: Arc<Mutex<Vec<(String, Image)>>>, stop: Arc<AtomicBool>) {
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let tag = format!("{thread}-{n}");
        let img = build_image(&tag);
        let src = format!("oci:{}:{tag}", img.layout().display());
        let (ok, _) = skopeo(&["copy", "--dest-tls-verify=false", &src, &format!("docker://{addr}/crash/skopeo:{tag}")]);
        if !ok {
            return;
        }
        acked.lock().unwrap().push((tag, img));
    }
}

#[test]
fn kill9_during_a_skopeo_push_loop_keeps_acknowledged_images_palisade() {
    let mut s = start(Kind::Palisade, &Opts::default());
    let acked: Arc<Mutex<Vec<(String, Image)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let (addr, acked, stop) = (s.addr, acked.clone(), stop.clone());
            std::thread::spawn(move || skopeo_loop(addr, t, acked, stop))
        })
        .collect();
    // Some pushes acknowledged, then a kill at a moment that varies per run.
    kill_mid_flight(threads, &stop, || acked.lock().unwrap().len() >= 4, 500, || s.kill9_and_restart());
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(acked.len() >= 4, "too few pushes before the kill");

    let c = s.client();
    for (tag, img) in &acked {
        let r = c
            .get(s.url(&format!("/v2/crash/skopeo/manifests/{tag}")))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged image crash/skopeo:{tag} lost");
        assert_eq!(r.headers()["docker-content-digest"], img.manifest_digest.as_str());
        assert_eq!(sha256(&r.bytes().unwrap()), img.manifest_digest, "{tag}: manifest corrupt");
        for d in &img.blobs {
            let r = c.get(s.url(&format!("/v2/crash/skopeo/blobs/{d}"))).send().unwrap();
            assert_eq!(r.status(), 200, "{tag}: blob {d} lost");
            assert_eq!(&sha256(&r.bytes().unwrap()), d, "{tag}: blob {d} corrupt");
        }
    }
    // The real client pulls an acknowledged image back, and pushes again.
    let (tag, img) = &acked[0];
    let out = tempfile::tempdir().unwrap();
    let (ok, err) = skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/crash/skopeo:{tag}", s.addr),
        &format!("oci:{}:{tag}", out.path().display()),
    ]);
    assert!(ok, "pull after restart: {err}");
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(out.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], img.manifest_digest.as_str());
    let again = build_image("again");
    let (ok, err) = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:again", again.layout().display()),
        &format!("docker://{}/crash/skopeo:again", s.addr),
    ]);
    assert!(ok, "push after restart: {err}");
}
