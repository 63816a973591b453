//! `palisade trust` against `palisade registry serve` and a trust server over TLS — Palisade's
//! own (`palisade trust-server serve`) and the real `notary-server` 0.7: key generate → signer
//! add → sign (pushing an image first) → inspect → revoke, with key files checked on disk and a
//! wrong passphrase changing nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "registry_support.rs"]
#[allow(unused_macros)]
mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use common::{openssl, stderr, stdout, NotaryServerProc, TrustEnv, TrustServerProc, Up, REPO_PASS};
use support::{build_image, start, Kind, Opts, Server};

/// Which trust server runs.
enum TrustServer {
    Palisade(TrustServerProc),
    Notary(NotaryServerProc),
}

impl TrustServer {
    fn dir(&self) -> &Path {
        match self {
            TrustServer::Palisade(s) => s.dir.path(),
            TrustServer::Notary(s) => s.dir.path(),
        }
    }

    fn url(&self) -> String {
        match self {
            TrustServer::Palisade(s) => s.url(),
            TrustServer::Notary(s) => s.url(),
        }
    }
}

struct Setup {
    server: TrustServer,
    registry: Server,
    env: TrustEnv,
    repo: String,
}

impl Setup {
    fn new() -> Self {
        Self::with(TrustServer::Palisade(TrustServerProc::start()))
    }

    fn with(server: TrustServer) -> Self {
        let registry = start(Kind::Palisade, &Opts { tls: true, ..Opts::default() });
        let env = TrustEnv::new(server.dir().join("docker"), &server.url(), &server.dir().join("ca.crt"));
        let repo = format!("{}/e2e/app", registry.addr);
        Setup { server, registry, env, repo }
    }

    /// `GET /v2/<repo>/_trust/tuf/<file>` from the trust server (must be 200).
    fn get_meta(&self, file: &str) -> Vec<u8> {
        let out = std::process::Command::new("curl")
            .args(["-sSf", "--cacert"])
            .arg(self.server.dir().join("ca.crt"))
            .arg(format!("{}/v2/{}/_trust/tuf/{file}", self.server.url(), self.repo))
            .output()
            .unwrap();
        assert!(out.status.success(), "GET {file}: {}", stderr(&out));
        out.stdout
    }

    fn registry_ca(&self) -> PathBuf {
        self.registry.tls.as_ref().unwrap().cert_dir.join("ca.crt")
    }

    /// `palisade trust <args> --tls-ca <registry CA>`.
    fn trust(&self, args: &[&str]) -> String {
        let ca = self.registry_ca();
        let mut all = args.to_vec();
        all.extend(["--tls-ca", ca.to_str().unwrap()]);
        self.env.palisade_ok(&all)
    }

    fn key_files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> =
            std::fs::read_dir(self.env.trust_dir().join("private")).unwrap().map(|e| e.unwrap().path()).collect();
        v.sort();
        v
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The key file is an encrypted PKCS#8 PEM that openssl opens with the passphrase only, and
/// the decrypted key appears nowhere in it.
fn assert_encrypted_key_file(path: &Path, pass: &str) {
    assert_eq!(mode(path), 0o600, "{}", path.display());
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"), "{text}");
    // openssl reads RFC 1421 headers as Proc-Type; hand it the PEM without notary's headers
    let bare: String = text.lines().filter(|l| !l.contains(": ")).filter(|l| !l.is_empty()).map(|l| format!("{l}\n")).collect();
    let stripped = path.with_extension("bare");
    std::fs::write(&stripped, bare).unwrap();
    let p = stripped.to_str().unwrap();
    let (ok, plain) = openssl(&["pkcs8", "-in", p, "-passin", &format!("pass:{pass}")], None);
    assert!(ok && plain.contains("BEGIN PRIVATE KEY"), "{plain}");
    let body: String = plain.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!text.replace('\n', "").contains(&body), "plaintext key material in {}", path.display());
    let (ok, out) = openssl(&["pkcs8", "-in", p, "-passin", "pass:wrong-pass"], None);
    assert!(!ok, "a wrong passphrase must not decrypt: {out}");
    std::fs::remove_file(&stripped).unwrap();
}

#[test]
fn sign_inspect_revoke_roundtrip() {
    roundtrip(&Setup::new());
}

