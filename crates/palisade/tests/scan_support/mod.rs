//! Shared by the scan_* tests: a real Debian rootfs made with `debootstrap --variant=minbase`
//! (cached under /var/cache/palisade/scan between runs), packed as a one-layer docker-archive.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use sha2::Digest as _;

const CACHE: &str = "/var/cache/palisade/scan";
const SUITE: &str = "bookworm";
const MARKER: &str = ".palisade-complete";

/// The mirror apt is configured with (debootstrap fetches from it).
fn mirror() -> String {
    let sources = std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources").unwrap_or_default()
        + &std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    sources
        .lines()
        .find_map(|l| {
            let l = l.trim();
            let uri = l.strip_prefix("URIs:").map(str::trim).or_else(|| l.strip_prefix("deb ").and_then(|r| r.split_whitespace().find(|w| w.starts_with("http"))))?;
            let uri = uri.split_whitespace().next()?;
            (!uri.contains("security")).then(|| uri.to_owned())
        })
        .unwrap_or_else(|| "http://deb.debian.org/debian".to_owned())
}

/// Runs `f` once across processes: the first caller holds a lock directory while the others
/// wait for `done` to hold.
fn once_across_processes(lock: &Path, done: impl Fn() -> bool, f: impl FnOnce()) {
    let start = Instant::now();
    loop {
        if done() {
            return;
        }
        match std::fs::create_dir(lock) {
            Ok(()) => {
                if !done() {
                    f();
                }
                let _ = std::fs::remove_dir(lock);
                return;
            }
            Err(_) => {
                // A lock left by a killed run goes after 20 minutes.
                let stale = std::fs::metadata(lock)
                    .and_then(|m| m.modified())
                    .map(|t| SystemTime::now().duration_since(t).unwrap_or_default() > Duration::from_secs(1200))
                    .unwrap_or(false);
                if stale {
                    let _ = std::fs::remove_dir(lock);
                }
                assert!(start.elapsed() < Duration::from_secs(1500), "waited 25 minutes for {}", lock.display());
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

/// The cached minbase rootfs (made on first use: about a minute against a nearby mirror).
pub fn debian_rootfs() -> PathBuf {
    let root = Path::new(CACHE).join(format!("debootstrap-{SUITE}-minbase"));
    std::fs::create_dir_all(CACHE).unwrap();
    let marker = root.join(MARKER);
    once_across_processes(&Path::new(CACHE).join("debootstrap.lock"), || marker.exists(), || {
        let tmp = Path::new(CACHE).join(format!("debootstrap-{SUITE}-minbase.partial"));
        let _ = std::fs::remove_dir_all(&tmp);
        let out = Command::new("debootstrap")
            .args(["--variant=minbase", SUITE])
            .arg(&tmp)
            .arg(mirror())
            .output()
            .expect("debootstrap must be installed (scripts/test installs it)");
        assert!(out.status.success(), "debootstrap failed: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        std::fs::write(tmp.join(MARKER), b"").unwrap();
        let _ = std::fs::remove_dir_all(&root);
        std::fs::rename(&tmp, &root).unwrap();
    });
    root
}

/// `(package, version, source package, source version)` as dpkg-query reports them.
pub fn dpkg_query(rootfs: &Path) -> BTreeSet<(String, String, String, String)> {
    let out = Command::new("dpkg-query")
        .arg(format!("--admindir={}", rootfs.join("var/lib/dpkg").display()))
        .args(["-W", "-f", "${Package}\\t${Version}\\t${source:Package}\\t${source:Version}\\n"])
        .output()
        .unwrap();
    assert!(out.status.success(), "dpkg-query: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_owned(), f[1].to_owned(), f[2].to_owned(), f[3].to_owned())
        })
        .collect()
}

fn pack_layer(rootfs: &Path, out: &Path) {
    let mut b = tar::Builder::new(std::io::BufWriter::new(std::fs::File::create(out).unwrap()));
    b.follow_symlinks(false);
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(rootfs.join(&rel)).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = rel.join(e.file_name());
            if name.as_os_str() == MARKER {
                continue;
            }
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                b.append_path_with_name(e.path(), &name).unwrap();
                todo.push(name);
            } else if ft.is_file() || ft.is_symlink() {
                b.append_path_with_name(e.path(), &name).unwrap();
            }
            // Device nodes, fifos and sockets stay out: images carry none.
        }
    }
    b.into_inner().unwrap().flush().unwrap();
}

/// The rootfs packed as a one-layer docker-archive tagged `debian-minbase:latest` (cached
/// beside the rootfs); returns its path and the layer's diff_id.
pub fn debian_image() -> (PathBuf, String) {
    let rootfs = debian_rootfs();
    let archive = Path::new(CACHE).join(format!("{SUITE}-minbase-image.tar"));
    let id_file = Path::new(CACHE).join(format!("{SUITE}-minbase-image.diffid"));
    once_across_processes(&Path::new(CACHE).join("image.lock"), || archive.exists() && id_file.exists(), || {
        let layer = Path::new(CACHE).join("layer.tar.partial");
        pack_layer(&rootfs, &layer);
        let mut h = sha2::Sha256::new();
        std::io::copy(&mut std::fs::File::open(&layer).unwrap(), &mut h).unwrap();
        let diff_id = format!("sha256:{}", hex::encode(h.finalize()));
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["/bin/bash"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }))
        .unwrap();
        let config_name = format!("{}.json", hex::encode(sha2::Sha256::digest(&config)));
        let manifest = serde_json::to_vec(&serde_json::json!([{"Config": config_name, "RepoTags": ["debian-minbase:latest"], "Layers": ["layer.tar"]}])).unwrap();
        let partial = archive.with_extension("partial");
        let mut b = tar::Builder::new(std::fs::File::create(&partial).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_size(config.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, &config_name, config.as_slice()).unwrap();
        b.append_path_with_name(&layer, "layer.tar").unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(manifest.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, "manifest.json", manifest.as_slice()).unwrap();
        b.into_inner().unwrap().sync_all().unwrap();
        std::fs::remove_file(&layer).unwrap();
        std::fs::write(&id_file, &diff_id).unwrap();
        std::fs::rename(&partial, &archive).unwrap();
    });
    (archive, std::fs::read_to_string(id_file).unwrap())
}
