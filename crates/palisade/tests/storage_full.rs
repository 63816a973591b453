//! Fault injection: a full disk. The registry's storage root and the trust server's data root
//! each live on a small tmpfs. A push (raw HTTP and the real `skopeo`) or a publish (the real
//! `notary`) that does not fit gets a clear answer — 507 Insufficient Storage naming "no space
//! left on device" — and leaves nothing partial visible: no blob, no tag, no repository, no
//! upload bytes, no new trust metadata. Once the tmpfs is remounted bigger the same push or
//! publish succeeds and reads back by digest, without restarting the server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "registry_support.rs"]
mod support;

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use common::TrustServerProc;
use support::{build_image_with, error_code, pseudo_random, put_oci_manifest, sha256, skopeo, start, Kind, Opts, Server};

/// A tmpfs of a fixed size on a fresh directory; unmounted on drop, even on panic and even while
/// a server still holds files in it (lazy unmount).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let tmpfs = Self { dir };
        tmpfs.mount_opts(&format!("size={size},mode=0700"));
        tmpfs
    }

    fn mount_opts(&self, opts: &str) {
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", opts, "tmpfs"]).arg(self.path()).output().unwrap();
        assert!(out.status.success(), "mount -o {opts}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Gives the file system `size` bytes of room in all (space returns).
    fn resize(&self, size: &str) {
        self.mount_opts(&format!("remount,size={size}"));
    }

    /// Writes `name` until the file system is full; returns its size.
    fn fill(&self, name: &str) -> u64 {
        let mut f = std::fs::File::create(self.path().join(name)).unwrap();
        let chunk = vec![0xa5u8; 4096];
        let mut written = 0u64;
        loop {
            match f.write(&chunk) {
                Ok(n) => written += n as u64,
                Err(e) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}");
                    return written;
                }
            }
        }
    }

    /// Bytes held by regular files under `dir` named `name` (every file if `None`).
    fn bytes_in(dir: &Path, name: Option<&str>) -> u64 {
        let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
        entries
            .flatten()
            .map(|e| {
                let md = e.path().symlink_metadata().unwrap();
                if md.is_dir() {
                    Self::bytes_in(&e.path(), name)
                } else if name.is_none_or(|n| e.file_name() == n) {
                    md.len()
                } else {
                    0
                }
            })
            .sum()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

const MIB: usize = 1024 * 1024;

/// Asserts a registry error answer is the clear storage-full one.
fn assert_storage_full(what: &str, status: u16, body: &str) {
    assert_eq!(status, 507, "{what}: {body}");
    assert_eq!(error_code(body), "UNKNOWN", "{what}: {body}");
    assert!(body.contains("no space left on device"), "{what}: {body}");
}

/// POST then PUT with the whole body; returns (status, body) of the PUT (or of the POST when
/// that failed).
fn monolithic(s: &Server, c: &reqwest::blocking::Client, repo: &str, data: &[u8]) -> (u16, String) {
    let r = c.post(s.url(&format!("/v2/{repo}/blobs/uploads/"))).send().unwrap();
    if r.status() != 202 {
        return (r.status().as_u16(), r.text().unwrap());
    }
    let loc = s.resolve(r.headers()["location"].to_str().unwrap());
    let r = c
        .put(format!("{loc}?digest={}", sha256(data)))
        .header("content-type", "application/octet-stream")
        .body(data.to_vec())
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

fn skopeo_push(s: &Server, layout: &Path, tag: &str, dest: &str) -> (bool, String) {
    skopeo(&["copy", "--dest-tls-verify=false", &format!("oci:{}:{tag}", layout.display()), &format!("docker://{}/{dest}", s.addr)])
}

fn catalog(s: &Server, c: &reqwest::blocking::Client) -> serde_json::Value {
    c.get(s.url("/v2/_catalog")).send().unwrap().json::<serde_json::Value>().unwrap()["repositories"].clone()
}

/// Nothing of a failed push is visible: not the blob, not the repository, no upload bytes.
fn assert_nothing_stored(s: &Server, c: &reqwest::blocking::Client, repo: &str, digest: &str) {
    let r = c.head(s.url(&format!("/v2/{repo}/blobs/{digest}"))).send().unwrap();
    assert_eq!(r.status(), 404, "blob {digest} visible after a failed push");
    assert_eq!(catalog(s, c), serde_json::json!(["base/app"]), "a failed push created a repository");
    let r = c.get(s.url(&format!("/v2/{repo}/tags/list"))).send().unwrap();
    assert_eq!(r.status(), 404, "tags of {repo}");
    assert!(!s.storage_root_contains(digest.trim_start_matches("sha256:")), "{digest} in the storage root");
    // Failed uploads are discarded whole: no session and no bytes are left holding space.
    let uploads = s.storage_root().join("_uploads");
    let sessions: Vec<_> = std::fs::read_dir(&uploads).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(sessions.is_empty(), "upload sessions left behind: {sessions:?}");
    assert!(Tmpfs::bytes_in(&s.storage_root(), None) < 64 * 1024, "the storage root holds leftovers");
}

#[test]
fn registry_on_a_full_disk_refuses_clearly_stores_nothing_and_recovers() {
    let fs = Tmpfs::mount("4m");
    let s = start(Kind::Palisade, &Opts { storage: Some(fs.path().to_owned()), ..Opts::default() });
    let c = s.client();
    let (_, base) = support::push_image_manifest(&s, &c, "base/app", "v1", "base");

    // A blob twice the size of the file system, monolithic and chunked.
    let big = pseudo_random(7, 8 * MIB);
    let d = sha256(&big);
    let (status, body) = monolithic(&s, &c, "full/app", &big);
    assert_storage_full("monolithic upload", status, &body);
    assert_nothing_stored(&s, &c, "full/app", &d);
    let r = c.post(s.url("/v2/full/app/blobs/uploads/")).send().unwrap();
    let loc = s.resolve(r.headers()["location"].to_str().unwrap());
    let r = c.patch(&loc).header("content-type", "application/octet-stream").body(big.clone()).send().unwrap();
    let status = r.status().as_u16();
    assert_storage_full("chunk upload", status, &r.text().unwrap());
    let r = c.get(&loc).send().unwrap();
    assert_eq!(r.status(), 404, "the upload stays usable after a full storage");
    assert_eq!(error_code(&r.text().unwrap()), "BLOB_UPLOAD_UNKNOWN");
    assert_nothing_stored(&s, &c, "full/app", &d);

    // The real client: skopeo reports the status, and nothing is stored.
    let img = build_image_with("big", &[("srv/noise", pseudo_random(11, 6 * MIB), 0o644)]);
    let (ok, err) = skopeo_push(&s, img.layout(), "big", "full/app:big");
    assert!(!ok, "skopeo push onto a full disk succeeded");
    assert!(err.contains("507") || err.contains("no space left on device"), "unclear skopeo error: {err}");
    // Its small layers may have landed (each was acknowledged); the big one and the manifest not.
    let noise_layer = img.blobs.iter().max_by_key(|b| img.blob(b).len()).unwrap();
    let r = c.head(s.url(&format!("/v2/full/app/blobs/{noise_layer}"))).send().unwrap();
    assert_eq!(r.status(), 404, "the layer that did not fit is visible");
    let r = c.get(s.url("/v2/full/app/manifests/big")).send().unwrap();
    assert_eq!(r.status(), 404, "the manifest of a failed push is visible");
    assert!(!s.storage_root_contains(noise_layer.trim_start_matches("sha256:")));
    assert_eq!(Tmpfs::bytes_in(&s.storage_root().join("_uploads"), None), 0, "upload bytes left behind");

    // A manifest when not a byte is left: refused, no tag, the old tag intact.
    let cfg = support::push_blob(&s, &c, "base/app", b"{\"seed\":\"full\"}");
    let filler = fs.fill("filler");
    assert!(filler > 0);
    let m = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": 15},
        "layers": [],
    }))
    .unwrap();
    let (status, body) = put_oci_manifest(&s, &c, "base/app", "v2", &m);
    assert_storage_full("manifest put", status, &body);
    let tags = c.get(s.url("/v2/base/app/tags/list")).send().unwrap().json::<serde_json::Value>().unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["v1"]));
    let r = c.get(s.url("/v2/base/app/manifests/v1")).send().unwrap();
    assert_eq!(r.headers()["docker-content-digest"], base.as_str());
    let (status, body) = monolithic(&s, &c, "full/app", b"tiny");
    assert_storage_full("upload start on a full disk", status, &body);
    std::fs::remove_file(fs.path().join("filler")).unwrap();

    // Space returns: the same pushes succeed, no restart, and read back by digest.
    fs.resize("64m");
    assert_eq!(support::push_blob(&s, &c, "full/app", &big), d);
    let r = c.get(s.url(&format!("/v2/full/app/blobs/{d}"))).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(sha256(&r.bytes().unwrap()), d);
    assert_eq!(put_oci_manifest(&s, &c, "base/app", "v2", &m).0, 201);
    let (ok, err) = skopeo_push(&s, img.layout(), "big", "full/app:big");
    assert!(ok, "skopeo push after space returned: {err}");
    let r = c.get(s.url("/v2/full/app/manifests/big")).header("accept", "application/vnd.oci.image.manifest.v1+json").send().unwrap();
    assert_eq!(r.headers()["docker-content-digest"], img.manifest_digest.as_str());
    assert_eq!(sha256(&r.bytes().unwrap()), img.manifest_digest);
}

