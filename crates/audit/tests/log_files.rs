//! The log's directory and files are private; the head key is generated once or given;
//! listing filters by time; heads are signed on the caller's schedule.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use common::{append, log_with};
use p256::ecdsa::SigningKey;
use palisade_audit::{read_entries, verify, AuditError, AuditLog, Event, Outcome, Trust, MAX_FIELD_BYTES};
use palisade_pki::FixedClock;
use time::macros::datetime;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_directory_is_0700_and_every_file_0600() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data/audit");
    let log = log_with(&dir, 2);
    log.sign_head().unwrap();
    assert_eq!(mode(&dir), 0o700);
    for file in ["log.jsonl", "heads.jsonl", "head-key.pem", "head-key.pub.pem"] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    let pem = std::fs::read_to_string(dir.join("head-key.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8");
}

#[test]
fn a_widened_directory_and_log_are_narrowed_again_on_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(log_with(dir.path(), 1));
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dir.path().join("log.jsonl"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(dir.path().join("head-key.pem"), std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(AuditLog::open(dir.path(), None).unwrap());
    assert_eq!(mode(dir.path()), 0o700);
    assert_eq!(mode(&dir.path().join("log.jsonl")), 0o600);
    assert_eq!(mode(&dir.path().join("head-key.pem")), 0o600);
}

#[test]
fn a_given_key_is_used_and_never_written_and_another_key_is_refused_later() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::random(&mut rand::rngs::OsRng);
    let log = AuditLog::open(dir.path(), Some(key.clone())).unwrap();
    append(&log, 2);
    log.sign_head().unwrap();
    drop(log);
    assert!(!dir.path().join("head-key.pem").exists(), "the caller keeps the private key");
    verify(dir.path(), &Trust { log_key: Some(key.verifying_key()), ..Trust::default() }).unwrap();
    verify(dir.path(), &Trust::default()).unwrap();

    AuditLog::open(dir.path(), Some(key)).unwrap();
    let other = SigningKey::random(&mut rand::rngs::OsRng);
    let err = AuditLog::open(dir.path(), Some(other)).unwrap_err();
    assert!(matches!(err, AuditError::KeyMismatch { .. }), "{err:?}");
}

#[test]
fn entries_since_a_time_are_listed_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FixedClock::new(datetime!(2025-06-01 10:00 UTC)));
    let log = AuditLog::open_with_clock(dir.path(), None, clock.clone()).unwrap();
    for (hour, target) in [(10, "a"), (11, "b"), (12, "c")] {
        clock.set(datetime!(2025-06-01 00:00 UTC) + time::Duration::hours(hour));
        log.append(Event::new("alice", "secret.create", target, Outcome::Success)).unwrap();
    }
    let targets = |entries: Vec<palisade_audit::Entry>| entries.into_iter().map(|e| e.target).collect::<Vec<_>>();
    assert_eq!(targets(log.entries(None).unwrap()), ["a", "b", "c"]);
    assert_eq!(targets(log.entries(Some(datetime!(2025-06-01 11:00 UTC))).unwrap()), ["b", "c"]);
    assert_eq!(targets(read_entries(dir.path(), Some(datetime!(2025-06-01 11:00:01 UTC))).unwrap()), ["c"]);
    assert!(log.entries(Some(datetime!(2025-06-02 00:00 UTC))).unwrap().is_empty());
    assert_eq!(log.entries(None).unwrap()[1].time, datetime!(2025-06-01 11:00 UTC));
}

#[test]
fn listing_a_log_with_a_changed_line_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    drop(log_with(dir.path(), 3));
    let path = dir.path().join("log.jsonl");
    let text = std::fs::read_to_string(&path).unwrap().replace("team/app2", "team/app9");
    std::fs::write(&path, text).unwrap();
    let err = read_entries(dir.path(), None).unwrap_err();
    assert!(matches!(err, AuditError::Unreadable { line: 2, .. }), "{err:?}");
}

#[test]
fn heads_are_signed_when_older_than_asked_and_only_for_new_entries() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FixedClock::new(datetime!(2025-06-01 10:00 UTC)));
    let log = AuditLog::open_with_clock(dir.path(), None, clock.clone()).unwrap();
    let hour = Duration::from_secs(3600);
    assert_eq!(log.sign_head_if_older(hour).unwrap(), None, "an empty log has nothing to sign");
    append(&log, 1);
    let first = log.sign_head_if_older(hour).unwrap().expect("no head yet");
    assert_eq!((first.seq, first.time), (1, datetime!(2025-06-01 10:00 UTC)));
    clock.set(datetime!(2025-06-01 12:00 UTC));
    assert_eq!(log.sign_head_if_older(hour).unwrap(), None, "no entry since");
    append(&log, 1);
    clock.set(datetime!(2025-06-01 10:59 UTC));
    assert_eq!(log.sign_head_if_older(hour).unwrap(), None, "the head is recent");
    clock.set(datetime!(2025-06-01 11:00 UTC));
    assert_eq!(log.sign_head_if_older(hour).unwrap().map(|h| h.seq), Some(2));
    assert_eq!(verify(dir.path(), &Trust::default()).unwrap().signed_heads, 2);
}

#[test]
fn an_empty_log_verifies_and_its_head_vouches_for_the_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), None).unwrap();
    let head = log.sign_head().unwrap();
    assert_eq!((head.seq, head.hash.as_str()), (0, palisade_audit::GENESIS_HASH));
    let report = verify(dir.path(), &Trust::default()).unwrap();
    assert_eq!((report.entries, report.signed_heads), (0, 1));
    drop(log);
    AuditLog::open(dir.path(), None).unwrap();
}

#[test]
fn oversized_input_is_cut_not_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), None).unwrap();
    let mut event = Event::new("x".repeat(10_000), "registry.login", "registry", Outcome::Failure);
    for i in 0..100 {
        event = event.detail(format!("k{i:02}"), "v".repeat(5000));
    }
    let entry = log.append(event).unwrap();
    assert_eq!(entry.actor.len(), MAX_FIELD_BYTES);
    assert_eq!(entry.detail.len(), palisade_audit::MAX_DETAIL_KEYS);
    verify(dir.path(), &Trust::default()).unwrap();
}

#[test]
fn verifying_a_missing_log_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let err = verify(&dir.path().join("nothing"), &Trust::default()).unwrap_err();
    assert!(matches!(err, palisade_audit::VerifyError::Io { .. }) && !err.is_tampering(), "{err:?}");
}
