//! The crate's errors: [`AuditError`] for opening and appending, [`VerifyError`] for what
//! [`verify`](crate::verify) finds. Every finding names the entry (its `seq`) and the line of
//! the file it is on, so an operator can look at it.

use std::path::PathBuf;

/// A failure to open, append to or read an audit log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// A [`CertifiedKey`](crate::CertifiedKey) was refused: the key is not a P-256 PKCS#8
    /// key, or the certificate is not a node certificate for it.
    #[error("cannot sign audit heads with this certificate and key: {reason}")]
    CertifiedKey {
        /// Why (never contains key material).
        reason: String,
    },
    /// The time could not be written as RFC 3339 (a clock outside the years 0–9999).
    #[error("cannot encode an audit record: {source}")]
    Encode {
        /// What serde_json reported.
        #[source]
        source: serde_json::Error,
    },
    /// The end of the log looked inconsistent when opening it, but a full verification found
    /// nothing (not expected to happen; the log is refused all the same).
    #[error("refusing to use the audit log in {}: {reason}", dir.display())]
    Inconsistent {
        /// The log directory.
        dir: PathBuf,
        /// What looked wrong.
        reason: &'static str,
    },
    /// A file or directory operation failed (an environment failure, not tampering).
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// The operation, as a verb phrase ("open", "fsync", "truncate the torn tail of").
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The head-signing key file could not be read or parsed.
    #[error("cannot load the audit log's head key {}: {reason}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why it was rejected (never contains key material).
        reason: String,
    },
    /// The key given to [`AuditLog::open`](crate::AuditLog::open) is not the key whose public
    /// half the log keeps: heads signed with it would not verify. Key rotation is not supported.
    #[error("the head key given for the audit log in {} is not the log's key (its public key is {})", dir.display(), public_key.display())]
    KeyMismatch {
        /// The log directory.
        dir: PathBuf,
        /// The public key file the given key does not match.
        public_key: PathBuf,
    },
    /// An earlier append failed half-way and could not be rolled back; the log refuses further
    /// appends until it is reopened (which drops the unacknowledged bytes).
    #[error("the audit log in {} is unusable after a failed append; reopen it", dir.display())]
    Poisoned {
        /// The log directory.
        dir: PathBuf,
    },
    /// The log's last entries or last signed head are inconsistent: the log was tampered with,
    /// and [`verify`](crate::verify) names the entry. Nothing is appended to such a log.
    #[error("refusing to use the audit log in {}: {finding}", dir.display())]
    Tampered {
        /// The log directory.
        dir: PathBuf,
        /// What is wrong, naming the entry and its line.
        finding: Box<VerifyError>,
    },
    /// A line of the log is not an audit entry (seen while listing entries).
    #[error("line {line} of {} is not a valid audit entry; run `palisade audit verify`", path.display())]
    Unreadable {
        /// The log file.
        path: PathBuf,
        /// The 1-based line number.
        line: u64,
    },
}

