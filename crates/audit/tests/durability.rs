//! Nothing acknowledged is lost and nothing unacknowledged survives: a torn last line is
//! dropped on open and the chain continues; concurrent appends form one chain.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

mod common;

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;

use common::{append, lines, log_with};
use palisade_audit::{verify, AuditLog, Event, Outcome, Trust, HEAD_INTERVAL};

#[test]
fn a_torn_last_line_is_dropped_on_open_and_the_chain_continues() {
    let dir = tempfile::tempdir().unwrap();
    drop(log_with(dir.path(), 5));
    let before = lines(dir.path(), "log.jsonl");
    let torn = br#"{"seq":6,"time":"2025-01-01T00:00:00Z","actor":"mall"#;
    OpenOptions::new().append(true).open(dir.path().join("log.jsonl")).unwrap().write_all(torn).unwrap();

    // A reader sees five entries and the unfinished bytes, which are no part of the log.
    let report = verify(dir.path(), &Trust::default()).unwrap();
    assert_eq!((report.last_seq, report.unfinished_bytes), (5, torn.len() as u64));
    assert_eq!(palisade_audit::read_entries(dir.path(), None).unwrap().len(), 5);

    let log = AuditLog::open(dir.path(), None).unwrap();
    assert_eq!(lines(dir.path(), "log.jsonl"), before, "the torn bytes are gone");
    assert_eq!(log.last_seq(), 5);
    let sixth = log.append(Event::new("alice", "registry.login", "registry", Outcome::Failure)).unwrap();
    assert_eq!(sixth.seq, 6);
    assert_eq!(sixth.actor, "alice");
    let report = verify(dir.path(), &Trust::default()).unwrap();
    assert_eq!((report.last_seq, report.unfinished_bytes), (6, 0));
}

#[test]
fn a_log_that_is_only_a_torn_line_starts_over_at_entry_1() {
    let dir = tempfile::tempdir().unwrap();
    drop(AuditLog::open(dir.path(), None).unwrap());
    std::fs::write(dir.path().join("log.jsonl"), b"{\"seq\":1,").unwrap();
    let log = AuditLog::open(dir.path(), None).unwrap();
    assert_eq!(log.append(Event::new("a", "swarm.join", "node-1", Outcome::Success)).unwrap().seq, 1);
    verify(dir.path(), &Trust::default()).unwrap();
}

#[test]
fn a_torn_signed_head_is_dropped_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 3);
    log.sign_head().unwrap();
    drop(log);
    OpenOptions::new().append(true).open(dir.path().join("heads.jsonl")).unwrap().write_all(b"{\"seq\":3,\"ha").unwrap();
    assert_eq!(verify(dir.path(), &Trust::default()).unwrap().signed_heads, 1);
    let log = AuditLog::open(dir.path(), None).unwrap();
    assert_eq!(lines(dir.path(), "heads.jsonl").len(), 1);
    append(&log, 1);
    log.sign_head().unwrap();
    assert_eq!(verify(dir.path(), &Trust::default()).unwrap().last_signed_seq, Some(4));
}

#[test]
fn reopening_continues_the_chain_with_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 3);
    log.sign_head().unwrap();
    drop(log);
    let log = AuditLog::open(dir.path(), None).unwrap();
    assert_eq!(log.last_seq(), 3);
    append(&log, 2);
    log.sign_head().unwrap();
    let report = verify(dir.path(), &Trust::default()).unwrap();
    assert_eq!((report.entries, report.signed_heads, report.last_signed_seq), (5, 2, Some(5)));
}

#[test]
fn eight_threads_appending_at_once_make_one_chain() {
    const THREADS: u64 = 8;
    const EACH: u64 = 40;
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(AuditLog::open(dir.path(), None).unwrap());
    let seqs: Vec<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let log = Arc::clone(&log);
                scope.spawn(move || {
                    (0..EACH)
                        .map(|i| log.append(Event::new(format!("thread{t}"), "registry.push", format!("app{i}"), Outcome::Success)).unwrap().seq)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    let total = THREADS * EACH;
    assert_eq!(seqs.iter().copied().collect::<BTreeSet<_>>(), (1..=total).collect(), "every seq once");
    let report = verify(dir.path(), &Trust::default()).unwrap();
    assert_eq!(report.entries, total);
    assert_eq!(report.signed_heads, total / HEAD_INTERVAL, "a head every {HEAD_INTERVAL} entries");
    let in_file: Vec<u64> = log.entries(None).unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(in_file, (1..=total).collect::<Vec<_>>());
}
