//! Fixtures shared by the integration tests: a log of numbered entries and line surgery on
//! its files.

#![allow(dead_code)]

use std::fs;
use std::path::Path;

use palisade_audit::{action, AuditLog, Event, Outcome};

/// A log in `dir` with entries 1..=n (entry i targets `team/app{i}`).
pub(crate) fn log_with(dir: &Path, n: u64) -> AuditLog {
    let log = AuditLog::open(dir, None).unwrap();
    append(&log, n);
    log
}

/// Appends `n` more numbered events.
pub(crate) fn append(log: &AuditLog, n: u64) {
    for _ in 0..n {
        let i = log.last_seq() + 1;
        let outcome = if i % 7 == 0 { Outcome::Failure } else { Outcome::Success };
        log.append(
            Event::new(format!("user{}", i % 3), action::REGISTRY_PUSH, format!("team/app{i}"), outcome)
                .source("192.0.2.7:51234")
                .detail("digest", format!("sha256:{i:064x}")),
        )
        .unwrap();
    }
}

/// The complete lines of a file in the log's directory, each with its `\n`.
pub(crate) fn lines(dir: &Path, file: &str) -> Vec<Vec<u8>> {
    let bytes = fs::read(dir.join(file)).unwrap();
    bytes.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
}

/// Replaces a file in the log's directory with `lines`.
pub(crate) fn write_lines(dir: &Path, file: &str, lines: &[Vec<u8>]) {
    fs::write(dir.join(file), lines.concat()).unwrap();
}
