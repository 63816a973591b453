//! Issue #21 item 3: slow clients. 2,000 half-sent requests (headers never finished) from one
//! address against a registry or trust server limited to 1,024 descriptors (`prlimit`) must not
//! stop it: a legitimate request from another address still answers within 2 s. The servers cap
//! connections per peer and in total (tighter before a request authenticates), time out header
//! reads and idle connections, and close connections whose body trickles in. The same for the
//! cluster port: 2,000 connections that never start their TLS handshake leave the node Ready and
//! its Engine API answering.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PALISADE: &str = env!("CARGO_BIN_EXE_palisade");

/// `palisade <args>` under a 1,024-descriptor limit; returns it and the address its banner
/// (`… listening on ADDR`) names.
fn start_limited(args: &[&str], root: &std::path::Path) -> (Child, SocketAddr) {
    let mut child = Command::new("prlimit")
        .args(["--nofile=1024:1024", PALISADE])
        .args(args)
        .arg("--root")
        .arg(root)
        .env("PALISADE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().parse().unwrap();
    (child, addr)
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Opens `n` connections from 127.0.0.2 at once that each send `first` (half a request, or
/// nothing at all) and then nothing more.
async fn half_open(addr: SocketAddr, n: usize, first: &'static [u8]) -> Vec<tokio::net::TcpStream> {
    use tokio::io::AsyncWriteExt as _;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        tasks.spawn(async move {
            let socket = tokio::net::TcpSocket::new_v4().ok()?;
            socket.bind("127.0.0.2:0".parse().ok()?).ok()?;
            let mut s = tokio::time::timeout(Duration::from_secs(3), socket.connect(addr)).await.ok()?.ok()?;
            let _ = s.write_all(first).await;
            Some(s)
        });
    }
    let mut held = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok(Some(s)) = done {
            held.push(s);
        }
    }
    held
}

/// A plain `GET path` from 127.0.0.1: (status line, time taken), or the failure.
fn legit_get(addr: SocketAddr, path: &str) -> Result<(String, Duration), String> {
    let started = Instant::now();
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).map_err(|e| e.to_string())?;
    let mut answer = [0u8; 12];
    s.read_exact(&mut answer).map_err(|e| format!("no answer: {e}"))?;
    Ok((String::from_utf8_lossy(&answer).into_owned(), started.elapsed()))
}

async fn survives_half_open_flood(args: &[&str], path: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr) = start_limited(args, &dir.path().join("root"));
    let _server = Killed(child);
    let held = half_open(addr, 2000, b"GET /v2/ HTTP/1.1\r\nHost: x\r\n").await;
    assert!(held.len() > 1000, "only {} connections opened", held.len());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answered = tokio::task::spawn_blocking({
        let path = path.to_owned();
        move || legit_get(addr, &path)
    })
    .await
    .unwrap();
    let (status, took) = answered.unwrap_or_else(|e| panic!("a legitimate request during the flood failed: {e}"));
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(took < Duration::from_secs(2), "a legitimate request took {took:?}");
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_survives_2000_half_open_connections() {
    survives_half_open_flood(&["registry", "serve", "--addr", "127.0.0.1:0"], "/v2/").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_server_survives_2000_half_open_connections() {
    survives_half_open_flood(&["trust-server", "serve", "--addr", "127.0.0.1:0"], "/_notary_server/health").await;
}

/// `docker -H unix://SOCKET ARGS`: (success, stdout, time taken).
fn docker(socket: &std::path::Path, args: &[&str]) -> (bool, String, Duration) {
    let started = Instant::now();
    let out = Command::new("docker").arg("-H").arg(format!("unix://{}", socket.display())).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), started.elapsed())
}

/// `palisade daemon` on a data root under `dir`, limited to 1,024 descriptors, once its
/// Engine API answers; returns it and its socket.
fn start_limited_daemon(dir: &std::path::Path) -> (Killed, std::path::PathBuf) {
    let socket = dir.join("engine.sock");
    let daemon = Command::new("prlimit")
        .args(["--nofile=1024:1024", PALISADE, "daemon", "--bridge", "none", "--data-root"])
        .arg(dir.join("data"))
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .env("PALISADE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let daemon = Killed(daemon);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !docker(&socket, &["version"]).0 {
        assert!(Instant::now() < deadline, "the daemon did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    (daemon, socket)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_port_survives_2000_silent_connections() {
    // A daemon limited to 1,024 descriptors, in a one-node swarm with a fast heartbeat.
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, socket) = start_limited_daemon(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let init = ["swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", &listen, "--dispatcher-heartbeat", "1s"];
    assert!(docker(&socket, &init).0, "swarm init");

    // Connections without a client certificate that never say anything: the caps before
    // authentication close all but a few at once.
    let held = half_open(listen.parse().unwrap(), 2000, b"").await;
    assert!(held.len() > 1000, "only {} connections opened", held.len());
    // Several heartbeat periods under the flood: the node stays Ready, the Engine API answers.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let answered = tokio::task::spawn_blocking(move || docker(&socket, &["node", "ls", "--format", "{{.Status}}"])).await.unwrap();
    let (ok, status, took) = answered;
    assert!(ok && status.trim() == "Ready", "node ls during the flood: {status:?}");
    assert!(took < Duration::from_secs(2), "the Engine API took {took:?} during the flood");
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_api_survives_2000_half_open_connections_from_one_process() {
    // The Engine API of a daemon limited to 1,024 descriptors; this test process is the
    // greedy client, the docker CLI (another process) the legitimate one.
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, socket) = start_limited_daemon(dir.path());
    let mut held = Vec::new();
    for _ in 0..2000 {
        use tokio::io::AsyncWriteExt as _;
        let Ok(mut s) = tokio::net::UnixStream::connect(&socket).await else { continue };
        let _ = s.write_all(b"GET /version HTTP/1.1\r\nHost: docker\r\n").await;
        held.push(s);
    }
    assert!(held.len() >= 1000, "only {} connections opened", held.len());
    let (ok, out, took) = tokio::task::spawn_blocking(move || docker(&socket, &["version", "--format", "{{.Server.Version}}"])).await.unwrap();
    assert!(ok && !out.trim().is_empty(), "docker version failed beside 2,000 half-open connections");
    assert!(took < Duration::from_secs(2), "docker version took {took:?}");
    drop(held);
}
