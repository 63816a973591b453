//! Checking a whole log: every entry on its own, the chain between them, and every signed
//! head against the entries it vouches for.

use std::collections::BTreeMap;
use std::path::Path;

use p256::ecdsa::VerifyingKey;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::entry::{parse_line, LineFault};
use crate::files::{HEADS_FILE, LOG_FILE, PUBLIC_KEY_FILE};
use crate::head::{parse_head, SignedHead};
use crate::keys::public_key;
use crate::lines::complete_lines;
use crate::{VerifyError, GENESIS_HASH};

/// What a successful [`verify`] checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Entries checked (equal to `last_seq`).
    pub entries: u64,
    /// The last entry (0 for an empty log).
    pub last_seq: u64,
    /// Its hash ([`GENESIS_HASH`] for an empty log). Recording it elsewhere lets a later
    /// verify prove the log was not rewritten up to here, even by someone holding the key.
    pub last_hash: String,
    /// Signed heads checked.
    pub signed_heads: u64,
    /// The last entry a signed head vouches for. Entries after it are protected by the chain
    /// only: removing them from the end would not be detected.
    pub last_signed_seq: Option<u64>,
    /// When that head was signed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_signed_time: Option<OffsetDateTime>,
    /// Bytes after the last complete line of `log.jsonl`: an append that never completed
    /// (a crash, or one under way while verifying). Not part of the log; the next
    /// [`AuditLog::open`](crate::AuditLog::open) removes them.
    pub unfinished_bytes: u64,
}

impl Report {
    /// Entries after the last signed head (see [`Report::last_signed_seq`]).
    pub fn unsigned_entries(&self) -> u64 {
        self.last_seq - self.last_signed_seq.unwrap_or(0).min(self.last_seq)
    }
}

/// Verifies the log in `dir`; heads are checked with `key`, by default the log's own
/// `head-key.pub.pem`. Pass a key kept apart from the log (or compare the
/// [`Report::last_hash`] with one recorded elsewhere) to be safe from someone who can replace
/// the whole directory, key included.
///
/// Checks, in file order, that every complete line of `log.jsonl` is an entry in canonical
/// form whose hash matches its content, that sequence numbers run 1, 2, 3… and that each
/// `prev` is the hash of the entry before; then that every line of `heads.jsonl` is a head
/// signed by the key, in order, for an entry that exists and has the hash the head records.
/// The first problem is returned, naming the entry and its line.
///
/// Reads `heads.jsonl` before `log.jsonl`, so a log being appended to while it is verified
/// is never mistaken for a truncated one (a head is written only after its entry is durable).
/// Both files are read whole into memory.
pub fn verify(dir: &Path, key: Option<&VerifyingKey>) -> Result<Report, VerifyError> {
    let heads_bytes = read(&dir.join(HEADS_FILE))?;
    let log_bytes = read(&dir.join(LOG_FILE))?;
    let heads = parse_heads(&heads_bytes)?;

    // The hashes the heads vouch for, filled in while walking the log.
    let mut vouched: BTreeMap<u64, Option<String>> = heads.iter().map(|(_, head)| (head.seq, None)).collect();
    let (lines, unfinished) = complete_lines(&log_bytes);
    let (mut previous_seq, mut previous_hash) = (0u64, GENESIS_HASH.to_owned());
    for (index, bytes) in lines.iter().enumerate() {
        let line = line_number(index);
        let entry = parse_line(bytes).map_err(|fault| match fault {
            LineFault::Changed { seq } => VerifyError::Changed { line, seq },
            LineFault::NotCanonical { seq } => VerifyError::NotCanonical { line, seq },
            LineFault::NotJson => VerifyError::NotJson { line },
        })?;
        let expected = previous_seq + 1;
        if entry.seq > expected {
            let later = lines[index + 1..].iter().position(|l| seq_of(l) == Some(expected));
            return Err(match later {
                Some(offset) => VerifyError::OutOfOrder {
                    line,
                    seq: entry.seq,
                    before: expected,
                    before_line: line_number(index + 1 + offset),
                },
                None => VerifyError::Removed { line, seq: entry.seq, previous: previous_seq },
            });
        }
        if entry.seq < expected {
            // The lines before hold entries 1..=previous_seq in order, so entry n is on line n.
            return Err(VerifyError::Duplicate { line, seq: entry.seq, first_line: entry.seq });
        }
        if entry.prev != previous_hash {
            return Err(VerifyError::BrokenLink { line, seq: entry.seq, previous: previous_seq });
        }
        if let Some(slot) = vouched.get_mut(&entry.seq) {
            *slot = Some(entry.hash.clone());
        }
        previous_seq = entry.seq;
        previous_hash = entry.hash;
    }

    if !heads.is_empty() {
        let loaded;
        let key = match key {
            Some(key) => key,
            None => {
                loaded = public_key(&dir.join(PUBLIC_KEY_FILE))?;
                &loaded
            }
        };
        for (line, head) in &heads {
            let (line, seq) = (*line, head.seq);
            if !head.is_signed_by(key) {
                return Err(VerifyError::HeadBadSignature { line, seq });
            }
            if seq > previous_seq {
                return Err(VerifyError::HeadBeyondEnd { line, seq, last_seq: previous_seq });
            }
            let hash = match vouched.get(&seq) {
                _ if seq == 0 => Some(GENESIS_HASH),
                Some(hash) => hash.as_deref(),
                None => None,
            };
            if hash != Some(head.hash.as_str()) {
                return Err(VerifyError::HeadMismatch { line, seq });
            }
        }
    }

    let last_head = heads.last().map(|(_, head)| head);
    Ok(Report {
        entries: previous_seq,
        last_seq: previous_seq,
        last_hash: previous_hash,
        signed_heads: heads.len() as u64,
        last_signed_seq: last_head.map(|head| head.seq),
        last_signed_time: last_head.map(|head| head.time),
        unfinished_bytes: unfinished as u64,
    })
}

/// The heads of `heads.jsonl` with their line numbers, checked for form and order (not yet
/// for signatures).
fn parse_heads(bytes: &[u8]) -> Result<Vec<(u64, SignedHead)>, VerifyError> {
    let (lines, _unfinished) = complete_lines(bytes);
    let mut heads: Vec<(u64, SignedHead)> = Vec::with_capacity(lines.len());
    for (index, bytes) in lines.iter().enumerate() {
        let line = line_number(index);
        let head = parse_head(bytes).ok_or(VerifyError::HeadNotJson { line })?;
        if let Some((_, before)) = heads.last() {
            if head.seq < before.seq {
                return Err(VerifyError::HeadOutOfOrder { line, seq: head.seq, after: before.seq });
            }
        }
        heads.push((line, head));
    }
    Ok(heads)
}

/// The `seq` a line claims, if it has one (used only to explain a gap).
fn seq_of(line: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    struct Seq {
        seq: u64,
    }
    serde_json::from_slice::<Seq>(line).ok().map(|s| s.seq)
}

fn line_number(index: usize) -> u64 {
    index as u64 + 1
}

fn read(path: &Path) -> Result<Vec<u8>, VerifyError> {
    std::fs::read(path).map_err(|source| VerifyError::Io { op: "read", path: path.to_owned(), source })
}
