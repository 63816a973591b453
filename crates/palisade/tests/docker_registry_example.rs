#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! The seeds' registry example, verbatim but for the image: a registry container built from
//! Debian's `docker-registry` binary plus busybox, run with `-d -p 127.0.0.1:PORT:5000
//! --restart=always --name registry -v CERTS:/certs -e REGISTRY_HTTP_TLS_CERTIFICATE=… -e
//! REGISTRY_HTTP_TLS_KEY=…`; an image tagged and pushed into it through the daemon, removed and
//! pulled back; the registry process killed from the host comes back by its restart policy, and
//! after a daemon crash the container is back and serving what was pushed.

mod common;

use std::time::Duration;

use common::netns_node::NetNode;
use common::{busybox_image_with, make_server_cert, wait_for};

const PORT: &str = "5443";

/// The registry image: Debian's docker-registry (a Go binary linked against glibc) with the
/// loader and libc it needs, and a configuration serving TLS on :5000 without auth.
fn registry_image(dir: &std::path::Path) -> std::path::PathBuf {
    let binary = std::fs::read("/usr/bin/docker-registry").expect("docker-registry (Debian) is required");
    let read = |p: &str| std::fs::read(std::fs::canonicalize(p).unwrap()).unwrap();
    let config = "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: :5000\n";
    let files = vec![
        ("bin/registry", binary, 0o755),
        ("lib/", Vec::new(), 0o755),
        ("lib/x86_64-linux-gnu/", Vec::new(), 0o755),
        ("lib/x86_64-linux-gnu/libc.so.6", read("/lib/x86_64-linux-gnu/libc.so.6"), 0o755),
        ("lib64/", Vec::new(), 0o755),
        ("lib64/ld-linux-x86-64.so.2", read("/lib64/ld-linux-x86-64.so.2"), 0o755),
        ("etc/docker/", Vec::new(), 0o755),
        ("etc/docker/registry/", Vec::new(), 0o755),
        ("etc/docker/registry/config.yml", config.as_bytes().to_vec(), 0o644),
        ("var/lib/registry/", Vec::new(), 0o755),
    ];
    busybox_image_with(dir, "registry:2", &files, &["/bin/registry", "serve", "/etc/docker/registry/config.yml"])
}

fn registry_pid(node: &NetNode) -> i32 {
    node.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "registry"]).trim().parse().unwrap()
}

/// Pushing works: the registry answers through its published port.
fn wait_serving(node: &NetNode, image: &str) {
    wait_for(Duration::from_secs(20), "the registry serving", || node.docker(&["push", image]).status.success());
}

#[test]
fn the_seeds_registry_example_runs_restarts_and_survives_the_daemon() {
    let mut node = NetNode::start(&[]);
    node.load_busybox("bb:latest");
    let archive = registry_image(node.dir.path());
    node.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
    let certs = node.dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    make_server_cert(&certs);
    std::fs::rename(certs.join("server.crt"), certs.join("domain.crt")).unwrap();
    std::fs::rename(certs.join("server.key"), certs.join("domain.key")).unwrap();
    let host = format!("127.0.0.1:{PORT}");
    node.trust_registry_ca(&host, &std::fs::read_to_string(certs.join("ca.crt")).unwrap());

    let volume = format!("{}:/certs", certs.display());
    node.docker_ok(&[
        "run", "-d", "-p", &format!("127.0.0.1:{PORT}:5000"), "--restart=always", "--name", "registry", "-v", &volume,
        "-e", "REGISTRY_HTTP_TLS_CERTIFICATE=/certs/domain.crt", "-e", "REGISTRY_HTTP_TLS_KEY=/certs/domain.key", "registry:2",
    ]);
    let image = format!("{host}/bb:1");
    node.docker_ok(&["tag", "bb:latest", &image]);
    wait_serving(&node, &image);
    node.docker_ok(&["rmi", &image]);
    let pulled = node.docker_ok(&["pull", &image]);
    assert!(pulled.contains("Digest: sha256:"), "{pulled}");

    // The registry process killed from the host: the policy starts it again.
    let before = registry_pid(&node);
    let killed = std::process::Command::new("kill").args(["-KILL", &before.to_string()]).status().unwrap();
    assert!(killed.success());
    wait_for(Duration::from_secs(15), "the registry restarted", || {
        node.docker_ok(&["inspect", "-f", "{{.State.Running}} {{.RestartCount}}", "registry"]).trim() == "true 1"
    });
    assert_ne!(registry_pid(&node), before);
    node.docker_ok(&["rmi", &image]);
    wait_for(Duration::from_secs(20), "a pull after the restart", || node.docker(&["pull", &image]).status.success());

    // The daemon crashes and comes back: so does the registry, with what was pushed.
    node.crash_and_restart();
    wait_for(Duration::from_secs(15), "the registry back", || {
        node.docker_ok(&["inspect", "-f", "{{.State.Running}}", "registry"]).trim() == "true"
    });
    node.docker_ok(&["rmi", &image]);
    wait_for(Duration::from_secs(20), "a pull after the daemon restart", || node.docker(&["pull", &image]).status.success());
    node.docker_ok(&["rm", "-f", "registry"]);
}