#[test]
fn sign_inspect_revoke_roundtrip_notary_server() {
    let s = Setup::with(TrustServer::Notary(NotaryServerProc::start()));
    roundtrip(&s);
    if let TrustServer::Notary(n) = &s.server {
        assert!(n.log().contains("targets/alice"), "notary-server saw no update of targets/alice");
    }
}

fn roundtrip(s: &Setup) {
    let keydir = s.server.dir();
    let out = s.trust(&["key", "generate", "alice", "--dir", keydir.to_str().unwrap()]);
    assert!(out.starts_with("Generating key for alice...\n"), "{out}");
    assert!(out.contains("Successfully generated and loaded private key. Corresponding public key available:"), "{out}");
    let pubkey = keydir.join("alice.pub");
    assert!(std::fs::read_to_string(&pubkey).unwrap().starts_with("-----BEGIN PUBLIC KEY-----\nrole: alice\n\n"));
    let keys = s.key_files();
    assert_eq!(keys.len(), 1);
    assert_eq!(mode(&s.env.trust_dir().join("private")), 0o700);
    assert_encrypted_key_file(&keys[0], REPO_PASS);
    assert!(std::fs::read_to_string(&keys[0]).unwrap().contains("\nrole: alice\n"));

    let out = s.trust(&["signer", "add", "--key", pubkey.to_str().unwrap(), "alice", &s.repo]);
    assert_eq!(
        out,
        format!(
            "Adding signer \"alice\" to {r}...\nInitializing signed repository for {r}...\nSuccessfully initialized \"{r}\"\nSuccessfully added signer: alice to {r}\n\n",
            r = s.repo
        )
    );
    // root + targets keys were made; every key file is encrypted, root under the root passphrase
    let keys = s.key_files();
    assert_eq!(keys.len(), 3, "{keys:?}");
    for k in &keys {
        let text = std::fs::read_to_string(k).unwrap();
        let pass = if text.contains("\nrole: root\n") { common::ROOT_PASS } else { REPO_PASS };
        assert_encrypted_key_file(k, pass);
    }
    assert!(keys.iter().any(|k| std::fs::read_to_string(k).unwrap().contains(&format!("gun: {}\nrole: targets\n", s.repo))));

    let img = build_image("v1");
    let image = format!("{}:v1", s.repo);
    let out = s.trust(&["sign", &image, "--quiet", "--from", &format!("oci:{}:v1", img.layout().display())]);
    assert!(out.contains(&format!("Signing and pushing trust metadata for {image}\n")), "{out}");
    assert!(out.ends_with(&format!("Successfully signed {image}\n")), "{out}");
    let digest = img.manifest_digest.trim_start_matches("sha256:").to_owned();

    let pretty = s.trust(&["inspect", "--pretty", &s.repo]);
    assert!(pretty.starts_with(&format!("\nSignatures for {}\n\nSIGNED TAG   DIGEST", s.repo)), "{pretty}");
    let row = pretty.lines().find(|l| l.starts_with("v1 ")).unwrap_or_else(|| panic!("{pretty}"));
    assert_eq!(row.split_whitespace().collect::<Vec<_>>(), ["v1", digest.as_str(), "alice"], "{pretty}");
    assert!(pretty.contains(&format!("\nList of signers and their keys for {}\n\nSIGNER    KEYS\nalice     ", s.repo)), "{pretty}");
    assert!(pretty.contains("\n  Repository Key:\t") && pretty.contains("\n  Root Key:\t"), "{pretty}");

    let json: serde_json::Value = serde_json::from_str(&s.trust(&["inspect", &s.repo])).unwrap();
    assert_eq!(json[0]["Name"], s.repo.as_str());
    assert_eq!(json[0]["SignedTags"][0]["Digest"], digest.as_str());
    assert_eq!(json[0]["SignedTags"][0]["Signers"], serde_json::json!(["alice"]));
    assert_eq!(json[0]["AdministrativeKeys"][0]["Name"], "Root");

    // a wrong passphrase: clear error, nothing changes locally or on the server
    let before = s.get_meta("targets/alice.json");
    let out = s.env.palisade_env(&["revoke", &image], &[("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", "wrong-pass")]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("wrong passphrase"), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(s.get_meta("targets/alice.json"), before);
    assert_eq!(s.key_files(), keys);

    let out = s.trust(&["revoke", &image]);
    assert_eq!(out, format!("Successfully deleted signature for {image}\n"));
    let pretty = s.trust(&["inspect", "--pretty", &s.repo]);
    assert!(pretty.starts_with(&format!("\nNo signatures for {}\n\n", s.repo)), "{pretty}");
    assert!(pretty.contains("alice"), "the signer stays: {pretty}");
}

#[test]
fn unknown_repository_is_an_error() {
    let s = Setup::new();
    let name = format!("{}/e2e/none", s.registry.addr);
    let out = s.env.palisade_env(&["inspect", "--pretty", &name], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&format!("no signatures or cannot access {name}")), "{}", stderr(&out));
    let out = s.env.palisade_env(&["inspect", &name], &[]);
    assert_eq!(stdout(&out).trim(), "[]");
    assert!(!out.status.success());
}

