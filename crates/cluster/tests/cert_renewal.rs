#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Certificates renew before they expire, and expired ones are refused — with an injected clock
//! that drives both the renewal policy and TLS verification. Audit heads signed with the old
//! and the renewed certificate both verify, each with its own.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use palisade_audit::{SignedBy, Trust};
use palisade_cluster::{Daemon, DaemonConfig, DataRoot};
use palisade_engine_api::types::{InitRequest, JoinRequest, SwarmSpec};
use palisade_engine_api::Backend;
use palisade_pki::{FixedClock, NodeCertInfo, RootCa};
use time::OffsetDateTime;

async fn daemon(dir: &std::path::Path, clock: Arc<FixedClock>) -> Daemon {
    let config =
        DaemonConfig { data_root: DataRoot::create(dir).unwrap(), listen_addr: None, advertise_addr: None, clock, executor: None, overlay_netns_dir: None };
    Daemon::start(config).await.unwrap()
}

fn cert_of(dir: &std::path::Path) -> (String, NodeCertInfo) {
    let pem = std::fs::read_to_string(dir.join("node/node.crt")).unwrap();
    let info = NodeCertInfo::from_pem(&pem).unwrap();
    (pem, info)
}

/// Sends a control call through `openssl s_client` presenting `cert`/`key`; true when answered 200.
fn control_call_accepted(addr: &str, cert: &std::path::Path, key: &std::path::Path) -> bool {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", addr, "-servername", "swarm-manager", "-ign_eof", "-cert"])
        .arg(cert)
        .arg("-key")
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    let body = "\"NodeList\"";
    let request = format!("POST /control/v1 HTTP/1.1\r\nHost: m\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    child.stdin.take().unwrap().write_all(request.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).contains("HTTP/1.1 200")
}

async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..100 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_renews_before_expiry_and_its_old_certificate_is_refused_after() {
    let start = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let clock = Arc::new(FixedClock::new(start));
    let (leader_dir, worker_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    let leader = daemon(leader_dir.path(), clock.clone()).await;
    let mut spec = SwarmSpec::default();
    spec.ca_config.node_cert_expiry = Some(3_600_000_000_000); // 1 h, the policy minimum
    spec.dispatcher.heartbeat_period = Some(100_000_000); // 100 ms
    let request = InitRequest {
        listen_addr: "127.0.0.1:0".into(),
        advertise_addr: "127.0.0.1".into(),
        spec,
        ..Default::default()
    };
    leader.swarm_init(request).await.unwrap();
    let addr = leader.info().await.unwrap().swarm.remote_managers.unwrap()[0].addr.clone();
    let token = leader.swarm_inspect().await.unwrap().join_tokens.worker;

    let worker = daemon(worker_dir.path(), clock.clone()).await;
    let join = JoinRequest {
        remote_addrs: vec![addr.clone()],
        join_token: token,
        advertise_addr: "127.0.0.1".into(),
        ..Default::default()
    };
    worker.swarm_join(join).await.unwrap();
    let (old_pem, old) = cert_of(worker_dir.path());
    // The worker's audit log signs its heads with the worker's certificate and key.
    let audit = worker.audit_log();
    assert!(audit.sign_head().unwrap().certificates.is_some());
    let saved = tempfile::tempdir().unwrap();
    let (old_cert, old_key) = (saved.path().join("old.crt"), saved.path().join("old.key"));
    std::fs::write(&old_cert, &old_pem).unwrap();
    std::fs::copy(worker_dir.path().join("node/node.key"), &old_key).unwrap();
    assert!(control_call_accepted(
        &addr,
        &leader_dir.path().join("node/node.crt"),
        &leader_dir.path().join("node/node.key")
    ));

    // Before the renewal window (30–48 min for a 1 h certificate) nothing changes.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(cert_of(worker_dir.path()).1.serial_hex, old.serial_hex);

    // Past it, the worker renews with a fresh key: new serial, same node, later expiry.
    clock.set(start + time::Duration::minutes(49));
    wait_until("worker renewal", || cert_of(worker_dir.path()).1.serial_hex != old.serial_hex).await;
    let (_, renewed) = cert_of(worker_dir.path());
    assert_eq!(renewed.node_id, old.node_id);
    assert_eq!(renewed.role, old.role);
    assert!(renewed.not_after > old.not_after);
    assert_ne!(std::fs::read(worker_dir.path().join("node/node.key")).unwrap(), std::fs::read(&old_key).unwrap());
    // The leader renewed its own certificate too.
    wait_until("leader renewal", || cert_of(leader_dir.path()).1.not_after > start + time::Duration::minutes(61)).await;
    audit.sign_head().unwrap();

    // After the old certificate's expiry it is refused; the renewed one works.
    clock.set(start + time::Duration::minutes(61));
    assert!(!control_call_accepted(&addr, &old_cert, &old_key), "an expired certificate must be refused");
    assert!(control_call_accepted(
        &addr,
        &leader_dir.path().join("node/node.crt"),
        &leader_dir.path().join("node/node.key")
    ));
    let nodes = leader.node_list().await.unwrap();
    assert!(nodes.iter().all(|n| n.status.state == "ready"), "{nodes:?}");

    // Both heads verify against the cluster root, each with the certificate it was signed
    // with, judged at its signing time: the first one's has expired since.
    let root = RootCa::from_pem(&std::fs::read_to_string(worker_dir.path().join("node/root-ca.crt")).unwrap(), None).unwrap();
    let report = palisade_audit::verify(&worker_dir.path().join("audit"), &Trust { roots: Some(&root), ..Trust::default() }).unwrap();
    let signers: Vec<_> = report.heads.into_iter().map(|head| head.signed_by).collect();
    let by = |cert: &NodeCertInfo| SignedBy::Node { node_id: cert.node_id.clone(), serial: cert.serial_hex.clone() };
    assert_eq!(signers, [by(&old), by(&renewed)]);
}