/// The trust server on a tmpfs (its `root` is a symlink into it).
fn trust_server_on(fs: &Tmpfs) -> TrustServerProc {
    TrustServerProc::start_with(|dir| std::os::unix::fs::symlink(fs.path(), dir.join("root")).unwrap())
}

const GUN: &str = "127.0.0.1:5000/full/app";

/// `notary add` then `notary publish` of target `name`; returns publish's (success, output).
fn add_and_publish(server: &TrustServerProc, name: &str, contents: &[u8]) -> (bool, String) {
    let file = server.dir.path().join(format!("{name}.bin"));
    std::fs::write(&file, contents).unwrap();
    server.notary_ok(&["add", GUN, name, file.to_str().unwrap()]);
    server.notary(&["publish", GUN])
}

/// The current root, targets, snapshot and timestamp the server serves.
fn served_metadata(server: &TrustServerProc) -> Vec<Vec<u8>> {
    ["root", "targets", "snapshot", "timestamp"].iter().map(|r| server.get_meta(GUN, &format!("{r}.json"))).collect()
}

/// The sha256 (hex) the server's current targets role records for `name`, if any.
fn target_sha256(server: &TrustServerProc, name: &str) -> Option<String> {
    let targets: serde_json::Value = serde_json::from_slice(&server.get_meta(GUN, "targets.json")).unwrap();
    let b64 = targets["signed"]["targets"][name]["hashes"]["sha256"].as_str()?;
    use base64::Engine as _;
    Some(hex::encode(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()))
}

