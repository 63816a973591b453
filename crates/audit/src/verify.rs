//! Checking a whole log: every entry on its own, the chain between them, and every signed
//! head against the entries it vouches for and the key that signed it.

use std::collections::BTreeMap;
use std::path::Path;

use p256::ecdsa::VerifyingKey;
use palisade_pki::{NodeId, RootCa};
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
    /// Each of them, in file order, with who signed it.
    pub heads: Vec<HeadReport>,
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

/// One signed head, as [`verify`] checked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeadReport {
    /// Its line in `heads.jsonl`.
    pub line: u64,
    /// The entry it vouches for.
    pub seq: u64,
    /// When it was signed.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// Who signed it.
    pub signed_by: SignedBy,
}

/// Who signed a head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignedBy {
    /// The log's own key (a head without a certificate).
    LogKey,
    /// A swarm node, with its key: the head's certificate names it, and (in [`verify`]) chains
    /// to the trusted roots.
    Node {
        /// The node ID, the certificate's `CN`.
        node_id: NodeId,
        /// The certificate's serial number, lower-case hex: which of the node's certificates.
        serial: String,
    },
}

/// What [`verify`] checks signed heads against. The default checks heads signed with the log's
/// own key against its `head-key.pub.pem`, and refuses heads signed by a node
/// ([`VerifyError::NoRoots`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Trust<'a> {
    /// The public key of heads without a certificate, kept apart from the log; `None`: the
    /// log's own `head-key.pub.pem`.
    pub log_key: Option<&'a VerifyingKey>,
    /// The cluster root CAs the certificate of a head signed by a node must chain to (the
    /// node's trust bundle; after a root rotation, with the earlier root for earlier heads).
    pub roots: Option<&'a RootCa>,
}

/// How [`verify_with`] checks heads that carry a certificate.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CertifiedHeads<'a> {
    /// The certificate must chain to these roots at the head's time (`None`: none were given,
    /// which fails with [`VerifyError::NoRoots`]), and the key it certifies made the signature.
    ChainTo(Option<&'a RootCa>),
    /// Only that the key the certificate names made the signature: what
    /// [`AuditLog::open`](crate::AuditLog::open) checks of its own log, holding no roots.
    SignatureOnly,
}

impl Report {
    /// Entries after the last signed head (see [`Report::last_signed_seq`]).
    pub fn unsigned_entries(&self) -> u64 {
        self.last_seq - self.last_signed_seq.unwrap_or(0).min(self.last_seq)
    }
}

/// Verifies the log in `dir`, checking its heads against `trust`.
///
/// Checks, in file order, that every complete line of `log.jsonl` is an entry in canonical
/// form whose hash matches its content, that sequence numbers run 1, 2, 3… and that each
/// `prev` is the hash of the entry before; then that every line of `heads.jsonl` is a head, in
/// order, for an entry that exists and has the hash the head records, and signed:
///
/// - a head without a certificate, by the log's own key ([`Trust::log_key`]);
/// - a head with one, by the key of a node certificate that chains to [`Trust::roots`] and was
///   valid at the head's `time` (not now: certificates expire and are renewed, heads stay).
///
/// The first problem is returned, naming the entry and its line. The log's own key lives in
/// its directory: pass one kept apart from it (or compare the [`Report::last_hash`] with one
/// recorded elsewhere) to be safe from someone who can replace the whole directory. Heads
/// signed by nodes need no such care: their trust comes from the cluster's root CA.
///
/// Reads `heads.jsonl` before `log.jsonl`, so a log being appended to while it is verified
/// is never mistaken for a truncated one (a head is written only after its entry is durable).
/// Both files are read whole into memory.
pub fn verify(dir: &Path, trust: &Trust<'_>) -> Result<Report, VerifyError> {
    verify_with(dir, trust.log_key, CertifiedHeads::ChainTo(trust.roots))
}

/// [`verify`], with heads that carry a certificate checked as `certified` says.
pub(crate) fn verify_with(dir: &Path, log_key: Option<&VerifyingKey>, certified: CertifiedHeads<'_>) -> Result<Report, VerifyError> {
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

    // The log's key is read only when a head needs it: a node's heads do not.
    let loaded;
    let log_key = match log_key {
        Some(key) => Some(key),
        None if heads.iter().any(|(_, head)| head.certificates.is_none()) => {
            loaded = public_key(&dir.join(PUBLIC_KEY_FILE))?;
            Some(&loaded)
        }
        None => None,
    };
    let mut checked = Vec::with_capacity(heads.len());
    for (line, head) in &heads {
        let (line, seq) = (*line, head.seq);
        let signed_by = check_signer(line, head, log_key, certified)?;
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
        checked.push(HeadReport { line, seq, time: head.time, signed_by });
    }

    let last_head = heads.last().map(|(_, head)| head);
    Ok(Report {
        entries: previous_seq,
        last_seq: previous_seq,
        last_hash: previous_hash,
        signed_heads: heads.len() as u64,
        heads: checked,
        last_signed_seq: last_head.map(|head| head.seq),
        last_signed_time: last_head.map(|head| head.time),
        unfinished_bytes: unfinished as u64,
    })
}

/// Checks that `head` (on `line`) was signed by the key it names, as `certified` asks for
/// heads with a certificate, and says whose key that is. `log_key` is `None` only when every
/// head carries a certificate.
fn check_signer(line: u64, head: &SignedHead, log_key: Option<&VerifyingKey>, certified: CertifiedHeads<'_>) -> Result<SignedBy, VerifyError> {
    let seq = head.seq;
    let Some(chain) = &head.certificates else {
        return match log_key {
            Some(key) if head.is_signed_by(key) => Ok(SignedBy::LogKey),
            _ => Err(VerifyError::HeadBadSignature { line, seq }),
        };
    };
    let untrusted = |reason: String| VerifyError::HeadUntrusted { line, seq, reason };
    if let CertifiedHeads::ChainTo(roots) = certified {
        let roots = roots.ok_or(VerifyError::NoRoots { line, seq })?;
        palisade_pki::tls::verify_node_certificates(roots, chain.certificates(), head.time).map_err(|e| untrusted(e.to_string()))?;
    }
    let (node, key) = chain.signer().map_err(untrusted)?;
    if !head.is_signed_by(&key) {
        return Err(VerifyError::HeadBadSignature { line, seq });
    }
    Ok(SignedBy::Node { node_id: node.node_id, serial: node.serial_hex })
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
