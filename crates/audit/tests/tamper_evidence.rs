//! `verify` passes on a real log and fails, naming the entry, after one byte of an entry is
//! changed, an entry is deleted, copied or swapped, a changed entry is re-hashed, the log is
//! cut short after a signed head, or a head is signed by another key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

mod common;

use common::{lines, log_with, write_lines};
use p256::ecdsa::SigningKey;
use palisade_audit::{verify, AuditError, AuditLog, Entry, Trust, VerifyError};

const LOG: &str = "log.jsonl";
const HEADS: &str = "heads.jsonl";

#[test]
fn a_real_log_of_50_entries_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 50);
    let report = verify(dir.path(), &Trust::default()).unwrap();
    assert_eq!((report.entries, report.last_seq, report.signed_heads), (50, 50, 0));
    assert_eq!(report.unsigned_entries(), 50);
    let last = log.entries(None).unwrap().pop().unwrap();
    assert_eq!(report.last_hash, last.hash);

    log.sign_head().unwrap();
    let report = verify(dir.path(), &Trust::default()).unwrap();
    assert_eq!((report.signed_heads, report.last_signed_seq, report.unsigned_entries()), (1, Some(50), 0));
}

#[test]
fn one_changed_byte_in_entry_17_is_named() {
    let dir = tempfile::tempdir().unwrap();
    log_with(dir.path(), 50);
    let mut all = lines(dir.path(), LOG);
    let at = find(&all[16], b"\"target\":\"team/app17\"") + 10;
    all[16][at] ^= 0x01; // team → uea m…: still valid JSON
    write_lines(dir.path(), LOG, &all);

    let err = verify(dir.path(), &Trust::default()).unwrap_err();
    assert!(matches!(err, VerifyError::Changed { line: 17, seq: 17 }), "{err:?}");
    assert_eq!(err.to_string(), "entry 17 (line 17) was changed: its hash does not match its content");
    assert!(err.is_tampering());
}

/// Every byte of entry 17, changed in a few ways, is caught and the finding points at line 17.
#[test]
fn every_changed_byte_of_an_entry_is_named() {
    let dir = tempfile::tempdir().unwrap();
    log_with(dir.path(), 20);
    let original = lines(dir.path(), LOG);
    let content_len = original[16].len() - 1; // not its '\n'
    for at in 0..content_len {
        for mask in [0x01u8, 0x20, 0x40] {
            let mut all = original.clone();
            all[16][at] ^= mask;
            if all[16][at] == b'\n' {
                continue; // a new line break is a different experiment (an extra line)
            }
            write_lines(dir.path(), LOG, &all);
            let err = verify(dir.path(), &Trust::default()).expect_err("a changed byte must not verify");
            assert_eq!(err.line(), Some(17), "byte {at} ^ {mask:#x}: {err}");
        }
    }
}

#[test]
fn a_deleted_entry_is_named_by_the_gap() {
    let dir = tempfile::tempdir().unwrap();
    log_with(dir.path(), 50);
    let mut all = lines(dir.path(), LOG);
    all.remove(16);
    write_lines(dir.path(), LOG, &all);

    let err = verify(dir.path(), &Trust::default()).unwrap_err();
    assert!(matches!(err, VerifyError::Removed { line: 17, seq: 18, previous: 16 }), "{err:?}");
    assert_eq!(err.to_string(), "entry 18 (line 17) follows entry 16: entry 17 was removed");

    let mut all = lines(dir.path(), LOG);
    all.drain(20..23); // entries 22, 23, 24
    write_lines(dir.path(), LOG, &all);
    let err = verify(dir.path(), &Trust::default()).unwrap_err();
    assert!(err.to_string().contains("entry 18 (line 17) follows entry 16"), "the first gap is reported: {err}");
}

#[test]
fn deleting_the_first_entry_is_named() {
    let dir = tempfile::tempdir().unwrap();
    log_with(dir.path(), 5);
    let mut all = lines(dir.path(), LOG);
    all.remove(0);
    write_lines(dir.path(), LOG, &all);
    let err = verify(dir.path(), &Trust::default()).unwrap_err();
    assert!(matches!(err, VerifyError::Removed { line: 1, seq: 2, previous: 0 }), "{err:?}");
}

