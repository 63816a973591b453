//! Test fixtures: tiny busybox images as docker archives and OCI layouts.
#![allow(dead_code, unreachable_pub)]

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

pub const BUSYBOX: &str = "/bin/busybox";

const APPLETS: &[&str] = &[
    "sh", "cat", "echo", "id", "hostname", "unshare", "mount", "dd", "head", "ls", "touch", "sleep", "seq", "true",
    "false", "grep", "wc", "ps", "tr", "env", "pwd", "whoami", "test", "[", "yes",
];

pub fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A busybox rootfs layer as an uncompressed tar.
pub fn busybox_layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mode(mode);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, &[][..]).unwrap();
    };
    for d in ["bin", "etc", "proc", "sys", "dev", "root", "home", "home/app", "mnt", "run", "var"] {
        dir(&mut b, d, 0o755);
    }
    dir(&mut b, "tmp", 0o1777);
    let file = |b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8], mode: u32, uid: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_uid(uid);
        h.set_gid(uid);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, data).unwrap();
    };
    let busybox = fs::read(BUSYBOX).expect("busybox-static is required: apt-get install busybox-static");
    file(&mut b, "bin/busybox", &busybox, 0o755, 0);
    file(
        &mut b,
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        0o644,
        0,
    );
    file(&mut b, "etc/group", b"root:x:0:\napp:x:1000:\nstaff:x:50:app\nnogroup:x:65534:\n", 0o644, 0);
    for a in APPLETS {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_mode(0o777);
        h.set_size(0);
        b.append_link(&mut h, format!("bin/{a}"), "busybox").unwrap();
    }
    b.into_inner().unwrap()
}

pub fn image_config(diff_id: &str, cmd: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "IMAGE_VAR=from-image"],
            "Cmd": cmd,
            "WorkingDir": "/"
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}
    }))
    .unwrap()
}

/// Writes a `docker save`-style archive of the busybox image tagged `tag`.
pub fn docker_archive(dir: &Path, tag: &str) -> PathBuf {
    let layer = busybox_layer();
    let diff_id = sha(&layer);
    let config = image_config(&diff_id, &["sh"]);
    let config_name = format!("{}.json", &sha(&config)[7..]);
    let layer_name = format!("{}/layer.tar", &diff_id[7..19]);
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": config_name, "RepoTags": [tag], "Layers": [layer_name]}
    ]))
    .unwrap();
    let path = dir.join("docker-archive.tar");
    let mut b = tar::Builder::new(fs::File::create(&path).unwrap());
    for (name, data) in [("manifest.json", &manifest), (config_name.as_str(), &config), (layer_name.as_str(), &layer)] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.finish().unwrap();
    path
}

/// Writes an OCI image layout directory (gzip layer) whose index names the image `ref_name`.
pub fn oci_layout(dir: &Path, ref_name: &str) -> PathBuf {
    oci_layout_with_diff_id(dir, ref_name, None)
}

/// [`oci_layout`] with the config claiming `diff_id` (a lie, when given) for the layer.
pub fn oci_layout_with_diff_id(dir: &Path, ref_name: &str, diff_id_override: Option<&str>) -> PathBuf {
    let root = dir.join("oci-layout");
    let blobs = root.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let layer = busybox_layer();
    let diff_id = sha(&layer);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &layer).unwrap();
    let gz = gz.finish().unwrap();
    let config = image_config(diff_id_override.unwrap_or(&diff_id), &["sh"]);
    let put = |data: &[u8]| {
        let d = sha(data);
        fs::write(blobs.join(&d[7..]), data).unwrap();
        d
    };
    let (ld, cd) = (put(&gz), put(&config));
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": gz.len()}]
    }))
    .unwrap();
    let md = put(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": md, "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": ref_name}
        }]
    });
    fs::write(root.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    fs::write(root.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    root
}

/// Tars an OCI layout directory into an OCI archive.
pub fn oci_archive(layout: &Path, out: &Path) -> PathBuf {
    let mut b = tar::Builder::new(fs::File::create(out).unwrap());
    b.append_dir_all(".", layout).unwrap();
    b.finish().unwrap();
    out.to_path_buf()
}

use palisade_runtime::{ContainerRuntime, OciRuntimeKind, RunOptions, RunOutput};

/// Fails unless `bin` is on PATH.
pub fn require(bin: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
        .unwrap_or(false);
    assert!(found, "{bin} is required: scripts/test installs it (apt-get install {bin})");
}

/// A runtime rooted in a fresh temp dir (traversable, for user namespaces) with the busybox
/// image loaded as `busybox:test`. Fails when the runtime or busybox is missing: a test that
/// cannot run must not pass.
pub fn runtime(kind: OciRuntimeKind) -> (tempfile::TempDir, ContainerRuntime) {
    require(kind.binary());
    assert!(Path::new(BUSYBOX).exists(), "{BUSYBOX} is required (apt-get install busybox-static)");
    let tmp = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o711)).unwrap();
    let rt = ContainerRuntime::open(&tmp.path().join("root"), kind).unwrap();
    fs::set_permissions(tmp.path().join("root"), fs::Permissions::from_mode(0o711)).unwrap();
    let archive = docker_archive(tmp.path(), "busybox:test");
    rt.images().load(&archive, None).unwrap();
    (tmp, rt)
}

/// Runs `sh -c script` in busybox with `opts`, 60 s at most.
pub fn sh(rt: &ContainerRuntime, script: &str, mut opts: RunOptions) -> RunOutput {
    opts.args = vec!["sh".into(), "-c".into(), script.into()];
    rt.run("busybox:test", &opts, std::time::Duration::from_secs(60)).unwrap()
}

pub fn stdout(o: &RunOutput) -> String {
    String::from_utf8_lossy(&o.logs.stdout).into_owned()
}

pub fn stderr(o: &RunOutput) -> String {
    String::from_utf8_lossy(&o.logs.stderr).into_owned()
}

/// The value of a `Key:` line of /proc/self/status output.
pub fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("{key} not in:\n{status}"))
}
