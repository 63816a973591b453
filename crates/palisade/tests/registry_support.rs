//! Shared harness for the registry integration tests: start a registry of a given kind
//! (Palisade's binary or distribution's `docker-registry`) on 127.0.0.1, build small OCI images,
//! make TLS material and htpasswd files. Included by each `registry_*.rs` test via `#[path]`.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

/// Runs `$name(Kind)` as `$name::palisade` and `$name::distribution` (the including file
/// imports `Kind`).
#[allow(unused_macros)]
macro_rules! both_kinds {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn palisade() { super::$name(super::Kind::Palisade) }
            #[test]
            fn distribution() { super::$name(super::Kind::Distribution) }
        }
    )*};
}

/// Which server implementation to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Palisade,
    Distribution,
}

/// How to start it.
#[derive(Default, Clone)]
pub struct Opts {
    /// (user, password) pairs written to an htpasswd file with `htpasswd -Bbn`.
    pub users: Vec<(String, String)>,
    /// Serve TLS with a fresh CA-signed cert for 127.0.0.1.
    pub tls: bool,
    /// Extra registry.toml for Palisade (auth mode, rules).
    pub palisade_config: Option<String>,
    /// Keep the storage root in this directory (e.g. a small tmpfs): `data` becomes a symlink to it.
    pub storage: Option<PathBuf>,
    /// A trusted registry (Palisade): an accounts database with this (name, password) as its
    /// first administrator, made with `palisade registry add-user`, served with `--accounts`.
    pub admin: Option<(String, String)>,
    /// With `admin`: an LDAP directory's configuration (TOML), served with `--ldap`.
    pub ldap: Option<String>,
    /// With `admin`: serve the web console (`--console`).
    pub console: bool,
    /// More `palisade registry serve` arguments (Palisade).
    pub extra_args: Vec<String>,
}

/// Which files `start` wrote for Palisade, to start it (and restart it) identically.
#[derive(Clone, Copy)]
struct Written {
    htpasswd: bool,
    tls: bool,
    config: bool,
    accounts: bool,
    ldap: bool,
    console: bool,
}

pub struct Tls {
    pub ca_pem: String,
    pub cert_dir: PathBuf,
}

pub struct Server {
    pub kind: Kind,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub tls: Option<Tls>,
    child: Child,
    /// What was written for Palisade, to restart it identically.
    written: Written,
    /// [`Opts::extra_args`].
    extra_args: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn base(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// Turn a `Location` header (absolute or relative) into a URL.
    pub fn resolve(&self, location: &str) -> String {
        if location.starts_with("http") {
            location.to_owned()
        } else {
            self.url(location)
        }
    }

    pub fn client(&self) -> reqwest::blocking::Client {
        let mut b = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none());
        if let Some(t) = &self.tls {
            b = b.add_root_certificate(reqwest::Certificate::from_pem(t.ca_pem.as_bytes()).unwrap());
        }
        b.build().unwrap()
    }

    /// Storage root (for "nothing stored" checks).
    pub fn storage_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn storage_root_contains(&self, needle: &str) -> bool {
        fn walk(p: &Path, needle: &str) -> bool {
            let Ok(rd) = std::fs::read_dir(p) else { return false };
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().contains(needle) {
                    return true;
                }
                if e.path().is_dir() && walk(&e.path(), needle) {
                    return true;
                }
            }
            false
        }
        walk(&self.storage_root(), needle)
    }
}

// Also loaded by `common` in tests that use both.
#[allow(clippy::duplicate_mod)]
#[path = "common/ports.rs"]
mod ports;
pub use ports::free_port;

