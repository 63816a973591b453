//! Multi-manager clusters for the raft acceptance tests: N daemons on 127.0.0.x (or inside network
//! namespaces the test owns), leader discovery, docker secrets through the real CLI with a time
//! limit on every call, a network-namespace guard that cuts and heals links, and a byte scanner
//! for data roots.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{docker_input_at, free_port, stderr, stdout, wait_for, Node, PALISADE};

/// Longest a single docker CLI call may take before the harness kills it and reports a failure
/// (a write that hangs for want of a leader must not hang the suite).
pub const DOCKER_TIMEOUT: Duration = Duration::from_secs(30);

/// Time limit of each status probe while polling, so a wait overruns its deadline by little.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a new leader may take to appear after the old one died or was cut off.
pub const ELECTION: Duration = Duration::from_secs(10);

/// How long replication to a live, connected manager may take.
pub const CATCH_UP: Duration = Duration::from_secs(20);

// ---- Node: namespaces, stdin, time limits, secrets, raft status ----

impl Node {
    /// Starts a daemon inside network namespace `ns` (`nsenter --net=/run/netns/NS palisade
    /// daemon …`). The docker CLI still reaches it through its unix socket file.
    pub fn start_in_netns(ns: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut node = Node { socket: dir.path().join("engine.sock"), dir, child: None, docker_config: tempfile::tempdir().unwrap() };
        node.spawn_in(Some(ns));
        node
    }

    /// SIGKILL, then start again inside `ns` (or the host namespace).
    pub fn restart_in(&mut self, ns: Option<&str>) {
        self.kill();
        self.spawn_in(ns);
    }

    fn spawn_in(&mut self, ns: Option<&str>) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("daemon.log")).unwrap();
        let mut cmd = match ns {
            // `nsenter --net`, not `ip netns exec`, which remounts /sys without the cgroup
            // file system that containers need.
            Some(ns) => {
                let mut cmd = Command::new("nsenter");
                cmd.arg(format!("--net=/run/netns/{ns}")).arg(PALISADE);
                cmd
            }
            None => Command::new(PALISADE),
        };
        let child = cmd
            .args(["daemon", "--data-root"])
            .arg(self.data_root())
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(["--bridge", "none"])
            .env("PALISADE_LOG", "info,palisade_cluster=debug,palisade_store=debug")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting the daemon (util-linux `nsenter` is required for namespaces)");
        self.child = Some(child);
        wait_for(Duration::from_secs(20), "daemon socket", || {
            self.socket.exists() && self.docker(&["version", "--format", "{{.Server.Version}}"]).status.success()
        });
    }

    /// Whether the daemon process is running (not killed by the test).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The docker CLI with `input` on stdin (none: /dev/null), killed after `timeout`. A killed
    /// call is a failed call whose stderr says so.
    pub fn docker_input(&self, args: &[&str], input: Option<&[u8]>, timeout: Duration) -> Output {
        docker_input_at(&self.host(), self.docker_config.path(), args, input, timeout)
    }

    /// The docker CLI (no stdin) killed after [`DOCKER_TIMEOUT`].
    pub fn docker_limited(&self, args: &[&str]) -> Output {
        self.docker_input(args, None, DOCKER_TIMEOUT)
    }

    /// Like [`Node::docker_ok`] but bounded by [`DOCKER_TIMEOUT`].
    pub fn docker_ok_limited(&self, args: &[&str]) -> String {
        let out = self.docker_limited(args);
        assert!(out.status.success(), "docker {args:?} failed: {}\n--- daemon log (tail) ---\n{}", stderr(&out), self.log_tail(60));
        stdout(&out)
    }

    /// The last `lines` lines of the daemon log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// `printf VALUE | docker secret create NAME -`.
    pub fn secret_create(&self, name: &str, value: &str) -> Output {
        self.docker_input(&["secret", "create", name, "-"], Some(value.as_bytes()), DOCKER_TIMEOUT)
    }

    /// docker CLI that must fail within [`DOCKER_TIMEOUT`]; returns stderr.
    pub fn docker_err_limited(&self, args: &[&str]) -> String {
        let out = self.docker_limited(args);
        assert!(!out.status.success(), "docker {args:?} unexpectedly succeeded: {}", stdout(&out));
        stderr(&out)
    }

    /// [`Node::secret_create`] that must succeed; returns the printed ID.
    pub fn secret_create_ok(&self, name: &str, value: &str) -> String {
        let out = self.secret_create(name, value);
        assert!(out.status.success(), "secret create {name} failed: {}\n--- daemon log (tail) ---\n{}", stderr(&out), self.log_tail(60));
        let id = stdout(&out).trim().to_owned();
        assert!(!id.is_empty() && !id.contains(char::is_whitespace), "secret create prints the ID alone: {id:?}");
        id
    }

    /// `docker secret ls --format {{.Name}}`, or None when it fails.
    pub fn try_secret_names(&self) -> Option<BTreeSet<String>> {
        let out = self.docker_input(&["secret", "ls", "--format", "{{.Name}}"], None, POLL_TIMEOUT);
        out.status.success().then(|| stdout(&out).lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect())
    }

    /// `docker secret ls --format {{.Name}}`, which must succeed.
    pub fn secret_names(&self) -> BTreeSet<String> {
        let out = self.docker_input(&["secret", "ls", "--format", "{{.Name}}"], None, DOCKER_TIMEOUT);
        assert!(out.status.success(), "secret ls failed: {}\n--- daemon log (tail) ---\n{}", stderr(&out), self.log_tail(60));
        stdout(&out).lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
    }

    /// `docker node ls --format '{{.ID}} {{.ManagerStatus}}'` as node ID → status ("Leader",
    /// "Reachable", "Unreachable", or "" for a worker); None when the call fails.
    pub fn try_manager_statuses(&self) -> Option<BTreeMap<String, String>> {
        let out = self.docker_input(&["node", "ls", "--format", "{{.ID}} {{.ManagerStatus}}"], None, POLL_TIMEOUT);
        if !out.status.success() {
            return None;
        }
        Some(
            stdout(&out)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    let (id, status) = l.split_once(' ').unwrap_or((l, ""));
                    (id.trim().to_owned(), status.trim().to_owned())
                })
                .collect(),
        )
    }

    /// Whether `docker node inspect self` says this node is the raft leader.
    pub fn reports_leader(&self) -> bool {
        let out = self.docker_input(&["node", "inspect", "self", "--format", "{{.ManagerStatus.Leader}} {{.ManagerStatus.Reachability}}"], None, POLL_TIMEOUT);
        out.status.success() && stdout(&out).trim() == "true reachable"
    }

    /// The value of label `key` on node `id`, as this manager sees it.
    pub fn node_label(&self, id: &str, key: &str) -> Option<String> {
        let template = format!("{{{{index .Spec.Labels \"{key}\"}}}}");
        let out = self.docker_input(&["node", "inspect", id, "--format", &template], None, POLL_TIMEOUT);
        out.status.success().then(|| stdout(&out).trim().to_owned())
    }
}

