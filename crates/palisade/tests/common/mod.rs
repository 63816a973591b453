//! Test harness: real `palisade daemon` processes on temp data roots, driven by the real docker
//! CLI, palisade CLI and openssl.
#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
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
        Command::new("docker")
            .arg("-H")
            .arg(self.host())
            .args(args)
            .env("DOCKER_CONFIG", self.docker_config.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
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
        Command::new(PALISADE).args(args).env("PALISADE_HOST", self.host()).stdin(Stdio::null()).output().unwrap()
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

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A currently free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `check` until it holds, or fails the test after `timeout`.
pub fn wait_for(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
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

// ---- container engine helpers (docker_run_* tests) ----

const BUSYBOX_APPLETS: &[&str] = &[
    "sh", "cat", "echo", "sleep", "true", "false", "unshare", "touch", "head", "tail", "tr", "dd", "id", "hostname",
    "seq", "grep", "env", "wc",
];

fn tar_entry(b: &mut tar::Builder<Vec<u8>>, name: &str, kind: tar::EntryType, data: &[u8], mode: u32, link: Option<&str>) {
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
    let layer = layer.into_inner().unwrap();
    let diff_id = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&layer)));
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
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
