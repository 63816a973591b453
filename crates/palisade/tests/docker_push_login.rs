#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Registry workflows through the daemon with the stock docker CLI against `palisade up`:
//! `docker login` (a wrong password refused as docker reports it), `docker push` and
//! `push --all-tags` into the registry of `up`, pulled back, a layer mounted from another
//! repository rather than uploaded again; `DOCKER_CONTENT_TRUST=1 docker
//! push` signs (the notary CLI lists the tag) and `docker trust sign` works as the docs show.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use common::{busybox_image, stderr, stdout, Up, REPO_PASS, ROOT_PASS};

/// The docker CLI against `up`'s socket with its own configuration directory.
struct Docker {
    socket: PathBuf,
    config: PathBuf,
    trust_server: String,
}

impl Docker {
    fn run(&self, args: &[&str], trust: bool, input: Option<&str>) -> Output {
        let mut cmd = Command::new("docker");
        cmd.args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", &self.config)
            .env("DOCKER_CONTENT_TRUST", if trust { "1" } else { "0" })
            .env("DOCKER_CONTENT_TRUST_SERVER", &self.trust_server)
            .env("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE", ROOT_PASS)
            .env("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", REPO_PASS)
            .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = input {
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str], trust: bool) -> String {
        let out = self.run(args, trust, None);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(out.status.success(), "docker {args:?}: {text}");
        text
    }
}

/// `notary list GUN` against the trust server, as the admin.
fn notary_list(trust_dir: &Path, server: &str, ca: &Path, auth: &str, gun: &str) -> String {
    let out = Command::new("notary")
        .arg("-d")
        .arg(trust_dir)
        .args(["-s", server, "--tlscacert"])
        .arg(ca)
        .args(["list", gun])
        .env("NOTARY_AUTH", base64::engine::general_purpose::STANDARD.encode(auth))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "notary list {gun}: {text}");
    text
}

#[test]
fn login_push_and_content_trust_through_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = Up::start(&data);
    let (registry, trust_server, password) = (up.registry(), up.trust_url(), up.password());
    let ca = data.join("node/root-ca.crt");
    let config = dir.path().join("docker");
    // Where the docker CLI looks for the notary server's CA.
    let tls = config.join("tls").join(trust_server.trim_start_matches("https://"));
    std::fs::create_dir_all(&tls).unwrap();
    std::fs::copy(&ca, tls.join("ca.crt")).unwrap();
    let docker = Docker { socket: data.with_extension("sock"), config, trust_server: trust_server.clone() };
    let archive = busybox_image(dir.path(), "bb:latest");
    docker.ok(&["load", "-i", archive.to_str().unwrap()], false);

    // login: a wrong password is refused by the registry, reported as docker reports it.
    let out = docker.run(&["login", &registry, "-u", "admin", "--password-stdin"], false, Some("wrong-password"));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("Error response from daemon") && err.contains("unauthorized"), "{err}");
    let out = docker.run(&["login", &registry, "-u", "admin", "--password-stdin"], false, Some(&password));
    assert!(out.status.success() && stdout(&out).contains("Login Succeeded"), "{}{}", stdout(&out), stderr(&out));

    // push, then remove and pull back.
    let image = format!("{registry}/bb:1");
    docker.ok(&["tag", "bb:latest", &image], false);
    let pushed = docker.ok(&["push", &image], false);
    assert!(pushed.contains(&format!("The push refers to repository [{registry}/bb]")), "{pushed}");
    let digest = pushed.lines().find_map(|l| l.strip_prefix("1: digest: ")).unwrap_or_else(|| panic!("{pushed}"));
    let digest = digest.split_whitespace().next().unwrap().to_owned();
    docker.ok(&["rmi", &image], false);
    let pulled = docker.ok(&["pull", &image], false);
    assert!(pulled.contains(&format!("Digest: {digest}")), "{pulled}");

    // --all-tags pushes every tag of the repository; the second push finds the layer there.
    docker.ok(&["tag", "bb:latest", &format!("{registry}/bb:2")], false);
    let all = docker.ok(&["push", "--all-tags", &format!("{registry}/bb")], false);
    assert!(all.contains("1: digest: ") && all.contains("2: digest: "), "{all}");
    assert!(all.contains("Layer already exists"), "{all}");
    let err = stderr(&docker.run(&["push", &format!("{registry}/nothing:here")], false, None));
    assert!(err.contains("An image does not exist locally with the tag"), "{err}");

    // A new repository of the same registry: its layer is mounted from bb, not uploaded again.
    let other = format!("{registry}/other:1");
    docker.ok(&["tag", "bb:latest", &other], false);
    let mounted = docker.ok(&["push", &other], false);
    assert!(mounted.contains("Mounted from bb") && !mounted.contains("Pushed"), "{mounted}");
    docker.ok(&["rmi", &other], false);
    let pulled = docker.ok(&["pull", &other], false);
    assert!(pulled.contains("Digest: sha256:"), "the mounted image pulls back: {pulled}");

    // Content trust: the CLI signs what the daemon pushed; notary sees the signed tag.
    let signed = format!("{registry}/signed:1");
    docker.ok(&["tag", "bb:latest", &signed], false);
    let out = docker.ok(&["push", &signed], true);
    assert!(out.contains("Signing and pushing trust metadata"), "{out}");
    let auth = format!("admin:{password}");
    let trust_dir = docker.config.join("trust");
    let listed = notary_list(&trust_dir, &trust_server, &ca, &auth, &format!("{registry}/signed"));
    assert!(listed.lines().any(|l| l.split_whitespace().next() == Some("1")), "{listed}");

    // docker trust sign, as the docs show it.
    let second = format!("{registry}/signed:2");
    docker.ok(&["tag", "bb:latest", &second], false);
    let out = docker.ok(&["trust", "sign", &second], false);
    assert!(out.contains(&format!("Successfully signed {second}")), "{out}");
    let listed = notary_list(&trust_dir, &trust_server, &ca, &auth, &format!("{registry}/signed"));
    assert!(listed.lines().any(|l| l.split_whitespace().next() == Some("2")), "{listed}");
    // And a trusted pull verifies it.
    docker.ok(&["rmi", &second], false);
    let pulled = docker.ok(&["pull", &second], true);
    assert!(pulled.contains("Pull (1 of 1)") || pulled.contains("Tagging"), "{pulled}");
}
