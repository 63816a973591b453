#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! `docker save` through `palisade daemon` with the stock docker CLI: the archive is a
//! docker-archive skopeo reads, and `docker load` on a second daemon brings back a runnable
//! image under the same tag.

mod common;

use std::process::Command;

use common::Node;

#[test]
fn saved_images_load_on_another_daemon_and_skopeo_reads_them() {
    let first = Node::start();
    first.load_busybox("bb:latest");
    first.docker_ok(&["tag", "bb", "bb:two"]);
    let id = first.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "bb"]).trim().to_owned();
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("bb.tar");
    first.docker_ok(&["save", "-o", archive.to_str().unwrap(), "bb:latest", "bb:two"]);

    let out = Command::new("skopeo").args(["inspect", &format!("docker-archive:{}", archive.display())]).output().expect("skopeo is required: scripts/test installs it");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let inspected: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(inspected["Layers"].as_array().unwrap().len(), 1, "{inspected}");
    assert_eq!(inspected["Os"], "linux");

    let second = Node::start();
    let loaded = second.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(loaded.contains("Loaded image: bb:latest") && loaded.contains("Loaded image: bb:two"), "{loaded}");
    assert_eq!(second.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "bb:two"]).trim(), id, "the same image");
    assert_eq!(second.docker_ok(&["run", "--rm", "bb:two", "echo", "saved"]), "saved\n");

    // docker save | docker load, through a pipe.
    let third = Node::start();
    let pipe = format!(
        "docker -H {} save bb | docker -H {} load",
        first.host(),
        third.host()
    );
    let out = Command::new("sh").args(["-c", &pipe]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Loaded image: bb:latest"));
    assert_eq!(third.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "bb"]).trim(), id);

    let err = first.docker_err(&["save", "-o", work.path().join("no.tar").to_str().unwrap(), "nosuch:image"]);
    assert!(err.contains("nosuch"), "{err}");
}
