#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! `docker cp` through `palisade daemon` with the stock docker CLI: files and directories
//! round-trip both ways on running and stopped containers, and every container path is
//! resolved inside the container: symlinks to `/etc`, `../..` or host paths never reach a
//! host file, and a bad archive is refused with nothing written.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{tar_entry, Node};

/// `docker cp - C:DIR` with `archive` on stdin; returns (success, stderr).
fn cp_stdin(node: &Node, dest: &str, archive: &[u8]) -> (bool, String) {
    let mut child = Command::new("docker")
        .args(["-H", &node.host(), "cp", "-", dest])
        .env("DOCKER_CONFIG", node.dir.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(archive).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand_suffix())
}

fn rand_suffix() -> u32 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    t.subsec_nanos() ^ std::process::id()
}

#[test]
fn files_and_directories_round_trip_on_running_and_stopped_containers() {
    let node = Node::start();
    node.load_busybox("bb:latest");
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(src.join("sub/b.txt"), "beta\n").unwrap();
    std::os::unix::fs::symlink("a.txt", src.join("link")).unwrap();
    let file = work.path().join("one.txt");
    std::fs::write(&file, "one file\n").unwrap();

    node.docker_ok(&["run", "-d", "--name", "box", "bb", "sleep", "600"]);
    // Host → container: a file under a new name, a directory into an existing one.
    node.docker_ok(&["cp", file.to_str().unwrap(), "box:/tmp/renamed.txt"]);
    node.docker_ok(&["cp", src.to_str().unwrap(), "box:/root/"]);
    assert_eq!(node.docker_ok(&["exec", "box", "cat", "/tmp/renamed.txt"]), "one file\n");
    assert_eq!(node.docker_ok(&["exec", "box", "cat", "/root/src/a.txt", "/root/src/sub/b.txt"]), "alpha\nbeta\n");
    assert_eq!(node.docker_ok(&["exec", "box", "sh", "-c", "readlink /root/src/link"]).trim(), "a.txt");
    // Owned by the container's root, not by the copying user.
    assert_eq!(node.docker_ok(&["exec", "box", "sh", "-c", "stat -c %u:%g /root/src/a.txt"]).trim(), "0:0");

    // Container → host, written in the container, from a running then a stopped container.
    node.docker_ok(&["exec", "box", "sh", "-c", "mkdir -p /data/d && echo made-inside > /data/d/f && chmod 640 /data/d/f"]);
    let out = work.path().join("out-running");
    node.docker_ok(&["cp", "box:/data/d", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("f")).unwrap(), "made-inside\n");
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(out.join("f")).unwrap().permissions()) & 0o777, 0o640);
    node.docker_ok(&["stop", "-t", "0", "box"]);
    let out = work.path().join("out-stopped");
    node.docker_ok(&["cp", "box:/root/src", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("sub/b.txt")).unwrap(), "beta\n");
    assert_eq!(std::fs::read_link(out.join("link")).unwrap(), Path::new("a.txt"));
    node.docker_ok(&["cp", file.to_str().unwrap(), "box:/tmp/while-stopped.txt"]);
    node.docker_ok(&["start", "box"]);
    assert_eq!(node.docker_ok(&["exec", "box", "cat", "/tmp/while-stopped.txt"]), "one file\n");

    // A missing path is reported as dockerd does.
    let err = node.docker_err(&["cp", "box:/no/such/file", work.path().to_str().unwrap()]);
    assert!(err.contains("Could not find the file /no/such/file in container box"), "{err}");
}