#[test]
fn swapped_entries_are_both_named() {
    let dir = tempfile::tempdir().unwrap();
    log_with(dir.path(), 50);
    let mut all = lines(dir.path(), LOG);
    all.swap(16, 17);
    write_lines(dir.path(), LOG, &all);

    let err = verify(dir.path(), &Trust::default()).unwrap_err();
    assert!(matches!(err, VerifyError::OutOfOrder { line: 17, seq: 18, before: 17, before_line: 18 }), "{err:?}");
    assert_eq!(err.to_string(), "entry 18 (line 17) comes before entry 17 (line 18): entries were swapped or reordered");
}

#[test]
fn a_copied_entry_is_named() {
    let dir = tempfile::tempdir().unwrap();
    log_with(dir.path(), 30);
    let mut all = lines(dir.path(), LOG);
    all.insert(17, all[16].clone());
    write_lines(dir.path(), LOG, &all);
    let err = verify(dir.path(), &Trust::default()).unwrap_err();
    assert!(matches!(err, VerifyError::Duplicate { line: 18, seq: 17, first_line: 17 }), "{err:?}");
}

#[test]
fn a_changed_and_rehashed_entry_breaks_the_next_link() {
    let dir = tempfile::tempdir().unwrap();
    log_with(dir.path(), 30);
    let mut all = lines(dir.path(), LOG);
    let mut entry: Entry = serde_json::from_slice(&all[16]).unwrap();
    entry.target = "team/innocent".into();
    entry.hash = entry.computed_hash().unwrap();
    let mut line = serde_json::to_vec(&entry).unwrap();
    line.push(b'\n');
    all[16] = line;
    write_lines(dir.path(), LOG, &all);

    let err = verify(dir.path(), &Trust::default()).unwrap_err();
    assert!(matches!(err, VerifyError::BrokenLink { line: 18, seq: 18, previous: 17 }), "{err:?}");
    assert!(err.to_string().contains("entry 18 (line 18) does not chain to entry 17"), "{err}");
}

#[test]
fn a_chain_rewritten_to_its_end_does_not_match_the_signed_head() {
    let dir = tempfile::tempdir().unwrap();
    log_with(dir.path(), 20).sign_head().unwrap();
    // Rewrite entry 5 and re-hash every entry after it: the chain alone is consistent again.
    let all = lines(dir.path(), LOG);
    let mut prev = String::new();
    let mut rewritten = Vec::new();
    for line in &all {
        let mut entry: Entry = serde_json::from_slice(line).unwrap();
        if entry.seq == 5 {
            entry.actor = "nobody".into();
        }
        if entry.seq > 5 {
            entry.prev = prev.clone();
        }
        entry.hash = entry.computed_hash().unwrap();
        prev = entry.hash.clone();
        let mut line = serde_json::to_vec(&entry).unwrap();
        line.push(b'\n');
        rewritten.push(line);
    }
    write_lines(dir.path(), LOG, &rewritten);

    let err = verify(dir.path(), &Trust::default()).unwrap_err();
    assert!(matches!(err, VerifyError::HeadMismatch { line: 1, seq: 20 }), "{err:?}");
}

#[test]
fn a_log_cut_short_after_a_signed_head_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 150); // a head is signed at 100 on its own
    log.sign_head().unwrap();
    drop(log);
    assert_eq!(lines(dir.path(), HEADS).len(), 2);
    let all = lines(dir.path(), LOG);

    write_lines(dir.path(), LOG, &all[..120]);
    let err = verify(dir.path(), &Trust::default()).unwrap_err();
    assert!(matches!(err, VerifyError::HeadBeyondEnd { line: 2, seq: 150, last_seq: 120 }), "{err:?}");
    assert!(err.to_string().ends_with("entries 121–150 were removed from the end"), "{err}");

    write_lines(dir.path(), LOG, &all[..90]);
    let err = verify(dir.path(), &Trust::default()).unwrap_err();
    assert!(matches!(err, VerifyError::HeadBeyondEnd { line: 1, seq: 100, last_seq: 90 }), "{err:?}");

    // The writer refuses to carry on after the cut, naming it the same way.
    let err = AuditLog::open(dir.path(), None).unwrap_err();
    assert!(matches!(&err, AuditError::Tampered { finding, .. } if finding.seq() == Some(100)), "{err:?}");

    write_lines(dir.path(), LOG, &[]);
    let err = verify(dir.path(), &Trust::default()).unwrap_err();
    assert!(matches!(err, VerifyError::HeadBeyondEnd { seq: 100, last_seq: 0, .. }), "{err:?}");
}