/// A write refused for want of quorum: non-zero exit and an error that names quorum or a leader.
pub fn assert_no_quorum(out: &Output, what: &str) {
    assert!(!out.status.success(), "{what} succeeded without quorum: {}", stdout(out));
    let text = stderr(out).to_lowercase();
    assert!(text.contains("quorum") || text.contains("leader"), "{what}: the error names neither quorum nor leader: {}", stderr(out));
}

/// The `SWMKEY-1-…` unlock key in docker CLI output.
pub fn unlock_key_in(text: &str) -> String {
    text.split_whitespace().find(|w| w.starts_with("SWMKEY-1-")).unwrap_or_else(|| panic!("no SWMKEY-1- key in:\n{text}")).to_owned()
}

/// The secret part of a join token: its last dash-separated field.
pub fn token_secret(token: &str) -> String {
    token.rsplit('-').next().unwrap().to_owned()
}

/// A short string unique to this process and call (pid, time, counter), for names and canaries.
pub fn unique() -> String {
    use sha2::Digest as _;
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let seed = format!("{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    hex::encode(sha2::Sha256::digest(seed.as_bytes()))[..16].to_owned()
}

// ---- clusters ----

/// One daemon of a [`Cluster`]: where it listens and its node ID.
pub struct Member {
    pub node: Node,
    /// Advertised IP.
    pub ip: String,
    /// Cluster port.
    pub port: u16,
    /// Network namespace it runs in, if any.
    pub netns: Option<String>,
    pub id: String,
    pub manager: bool,
}

impl Member {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// SIGKILL and start again in the same place (namespace included).
    pub fn restart(&mut self) {
        let ns = self.netns.clone();
        self.node.restart_in(ns.as_deref());
    }
}

impl Deref for Member {
    type Target = Node;
    fn deref(&self) -> &Node {
        &self.node
    }
}

impl DerefMut for Member {
    fn deref_mut(&mut self) -> &mut Node {
        &mut self.node
    }
}

/// Where to start a member.
pub struct Place {
    pub ip: String,
    pub port: u16,
    pub netns: Option<String>,
}

/// Daemons in one swarm; member 0 ran `swarm init`. Members are killed before the namespaces
/// (if any) are removed.
pub struct Cluster {
    pub members: Vec<Member>,
    pub netns: Option<Netns>,
}

impl std::ops::Index<usize> for Cluster {
    type Output = Member;
    fn index(&self, i: usize) -> &Member {
        &self.members[i]
    }
}

impl std::ops::IndexMut<usize> for Cluster {
    fn index_mut(&mut self, i: usize) -> &mut Member {
        &mut self.members[i]
    }
}

/// `swarm init` arguments for a manager at `ip:port` with 1 s heartbeats.
pub fn init_args(ip: &str, port: u16) -> Vec<String> {
    ["swarm", "init", "--advertise-addr", ip, "--listen-addr", &format!("{ip}:{port}"), "--dispatcher-heartbeat", "1s"].map(str::to_owned).to_vec()
}

impl Cluster {
    /// `managers` managers then `workers` workers on 127.0.0.1, 127.0.0.2, … with free ports;
    /// returns once every manager shows in `node ls` with exactly one Leader.
    pub fn start(managers: usize, workers: usize) -> Cluster {
        Self::start_with(managers, workers, &[])
    }

    /// Like [`Cluster::start`], with extra `swarm init` flags (e.g. `--autolock`).
    pub fn start_with(managers: usize, workers: usize, init_extra: &[&str]) -> Cluster {
        let places = (0..managers + workers).map(|i| Place { ip: format!("127.0.0.{}", i + 1), port: free_port(), netns: None }).collect();
        Self::start_at(places, managers, init_extra, None)
    }

    /// `managers` managers, each in its own network namespace on 198.18.0.x:2377, linked by a
    /// bridge (see [`Netns`]).
    pub fn start_in_netns(managers: usize) -> Cluster {
        Self::start_in_netns_with(managers, 0)
    }

    /// Like [`Cluster::start_in_netns`], with `workers` workers after the managers.
    pub fn start_in_netns_with(managers: usize, workers: usize) -> Cluster {
        let netns = Netns::new(managers + workers);
        let places = (0..managers + workers).map(|i| Place { ip: netns.ip(i), port: 2377, netns: Some(netns.nodes[i].clone()) }).collect();
        Self::start_at(places, managers, &[], Some(netns))
    }

    pub fn start_at(places: Vec<Place>, managers: usize, init_extra: &[&str], netns: Option<Netns>) -> Cluster {
        let mut cluster = Cluster { members: Vec::new(), netns };
        for (i, place) in places.into_iter().enumerate() {
            let node = match &place.netns {
                Some(ns) => Node::start_in_netns(ns),
                None => Node::start(),
            };
            if i == 0 {
                let mut args = init_args(&place.ip, place.port);
                args.extend(init_extra.iter().map(|s| (*s).to_owned()));
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                node.docker_ok_limited(&args);
            } else {
                let first: &Member = &cluster.members[0];
                let token = first.join_token(if i < managers { "manager" } else { "worker" });
                let listen = format!("{}:{}", place.ip, place.port);
                let out = node.docker_limited(&["swarm", "join", "--token", &token, "--advertise-addr", &place.ip, "--listen-addr", &listen, &first.addr()]);
                assert!(out.status.success(), "join of member {i} failed: {}\n--- its log ---\n{}\n--- first's log ---\n{}", stderr(&out), node.log_tail(40), first.log_tail(40));
            }
            let id = node.node_id();
            cluster.members.push(Member { node, ip: place.ip, port: place.port, netns: place.netns, id, manager: i < managers });
        }
        let all: Vec<usize> = (0..cluster.members.len()).collect();
        cluster.wait_converged(&all, CATCH_UP);
        cluster
    }

    /// Loads the busybox test image as `tag` on every member (services' tasks run it).
    pub fn load_busybox(&self, tag: &str) {
        for member in &self.members {
            member.load_busybox(tag);
        }
    }

    /// Member `from`'s own call to the leader-side node RPC of member 0 (a manager), with its
    /// own certificate, as `curl` sends it: (HTTP status, body).
    pub fn node_call(&self, from: usize, body: &str) -> (u16, String) {
        let node_dir = self[from].data_root().join("node");
        let out = Command::new("curl")
            .args(["-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "20"])
            .arg("--cacert")
            .arg(node_dir.join("root-ca.crt"))
            .arg("--cert")
            .arg(node_dir.join("node.crt"))
            .arg("--key")
            .arg(node_dir.join("node.key"))
            .args(["-H", "Content-Type: application/json", "--data", body])
            // Manager certificates name the role (as swarmkit's do), not an address.
            .arg("--resolve")
            .arg(format!("swarm-manager:{}:{}", self[0].port, self[0].ip))
            .arg(format!("https://swarm-manager:{}/node/v1", self[0].port))
            .output()
            .expect("curl is required");
        let text = stdout(&out);
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_owned())
    }

    /// Indices of members whose daemon runs.
    pub fn live(&self) -> Vec<usize> {
        (0..self.members.len()).filter(|&i| self.members[i].is_running()).collect()
    }

    /// Indices of running managers.
    pub fn live_managers(&self) -> Vec<usize> {
        self.live().into_iter().filter(|&i| self.members[i].manager).collect()
    }

    /// Which of `among` report themselves Leader (`node inspect self`).
    pub fn leaders(&self, among: &[usize]) -> Vec<usize> {
        among.iter().copied().filter(|&i| self.members[i].reports_leader()).collect()
    }

    /// Waits until exactly one of `among` reports itself Leader; returns it.
    pub fn wait_for_leader(&self, among: &[usize], timeout: Duration) -> usize {
        let mut found = None;
        self.wait(timeout, &format!("exactly one leader among members {among:?}"), || {
            let leaders = self.leaders(among);
            found = (leaders.len() == 1).then(|| leaders[0]);
            found.is_some()
        });
        found.unwrap()
    }

    /// The leader among the live managers (waiting up to [`ELECTION`]).
    pub fn leader(&self) -> usize {
        self.wait_for_leader(&self.live_managers(), ELECTION)
    }

    /// A live manager that is not `but`.
    pub fn other_manager(&self, but: usize) -> usize {
        *self.live_managers().iter().find(|&&i| i != but).unwrap_or_else(|| panic!("no live manager besides {but}"))
    }

    /// Waits until, seen from every member of `among` that is a manager, `node ls` lists every
    /// member of `among`, each manager of them Leader or Reachable, exactly one Leader.
    pub fn wait_converged(&self, among: &[usize], timeout: Duration) {
        let viewers: Vec<usize> = among.iter().copied().filter(|&i| self.members[i].manager).collect();
        self.wait(timeout, &format!("members {among:?} to agree on one leader"), || {
            viewers.iter().all(|&v| {
                let Some(statuses) = self.members[v].try_manager_statuses() else { return false };
                let leaders = statuses.values().filter(|s| *s == "Leader").count();
                leaders == 1
                    && among.iter().all(|&m| {
                        let member = &self.members[m];
                        match statuses.get(&member.id) {
                            Some(s) if member.manager => s == "Leader" || s == "Reachable",
                            Some(s) => s.is_empty(),
                            None => false,
                        }
                    })
            })
        });
    }

    /// Waits until every member of `among` lists all of `names` in `secret ls`.
    pub fn wait_secrets_everywhere(&self, among: &[usize], names: &BTreeSet<String>, timeout: Duration) {
        let mut missing = BTreeMap::new();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.wait(timeout, "secrets to reach every listed manager", || {
                missing.clear();
                for &i in among {
                    let listed = self.members[i].try_secret_names().unwrap_or_default();
                    let gone: Vec<String> = names.difference(&listed).cloned().collect();
                    if !gone.is_empty() {
                        missing.insert(i, gone);
                    }
                }
                missing.is_empty()
            });
        }));
        if let Err(e) = result {
            let summary: Vec<String> = missing.iter().map(|(i, m)| format!("member {i} lacks {} of {}: {:?}", m.len(), names.len(), &m[..m.len().min(10)])).collect();
            panic!("{}\n{}", summary.join("\n"), e.downcast_ref::<String>().cloned().unwrap_or_default());
        }
    }

    /// Polls `check` until it holds; on timeout fails with every live member's log tail.
    pub fn wait(&self, timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if check() {
                return;
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("timed out after {timeout:?} waiting for {what}\n{}", self.logs(40));
    }

    /// The last `lines` lines of each member's log.
    pub fn logs(&self, lines: usize) -> String {
        self.members
            .iter()
            .enumerate()
            .map(|(i, m)| format!("--- member {i} ({}, {}, {}) ---\n{}", m.id, m.addr(), if m.is_running() { "running" } else { "killed" }, m.log_tail(lines)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A shared reference to member `shared` and a mutable one to member `exclusive` (to kill
    /// one manager while a thread drives another).
    pub fn split(&mut self, shared: usize, exclusive: usize) -> (&Member, &mut Member) {
        assert_ne!(shared, exclusive);
        if shared < exclusive {
            let (a, b) = self.members.split_at_mut(exclusive);
            (&a[shared], &mut b[0])
        } else {
            let (a, b) = self.members.split_at_mut(shared);
            (&b[0], &mut a[exclusive])
        }
    }
}

// ---- network namespaces ----

/// Test-owned network namespaces: a hub namespace holding bridge `br0`, and one namespace per
/// node linked to it by a veth pair; node `i` has 198.18.0.(i+1)/24. Names carry the pid and a
/// counter, so concurrent runs never collide. Every namespace is deleted on drop (also on panic).
pub struct Netns {
    pub hub: String,
    pub nodes: Vec<String>,
    /// The node-side veth of each node (inside its namespace).
    pub links: Vec<String>,
}

static NETNS_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Runs `ip <args>`, which must succeed.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("iproute2 `ip` is required");
    assert!(out.status.success(), "ip {args:?}: {}", stderr(&out));
}

impl Netns {
    pub fn new(n: usize) -> Netns {
        let tag = format!("{}{}", std::process::id(), NETNS_COUNTER.fetch_add(1, Ordering::Relaxed));
        let hub = format!("palt-{tag}-hub");
        let mut netns = Netns { hub: hub.clone(), nodes: Vec::new(), links: Vec::new() };
        ip(&["netns", "add", &hub]);
        ip(&["-n", &hub, "link", "set", "lo", "up"]);
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &hub, "link", "set", "br0", "up"]);
        for i in 0..n {
            let ns = format!("palt-{tag}-n{i}");
            ip(&["netns", "add", &ns]);
            netns.nodes.push(ns.clone());
            // Interface names are at most 15 bytes; both ends are created in their namespaces.
            let link = format!("v{tag}n{i}");
            let port = format!("v{tag}h{i}");
            assert!(link.len() <= 15, "interface name {link} too long");
            ip(&["link", "add", &link, "netns", &ns, "type", "veth", "peer", "name", &port, "netns", &hub]);
            ip(&["-n", &hub, "link", "set", &port, "master", "br0"]);
            ip(&["-n", &hub, "link", "set", &port, "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            ip(&["-n", &ns, "addr", "add", &format!("{}/24", netns.ip(i)), "dev", &link]);
            ip(&["-n", &ns, "link", "set", &link, "up"]);
            netns.links.push(link);
        }
        netns
    }

    pub fn ip(&self, i: usize) -> String {
        format!("198.18.0.{}", i + 1)
    }

    /// Cuts node `i` off: `ip netns exec NS ip link set <veth> down`.
    pub fn cut(&self, i: usize) {
        ip(&["netns", "exec", &self.nodes[i], "ip", "link", "set", &self.links[i], "down"]);
    }

    /// Heals node `i`'s link.
    pub fn heal(&self, i: usize) {
        ip(&["netns", "exec", &self.nodes[i], "ip", "link", "set", &self.links[i], "up"]);
    }

    /// Whether a TCP connection from node `from`'s namespace to `addr` (ip:port) opens within 3 s.
    pub fn can_connect(&self, from: usize, addr: &str) -> bool {
        let (host, port) = addr.rsplit_once(':').unwrap();
        let out = Command::new("ip")
            .args(["netns", "exec", &self.nodes[from], "timeout", "3", "bash", "-c", &format!("exec 3<>/dev/tcp/{host}/{port}")])
            .output()
            .expect("iproute2 `ip`, coreutils `timeout` and bash are required");
        out.status.success()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for ns in self.nodes.iter().chain(std::iter::once(&self.hub)) {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

// ---- scanning data roots ----

/// Regular files under `root`, recursively (symlinks are not followed).
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                files.push(path);
            }
        }
    }
    files
}

/// For each (label, bytes) canary, every file under any of `roots` whose raw bytes contain it.
pub fn scan(roots: &[PathBuf], canaries: &[(String, Vec<u8>)]) -> Vec<(String, PathBuf)> {
    let mut hits = Vec::new();
    for root in roots {
        for file in files_under(root) {
            let Ok(bytes) = std::fs::read(&file) else { continue };
            for (label, needle) in canaries {
                assert!(!needle.is_empty(), "empty canary {label}");
                if bytes.windows(needle.len()).any(|w| w == needle.as_slice()) {
                    hits.push((label.clone(), file.clone()));
                }
            }
        }
    }
    hits
}
