#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! `docker service create` pins a service's image to its registry digest, as with dockerd:
//! the CLI asks `GET /distribution/{name}/json` (answered from the registry over TLS, trusted
//! through `<data-root>/certs.d`), the spec says `name:tag@sha256:…` with the digest skopeo
//! reads from the registry, and the task runs. A node holding other content under the tag (a
//! `docker load`ed image, whose manifest no registry made) pulls the pinned digest; one holding
//! the very manifest it pushed runs it without pulling. A tag the registry lacks, or a registry
//! that is not there, is a clear error that stores nothing.

mod common;
#[path = "registry_support.rs"]
mod support;

use std::process::Command;
use std::time::Duration;

use common::cluster::Cluster;
use common::{busybox_image, stderr, stdout, PALISADE};
use support::{start, Kind, Opts, Server};

/// Longest a service's task may take to run.
const CONVERGE: Duration = Duration::from_secs(60);

/// Pushes the test busybox image to `registry` as `REPO:v1` with `palisade push` (from outside
/// the swarm's node); returns `HOST:PORT/REPO:v1`.
fn push_from_outside(registry: &Server, repo: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    let archive = busybox_image(work.path(), "outside:v1");
    let remote = format!("{}/{repo}:v1", registry.addr);
    let out = Command::new(PALISADE)
        .args(["push", &format!("docker-archive:{}", archive.display()), &remote, "--quiet", "--tls-ca"])
        .arg(registry.tls.as_ref().unwrap().cert_dir.join("ca.crt"))
        .env_remove("PALISADE_REGISTRY_AUTH")
        .output()
        .unwrap();
    assert!(out.status.success(), "palisade push: {}", stderr(&out));
    remote
}

/// The manifest digest the registry holds under `remote`, as skopeo reads it.
fn registry_digest(registry: &Server, remote: &str) -> String {
    let out = Command::new("skopeo")
        .args(["inspect", "--cert-dir"])
        .arg(&registry.tls.as_ref().unwrap().cert_dir)
        .arg(format!("docker://{remote}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo inspect: {}", stderr(&out));
    let digest = serde_json::from_str::<serde_json::Value>(&stdout(&out)).unwrap()["Digest"].as_str().unwrap().to_owned();
    assert!(digest.starts_with("sha256:"), "{digest}");
    digest
}

/// `GET /distribution/{name}/json` on `socket`, as the docker CLI sends it: (status, body).
fn distribution(socket: &std::path::Path, name: &str) -> (u16, serde_json::Value) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "30", "-w", "\n%{http_code}", "--unix-socket"])
        .arg(socket)
        .arg(format!("http://localhost/v1.47/distribution/{name}/json"))
        .output()
        .unwrap();
    let text = stdout(&out);
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}")))
}

/// Waits until `service`'s one task runs; returns the image its container runs (untruncated:
/// `docker ps` leaves a digest out otherwise).
fn running_image(cluster: &Cluster, service: &str) -> String {
    cluster.wait(CONVERGE, &format!("{service} running"), || {
        let states = cluster[0].docker_ok_limited(&["service", "ps", service, "--format", "{{.CurrentState}} {{.Error}}"]);
        states.lines().any(|l| l.starts_with("Running"))
    });
    let label = format!("label=com.docker.swarm.service.name={service}");
    let images = cluster[0].docker_ok_limited(&["ps", "--no-trunc", "--filter", &label, "--format", "{{.Image}}"]);
    images.lines().next().unwrap_or_default().to_owned()
}

fn spec_image(cluster: &Cluster, service: &str) -> String {
    cluster[0].docker_ok_limited(&["service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", service]).trim().to_owned()
}

fn repo_digests(cluster: &Cluster, image: &str) -> String {
    cluster[0].docker_ok_limited(&["image", "inspect", "--format", "{{json .RepoDigests}}", image]).trim().to_owned()
}

