//! A daemon with networking, in a network namespace of its own (`ip netns add`, entered with
//! `nsenter --net`, which keeps the host's mounts so containers still see their cgroups):
//! its bridges, nftables rules and published ports never meet the host's or another test's.
//! Dropping it removes its containers, stops it and deletes the namespace.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{stderr, stdout, wait_for, Node, PALISADE};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub struct NetNode {
    pub node: Node,
    pub netns: String,
    extra: Vec<String>,
}

impl std::ops::Deref for NetNode {
    type Target = Node;
    fn deref(&self) -> &Node {
        &self.node
    }
}

impl NetNode {
    /// A daemon with the default bridge; `extra` daemon flags (e.g. `--icc`).
    pub fn start(extra: &[&str]) -> NetNode {
        let nft = Command::new("nft").arg("--version").output();
        assert!(nft.is_ok_and(|o| o.status.success()), "nft is required (Debian nftables)");
        let netns = format!("paln-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        super::cluster::ip(&["netns", "add", &netns]);
        super::cluster::ip(&["-n", &netns, "link", "set", "lo", "up"]);
        let dir = tempfile::tempdir().unwrap();
        let node = Node { socket: dir.path().join("engine.sock"), dir, child: None, docker_config: tempfile::tempdir().unwrap() };
        let mut this = NetNode { node, netns, extra: extra.iter().map(|s| (*s).to_owned()).collect() };
        this.spawn();
        this
    }

    /// SIGKILL (as a crash) and start again in the same namespace.
    pub fn crash_and_restart(&mut self) {
        self.node.kill();
        self.spawn();
    }

    fn spawn(&mut self) {
        let node = &mut self.node;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(node.dir.path().join("daemon.log")).unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns))
            .arg(PALISADE)
            .args(["daemon", "--data-root"])
            .arg(node.data_root())
            .arg("-H")
            .arg(format!("unix://{}", node.socket.display()))
            .args(&self.extra)
            .env("PALISADE_LOG", "info")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("nsenter (util-linux) is required");
        node.child = Some(child);
        wait_for(Duration::from_secs(20), "daemon socket", || {
            node.socket.exists() && node.docker(&["version", "--format", "{{.Server.Version}}"]).status.success()
        });
    }

    fn in_netns(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.netns)).arg(program);
        c
    }

    /// `sh -c script` in the daemon's namespace (the host side of its bridges).
    pub fn host_sh(&self, script: &str) -> Output {
        self.in_netns("sh").args(["-c", script]).stdin(Stdio::null()).output().unwrap()
    }

    /// Whether an HTTP GET of `url` from the daemon's namespace answers `body` within 3 s.
    pub fn host_fetch(&self, url: &str) -> Option<String> {
        let out = self.host_sh(&format!("busybox timeout 3 busybox wget -q -O - {url}"));
        out.status.success().then(|| stdout(&out))
    }

    /// [`Self::host_fetch`] until it answers (a container's server may still be starting),
    /// for up to 10 s.
    pub fn host_fetch_eventually(&self, url: &str) -> Option<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let body = self.host_fetch(url);
            if body.is_some() || std::time::Instant::now() > deadline {
                return body;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `busybox httpd` serving `body` at `addr` (ip:port) in the daemon's namespace.
    pub fn host_httpd(&self, addr: &str, body: &str) -> HostServer {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), body).unwrap();
        let child = self.in_netns("busybox").args(["httpd", "-f", "-p", addr, "-h"]).arg(dir.path()).spawn().expect("busybox-static is required");
        HostServer { child, _dir: dir }
    }

    /// Output of `sh -c script` in a new `--rm` container with `args` before the image.
    pub fn run_sh(&self, args: &[&str], script: &str) -> (i32, String, String) {
        let mut all: Vec<&str> = vec!["run", "--rm"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["bb", "sh", "-c", script]);
        self.docker_run(&all)
    }

    /// A detached busybox httpd container answering `body`, with `args` before the image.
    pub fn web(&self, name: &str, args: &[&str], body: &str) {
        let script = format!("mkdir -p /www && echo {body} > /www/index.html && exec busybox httpd -f -p 80 -h /www");
        let mut all: Vec<&str> = vec!["run", "-d", "--name", name];
        all.extend_from_slice(args);
        all.extend_from_slice(&["bb", "sh", "-c", &script]);
        self.docker_ok(&all);
    }

    pub fn data_dir(&self) -> PathBuf {
        self.node.data_root()
    }
}

/// Fetching `url` from inside a container: busybox wget under a 3 s timeout (busybox's own
/// `-T` crashes the static build), printing the body.
pub fn fetch_script(url: &str) -> String {
    format!("busybox timeout 3 wget -q -O /tmp/body {url} && cat /tmp/body")
}

pub struct HostServer {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for HostServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NetNode {
    fn drop(&mut self) {
        let ids = stdout(&self.node.docker(&["ps", "-aq"]));
        for id in ids.split_whitespace() {
            let out = self.node.docker(&["rm", "-f", id]);
            if !out.status.success() {
                eprintln!("removing {id}: {}", stderr(&out));
            }
        }
        self.node.kill();
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).output();
    }
}