#[test]
fn symlinks_in_the_container_never_reach_host_files() {
    let node = Node::start();
    node.load_busybox("bb:latest");
    let work = tempfile::tempdir().unwrap();
    let host_dir = tempfile::tempdir().unwrap();
    let host_dir_path = host_dir.path().to_str().unwrap().to_owned();
    node.docker_ok(&["run", "-d", "--name", "evil", "bb", "sleep", "600"]);
    node.docker_ok(&[
        "exec",
        "evil",
        "sh",
        "-c",
        &format!("echo container-shadow > /etc/shadow && ln -s /etc /x && ln -s ../../../../../../etc /y && ln -s {host_dir_path} /z"),
    ]);
    let host_shadow = std::fs::read("/etc/shadow").expect("the host has an /etc/shadow");

    for runtime_state in ["running", "stopped"] {
        // Reading through the links gets the container's file.
        for link in ["x", "y"] {
            let out = work.path().join(format!("{link}-{runtime_state}"));
            node.docker_ok(&["cp", &format!("evil:/{link}/shadow"), out.to_str().unwrap()]);
            let copied = std::fs::read(&out).unwrap();
            assert_eq!(copied, b"container-shadow\n", "{runtime_state} /{link}/shadow");
            assert_ne!(copied, host_shadow);
        }
        // The host path named by /z does not exist in the container.
        node.docker_err(&["cp", "evil:/z/anything", work.path().to_str().unwrap()]);

        // Writing through the links lands in the container's /etc, never the host's.
        let name = unique(&format!("palisade-cp-{runtime_state}"));
        let file = work.path().join(&name);
        std::fs::write(&file, "planted\n").unwrap();
        node.docker_ok(&["cp", file.to_str().unwrap(), "evil:/x/"]);
        node.docker_ok(&["cp", file.to_str().unwrap(), "evil:/y/"]);
        let _ = node.docker(&["cp", file.to_str().unwrap(), "evil:/z/"]);
        assert!(!Path::new("/etc").join(&name).exists(), "{runtime_state}: a host /etc file was written");
        assert!(!host_dir.path().join(&name).exists(), "{runtime_state}: a host directory was written");
        if runtime_state == "running" {
            assert_eq!(node.docker_ok(&["exec", "evil", "cat", &format!("/etc/{name}")]), "planted\n");
            node.docker_ok(&["stop", "-t", "0", "evil"]);
        } else {
            let out = work.path().join(format!("back-{name}"));
            node.docker_ok(&["cp", &format!("evil:/etc/{name}"), out.to_str().unwrap()]);
            assert_eq!(std::fs::read_to_string(out).unwrap(), "planted\n");
        }
    }
    assert_eq!(std::fs::read("/etc/shadow").unwrap(), host_shadow);
}

#[test]
fn bad_archives_are_refused_with_nothing_written() {
    let node = Node::start();
    node.load_busybox("bb:latest");
    node.docker_ok(&["run", "-d", "--name", "box", "bb", "sleep", "600"]);
    let escape = unique("palisade-cp-escape");
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("parent", tar_with(&[("good", tar::EntryType::Regular, None), (&format!("../../../../tmp/{escape}"), tar::EntryType::Regular, None)])),
        ("absolute", tar_with(&[("good", tar::EntryType::Regular, None), (&format!("/tmp/{escape}"), tar::EntryType::Regular, None)])),
        ("symlink", tar_with(&[("good", tar::EntryType::Regular, None), ("up", tar::EntryType::Symlink, Some("../../../../../etc"))])),
        ("hardlink", tar_with(&[("good", tar::EntryType::Regular, None), ("h", tar::EntryType::Link, Some("../../etc/passwd"))])),
        ("device", tar_with(&[("good", tar::EntryType::Regular, None), ("dev", tar::EntryType::Char, None)])),
    ];
    for (what, archive) in bad {
        let (ok, err) = cp_stdin(&node, "box:/tmp", &archive);
        assert!(!ok, "{what}: a bad archive was accepted");
        assert!(err.contains("Error response from daemon"), "{what}: {err}");
        let listing = node.docker_ok(&["exec", "box", "sh", "-c", "ls -A /tmp"]);
        assert_eq!(listing, "", "{what}: something was written");
        assert!(!Path::new("/tmp").join(&escape).exists(), "{what}: a host file was written");
    }
    // The same entries without the bad one go in.
    let (ok, err) = cp_stdin(&node, "box:/tmp", &tar_with(&[("good", tar::EntryType::Regular, None)]));
    assert!(ok, "{err}");
    assert_eq!(node.docker_ok(&["exec", "box", "cat", "/tmp/good"]), "data\n");
    // Not a directory, and a read-only root file system.
    let (ok, err) = cp_stdin(&node, "box:/tmp/good", &tar_with(&[("x", tar::EntryType::Regular, None)]));
    assert!(!ok && err.contains("must be a directory"), "{err}");
    assert_eq!(node.docker_ok(&["exec", "box", "cat", "/tmp/good"]), "data\n");
    node.docker_ok(&["run", "-d", "--name", "ro", "--read-only", "bb", "sleep", "600"]);
    let (ok, err) = cp_stdin(&node, "ro:/tmp", &tar_with(&[("x", tar::EntryType::Regular, None)]));
    assert!(!ok && err.contains("read-only"), "{err}");
}

fn tar_with(entries: &[(&str, tar::EntryType, Option<&str>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, link) in entries {
        let data: &[u8] = if *kind == tar::EntryType::Regular { b"data\n" } else { b"" };
        if name.starts_with('/') || name.contains("..") {
            // The tar crate refuses to write such names: the header is written by hand.
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, data).unwrap();
        } else {
            tar_entry(&mut b, name, *kind, data, 0o644, *link);
        }
    }
    b.into_inner().unwrap()
}