/// The stock docker CLI reads what Palisade's client published: with a fresh configuration
/// (no cache, no keys) `docker trust inspect --pretty` shows Palisade's signer and signed tag.
#[test]
fn docker_inspects_what_palisade_signed() {
    let s = Setup::new();
    let keydir = s.server.dir();
    s.trust(&["key", "generate", "alice", "--dir", keydir.to_str().unwrap()]);
    s.trust(&["signer", "add", "--key", keydir.join("alice.pub").to_str().unwrap(), "alice", &s.repo]);
    let img = build_image("v1");
    let image = format!("{}:v1", s.repo);
    s.trust(&["sign", &image, "--quiet", "--from", &format!("oci:{}:v1", img.layout().display())]);
    let digest = img.manifest_digest.trim_start_matches("sha256:");

    let fresh = TrustEnv::new(keydir.join("docker-fresh"), &s.server.url(), &keydir.join("ca.crt"));
    let out = fresh.docker_ok(&["inspect", "--pretty", &s.repo]);
    let row = out.lines().find(|l| l.starts_with("v1 ")).unwrap_or_else(|| panic!("{out}"));
    assert_eq!(row.split_whitespace().collect::<Vec<_>>(), ["v1", digest, "alice"], "{out}");
    let alice = out.lines().find(|l| l.starts_with("alice ")).unwrap_or_else(|| panic!("{out}"));
    // docker and palisade print the same thing
    assert_eq!(out, s.trust(&["inspect", "--pretty", &s.repo]), "docker and palisade differ");
    assert!(alice.split_whitespace().nth(1).unwrap().len() == 12, "{out}");
    let json: serde_json::Value = serde_json::from_str(&fresh.docker_ok(&["inspect", &s.repo])).unwrap();
    let ours: serde_json::Value = serde_json::from_str(&s.trust(&["inspect", &s.repo])).unwrap();
    assert_eq!(json, ours);
    // the notary CLI, from an empty trust directory, verifies and lists the tag (once, under
    // the first delegation that signed it)
    let out = std::process::Command::new("notary")
        .arg("-d")
        .arg(keydir.join("notary-fresh"))
        .args(["-s", &s.server.url(), "--tlscacert"])
        .arg(keydir.join("ca.crt"))
        .args(["list", &s.repo])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    let roles: Vec<&str> = text.lines().filter(|l| l.starts_with("v1 ")).map(|l| l.split_whitespace().last().unwrap()).collect();
    assert!(roles == ["targets/alice"] || roles == ["targets/releases"], "{text}");
    assert!(text.contains(digest), "{text}");
}