/// What [`verify`](crate::verify) found wrong, or why it could not check.
///
/// The tampering variants name the entry: [`VerifyError::seq`] and [`VerifyError::line`]
/// give the entry's sequence number and its 1-based line in `log.jsonl` (for the head
/// variants, the line in `heads.jsonl` and the entry the head vouches for).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The entry's `prev` is not the hash of the entry before it: one of the two was changed
    /// and its hash recomputed.
    #[error("entry {seq} (line {line}) does not chain to entry {previous}: its prev is not the hash of entry {previous}, so one of them was changed and re-hashed")]
    BrokenLink {
        /// Line of the entry.
        line: u64,
        /// The entry.
        seq: u64,
        /// The entry before it.
        previous: u64,
    },
    /// The entry's stored hash does not match its content.
    #[error("entry {seq} (line {line}) was changed: its hash does not match its content")]
    Changed {
        /// Line of the entry.
        line: u64,
        /// The entry (as it claims; its content is not to be trusted).
        seq: u64,
    },
    /// The same entry occurs twice.
    #[error("entry {seq} (line {line}) appears twice (first on line {first_line}): an entry was copied")]
    Duplicate {
        /// Line of the copy.
        line: u64,
        /// The entry.
        seq: u64,
        /// Line of its first occurrence.
        first_line: u64,
    },
    /// A signed head's signature does not verify with the key it names: the key of the
    /// certificate it carries, else the log's public key.
    #[error("the signed head on line {line} of heads.jsonl (for entry {seq}) has an invalid signature: it was changed, or not signed by the key of its certificate (or, without one, this log's key)")]
    HeadBadSignature {
        /// Line in `heads.jsonl`.
        line: u64,
        /// The entry the head claims to vouch for.
        seq: u64,
    },
    /// A signed head vouches for an entry past the end of the log.
    #[error("the signed head on line {line} of heads.jsonl vouches for entry {seq}, but the log ends at entry {last_seq}: {} removed from the end", removed_from_end(.last_seq, .seq))]
    HeadBeyondEnd {
        /// Line in `heads.jsonl`.
        line: u64,
        /// The entry the head vouches for.
        seq: u64,
        /// The last entry of the log.
        last_seq: u64,
    },
    /// The entry a signed head vouches for has another hash than the head records.
    #[error("entry {seq} does not match the signed head on line {line} of heads.jsonl: the log was rewritten up to entry {seq}")]
    HeadMismatch {
        /// Line in `heads.jsonl`.
        line: u64,
        /// The entry.
        seq: u64,
    },
    /// A complete line of `heads.jsonl` is not a signed head in canonical form.
    #[error("the signed head on line {line} of heads.jsonl is not valid (not JSON, or not in the form the log writes)")]
    HeadNotJson {
        /// Line in `heads.jsonl`.
        line: u64,
    },
    /// Signed heads go backwards.
    #[error("the signed head on line {line} of heads.jsonl (for entry {seq}) comes after a head for entry {after}: heads were reordered")]
    HeadOutOfOrder {
        /// Line in `heads.jsonl`.
        line: u64,
        /// The entry it vouches for.
        seq: u64,
        /// The entry the head before it vouches for.
        after: u64,
    },
    /// A signed head's certificate is not a node certificate that chains to the trusted root
    /// CAs and was valid when the head says it was signed: someone other than a node of the
    /// cluster signed it (or the root it chains to was not given).
    #[error("the signed head on line {line} of heads.jsonl (for entry {seq}) is not signed by a node of the trusted cluster: {reason}")]
    HeadUntrusted {
        /// Line in `heads.jsonl`.
        line: u64,
        /// The entry it vouches for.
        seq: u64,
        /// What is wrong with its certificate.
        reason: String,
    },
    /// A file could not be read (an environment failure, not tampering).
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// The operation.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The public key to check heads with could not be read or parsed.
    #[error("cannot load the audit log's public key {}: {reason}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why it was rejected.
        reason: String,
    },
    /// A signed head carries a node's certificate, and no root CAs were given to check it
    /// against (a missing input, not tampering).
    #[error("the signed head on line {line} of heads.jsonl (for entry {seq}) was signed by a node, and no cluster root CA was given to check its certificate against")]
    NoRoots {
        /// Line in `heads.jsonl`.
        line: u64,
        /// The entry it vouches for.
        seq: u64,
    },
    /// The entry parses and its hash matches, but its line is not in the canonical form the
    /// log writes: bytes were changed without changing the content's meaning.
    #[error("entry {seq} (line {line}) was changed: its line is not in the form the log writes")]
    NotCanonical {
        /// Line of the entry.
        line: u64,
        /// The entry.
        seq: u64,
    },
    /// A complete line of `log.jsonl` is not an audit entry.
    #[error("entry on line {line} is not valid JSON (or not an audit entry): it was changed")]
    NotJson {
        /// The line.
        line: u64,
    },
    /// An entry comes before one with a smaller sequence number.
    #[error("entry {seq} (line {line}) comes before entry {before} (line {before_line}): entries were swapped or reordered")]
    OutOfOrder {
        /// Line of the entry found too early.
        line: u64,
        /// The entry found too early.
        seq: u64,
        /// The entry that should have come first.
        before: u64,
        /// Its line.
        before_line: u64,
    },
    /// Sequence numbers skip: entries are missing.
    #[error("entry {seq} (line {line}) follows entry {previous}: {} removed", removed_range(.previous, .seq))]
    Removed {
        /// Line of the entry after the gap.
        line: u64,
        /// The entry after the gap.
        seq: u64,
        /// The entry before the gap (0 when entries were removed from the start).
        previous: u64,
    },
}

impl VerifyError {
    /// The entry the finding is about: the entry itself, or the one a signed head vouches for.
    /// `None` for I/O and key errors and for a line that is not JSON.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Self::BrokenLink { seq, .. }
            | Self::Changed { seq, .. }
            | Self::Duplicate { seq, .. }
            | Self::HeadBadSignature { seq, .. }
            | Self::HeadBeyondEnd { seq, .. }
            | Self::HeadMismatch { seq, .. }
            | Self::HeadOutOfOrder { seq, .. }
            | Self::HeadUntrusted { seq, .. }
            | Self::NoRoots { seq, .. }
            | Self::NotCanonical { seq, .. }
            | Self::OutOfOrder { seq, .. }
            | Self::Removed { seq, .. } => Some(*seq),
            Self::HeadNotJson { .. } | Self::Io { .. } | Self::Key { .. } | Self::NotJson { .. } => None,
        }
    }

    /// The 1-based line of the finding: in `log.jsonl` for entry findings, in `heads.jsonl`
    /// for the `Head*` findings and [`VerifyError::NoRoots`]. `None` for I/O and key errors.
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::BrokenLink { line, .. }
            | Self::Changed { line, .. }
            | Self::Duplicate { line, .. }
            | Self::HeadBadSignature { line, .. }
            | Self::HeadBeyondEnd { line, .. }
            | Self::HeadMismatch { line, .. }
            | Self::HeadNotJson { line }
            | Self::HeadOutOfOrder { line, .. }
            | Self::HeadUntrusted { line, .. }
            | Self::NoRoots { line, .. }
            | Self::NotCanonical { line, .. }
            | Self::NotJson { line }
            | Self::OutOfOrder { line, .. }
            | Self::Removed { line, .. } => Some(*line),
            Self::Io { .. } | Self::Key { .. } => None,
        }
    }

    /// Whether this is evidence of tampering (as opposed to a file or key that could not be
    /// read, or root CAs that were not given).
    pub fn is_tampering(&self) -> bool {
        !matches!(self, Self::Io { .. } | Self::Key { .. } | Self::NoRoots { .. })
    }
}

/// The entries strictly between `before` and `after`: "entry 17 was" / "entries 17–19 were".
fn removed_range(before: &u64, after: &u64) -> String {
    entries_were(before.saturating_add(1), after.saturating_sub(1))
}

/// The entries after `last_seq` up to `head_seq`.
fn removed_from_end(last_seq: &u64, head_seq: &u64) -> String {
    entries_were(last_seq.saturating_add(1), *head_seq)
}

fn entries_were(first: u64, last: u64) -> String {
    if first >= last {
        format!("entry {first} was")
    } else {
        format!("entries {first}–{last} were")
    }
}

/// The crate's result type.
pub type Result<T, E = AuditError> = std::result::Result<T, E>;
