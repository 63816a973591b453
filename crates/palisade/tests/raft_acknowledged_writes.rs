#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! No acknowledged write is lost when the leader dies mid-stream: a client keeps creating
//! secrets through a follower while the leader is SIGKILLed; every create that exited 0 exists
//! afterwards on every manager, the restarted one included.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::cluster::{unique, Cluster, CATCH_UP, ELECTION};

const MAX_WRITES: usize = 300;
const MAX_TIME: Duration = Duration::from_secs(40);
/// Acknowledged writes wanted before the kill, and after it.
const BEFORE_KILL: usize = 10;
const AFTER_KILL: usize = 20;

#[test]
fn every_acknowledged_secret_survives_a_leader_kill() {
    let mut c = Cluster::start(3, 0);
    let all = [0, 1, 2];
    let leader = c.wait_for_leader(&all, ELECTION);
    let client = c.other_manager(leader);
    let tag = unique();

    let acked: Mutex<Vec<(String, Instant)>> = Mutex::new(Vec::new());
    let failed = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let killed_at;
    {
        let (writer, victim) = c.split(client, leader);
        killed_at = std::thread::scope(|scope| {
            scope.spawn(|| {
                for i in 0..MAX_WRITES {
                    if stop.load(Ordering::Relaxed) || started.elapsed() > MAX_TIME {
                        break;
                    }
                    let name = format!("ack-{tag}-{i}");
                    let out = writer.secret_create(&name, &format!("value-{i}"));
                    if out.status.success() {
                        acked.lock().unwrap().push((name, Instant::now()));
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                stop.store(true, Ordering::Relaxed);
            });
            let acked_count = || acked.lock().unwrap().len();
            while acked_count() < BEFORE_KILL && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
            if acked_count() < BEFORE_KILL {
                stop.store(true, Ordering::Relaxed);
            }
            assert!(acked_count() >= BEFORE_KILL, "only {} writes acknowledged before the kill ({} failed)", acked_count(), failed.load(Ordering::Relaxed));
            victim.kill();
            let killed_at = Instant::now();
            let after = |t: Instant| acked.lock().unwrap().iter().filter(|(_, at)| *at > t).count();
            while after(killed_at) < AFTER_KILL && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
            stop.store(true, Ordering::Relaxed);
            killed_at
        });
    }
    let acked = acked.into_inner().unwrap();
    let after_kill = acked.iter().filter(|(_, at)| *at > killed_at).count();
    eprintln!("{} acknowledged ({after_kill} after the kill), {} failed, in {:?}", acked.len(), failed.load(Ordering::Relaxed), started.elapsed());
    assert!(after_kill >= AFTER_KILL, "writes through the surviving follower resumed after the kill: only {after_kill} acknowledged\n{}", c.logs(40));

    let names: BTreeSet<String> = acked.into_iter().map(|(n, _)| n).collect();
    let survivors = c.live();
    c.wait_for_leader(&survivors, ELECTION);
    c.wait_secrets_everywhere(&survivors, &names, CATCH_UP);
    c[leader].restart();
    c.wait_secrets_everywhere(&[leader], &names, CATCH_UP);
}