/// docker uses the keys Palisade wrote: in a repository Palisade initialised, `docker trust
/// signer add` signs targets with Palisade's targets key file, and `palisade trust inspect`
/// lists the new signer.
#[test]
fn docker_adds_a_signer_to_a_palisade_repository() {
    let s = Setup::new();
    let keydir = s.server.dir();
    s.trust(&["key", "generate", "alice", "--dir", keydir.to_str().unwrap()]);
    s.trust(&["signer", "add", "--key", keydir.join("alice.pub").to_str().unwrap(), "alice", &s.repo]);
    let bobdir = keydir.join("bob");
    std::fs::create_dir_all(&bobdir).unwrap();
    s.env.docker_ok(&["key", "generate", "bob", "--dir", bobdir.to_str().unwrap()]);
    let out = s.env.docker_ok(&["signer", "add", "--key", bobdir.join("bob.pub").to_str().unwrap(), "bob", &s.repo]);
    assert!(out.contains(&format!("Successfully added signer: bob to {}", s.repo)), "{out}");
    let pretty = s.trust(&["inspect", "--pretty", &s.repo]);
    let signers: Vec<&str> = pretty
        .lines()
        .skip_while(|l| !l.starts_with("SIGNER "))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(signers, ["alice", "bob"], "{pretty}");
    // and Palisade signs with docker's bob key too (docker wrote it in the shared trust dir)
    let img = build_image("v2");
    let image = format!("{}:v2", s.repo);
    s.trust(&["sign", &image, "--quiet", "--from", &format!("oci:{}:v2", img.layout().display())]);
    let json: serde_json::Value = serde_json::from_str(&s.trust(&["inspect", &image])).unwrap();
    let mut got: Vec<String> =
        json[0]["SignedTags"][0]["Signers"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    got.sort();
    assert_eq!(got, ["alice", "bob"]);
}

/// `key load` imports a plain PKCS#8 key (openssl-made, 0600) as a signer key that then signs;
/// a key file readable by others is refused.
#[test]
fn key_load_then_sign_with_it() {
    let s = Setup::new();
    let d = s.server.dir();
    let key = d.join("carol.pem");
    let (ok, out) = openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key.to_str().unwrap()], None);
    assert!(ok, "{out}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = s.env.palisade_env(&["key", "load", key.to_str().unwrap(), "--name", "carol"], &[]);
    assert!(!out.status.success() && stderr(&out).contains("must not be readable or writable by others"), "{}", stderr(&out));
    assert!(!s.env.trust_dir().join("private").exists(), "a refused load wrote a key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = s.trust(&["key", "load", key.to_str().unwrap(), "--name", "carol"]);
    assert_eq!(out, format!("Loading key from \"{p}\"...\nSuccessfully imported key from {p}\n", p = key.display()));
    let loaded = s.key_files();
    assert_eq!(loaded.len(), 1);
    assert_encrypted_key_file(&loaded[0], REPO_PASS);
    let pubkey = d.join("carol.pub");
    let (ok, out) = openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout", "-out", pubkey.to_str().unwrap()], None);
    assert!(ok, "{out}");
    s.trust(&["signer", "add", "--key", pubkey.to_str().unwrap(), "carol", &s.repo]);
    let img = build_image("v1");
    let image = format!("{}:v1", s.repo);
    s.trust(&["sign", &image, "--quiet", "--from", &format!("oci:{}:v1", img.layout().display())]);
    let json: serde_json::Value = serde_json::from_str(&s.trust(&["inspect", &image])).unwrap();
    assert_eq!(json[0]["SignedTags"][0]["Signers"], serde_json::json!(["carol"]));
}

/// `key rotate` of targets and root publishes a new root signed by old and new root keys;
/// Palisade (cached, and with a fresh cache) and docker follow it and still verify the tags.
#[test]
fn key_rotate_targets_and_root() {
    let s = Setup::new();
    let d = s.server.dir();
    let img = build_image("v1");
    let image = format!("{}:v1", s.repo);
    s.trust(&["sign", &image, "--quiet", "--from", &format!("oci:{}:v1", img.layout().display())]);
    let before: serde_json::Value = serde_json::from_str(&s.trust(&["inspect", &s.repo])).unwrap();
    assert_eq!(before[0]["SignedTags"][0]["Signers"], serde_json::json!(["Repo Admin"]));
    for role in ["targets", "root"] {
        let out = s.trust(&["key", "rotate", &s.repo, role]);
        assert!(out.starts_with(&format!("Successfully rotated {role} key for repository {}", s.repo)), "{out}");
    }
    let after: serde_json::Value = serde_json::from_str(&s.trust(&["inspect", &s.repo])).unwrap();
    assert_eq!(after[0]["SignedTags"], before[0]["SignedTags"]);
    let keys = |v: &serde_json::Value, i: usize| v[0]["AdministrativeKeys"][i]["Keys"][0]["ID"].as_str().unwrap().to_owned();
    assert_ne!(keys(&after, 0), keys(&before, 0), "root key rotated");
    assert_ne!(keys(&after, 1), keys(&before, 1), "targets key rotated");
    let root: serde_json::Value = serde_json::from_slice(&s.get_meta("root.json")).unwrap();
    assert_eq!(root["signed"]["version"], 3);
    assert_eq!(root["signatures"].as_array().unwrap().len(), 2, "old and new root keys sign the rotation");
    let fresh = TrustEnv::new(d.join("docker-fresh"), &s.server.url(), &d.join("ca.crt"));
    let docker: serde_json::Value = serde_json::from_str(&fresh.docker_ok(&["inspect", &s.repo])).unwrap();
    assert_eq!(docker, after);
}

/// `signer remove` asks before removing the last signer of the released tags (declined on an
/// empty stdin: nothing changes), and `--force` removes it.
#[test]
fn signer_remove_asks_for_the_last_signer() {
    let s = Setup::new();
    let keydir = s.server.dir();
    s.trust(&["key", "generate", "alice", "--dir", keydir.to_str().unwrap()]);
    s.trust(&["signer", "add", "--key", keydir.join("alice.pub").to_str().unwrap(), "alice", &s.repo]);
    let out = s.env.palisade_env(&["signer", "remove", "alice", &s.repo], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("all signed tags are currently revoked, use docker trust sign to fix"), "{}", stderr(&out));
    let img = build_image("v1");
    s.trust(&["sign", &format!("{}:v1", s.repo), "--quiet", "--from", &format!("oci:{}:v1", img.layout().display())]);
    let before = s.get_meta("targets.json");
    let out = s.trust(&["signer", "remove", "alice", &s.repo]);
    assert!(out.contains("signed the last released version") && out.contains("Aborting action."), "{out}");
    assert_eq!(s.get_meta("targets.json"), before, "declined removal changed targets");
    let out = s.trust(&["signer", "remove", "-f", "alice", &s.repo]);
    assert!(out.ends_with(&format!("Successfully removed alice from {}\n\n", s.repo)), "{out}");
    let pretty = s.trust(&["inspect", "--pretty", &s.repo]);
    assert!(!pretty.contains("List of signers"), "{pretty}");
}

/// `palisade up`: registry and trust server behind the registry's token service. `palisade
/// trust` pushes, signs and inspects with the admin credentials (token auth on both servers,
/// TLS from the cluster CA); without credentials the trust server refuses it.
#[test]
fn sign_and_inspect_through_palisade_up_with_token_auth() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = Up::start(&data);
    let ca = data.join("node/root-ca.crt");
    let env = TrustEnv::new(dir.path().join("docker"), &up.trust_url(), &ca);
    let repo = format!("{}/app", up.registry());
    let creds = format!("admin:{}", up.password());
    let flags = ["--tls-ca", ca.to_str().unwrap(), "--creds", creds.as_str()];
    fn with<'a>(args: &[&'a str], flags: &[&'a str]) -> Vec<&'a str> {
        [args, flags].concat()
    }
    let img = build_image("v1");
    let image = format!("{repo}:v1");
    let src = format!("oci:{}:v1", img.layout().display());
    let out = env.palisade_ok(&with(&["sign", &image, "--quiet", "--from", &src], &flags));
    assert!(out.ends_with(&format!("Successfully signed {image}\n")), "{out}");
    let json: serde_json::Value = serde_json::from_str(&env.palisade_ok(&with(&["inspect", &repo], &flags))).unwrap();
    assert_eq!(json[0]["SignedTags"][0]["Digest"], img.manifest_digest.trim_start_matches("sha256:"));
    assert_eq!(json[0]["SignedTags"][0]["Signers"], serde_json::json!(["Repo Admin"]));
    let out = env.palisade_env(&["inspect", &repo], &[]);
    assert!(!out.status.success(), "the trust server must want a token: {}", stdout(&out));
    assert!(stderr(&out).contains("HTTP 401"), "{}", stderr(&out));
    let out = env.palisade_env(&["inspect", &repo, "--creds", "admin:wrong-password"], &[]);
    assert!(!out.status.success(), "a wrong password must fail: {}", stdout(&out));
}

