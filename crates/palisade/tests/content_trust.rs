//! Content trust on `palisade pull` and `palisade run` (`DOCKER_CONTENT_TRUST=1`, or
//! `[trust] enforce = true` in the client configuration), against `palisade up`'s registry,
//! trust server and daemon: signed tags are pulled by their signed digest and run; unsigned
//! tags, repositories without trust data and a registry serving other bytes for the signed
//! digest are refused, and nothing of theirs reaches the image store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "registry_support.rs"]
#[allow(unused_macros)]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{stderr, stdout, TrustEnv, Up, PALISADE, REPO_PASS, ROOT_PASS};
use support::build_image;

struct Cluster {
    dir: tempfile::TempDir,
    up: Up,
    env: TrustEnv,
    ca: PathBuf,
}

impl Cluster {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let up = Up::start(&data);
        let ca = data.join("node/root-ca.crt");
        let env = TrustEnv::new(dir.path().join("docker"), &up.trust_url(), &ca);
        Self { dir, up, env, ca }
    }

    fn repo(&self, name: &str) -> String {
        format!("{}/{name}", self.up.registry())
    }

    fn creds(&self) -> String {
        format!("admin:{}", self.up.password())
    }

    fn socket(&self) -> String {
        format!("unix://{}", self.dir.path().join("data.sock").display())
    }

    /// `palisade <args>` with the trust environment, plus `extra` variables.
    fn palisade(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(PALISADE);
        cmd.args(args)
            .env("PALISADE_HOST", self.socket())
            .env("DOCKER_CONFIG", &self.env.config)
            .env("DOCKER_CONTENT_TRUST_SERVER", &self.env.server)
            .env("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE", ROOT_PASS)
            .env("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", REPO_PASS)
            .env("PALISADE_CONFIG", self.dir.path().join("no-config.toml"))
            .env("PALISADE_REGISTRY_AUTH", self.creds())
            .env_remove("DOCKER_CONTENT_TRUST")
            .stdin(Stdio::null());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn ok(&self, args: &[&str], extra: &[(&str, &str)]) -> String {
        let out = self.palisade(args, extra);
        assert!(out.status.success(), "palisade {args:?}: {}{}", stdout(&out), stderr(&out));
        stdout(&out)
    }

    fn push(&self, image: &support::Image, tag: &str, to: &str) {
        let src = format!("oci:{}:{tag}", image.layout().display());
        self.ok(&["push", &src, to, "--quiet", "--tls-ca", self.ca.to_str().unwrap(), "--creds", &self.creds()], &[]);
    }

    fn sign(&self, image: &support::Image, tag: &str, to: &str) {
        let src = format!("oci:{}:{tag}", image.layout().display());
        let creds = self.creds();
        self.ok(&["trust", "sign", to, "--quiet", "--from", &src, "--tls-ca", self.ca.to_str().unwrap(), "--creds", &creds], &[]);
    }

    /// `palisade pull IMAGE` into the daemon with trust on; returns the output.
    fn trusted_pull(&self, image: &str, extra_args: &[&str]) -> Output {
        let creds = self.creds();
        let mut args = vec!["pull", image, "--creds", &creds];
        args.extend_from_slice(extra_args);
        self.palisade(&args, &[("DOCKER_CONTENT_TRUST", "1")])
    }

    fn images(&self) -> String {
        self.ok(&["images"], &[])
    }
}

fn registry_blob(data: &Path, digest: &str) -> PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    data.join("registry/storage/blobs/sha256").join(&hex[..2]).join(hex).join("data")
}

