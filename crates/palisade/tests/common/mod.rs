//! Test harness: real `palisade daemon` processes on temp data roots, driven by the real docker
//! CLI, palisade CLI and openssl.
#![allow(dead_code, unreachable_pub)]

pub mod cluster;
pub mod fault;
pub mod netns_node;
pub mod ports;

pub use ports::free_port;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const PALISADE: &str = env!("CARGO_BIN_EXE_palisade");

/// A running daemon. Killed (SIGKILL) on drop.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    child: Option<Child>,
    docker_config: tempfile::TempDir,
}

impl Node {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut node = Node { socket: dir.path().join("engine.sock"), dir, child: None, docker_config: tempfile::tempdir().unwrap() };
        node.spawn();
        node
    }

    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("daemon.log")).unwrap();
        let child = Command::new(PALISADE)
            .args(["daemon", "--data-root"])
            .arg(self.data_root())
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            // In the host's namespace: no default bridge, nothing on the host's network.
            .args(["--bridge", "none"])
            .env("PALISADE_LOG", "info,palisade_cluster=debug")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for(Duration::from_secs(20), "daemon socket", || {
            self.socket.exists() && self.docker(&["version", "--format", "{{.Server.Version}}"]).status.success()
        });
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Runs the real docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        docker_at(&self.host(), self.docker_config.path(), args)
    }

    /// docker CLI that must succeed; returns stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(out.status.success(), "docker {args:?} failed: {}\n--- daemon log ---\n{}", stderr(&out), self.log());
        stdout(&out)
    }

    /// docker CLI that must fail; returns stderr.
    pub fn docker_err(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(!out.status.success(), "docker {args:?} unexpectedly succeeded: {}", stdout(&out));
        stderr(&out)
    }

    /// The palisade CLI against this daemon.
    pub fn palisade(&self, args: &[&str]) -> Output {
        palisade_at(&self.host(), args)
    }

    /// palisade CLI that must succeed; returns stdout.
    pub fn palisade_ok(&self, args: &[&str]) -> String {
        let out = self.palisade(args);
        assert!(out.status.success(), "palisade {args:?} failed: {}\n--- daemon log ---\n{}", stderr(&out), self.log());
        stdout(&out)
    }

    /// palisade CLI that must fail; returns stderr.
    pub fn palisade_err(&self, args: &[&str]) -> String {
        let out = self.palisade(args);
        assert!(!out.status.success(), "palisade {args:?} unexpectedly succeeded: {}", stdout(&out));
        stderr(&out)
    }

    /// `docker info` field via Go template.
    pub fn info(&self, template: &str) -> String {
        self.docker_ok(&["info", "--format", template]).trim().to_owned()
    }

    pub fn node_id(&self) -> String {
        self.info("{{.Swarm.NodeID}}")
    }

    /// `swarm init` on 127.0.0.1 and a free port, with a fast heartbeat. Returns the cluster address.
    pub fn init(&self, extra: &[&str]) -> String {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut args = vec!["swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", &addr, "--dispatcher-heartbeat", "1s"];
        args.extend_from_slice(extra);
        self.docker_ok(&args);
        addr
    }

    pub fn join_token(&self, role: &str) -> String {
        self.docker_ok(&["swarm", "join-token", "-q", role]).trim().to_owned()
    }

    pub fn join(&self, token: &str, manager: &str) -> Output {
        self.docker(&["swarm", "join", "--token", token, manager])
    }

    pub fn node_dir(&self) -> PathBuf {
        self.data_root().join("node")
    }

    pub fn read_node_file(&self, name: &str) -> String {
        std::fs::read_to_string(self.node_dir().join(name)).unwrap()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Longest any one peer-tool call of the harness may take: a call that hangs is killed and
/// fails its test naming the command, instead of holding the suite until nextest's timeout.
pub const CALL_LIMIT: Duration = Duration::from_secs(120);

/// Runs `cmd` with `input` on its stdin (none: /dev/null), killing it after `limit`. A killed
/// call is a failed call whose stderr ends with a `[harness]` line saying so.
pub fn output_within(cmd: &mut Command, input: Option<&[u8]>, limit: Duration) -> Output {
    use std::io::{Read as _, Write as _};
    let mut child = cmd
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?} could not start (is the tool installed?): {e}"));
    let mut stdin = child.stdin.take();
    let input = input.map(<[u8]>::to_vec);
    // Written on a thread of its own: a child that does not read its input must not block us.
    let writer = std::thread::spawn(move || {
        if let (Some(pipe), Some(bytes)) = (stdin.as_mut(), input) {
            let _ = pipe.write_all(&bytes);
        }
        drop(stdin); // EOF
    });
    let read_all = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let out_reader = read_all(Box::new(child.stdout.take().unwrap()));
    let err_reader = read_all(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break (status, false);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break (child.wait().unwrap(), true);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = writer.join();
    let mut stderr = err_reader.join().unwrap();
    if timed_out {
        stderr.extend_from_slice(format!("\n[harness] {cmd:?} killed after {limit:?}").as_bytes());
    }
    Output { status, stdout: out_reader.join().unwrap(), stderr }
}

/// The real docker CLI against the daemon at `host`, with its own configuration directory,
/// within [`CALL_LIMIT`].
pub fn docker_at(host: &str, config: &Path, args: &[&str]) -> Output {
    docker_input_at(host, config, args, None, CALL_LIMIT)
}

/// [`docker_at`] with `input` on stdin and a time limit of the caller's.
pub fn docker_input_at(host: &str, config: &Path, args: &[&str], input: Option<&[u8]>, limit: Duration) -> Output {
    output_within(Command::new("docker").arg("-H").arg(host).args(args).env("DOCKER_CONFIG", config), input, limit)
}

/// The palisade CLI against the daemon at `host`.
pub fn palisade_at(host: &str, args: &[&str]) -> Output {
    output_within(Command::new(PALISADE).args(args).env("PALISADE_HOST", host), None, CALL_LIMIT)
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The entries of the audit log in `dir`, oldest first, through `palisade audit ls --json`.
pub fn audit_entries(dir: &Path) -> Vec<serde_json::Value> {
    let out = output_within(Command::new(PALISADE).args(["audit", "ls", "--json", "--dir"]).arg(dir), None, CALL_LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The value of `field` in a `/proc/<pid>/status` text (`CapEff`, `NoNewPrivs`, …).
pub fn status_field(status: &str, field: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"))
        .trim()
        .to_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}


/// Polls `check` until it holds, or fails the test after `timeout`.
pub fn wait_for(timeout: Duration, what: &str, check: impl FnMut() -> bool) {
    assert!(poll(timeout, check), "timed out after {timeout:?} waiting for {what}");
}

/// Polls `check` until it holds (`true`) or `timeout` has passed (`false`).
pub fn poll(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// Rows of `docker node ls` as (id, columns...), split on 2+ spaces.
pub fn node_rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(1)
        .map(|line| {
            line.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(|c| c.trim_end_matches(" *").to_owned()).collect()
        })
        .collect()
}

/// The row of `node ls` for `id`.
pub fn node_row(table: &str, id: &str) -> Vec<String> {
    node_rows(table).into_iter().find(|r| r[0] == id).unwrap_or_else(|| panic!("node {id} not in:\n{table}"))
}

/// Runs openssl with `args`; returns (success, stdout+stderr).
pub fn openssl(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    (out.status.success(), format!("{}{}", stdout(&out), stderr(&out)))
}

pub fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// `openssl x509 -noout -nameopt RFC2253 <flags> -in cert`, which must succeed.
pub fn x509(cert: &Path, flags: &[&str]) -> String {
    let mut args = vec!["x509", "-noout", "-nameopt", "RFC2253"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["-in", cert.to_str().unwrap()]);
    let (ok, out) = openssl(&args, None);
    assert!(ok, "{out}");
    out
}

/// Sends one raw HTTP request to the cluster port through `openssl s_client` (with `extra`
/// arguments such as `-cert`/`-key`) and returns everything openssl printed.
pub fn cluster_request(addr: &str, extra: &[&str], http: &str) -> String {
    let mut args = vec!["s_client", "-connect", addr, "-servername", "swarm-manager", "-ign_eof"];
    args.extend_from_slice(extra);
    openssl(&args, Some(http)).1
}

/// An HTTP/1.1 POST with a JSON body, closing the connection after the answer.
pub fn http_post(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: swarm-manager\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Writes a test CA (`ca.crt`, `ca.key`) and a server certificate for 127.0.0.1/localhost
/// signed by it (`server.crt`, `server.key`) into `d`, with openssl.
pub fn make_server_cert(d: &Path) {
    let p = |n: &str| d.join(n).to_str().unwrap().to_owned();
    let run = |args: &[&str]| {
        let (ok, out) = openssl(args, None);
        assert!(ok, "{out}");
    };
    run(&["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", &p("ca.key"),
        "-out", &p("ca.crt"), "-days", "30", "-subj", "/CN=Trust Test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    run(&["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", &p("server.key"),
        "-out", &p("server.csr"), "-subj", "/CN=127.0.0.1"]);
    write(d, "server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n");
    run(&["x509", "-req", "-in", &p("server.csr"), "-CA", &p("ca.crt"), "-CAkey", &p("ca.key"), "-CAcreateserial",
        "-out", &p("server.crt"), "-days", "30", "-extfile", &p("server.ext")]);
}

/// The real `notary-server` 0.7 (Debian package `notary`) with in-memory storage, the local
/// (ed25519) signing service and TLS from [`make_server_cert`]. Killed on drop.
pub struct NotaryServerProc {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

impl NotaryServerProc {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        make_server_cert(d);
        let port = free_port();
        let config = serde_json::json!({
            "server": {"http_addr": format!("127.0.0.1:{port}"), "tls_key_file": "./server.key", "tls_cert_file": "./server.crt"},
            "trust_service": {"type": "local", "key_algorithm": "ecdsa"},
            "storage": {"backend": "memory"},
            "logging": {"level": "info"}
        });
        write(d, "server-config.json", &config.to_string());
        let log = std::fs::File::create(d.join("server.log")).unwrap();
        let child = Command::new("notary-server")
            .arg("-config")
            .arg(d.join("server-config.json"))
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("notary-server (Debian package notary)");
        let proc = NotaryServerProc { dir, port, child };
        wait_for(Duration::from_secs(20), "notary-server health", || {
            Command::new("curl")
                .args(["-sf", "--cacert"])
                .arg(proc.dir.path().join("ca.crt"))
                .arg(format!("{}/_notary_server/health", proc.url()))
                .output()
                .is_ok_and(|o| o.status.success())
        });
        proc
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for NotaryServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `palisade trust-server serve` with TLS from a CA made for the test, plus a notary
/// client trust directory. Killed on drop.
pub struct TrustServerProc {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    /// Kept open so the server's stdout never sees a closed pipe.
    banner: Option<std::io::BufReader<std::process::ChildStdout>>,
}

impl TrustServerProc {
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// [`Self::start`], after `prepare` has seen the test directory (the server's data root is
    /// its `root`, which `prepare` may create, e.g. as a link to another file system).
    pub fn start_with(prepare: impl FnOnce(&Path)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        make_server_cert(dir.path());
        prepare(dir.path());
        let mut proc = TrustServerProc { dir, port: 0, child: None, banner: None };
        proc.spawn();
        proc
    }

    fn spawn(&mut self) {
        use std::io::BufRead as _;
        let d = self.dir.path();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(d.join("server.log")).unwrap();
        let mut child = Command::new(PALISADE)
            .args(["trust-server", "serve", "--addr", "127.0.0.1:0", "--root"])
            .arg(d.join("root"))
            .arg("--tls-cert")
            .arg(d.join("server.crt"))
            .arg("--tls-key")
            .arg(d.join("server.key"))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
        reader.read_line(&mut line).unwrap();
        self.banner = Some(reader);
        let addr = line.trim().strip_prefix("trust server listening on ").unwrap_or_else(|| panic!("bad banner {line:?}"));
        self.port = addr.rsplit(':').next().unwrap().parse().unwrap();
        self.child = Some(child);
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Runs `notary -d <dir>/trust -s <url> --tlscacert ca.crt <args>` with passphrases set.
    pub fn notary(&self, args: &[&str]) -> (bool, String) {
        self.notary_input(args, "")
    }

    /// Like [`Self::notary`], answering prompts with `input` on stdin.
    pub fn notary_input(&self, args: &[&str], input: &str) -> (bool, String) {
        notary_at(self.dir.path(), &self.url(), args, input)
    }

    /// `notary …` that must succeed; returns its output.
    pub fn notary_ok(&self, args: &[&str]) -> String {
        let (ok, out) = self.notary(args);
        assert!(ok, "notary {args:?} failed: {out}\nserver log:\n{}", self.log());
        out
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// `curl` against the server (CA trusted); returns (HTTP status, body).
    pub fn curl(&self, args: &[&str]) -> (u16, String) {
        let out = Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(self.dir.path().join("ca.crt"))
            .args(["-w", "\n%{http_code}"])
            .args(args)
            .output()
            .unwrap();
        let text = stdout(&out);
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.trim().parse().unwrap_or(0), body.to_owned())
    }

    /// `GET /v2/<gun>/_trust/tuf/<file>`: the body, which must be 200.
    pub fn get_meta(&self, gun: &str, file: &str) -> Vec<u8> {
        let out = Command::new("curl")
            .args(["-sSf", "--cacert"])
            .arg(self.dir.path().join("ca.crt"))
            .arg(format!("{}/v2/{gun}/_trust/tuf/{file}", self.url()))
            .output()
            .unwrap();
        assert!(out.status.success(), "GET {file}: {}", stderr(&out));
        out.stdout
    }

    /// `POST /v2/<gun>/_trust/tuf/` with multipart parts `files` named by role.
    pub fn post_meta(&self, gun: &str, parts: &[(&str, &[u8])]) -> (u16, String) {
        let mut args = Vec::new();
        for (i, (role, bytes)) in parts.iter().enumerate() {
            let path = self.dir.path().join(format!("upload-{i}.json"));
            std::fs::write(&path, bytes).unwrap();
            args.push("-F".to_owned());
            args.push(format!("files=@{};filename={role}", path.display()));
        }
        args.push(format!("{}/v2/{gun}/_trust/tuf/", self.url()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.curl(&refs)
    }
}

/// Runs `notary -d <dir>/trust -s <url> --tlscacert <dir>/ca.crt <args>` in `dir` with the
/// passphrases set, answering prompts with `input`; returns (success, stdout+stderr). For
/// threads that cannot borrow the [`TrustServerProc`].
pub fn notary_at(dir: &Path, url: &str, args: &[&str], input: &str) -> (bool, String) {
    use std::io::Write as _;
    let mut child = Command::new("notary")
        .arg("-d")
        .arg(dir.join("trust"))
        .args(["-s", url, "--tlscacert"])
        .arg(dir.join("ca.crt"))
        .args(args)
        .current_dir(dir)
        .env("NOTARY_ROOT_PASSPHRASE", "root-pass")
        .env("NOTARY_TARGETS_PASSPHRASE", "targets-pass")
        .env("NOTARY_SNAPSHOT_PASSPHRASE", "snapshot-pass")
        .env("NOTARY_DELEGATION_PASSPHRASE", "deleg-pass")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), format!("{}{}", stdout(&out), stderr(&out)))
}

impl TrustServerProc {
    /// SIGKILL (unless [`Self::kill`] did already) then start again on the same root (a crash
    /// and restart); the port changes.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.banner = None;
    }
}

impl Drop for TrustServerProc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---- container engine helpers (docker_run_* tests) ----

const BUSYBOX_APPLETS: &[&str] = &[
    "sh", "cat", "echo", "sleep", "true", "false", "unshare", "touch", "head", "tail", "tr", "dd", "id", "hostname",
    "seq", "grep", "env", "wc",
];

pub fn tar_entry(b: &mut tar::Builder<Vec<u8>>, name: &str, kind: tar::EntryType, data: &[u8], mode: u32, link: Option<&str>) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_size(data.len() as u64);
    match link {
        Some(target) => b.append_link(&mut h, name, target).unwrap(),
        None => b.append_data(&mut h, name, data).unwrap(),
    }
}

/// A docker-archive tarball of a one-layer busybox image tagged `tag` (needs busybox-static).
pub fn busybox_image(dir: &Path, tag: &str) -> PathBuf {
    busybox_image_with(dir, tag, &[], &["sh"])
}

/// [`busybox_image`] with more files in its layer (`path` without a leading `/`; a path
/// ending in `/` is a directory) and `cmd` as its command.
pub fn busybox_image_with(dir: &Path, tag: &str, files: &[(&str, Vec<u8>, u32)], cmd: &[&str]) -> PathBuf {
    busybox_image_configured(dir, tag, files, serde_json::json!({"Env": ["PATH=/bin"], "Cmd": cmd}))
}

/// [`busybox_image_with`] with `config` as the image config's `config` (`Cmd`, `Volumes`, …).
pub fn busybox_image_configured(dir: &Path, tag: &str, files: &[(&str, Vec<u8>, u32)], config: serde_json::Value) -> PathBuf {
    use sha2::Digest as _;
    let mut layer = tar::Builder::new(Vec::new());
    for d in ["bin", "etc", "proc", "sys", "dev", "root", "tmp", "run", "var"] {
        tar_entry(&mut layer, d, tar::EntryType::Directory, &[], 0o755, None);
    }
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static is required");
    tar_entry(&mut layer, "bin/busybox", tar::EntryType::Regular, &busybox, 0o755, None);
    tar_entry(&mut layer, "etc/passwd", tar::EntryType::Regular, b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n", 0o644, None);
    for applet in BUSYBOX_APPLETS {
        tar_entry(&mut layer, &format!("bin/{applet}"), tar::EntryType::Symlink, &[], 0o777, Some("busybox"));
    }
    for (path, data, mode) in files {
        match path.strip_suffix('/') {
            Some(d) => tar_entry(&mut layer, d, tar::EntryType::Directory, &[], *mode, None),
            None => tar_entry(&mut layer, path, tar::EntryType::Regular, data, *mode, None),
        }
    }
    let layer = layer.into_inner().unwrap();
    let diff_id = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&layer)));
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!([{"Config": "config.json", "RepoTags": [tag], "Layers": ["layer.tar"]}])).unwrap();
    let mut archive = tar::Builder::new(Vec::new());
    for (name, data) in [("manifest.json", &manifest), ("config.json", &config), ("layer.tar", &layer)] {
        tar_entry(&mut archive, name, tar::EntryType::Regular, data, 0o644, None);
    }
    let path = dir.join(format!("{}.tar", tag.replace([':', '/'], "_")));
    std::fs::write(&path, archive.into_inner().unwrap()).unwrap();
    path
}

impl Node {
    /// `docker load -i` of [`busybox_image`] tagged `tag`.
    pub fn load_busybox(&self, tag: &str) {
        let archive = busybox_image(self.dir.path(), tag);
        let out = self.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
        assert!(out.contains(&format!("Loaded image: {tag}")), "{out}");
    }

    /// Runs docker and returns (exit code, stdout, stderr).
    pub fn docker_run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.docker(args);
        (out.status.code().unwrap_or(-1), stdout(&out), stderr(&out))
    }

    /// Bundle directories the runtime currently holds.
    pub fn runtime_containers(&self) -> Vec<String> {
        match std::fs::read_dir(self.data_root().join("runtime").join("containers")) {
            Ok(dir) => dir.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// A docker configuration directory for content trust against one trust server: the server's
/// CA in `tls/<host:port>/ca.crt` (where docker looks), `DOCKER_CONTENT_TRUST_SERVER`, and the
/// root/repository passphrases. Drives `palisade trust` and the real `docker trust`.
pub struct TrustEnv {
    /// `DOCKER_CONFIG`.
    pub config: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub server: String,
}

pub const ROOT_PASS: &str = "root-pass";
pub const REPO_PASS: &str = "repo-pass";

impl TrustEnv {
    pub fn new(config: PathBuf, server: &str, ca: &Path) -> Self {
        let host = server.strip_prefix("https://").unwrap();
        let tls = config.join("tls").join(host);
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::copy(ca, tls.join("ca.crt")).unwrap();
        TrustEnv { config, server: server.to_owned() }
    }

    /// The trust directory both CLIs use.
    pub fn trust_dir(&self) -> PathBuf {
        self.config.join("trust")
    }

    fn command(&self, program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(&self.config)
            .env("DOCKER_CONFIG", &self.config)
            .env("DOCKER_CONTENT_TRUST_SERVER", &self.server)
            .env("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE", ROOT_PASS)
            .env("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", REPO_PASS)
            .env_remove("PALISADE_REGISTRY_AUTH")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// `palisade trust <args>` with extra environment.
    pub fn palisade_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut all = vec!["trust"];
        all.extend_from_slice(args);
        self.command(PALISADE, &all, env)
    }

    /// `palisade trust <args>` that must succeed; returns stdout.
    pub fn palisade_ok(&self, args: &[&str]) -> String {
        let out = self.palisade_env(args, &[]);
        assert!(out.status.success(), "palisade trust {args:?}: {}{}", stdout(&out), stderr(&out));
        stdout(&out)
    }

    /// `docker trust <args>` (no daemon needed) that must succeed; returns stdout+stderr.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let mut all = vec!["trust"];
        all.extend_from_slice(args);
        let out = self.command("docker", &all, &[]);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(out.status.success(), "docker trust {args:?}: {text}");
        text
    }
}

/// A running `palisade up` (daemon, registry and trust server on free ports) with the lines it
/// printed. Killed on drop.
pub struct Up {
    child: Child,
    pub lines: Vec<String>,
    data: PathBuf,
    socket: PathBuf,
    docker_config: tempfile::TempDir,
}

impl Up {
    pub fn start(data: &Path) -> Self {
        Self::start_with(data, &[])
    }

    /// `palisade up` with `extra` arguments; its log goes to `<data>.log`.
    pub fn start_with(data: &Path, extra: &[&str]) -> Self {
        let socket = data.with_extension("sock");
        let log = std::fs::File::create(data.with_extension("log")).unwrap();
        let mut child = Command::new(PALISADE)
            .args(["up", "--data-root"])
            .arg(data)
            // In the host's namespace: no default bridge, nothing on the host's network.
            .args(["--bridge", "none"])
            .args(["-H", &format!("unix://{}", socket.display())])
            .args(["--listen-addr", &format!("127.0.0.1:{}", free_port())])
            .args(["--registry-addr", "127.0.0.1:0", "--trust-addr", "127.0.0.1:0"])
            .args(extra)
            .env("PALISADE_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut reader = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
        // The banner ends with the image policy's line.
        let mut lines = Vec::new();
        while !lines.last().is_some_and(|l: &String| l.trim_start().starts_with("Image policy:")) {
            let Some(line) = reader.next() else {
                // Most likely a port another test took between free_port and the bind: say so.
                let log = std::fs::read_to_string(socket.with_extension("log")).unwrap_or_default();
                panic!("palisade up exited before printing its banner ({:?}); its log:\n{log}", child.wait());
            };
            lines.push(line.unwrap());
        }
        Self { child, lines, data: data.to_owned(), socket, docker_config: tempfile::tempdir().unwrap() }
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.socket.with_extension("log")).unwrap_or_default()
    }

    /// `unix://<socket>`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The real docker CLI against this node.
    pub fn docker(&self, args: &[&str]) -> Output {
        docker_at(&self.host(), self.docker_config.path(), args)
    }

    /// The palisade CLI against this node.
    pub fn palisade(&self, args: &[&str]) -> Output {
        palisade_at(&self.host(), args)
    }

    pub fn field(&self, label: &str) -> String {
        let line = self.lines.iter().find(|l| l.trim_start().starts_with(label)).unwrap_or_else(|| panic!("{label} in {:?}", self.lines));
        line.trim_start()[label.len()..].split_whitespace().next().unwrap().to_owned()
    }

    pub fn registry(&self) -> String {
        self.field("Registry:")
    }

    pub fn trust_url(&self) -> String {
        self.field("Trust server:")
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Up {
    /// The `admin` password printed once.
    pub fn password(&self) -> String {
        let line = self.lines.iter().find(|l| l.contains("Registry user:")).unwrap();
        line.split_whitespace().nth(4).unwrap().to_owned()
    }

    /// The registry's JSON API (`/api/v1/…`) as `admin`, over TLS verified with the cluster's
    /// root CA (curl): the status and the JSON body (`Null` when there is none).
    pub fn api(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> (u16, serde_json::Value) {
        self.api_as(("admin", &self.password()), method, path, body)
    }

    /// [`Up::api`] as `user` (name, password).
    pub fn api_as(&self, user: (&str, &str), method: &str, path: &str, body: Option<serde_json::Value>) -> (u16, serde_json::Value) {
        let ca = self.data.join("node/root-ca.crt");
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-w", "\n%{http_code}", "-X", method, "--cacert"]).arg(&ca).args(["-u", &format!("{}:{}", user.0, user.1)]);
        if let Some(body) = body {
            cmd.args(["-H", "content-type: application/json", "--data-binary", &body.to_string()]);
        }
        let out = output_within(cmd.arg(format!("https://{}{path}", self.registry())), None, CALL_LIMIT);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or_else(|| panic!("curl {method} {path}: {text} {}", stderr(&out)));
        (code.trim().parse().unwrap(), serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
    }
}

impl Node {
    /// What `docker login HOST -u USER -p PASSWORD` stores: the docker CLI of this node sends
    /// these credentials (`X-Registry-Auth`) when it pulls from `registry`.
    pub fn docker_credentials(&self, registry: &str, user: &str, password: &str) {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let config = serde_json::json!({ "auths": { registry: { "auth": auth } } });
        std::fs::write(self.docker_config.path().join("config.json"), config.to_string()).unwrap();
    }

    /// Trusts `ca_pem` for `registry` (`HOST:PORT`) as dockerd does: `<data-root>/certs.d/HOST:PORT/ca.crt`.
    pub fn trust_registry_ca(&self, registry: &str, ca_pem: &str) {
        let dir = self.data_root().join("certs.d").join(registry);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.crt"), ca_pem).unwrap();
    }

    /// Files in the image store's blob directory (for "nothing stored" checks).
    pub fn stored_blobs(&self) -> usize {
        std::fs::read_dir(self.data_root().join("runtime/images/blobs/sha256")).map_or(0, |d| d.count())
    }
}

impl Node {
    /// The daemon's audit log as (action, target, outcome), oldest first, through
    /// `palisade audit ls --json`; and whether `palisade audit verify` passes on it.
    pub fn audit_records(&self) -> (Vec<(String, String, String)>, bool) {
        let records = audit_entries(&self.data_root().join("audit"))
            .iter()
            .map(|e| [&e["action"], &e["target"], &e["outcome"]].map(|v| v.as_str().unwrap().to_owned()).into())
            .collect();
        (records, self.audit_verify(&[]).status.success())
    }

    /// `palisade audit verify --data-root <this node's> <extra>`: the log checked against the
    /// node's trust bundle unless `extra` names CAs.
    pub fn audit_verify(&self, extra: &[&str]) -> Output {
        output_within(Command::new(PALISADE).args(["audit", "verify", "--data-root"]).arg(self.data_root()).args(extra), None, CALL_LIMIT)
    }

    /// Makes the daemon append `n` audit entries that change nothing: `docker secret rm` of as
    /// many secrets that do not exist, each refused and recorded. (A log signs its head every
    /// 100 entries.)
    pub fn record_refused_calls(&self, n: usize) {
        let names: Vec<String> = (1..=n).map(|i| format!("no-such-secret-{i}")).collect();
        let mut args = vec!["secret", "rm"];
        args.extend(names.iter().map(String::as_str));
        let out = self.docker(&args);
        assert!(!out.status.success(), "removing secrets that do not exist succeeded: {}", stdout(&out));
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon running").id()
    }

    /// Whether `path` is a mount point in the daemon's mount namespace.
    pub fn daemon_has_mount(&self, path: &Path) -> bool {
        let mounts = std::fs::read_to_string(format!("/proc/{}/mountinfo", self.pid())).unwrap();
        mounts.lines().any(|l| l.split(' ').nth(4) == path.to_str())
    }
}