#[test]
fn trust_server_on_a_full_disk_refuses_clearly_serves_the_old_data_and_recovers() {
    let fs = Tmpfs::mount("16m");
    let server = trust_server_on(&fs);
    server.notary_ok(&["init", GUN]);
    let (ok, out) = add_and_publish(&server, "v1", b"one");
    assert!(ok, "{out}");
    let before = served_metadata(&server);

    fs.fill("filler");
    // Small writes may still fit in pages the database file already holds: new server keys
    // (a raw POST) until one does not, which gets the wire answer in full.
    let rotate = format!("{}/v2/{GUN}/_trust/tuf/timestamp.key", server.url());
    let (status, body) = (0..500)
        .map(|_| server.curl(&["-X", "POST", &rotate]))
        .find(|(status, _)| *status != 200)
        .expect("the database never ran out of room");
    assert_eq!(status, 507, "{body}");
    let e = &serde_json::from_str::<serde_json::Value>(&body).unwrap()["errors"][0];
    assert_eq!(e["code"], "UNKNOWN", "{body}");
    assert!(e["message"].as_str().unwrap().contains("no space left on device"), "{body}");
    // The real client: notary says the status.
    let big = pseudo_random(3, 64 * 1024);
    let (ok, out) = add_and_publish(&server, "v2", &big);
    assert!(!ok, "publish onto a full disk succeeded: {out}");
    assert!(out.contains("507"), "unclear notary error: {out}");
    assert_eq!(served_metadata(&server), before, "a failed publish changed the served metadata");
    assert_eq!(target_sha256(&server, "v2"), None);

    std::fs::remove_file(fs.path().join("filler")).unwrap();
    fs.resize("64m");
    let (ok, out) = server.notary(&["publish", GUN]);
    assert!(ok, "publish after space returned: {out}\n{}", server.log());
    assert_eq!(target_sha256(&server, "v2"), Some(sha256(&big).trim_start_matches("sha256:").to_owned()));
    assert_eq!(target_sha256(&server, "v1"), Some(sha256(b"one").trim_start_matches("sha256:").to_owned()));
}
