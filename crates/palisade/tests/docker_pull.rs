#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! `docker pull` and `palisade pull` into a daemon's image store from a real registry over TLS
//! (Basic and token auth, and distribution's `docker-registry`): the daemon trusts the
//! registry's CA only through `<data-root>/certs.d/HOST:PORT/ca.crt`, a wrong password stores
//! nothing, and a pulled image runs.

mod common;
#[path = "registry_support.rs"]
mod support;

use std::process::Command;

use common::{busybox_image, stderr, stdout, Node};
use support::{start, Kind, Opts, Server};

/// Pushes the test busybox image to `s` as `REPO:v1` with `palisade push`; returns the
/// reference `HOST:PORT/REPO:v1`.
fn push_busybox(s: &Server, repo: &str, creds: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    let archive = busybox_image(work.path(), "pulltest:v1");
    let remote = format!("{}/{repo}:v1", s.addr);
    let out = Command::new(common::PALISADE)
        .args(["push", &format!("docker-archive:{}", archive.display()), &remote, "--quiet", "--creds", creds])
        .arg("--tls-ca")
        .arg(s.tls.as_ref().unwrap().cert_dir.join("ca.crt"))
        .env_remove("PALISADE_REGISTRY_AUTH")
        .output()
        .unwrap();
    assert!(out.status.success(), "palisade push: {}", stderr(&out));
    remote
}

fn tls_opts(users: &[(&str, &str)], palisade_config: Option<&str>) -> Opts {
    Opts {
        tls: true,
        users: users.iter().map(|(u, p)| ((*u).to_owned(), (*p).to_owned())).collect(),
        palisade_config: palisade_config.map(str::to_owned),
        ..Opts::default()
    }
}

/// The image is listed by `docker images` and runs.
fn assert_pulled_and_runs(node: &Node, remote: &str) {
    let (repo, tag) = remote.rsplit_once(':').unwrap();
    let images = node.docker_ok(&["images", "--format", "{{.Repository}} {{.Tag}}"]);
    assert!(images.lines().any(|l| l == format!("{repo} {tag}")), "{images}");
    let out = node.docker_ok(&["run", "--rm", remote, "sh", "-c", "echo pulled-and-running"]);
    assert_eq!(out, "pulled-and-running\n");
}