#[test]
fn signed_tags_pull_and_run_and_unsigned_ones_are_refused() {
    let c = Cluster::start();
    let app = c.repo("app");
    let signed = build_image("signed");
    c.sign(&signed, "signed", &format!("{app}:v1"));
    c.push(&build_image("unsigned"), "unsigned", &format!("{app}:v2"));
    c.push(&build_image("elsewhere"), "elsewhere", &format!("{}:v1", c.repo("nosig")));

    let out = c.trusted_pull(&format!("{app}:v1"), &[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(&format!("{app}@{}", signed.manifest_digest)), "{}", stdout(&out));
    assert!(c.images().contains(&app), "{}", c.images());

    let out = c.trusted_pull(&format!("{app}:v2"), &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("No valid trust data for v2"), "{}", stderr(&out));
    let out = c.trusted_pull(&format!("{}:v1", c.repo("nosig")), &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not have trust data"), "{}", stderr(&out));
    assert!(!c.images().contains("nosig"), "{}", c.images());

    // Docker's per-command opt-out still works when only the environment asked for trust.
    let out = c.trusted_pull(&format!("{app}:v2"), &["--disable-content-trust"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    // run resolves through trust too.
    let out = c.palisade(&["run", "--rm", &format!("{app}:v1")], &[("DOCKER_CONTENT_TRUST", "1")]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out), "hello from signed\n");
    let out = c.palisade(&["run", "--rm", &format!("{app}:v2")], &[("DOCKER_CONTENT_TRUST", "1")]);
    assert!(!out.status.success(), "an unsigned tag must not run: {}", stdout(&out));
    assert!(stderr(&out).contains("No valid trust data for v2"), "{}", stderr(&out));
}

/// The registry's tag moved to other content after signing: the trusted pull still fetches the
/// signed digest, so what runs is what was signed.
#[test]
fn a_retagged_registry_cannot_swap_the_image() {
    let c = Cluster::start();
    let app = c.repo("app");
    let signed = build_image("signed");
    c.sign(&signed, "signed", &format!("{app}:v1"));
    c.push(&build_image("evil"), "evil", &format!("{app}:v1"));
    let out = c.trusted_pull(&format!("{app}:v1"), &[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let out = c.ok(&["run", "--rm", &format!("{app}:v1")], &[("DOCKER_CONTENT_TRUST", "1")]);
    assert_eq!(out, "hello from signed\n");
}

/// A registry that serves other bytes under the signed digest is caught: nothing is stored.
#[test]
fn other_bytes_under_the_signed_digest_are_refused() {
    let c = Cluster::start();
    let app = c.repo("app");
    let signed = build_image("signed");
    c.sign(&signed, "signed", &format!("{app}:v1"));
    let evil = build_image("evil");
    c.push(&evil, "evil", &format!("{app}:v2"));
    let manifest = registry_blob(&c.dir.path().join("data"), &signed.manifest_digest);
    std::fs::copy(evil.layout().join("blobs/sha256").join(evil.manifest_digest.trim_start_matches("sha256:")), &manifest).unwrap();
    let out = c.trusted_pull(&format!("{app}:v1"), &[]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).to_lowercase().contains("digest"), "{}", stderr(&out));
    assert!(!c.images().contains(&app), "{}", c.images());
}

/// `[trust] enforce = true` in the client configuration turns trust on without the
/// environment, and no flag turns it off.
#[test]
fn an_enforcing_configuration_cannot_be_skipped() {
    let c = Cluster::start();
    let app = c.repo("app");
    c.push(&build_image("unsigned"), "unsigned", &format!("{app}:v1"));
    let config = c.dir.path().join("config.toml");
    std::fs::write(&config, "[trust]\nenforce = true\n").unwrap();
    let config = config.to_str().unwrap();
    let creds = c.creds();
    for extra in [&[][..], &["--disable-content-trust"][..]] {
        let mut args = vec!["pull", app.as_str(), "--creds", creds.as_str()];
        args.extend_from_slice(extra);
        let out = c.palisade(&args, &[("PALISADE_CONFIG", config)]);
        assert!(!out.status.success(), "{args:?}: {}", stdout(&out));
    }
    std::fs::write(c.dir.path().join("config.toml"), "[trust]\nenforce = maybe\n").unwrap();
    let out = c.palisade(&["pull", &app, "--creds", &creds], &[("PALISADE_CONFIG", config)]);
    assert!(!out.status.success(), "a broken policy file must not turn trust off");
    assert!(stderr(&out).contains("client configuration"), "{}", stderr(&out));
    assert!(!c.images().contains(&app), "{}", c.images());
}