#[test]
fn a_head_signed_by_another_key_is_refused() {
    let ours = tempfile::tempdir().unwrap();
    log_with(ours.path(), 10).sign_head().unwrap();

    // Someone copies the log, signs a head for it with their own key, and slips that head in.
    let theirs = tempfile::tempdir().unwrap();
    std::fs::copy(ours.path().join(LOG), theirs.path().join(LOG)).unwrap();
    let other_key = SigningKey::random(&mut rand::rngs::OsRng);
    let forged = AuditLog::open(theirs.path(), Some(other_key)).unwrap().sign_head().unwrap();
    assert_eq!(forged.seq, 10);
    let mut heads = lines(ours.path(), HEADS);
    heads.push(lines(theirs.path(), HEADS).pop().unwrap());
    write_lines(ours.path(), HEADS, &heads);

    let err = verify(ours.path(), &Trust::default()).unwrap_err();
    assert!(matches!(err, VerifyError::HeadBadSignature { line: 2, seq: 10 }), "{err:?}");
    let err = AuditLog::open(ours.path(), None).unwrap_err();
    assert!(matches!(&err, AuditError::Tampered { finding, .. } if matches!(**finding, VerifyError::HeadBadSignature { line: 2, .. })), "{err:?}");

    // And a log checked with a key other than its own does not verify either.
    let err = verify(theirs.path(), &Trust { log_key: Some(&ours_key(ours.path())), ..Trust::default() }).unwrap_err();
    assert!(matches!(err, VerifyError::HeadBadSignature { line: 1, .. }), "{err:?}");
}

#[test]
fn a_head_that_is_not_json_is_named() {
    let dir = tempfile::tempdir().unwrap();
    log_with(dir.path(), 3).sign_head().unwrap();
    let mut heads = lines(dir.path(), HEADS);
    heads[0][3] = b'x';
    write_lines(dir.path(), HEADS, &heads);
    let err = verify(dir.path(), &Trust::default()).unwrap_err();
    assert!(matches!(err, VerifyError::HeadNotJson { line: 1 }), "{err:?}");
}

#[test]
fn opening_a_log_whose_last_entry_was_changed_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    drop(log_with(dir.path(), 12));
    let mut all = lines(dir.path(), LOG);
    let at = find(&all[11], b"team/app12") + 2;
    all[11][at] ^= 0x01;
    write_lines(dir.path(), LOG, &all);

    let err = AuditLog::open(dir.path(), None).unwrap_err();
    assert!(matches!(&err, AuditError::Tampered { finding, .. } if matches!(**finding, VerifyError::Changed { line: 12, seq: 12 })), "{err:?}");
    assert!(err.to_string().contains("entry 12 (line 12) was changed"), "{err}");
    assert_eq!(lines(dir.path(), LOG), all, "nothing was appended or cut");
}

#[test]
fn opening_a_log_whose_last_entry_was_removed_with_its_head_still_there_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 12);
    log.sign_head().unwrap();
    drop(log);
    let mut all = lines(dir.path(), LOG);
    all.pop();
    write_lines(dir.path(), LOG, &all);
    let err = AuditLog::open(dir.path(), None).unwrap_err();
    assert!(err.to_string().contains("entry 12 was removed from the end"), "{err}");
}

fn ours_key(dir: &std::path::Path) -> p256::ecdsa::VerifyingKey {
    palisade_audit::public_key(&dir.join("head-key.pub.pem")).unwrap()
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).position(|w| w == needle).unwrap()
}