#[test]
fn docker_pull_basic_auth_tls_needs_the_ca_and_the_right_password() {
    let registry = start(Kind::Palisade, &tls_opts(&[("alice", "s3cret")], None));
    let remote = push_busybox(&registry, "team/busybox", "alice:s3cret");
    let host = registry.addr.to_string();
    let node = Node::start();
    node.docker_credentials(&host, "alice", "s3cret");

    // The registry's CA is not trusted yet: refused, nothing stored.
    let err = node.docker_err(&["pull", &remote]);
    assert!(err.contains("certificate") && err.contains("certs.d"), "{err}");
    assert_eq!(node.stored_blobs(), 0);

    node.trust_registry_ca(&host, &registry.tls.as_ref().unwrap().ca_pem);
    // A wrong password: a clear error, nothing stored.
    node.docker_credentials(&host, "alice", "Wr0ng-Pa55word-42");
    let err = node.docker_err(&["pull", &remote]);
    assert!(err.contains("unauthorized") && err.contains("authentication failed"), "{err}");
    assert!(!err.contains("Wr0ng-Pa55word-42"), "the password must never be echoed: {err}");
    assert_eq!(node.stored_blobs(), 0);
    assert!(!node.docker_ok(&["images"]).contains("team/busybox"));
    assert!(!node.log().contains("Wr0ng-Pa55word-42"), "the password must never be logged");

    node.docker_credentials(&host, "alice", "s3cret");
    let out = node.docker_ok(&["pull", &remote]);
    assert!(out.contains(&format!("Status: Downloaded newer image for {remote}")), "{out}");
    assert!(out.contains("Digest: sha256:"), "{out}");
    assert_pulled_and_runs(&node, &remote);
    // Pulling again changes nothing.
    let out = node.docker_ok(&["pull", &remote]);
    assert!(out.contains(&format!("Status: Image is up to date for {remote}")), "{out}");

    // An unknown tag is a clear error.
    let err = node.docker_err(&["pull", &format!("{host}/team/busybox:nope")]);
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn palisade_pull_into_the_daemon_and_into_a_layout() {
    let registry = start(Kind::Palisade, &tls_opts(&[("alice", "s3cret")], None));
    let remote = push_busybox(&registry, "team/app", "alice:s3cret");
    let node = Node::start();
    node.trust_registry_ca(&registry.addr.to_string(), &registry.tls.as_ref().unwrap().ca_pem);

    let out = node.palisade(&["pull", &remote, "--creds", "alice:nope"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unauthorized"), "{}", stderr(&out));
    assert_eq!(node.stored_blobs(), 0);

    let out = node.palisade(&["pull", &remote, "--creds", "alice:s3cret"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("Status: Downloaded newer image for {remote}")), "{}", stdout(&out));
    let listed = stdout(&node.palisade(&["images"]));
    assert!(listed.contains(&format!("{}/team/app", registry.addr)), "{listed}");
    let run = node.palisade(&["run", "--rm", &remote, "echo", "from-palisade-pull"]);
    assert_eq!(stdout(&run), "from-palisade-pull\n", "{}", stderr(&run));

    // A container's rootfs is an overlay on the image's prepared rootfs: the image cannot be
    // deleted while the container exists; afterwards it goes with its rootfs.
    node.docker_ok(&["create", "--name", "keep", &remote, "true"]);
    let err = node.docker_err(&["rmi", &remote]);
    assert!(err.contains("image is being used by container"), "{err}");
    assert!(node.docker_ok(&["images"]).contains("team/app"));
    node.docker_ok(&["rm", "keep"]);
    node.docker_ok(&["rmi", &remote]);
    let prepared = std::fs::read_dir(node.data_root().join("runtime/images/rootfs")).unwrap().count();
    assert_eq!(prepared, 0, "the image's prepared rootfs is removed with it");
    assert_eq!(node.stored_blobs(), 0);

    // The client-side form still downloads into a local layout, without the daemon.
    let layout = tempfile::tempdir().unwrap();
    let out = Command::new(common::PALISADE)
        .args(["pull", &remote, &format!("oci:{}:v1", layout.path().display()), "--quiet", "--creds", "alice:s3cret"])
        .arg("--tls-ca")
        .arg(registry.tls.as_ref().unwrap().cert_dir.join("ca.crt"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(layout.path().join("index.json").exists());
}

#[test]
fn docker_pull_with_token_auth_and_from_distribution() {
    let token = start(
        Kind::Palisade,
        &tls_opts(
            &[("alice", "pw"), ("bob", "pw2")],
            Some("[auth]\nmode = \"token\"\n[[repository]]\nname = \"e2e/*\"\npull = [\"bob\"]\npush = [\"alice\"]\n"),
        ),
    );
    let distribution = start(Kind::Distribution, &tls_opts(&[("carol", "pw3")], None));
    let from_token = push_busybox(&token, "e2e/tok", "alice:pw");
    let from_distribution = push_busybox(&distribution, "dist/bb", "carol:pw3");
    let node = Node::start();
    for s in [&token, &distribution] {
        node.trust_registry_ca(&s.addr.to_string(), &s.tls.as_ref().unwrap().ca_pem);
    }

    node.docker_credentials(&token.addr.to_string(), "bob", "pw2");
    node.docker_ok(&["pull", &from_token]);
    assert_pulled_and_runs(&node, &from_token);

    node.docker_credentials(&distribution.addr.to_string(), "carol", "pw3");
    node.docker_ok(&["pull", &from_distribution]);
    assert_pulled_and_runs(&node, &from_distribution);
}