/// Root and signer keys on a PKCS#11 token (SoftHSM2, named by `PALISADE_PKCS11_*`): `key
/// generate` and the repository's root key are made on the token and never written to the
/// trust directory (only the repository's targets key is a file); signing and inspecting work
/// through the token; without the token the signer key is simply not there.
#[test]
fn root_and_signer_keys_on_a_pkcs11_token() {
    let s = Setup::new();
    let dir = s.server.dir();
    let tokens = dir.join("softhsm-tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(&conf, format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display())).unwrap();
    let init = std::process::Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", "palisade", "--pin", "1234", "--so-pin", "5678"])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util (Debian package softhsm2)");
    assert!(init.status.success(), "{}", stderr(&init));
    let conf = conf.to_str().unwrap();
    let hsm = [
        ("SOFTHSM2_CONF", conf),
        ("PALISADE_PKCS11_MODULE", "/usr/lib/softhsm/libsofthsm2.so"),
        ("PALISADE_PKCS11_TOKEN", "palisade"),
        ("PALISADE_PKCS11_PIN", "1234"),
    ];
    let ca = s.registry_ca();
    let ca = ca.to_str().unwrap();
    fn with_ca<'a>(args: &[&'a str], ca: &'a str) -> Vec<&'a str> {
        [args, &["--tls-ca", ca]].concat()
    }
    let trust_hsm = |args: &[&str]| {
        let out = s.env.palisade_env(&with_ca(args, ca), &hsm);
        assert!(out.status.success(), "palisade trust {args:?}: {}{}", stdout(&out), stderr(&out));
        stdout(&out)
    };
    let private_files = || -> Vec<String> {
        std::fs::read_dir(s.env.trust_dir().join("private"))
            .map(|d| d.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect())
            .unwrap_or_default()
    };

    trust_hsm(&["key", "generate", "alice", "--dir", dir.to_str().unwrap()]);
    assert!(private_files().is_empty(), "the signer key must stay on the token");
    trust_hsm(&["signer", "add", "--key", dir.join("alice.pub").to_str().unwrap(), "alice", &s.repo]);
    let files = private_files();
    assert_eq!(files.len(), 1, "only the repository key is a file");
    assert!(files[0].contains("\nrole: targets\n"));

    let img = build_image("v1");
    let image = format!("{}:v1", s.repo);
    trust_hsm(&["sign", &image, "--quiet", "--from", &format!("oci:{}:v1", img.layout().display())]);
    let json: serde_json::Value = serde_json::from_str(&trust_hsm(&["inspect", &s.repo])).unwrap();
    assert_eq!(json[0]["SignedTags"][0]["Signers"], serde_json::json!(["alice"]));
    assert_eq!(json[0]["SignedTags"][0]["Digest"], img.manifest_digest.trim_start_matches("sha256:"));
    // The root certificate's key is the token's: root.json verified, signed on the token.
    let root: serde_json::Value = serde_json::from_slice(&s.get_meta("root.json")).unwrap();
    assert_eq!(root["signatures"][0]["method"], "ecdsa");

    // Without the token, alice's key does not exist; a wrong PIN is refused. Nothing changes.
    let before = s.get_meta("targets/alice.json");
    let out = s.env.palisade_env(&with_ca(&["revoke", "-y", &image], ca), &[]);
    assert!(!out.status.success(), "{}", stdout(&out));
    let mut wrong = hsm;
    wrong[3] = ("PALISADE_PKCS11_PIN", "0000");
    let out = s.env.palisade_env(&with_ca(&["revoke", "-y", &image], ca), &wrong);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).to_lowercase().contains("pin"), "{}", stderr(&out));
    assert_eq!(s.get_meta("targets/alice.json"), before);
    // Reading trust data needs no key: with the token configured but no PIN, `inspect` works
    // without opening the token (it used to ask for the PIN, and fail without a terminal).
    let no_pin = [hsm[0], hsm[1], hsm[2]];
    let out = s.env.palisade_env(&with_ca(&["inspect", &s.repo], ca), &no_pin);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("alice"), "{}", stdout(&out));
    trust_hsm(&["revoke", "-y", &image]);
    assert_ne!(s.get_meta("targets/alice.json"), before, "revoked with the token's key");
}