pub fn htpasswd_line(user: &str, pass: &str) -> String {
    let out = Command::new("htpasswd").args(["-Bbn", user, pass]).output().expect("htpasswd (apache2-utils)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned() + "\n"
}

/// CA + server certificate for 127.0.0.1/localhost; returns (ca_pem, cert_pem, key_pem).
pub fn make_tls() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "palisade test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.subject_alt_names.push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

pub fn start(kind: Kind, opts: &Opts) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    if let Some(storage) = &opts.storage {
        std::os::unix::fs::symlink(storage, d.join("data")).unwrap();
    }
    let htpasswd = (!opts.users.is_empty()).then(|| {
        let p = d.join("htpasswd");
        let text: String = opts.users.iter().map(|(u, p)| htpasswd_line(u, p)).collect();
        std::fs::write(&p, text).unwrap();
        p
    });
    let tls = opts.tls.then(|| {
        let (ca, cert, key) = make_tls();
        std::fs::write(d.join("cert.pem"), cert).unwrap();
        std::fs::write(d.join("key.pem"), key).unwrap();
        let cert_dir = d.join("certs.d");
        std::fs::create_dir_all(&cert_dir).unwrap();
        std::fs::write(cert_dir.join("ca.crt"), &ca).unwrap();
        Tls { ca_pem: ca, cert_dir }
    });
    let written = Written {
        htpasswd: htpasswd.is_some(),
        tls: tls.is_some(),
        config: opts.palisade_config.is_some(),
        accounts: opts.admin.is_some(),
        ldap: opts.ldap.is_some(),
        console: opts.console,
    };
    let (child, addr) = match kind {
        Kind::Palisade => {
            if let Some(cfg) = &opts.palisade_config {
                std::fs::write(d.join("registry.toml"), cfg).unwrap();
            }
            if let Some((name, password)) = &opts.admin {
                add_user(d, name, password);
            }
            if let Some(ldap) = &opts.ldap {
                std::fs::write(d.join("ldap.toml"), ldap).unwrap();
            }
            spawn_palisade(d, written, &opts.extra_args)
        }
        Kind::Distribution => {
            let port = free_port();
            let mut yml = format!(
                "version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\n  delete: {{enabled: true}}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: not-a-secret-test-only\n",
                d.join("data").display()
            );
            if tls.is_some() {
                yml += &format!(
                    "  tls: {{certificate: {}, key: {}}}\n",
                    d.join("cert.pem").display(),
                    d.join("key.pem").display()
                );
            }
            if let Some(h) = &htpasswd {
                yml += &format!("auth:\n  htpasswd: {{realm: basic-realm, path: {}}}\n", h.display());
            }
            std::fs::write(d.join("config.yml"), yml).unwrap();
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(d.join("config.yml"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("docker-registry");
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let mut ok = false;
            for _ in 0..600 {
                if TcpStream::connect(addr).is_ok() {
                    ok = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            assert!(ok, "docker-registry did not start listening");
            (child, addr)
        }
    };
    Server { kind, addr, dir, tls, child, written, extra_args: opts.extra_args.clone() }
}

impl Server {
    /// A trusted registry's JSON API call as `who` (`None`: anonymous): (status, body).
    pub fn api(&self, who: Option<(&str, &str)>, method: &str, path: &str, body: Option<serde_json::Value>) -> (u16, serde_json::Value) {
        let mut request = self.client().request(method.parse().unwrap(), self.url(path));
        if let Some((user, password)) = who {
            request = request.basic_auth(user, Some(password));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(serde_json::Value::Null))
    }

    /// [`Server::api`] as `who`, which must succeed; returns the body.
    pub fn api_ok(&self, who: (&str, &str), method: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
        let (status, out) = self.api(Some(who), method, path, Some(body));
        assert!((200..300).contains(&status), "{method} {path}: {status} {out}");
        out
    }
}

/// `palisade registry add-user --admin NAME` on the accounts database in `d`.
fn add_user(d: &Path, name: &str, password: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["registry", "add-user", "--admin", "--password-stdin", "--accounts"])
        .arg(d.join("accounts.redb"))
        .arg(name)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "add-user: {}", String::from_utf8_lossy(&out.stderr));
}

/// Start the palisade binary on the files `start` wrote into `d`; returns the child and the
/// address it printed.
fn spawn_palisade(d: &Path, Written { htpasswd, tls, config, accounts, ldap, console }: Written, extra_args: &[String]) -> (Child, SocketAddr) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.args(["registry", "serve", "--addr", "127.0.0.1:0"]);
    // A config whose `[storage]` section names a backend (e.g. S3) names the storage itself.
    let own_storage = config
        && std::fs::read_to_string(d.join("registry.toml")).is_ok_and(|t| t.contains("[storage]") && t.contains("kind ="));
    if !own_storage {
        cmd.arg("--root").arg(d.join("data"));
    }
    if htpasswd {
        cmd.arg("--htpasswd").arg(d.join("htpasswd"));
    }
    if tls {
        cmd.arg("--tls-cert").arg(d.join("cert.pem")).arg("--tls-key").arg(d.join("key.pem"));
    }
    if config {
        cmd.arg("--config").arg(d.join("registry.toml"));
    }
    if accounts {
        cmd.arg("--accounts").arg(d.join("accounts.redb"));
    }
    if ldap {
        cmd.arg("--ldap").arg(d.join("ldap.toml"));
    }
    if console {
        cmd.arg("--console");
    }
    cmd.args(extra_args);
    let mut child =
        cmd.env("PALISADE_LOG", "warn").stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(a) = line.strip_prefix("registry listening on ") {
                let _ = tx.send(a.trim().to_owned());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(60)).expect("palisade did not report its address");
    (child, addr.parse().unwrap())
}

impl Server {
    /// SIGKILL the server (no chance to clean up), then start it again on the same storage.
    /// Palisade only.
    pub fn kill9_and_restart(&mut self) {
        self.kill9();
        self.restart();
    }

    /// SIGKILL the server and wait for it to exit.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap(); // SIGKILL on unix
        self.child.wait().unwrap();
    }

    /// Start Palisade again on the same storage (after `kill9`).
    pub fn restart(&mut self) {
        assert_eq!(self.kind, Kind::Palisade);
        let (child, addr) = spawn_palisade(self.dir.path(), self.written, &self.extra_args);
        self.child = child;
        self.addr = addr;
    }
}

