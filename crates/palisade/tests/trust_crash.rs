//! Fault injection: SIGKILL the trust server at a random moment while the real notary CLI
//! publishes in a loop to several GUNs at once, in three rounds. After each restart every acknowledged publish is
//! served — its target with the sha256 of the file that was published — the served timestamp,
//! snapshot and targets of each GUN form one consistent, verifiable chain (a cut-off publish is
//! whole or absent, never half-visible), `notary list` verifies and shows them, and publishing
//! goes on. (SIGKILL keeps the page cache: this checks atomic visibility and acknowledgement
//! order; durability across power loss rests on redb's fsync on commit.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use common::fault::kill_mid_flight;
use common::{notary_at, TrustServerProc};
use palisade_trust::schema::{Signed, Snapshot, Timestamp};
use sha2::{Digest as _, Sha256};

const GUNS: usize = 3;
const ROUNDS: usize = 3;

fn gun(i: usize) -> String {
    format!("127.0.0.1:5000/crash/app{i}")
}

/// The file published as target `name` of `gun`.
fn contents(gun: &str, name: &str) -> Vec<u8> {
    format!("{gun} {name}\n").into_bytes()
}

/// Per GUN: the targets whose publish was acknowledged, and the one in flight (if any).
type Acked = Arc<Mutex<BTreeMap<String, (Vec<String>, Option<String>)>>>;

/// `notary add` + `notary publish` of r<round>-t0, -t1, … until a publish fails (the server died).
fn publish_loop(dir: PathBuf, url: String, gun: String, round: usize, acked: Acked, stop: Arc<AtomicBool>) {
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let name = format!("r{round}-t{n}");
        let file = dir.join(format!("{}-{name}.txt", gun.replace(['/', ':'], "_")));
        std::fs::write(&file, contents(&gun, &name)).unwrap();
        let (ok, out) = notary_at(&dir, &url, &["add", &gun, &name, file.to_str().unwrap()], "");
        assert!(ok, "notary add: {out}");
        acked.lock().unwrap().entry(gun.clone()).or_default().1 = Some(name.clone());
        if !notary_at(&dir, &url, &["publish", &gun], "").0 {
            return;
        }
        let mut map = acked.lock().unwrap();
        let entry = map.entry(gun.clone()).or_default();
        entry.0.push(name);
        entry.1 = None;
    }
}

/// Target name → sha256 hex, as the served targets role records them.
fn served_targets(server: &TrustServerProc, gun: &str) -> BTreeMap<String, String> {
    let targets: serde_json::Value = serde_json::from_slice(&server.get_meta(gun, "targets.json")).unwrap();
    targets["signed"]["targets"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, t)| {
            let b64 = t["hashes"]["sha256"].as_str().unwrap();
            (name.clone(), hex::encode(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()))
        })
        .collect()
}

/// The served timestamp names the served snapshot, which names the served targets.
fn assert_consistent_chain(server: &TrustServerProc, gun: &str) {
    let ts_bytes = server.get_meta(gun, "timestamp.json");
    let snapshot_bytes = server.get_meta(gun, "snapshot.json");
    let targets_bytes = server.get_meta(gun, "targets.json");
    let ts: Signed<Timestamp> = Signed::from_bytes("timestamp", &ts_bytes).unwrap();
    assert!(ts.signed().meta["snapshot"].matches(&snapshot_bytes), "{gun}: timestamp does not name the served snapshot");
    let snapshot: Signed<Snapshot> = Signed::from_bytes("snapshot", &snapshot_bytes).unwrap();
    assert!(snapshot.signed().meta["targets"].matches(&targets_bytes), "{gun}: snapshot does not name the served targets");
}

#[test]
fn kill9_during_notary_publishes_keeps_every_acknowledged_publish() {
    let mut server = TrustServerProc::start();
    for i in 0..GUNS {
        server.notary_ok(&["init", &gun(i)]);
        server.notary_ok(&["publish", &gun(i)]);
    }
    // Per GUN: every target known published (acknowledged in an earlier round).
    let mut known: BTreeMap<String, BTreeSet<String>> = (0..GUNS).map(|i| (gun(i), BTreeSet::new())).collect();
    for round in 0..ROUNDS {
        let acked = publish_until_killed(&mut server, round);
        server.restart();
        for (gun, (done, in_flight)) in &acked {
            let before = &known[gun];
            assert_consistent_chain(&server, gun);
            let served = served_targets(&server, gun);
            for name in before.iter().chain(done) {
                let want = hex::encode(Sha256::digest(contents(gun, name)));
                assert_eq!(served.get(name), Some(&want), "{gun}: acknowledged publish of {name} lost or altered");
            }
            // Only what was acknowledged, plus the publish cut off by the kill if it landed whole.
            let allowed: BTreeSet<&String> = before.iter().chain(done).chain(in_flight).collect();
            for (name, sha) in &served {
                assert!(allowed.contains(name), "{gun}: {name} was never published");
                assert_eq!(sha, &hex::encode(Sha256::digest(contents(gun, name))), "{gun}: {name} altered");
            }
            // The real client verifies the chain, and publishing goes on (taking along a
            // change the kill cut off: notary keeps it staged).
            let listed = server.notary_ok(&["list", gun]);
            for name in before.iter().chain(done) {
                assert!(listed.lines().any(|l| l.split_whitespace().next() == Some(name)), "{gun}: {name} not listed:\n{listed}");
            }
            let after = format!("r{round}-after");
            let file = server.dir.path().join(format!("{after}.txt"));
            std::fs::write(&file, contents(gun, &after)).unwrap();
            server.notary_ok(&["add", gun, &after, file.to_str().unwrap()]);
            server.notary_ok(&["publish", gun]);
            let now_known = known.get_mut(gun).unwrap();
            now_known.extend(done.iter().chain(in_flight).cloned());
            now_known.insert(after);
            let served = served_targets(&server, gun);
            assert_eq!(served.keys().collect::<BTreeSet<_>>(), now_known.iter().collect(), "{gun}");
            assert_consistent_chain(&server, gun);
        }
    }
}

/// Runs a publish loop on every GUN and SIGKILLs the server at a random moment once each GUN
/// has had some publishes acknowledged; returns what was acknowledged.
fn publish_until_killed(server: &mut TrustServerProc, round: usize) -> BTreeMap<String, (Vec<String>, Option<String>)> {
    let acked: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..GUNS)
        .map(|i| {
            let (dir, url, acked, stop) = (server.dir.path().to_owned(), server.url(), acked.clone(), stop.clone());
            std::thread::spawn(move || publish_loop(dir, url, gun(i), round, acked, stop))
        })
        .collect();
    let enough = || {
        let map = acked.lock().unwrap();
        map.len() == GUNS && map.values().all(|(done, _)| done.len() >= 2)
    };
    kill_mid_flight(threads, &stop, enough, 300, || server.kill());
    assert!(enough(), "round {round}: too few publishes before the kill: {:?}\n{}", acked.lock().unwrap(), server.log());
    let acked = acked.lock().unwrap().clone();
    acked
}