#[test]
fn services_are_pinned_to_the_registry_digest_and_their_tasks_run() {
    let registry = start(Kind::Palisade, &Opts { tls: true, ..Opts::default() });
    let host = registry.addr.to_string();
    let cluster = Cluster::start(1, 0);
    cluster[0].trust_registry_ca(&host, &registry.tls.as_ref().unwrap().ca_pem);

    // Pushed from elsewhere; the node holds other content under the same tag (a loaded
    // image: its manifest was made here, not by the registry).
    let app = push_from_outside(&registry, "team/app");
    let digest = registry_digest(&registry, &app);
    cluster[0].load_busybox(&app);
    let loaded = cluster[0].docker_ok_limited(&["image", "inspect", "--format", "{{.Id}}", &app]);

    let (status, body) = distribution(&cluster[0].socket, &app);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Descriptor"]["digest"], digest.as_str(), "{body}");
    assert!(body["Descriptor"]["size"].as_u64().unwrap() > 0, "{body}");
    assert!(body["Descriptor"]["mediaType"].as_str().unwrap().contains("manifest"), "{body}");
    assert_eq!(body["Platforms"][0]["os"], "linux", "{body}");

    let out = cluster[0].docker_limited(&["service", "create", "--detach", "--name", "pinned", &app, "sleep", "1000"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("could not be accessed on a registry"), "the CLI pinned nothing: {}", stderr(&out));
    let pinned = format!("{app}@{digest}");
    assert_eq!(spec_image(&cluster, "pinned"), pinned);
    assert_eq!(running_image(&cluster, "pinned"), pinned);
    // The node pulled the pinned digest; the loaded image keeps its tag.
    let (repository, _) = app.rsplit_once(':').unwrap();
    assert_eq!(repo_digests(&cluster, &pinned), format!(r#"["{repository}@{digest}"]"#));
    assert_eq!(cluster[0].docker_ok_limited(&["image", "inspect", "--format", "{{.Id}}", &app]), loaded);

    // Pushed from the node's own store: the registry's manifest is the one the node holds,
    // so the pinned task runs it without pulling (nothing is recorded under the digest).
    let own = format!("{host}/team/own:v1");
    cluster[0].docker_ok_limited(&["tag", &app, &own]);
    cluster[0].docker_ok_limited(&["push", &own]);
    let own_digest = registry_digest(&registry, &own);
    cluster[0].docker_ok_limited(&["service", "create", "--detach", "--name", "own", &own, "sleep", "1000"]);
    assert_eq!(spec_image(&cluster, "own"), format!("{own}@{own_digest}"));
    assert_eq!(running_image(&cluster, "own"), format!("{own}@{own_digest}"));
    assert_eq!(repo_digests(&cluster, &own), "[]", "the node pulled what it held");

    // A tag the registry lacks: not found, and nothing stored.
    let images = cluster[0].docker_ok_limited(&["images", "-q", "--no-trunc"]);
    let (status, body) = distribution(&cluster[0].socket, &format!("{host}/team/app:nope"));
    assert_eq!(status, 404, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(&format!("manifest for {host}/team/app:nope not found")), "{message}");
    let (status, body) = distribution(&cluster[0].socket, &format!("{host}/team/absent:v1"));
    assert_eq!(status, 404, "{body}");
    // A registry that is not there: the error says what failed.
    let nowhere = format!("127.0.0.1:{}", common::free_port());
    let (status, body) = distribution(&cluster[0].socket, &format!("{nowhere}/team/app:v1"));
    assert_eq!(status, 500, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(&nowhere) && message.to_lowercase().contains("connect"), "{message}");
    assert_eq!(cluster[0].docker_ok_limited(&["images", "-q", "--no-trunc"]), images, "an inspection stores nothing");
    let services = cluster[0].docker_ok_limited(&["service", "ls", "--format", "{{.Name}}"]);
    assert_eq!(services.lines().collect::<std::collections::BTreeSet<_>>(), ["own", "pinned"].into());
}