/// Send a raw HTTP/1.1 request (paths the URL parser would normalise, like `/v2/a/../b`);
/// returns (status, body). Uses `Expect: 100-continue` so a server that rejects the request
/// early never has unread body bytes (which would make it reset the connection).
pub fn raw_request(addr: SocketAddr, method: &str, path: &str, body: &[u8], extra: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    )
    .unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let read_head = |r: &mut BufReader<TcpStream>| {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        head
    };
    let mut head = read_head(&mut reader);
    if head.starts_with("HTTP/1.1 100") {
        s.write_all(body).unwrap();
        head = read_head(&mut reader);
    }
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, String::from_utf8_lossy(&rest).into_owned())
}

/// `len` incompressible bytes (xorshift) from `seed`: gzip and tmpfs cannot make them smaller.
pub fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The first error code of a spec error body.
pub fn error_code(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not error JSON: {body}"));
    v["errors"][0]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}")).to_owned()
}

// ------------------------------------------------------------------ images

fn tar_gz(files: &[(&str, Vec<u8>, u32)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (path, data, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        tar.append_data(&mut h, path, data.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// An OCI image layout: returns (layout dir, manifest digest, blob digests).
pub struct Image {
    pub dir: tempfile::TempDir,
    pub manifest_digest: String,
    pub blobs: Vec<String>,
}

impl Image {
    pub fn layout(&self) -> &Path {
        self.dir.path()
    }

    pub fn blob(&self, digest: &str) -> Vec<u8> {
        std::fs::read(self.layout().join("blobs/sha256").join(digest.trim_start_matches("sha256:"))).unwrap()
    }
}

fn write_blob(dir: &Path, data: &[u8]) -> (String, u64) {
    let d = sha256(data);
    std::fs::write(dir.join("blobs/sha256").join(d.trim_start_matches("sha256:")), data).unwrap();
    (d, data.len() as u64)
}

/// A three-layer image with busybox, written as an OCI layout tagged `tag`.
pub fn build_image(tag: &str) -> Image {
    build_image_with(tag, &[])
}

/// [`build_image`] with a fourth layer holding `extra` files (path, contents, mode), if any.
pub fn build_image_with(tag: &str, extra: &[(&str, Vec<u8>, u32)]) -> Image {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("blobs/sha256")).unwrap();
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static");
    let mut layers = vec![
        tar_gz(&[("bin/busybox", busybox, 0o755)]),
        tar_gz(&[("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n".to_vec(), 0o644)]),
        tar_gz(&[("srv/hello.txt", format!("hello from {tag}\n").into_bytes(), 0o644)]),
    ];
    if !extra.is_empty() {
        layers.push(tar_gz(extra));
    }
    let mut diff_ids = Vec::new();
    let mut layer_descs = Vec::new();
    let mut blobs = Vec::new();
    for l in &layers {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(l.as_slice()).read_to_end(&mut raw).unwrap();
        diff_ids.push(sha256(&raw));
        let (d, size) = write_blob(root, l);
        blobs.push(d.clone());
        layer_descs.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": size
        }));
    }
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/busybox", "cat", "/srv/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let (cd, csize) = write_blob(root, &serde_json::to_vec(&config).unwrap());
    blobs.push(cd.clone());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": csize},
        "layers": layer_descs,
    });
    let mbytes = serde_json::to_vec(&manifest).unwrap();
    let (md, msize) = write_blob(root, &mbytes);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": msize,
            "annotations": {"org.opencontainers.image.ref.name": tag}
        }]
    });
    std::fs::write(root.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(root.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    Image { dir, manifest_digest: md, blobs }
}

/// Run skopeo with a permissive policy and an isolated HOME; returns (success, stderr).
pub fn skopeo(args: &[&str]) -> (bool, String) {
    let home = tempfile::tempdir().unwrap();
    let policy = home.path().join("policy.json");
    std::fs::write(&policy, br#"{"default":[{"type":"insecureAcceptAnything"}]}"#).unwrap();
    let out = Command::new("skopeo")
        .arg("--policy")
        .arg(&policy)
        .args(args)
        .env("HOME", home.path())
        .env("XDG_RUNTIME_DIR", home.path())
        .output()
        .expect("skopeo");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn tls_args(s: &Server, dir_flag: &str, verify_flag: &str) -> Vec<String> {
    match &s.tls {
        Some(t) => vec![dir_flag.to_owned(), t.cert_dir.display().to_string()],
        None => vec![format!("{verify_flag}=false")],
    }
}

/// The notary CLI on the trust server at `url` (TLS verified with `ca`) with `auth`
/// (`user:password`) and passphrase `pass` for every key; its output, asserting success.
pub fn notary_as(trust_dir: &Path, url: &str, ca: &Path, auth: &str, args: &[&str]) -> String {
    let mut cmd = Command::new("notary");
    cmd.arg("-d").arg(trust_dir).args(["-s", url, "--tlscacert"]).arg(ca).args(args);
    for role in ["ROOT", "TARGETS", "SNAPSHOT", "DELEGATION"] {
        cmd.env(format!("NOTARY_{role}_PASSPHRASE"), "pass");
    }
    cmd.env("NOTARY_AUTH", {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(auth)
    });
    let out = cmd.stdin(Stdio::null()).output().expect("notary");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "notary {args:?}: {text}");
    text
}

/// An image with Alpine's zlib 1.3-r0 in its apk database: what [`import_zlib_advisory`]'s
/// advisory finds (critical, fixed in 1.3.1-r0).
pub fn vulnerable_alpine_image(tag: &str) -> Image {
    build_image_with(
        tag,
        &[
            ("etc/os-release", b"NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n".to_vec(), 0o644),
            ("lib/apk/db/installed", b"P:zlib\nV:1.3-r0\no:zlib\n\n".to_vec(), 0o644),
        ],
    )
}

/// Imports into `data`'s advisory database (`palisade scan db import`, the OSV record written
/// to `osv_dir`) one critical advisory, FIXTURE-CRIT: Alpine 3.19's zlib before 1.3.1-r0.
pub fn import_zlib_advisory(data: &Path, osv_dir: &Path) {
    std::fs::create_dir_all(osv_dir).unwrap();
    let record = serde_json::json!({"id": "FIXTURE-CRIT", "modified": "2024-01-01T00:00:00Z", "summary": "zlib fixture",
        "database_specific": {"severity": "CRITICAL"},
        "affected": [{"package": {"ecosystem": "Alpine:v3.19", "name": "zlib"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.3.1-r0"}]}]}]});
    std::fs::write(osv_dir.join("FIXTURE-CRIT.json"), record.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_palisade")).args(["scan", "db", "import", "--data-root"]).arg(data).arg(osv_dir).output().unwrap();
    assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));
}

/// Pushes `image` to `dest` with skopeo; returns the pushed manifest digest.
pub fn skopeo_push_image(image: &Image, tag: &str, dest: &str, certs: &Path, creds: &str) -> String {
    let digest_file = tempfile::NamedTempFile::new().unwrap();
    let (ok, err) = skopeo(&[
        "copy",
        "--dest-cert-dir",
        certs.to_str().unwrap(),
        "--dest-creds",
        creds,
        "--digestfile",
        digest_file.path().to_str().unwrap(),
        &format!("oci:{}:{tag}", image.layout().display()),
        &format!("docker://{dest}"),
    ]);
    assert!(ok, "skopeo copy to {dest}: {err}");
    std::fs::read_to_string(digest_file.path()).unwrap().trim().to_owned()
}

/// `skopeo copy` of an OCI layout to the registry, with `creds` (`user:password`) if given.
pub fn skopeo_push(s: &Server, src_layout: &str, dest: &str, creds: Option<&str>) -> (bool, String) {
    skopeo_copy(s, "dest", src_layout, dest, creds)
}

/// `skopeo copy` from the registry to an OCI layout, with `creds` if given.
pub fn skopeo_pull(s: &Server, src: &str, dest_layout: &str, creds: Option<&str>) -> (bool, String) {
    skopeo_copy(s, "src", src, dest_layout, creds)
}

/// `skopeo copy from to` with the registry on the `side` (`src` or `dest`): its TLS
/// settings and `creds` go to that side's flags.
fn skopeo_copy(s: &Server, side: &str, from: &str, to: &str, creds: Option<&str>) -> (bool, String) {
    let mut args: Vec<String> = vec!["copy".into()];
    args.extend(tls_args(s, &format!("--{side}-cert-dir"), &format!("--{side}-tls-verify")));
    if let Some(c) = creds {
        args.extend([format!("--{side}-creds"), c.to_owned()]);
    }
    args.extend([from.to_owned(), to.to_owned()]);
    skopeo(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Push a blob monolithically; returns its digest.
pub fn push_blob(s: &Server, c: &reqwest::blocking::Client, repo: &str, data: &[u8]) -> String {
    let d = sha256(data);
    let r = c.post(s.url(&format!("/v2/{repo}/blobs/uploads/"))).send().unwrap();
    assert_eq!(r.status(), 202, "start upload");
    let loc = s.resolve(r.headers()["location"].to_str().unwrap());
    let sep = if loc.contains('?') { '&' } else { '?' };
    let r = c
        .put(format!("{loc}{sep}digest={d}"))
        .header("content-type", "application/octet-stream")
        .body(data.to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "finish upload: {}", r.text().unwrap_or_default());
    d
}

/// Push a minimal OCI image manifest (config + one layer) under `reference`; returns
/// (manifest bytes, digest).
pub fn push_image_manifest(s: &Server, c: &reqwest::blocking::Client, repo: &str, reference: &str, seed: &str) -> (Vec<u8>, String) {
    let cfg = format!("{{\"seed\":\"{seed}\"}}");
    let cd = push_blob(s, c, repo, cfg.as_bytes());
    let layer = format!("layer {seed}");
    let ld = push_blob(s, c, repo, layer.as_bytes());
    let m = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cfg.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": layer.len()}],
    }))
    .unwrap();
    let (status, body) = put_oci_manifest(s, c, repo, reference, &m);
    assert_eq!(status, 201, "manifest put: {body}");
    let d = sha256(&m);
    (m, d)
}

/// `PUT /v2/<repo>/manifests/<reference>` of an OCI image manifest; returns (status, body).
pub fn put_oci_manifest(s: &Server, c: &reqwest::blocking::Client, repo: &str, reference: &str, manifest: &[u8]) -> (u16, String) {
    let r = c
        .put(s.url(&format!("/v2/{repo}/manifests/{reference}")))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.to_vec())
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap_or_default())
}
