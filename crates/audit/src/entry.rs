//! One line of `log.jsonl`: the [`Entry`] type, its canonical encoding (the one function
//! [`encode`] both writes lines and computes hashes with) and the check that a line is an
//! untouched entry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::event::{Event, Outcome};

/// The `prev` of the first entry: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain separation for entry hashes, so an entry hash can never be confused with any other
/// SHA-256 this project computes (a head signature's message uses another prefix).
const HASH_DOMAIN: &[u8] = b"palisade-audit-v1\n";

/// One recorded action, as stored on one line of `log.jsonl`.
///
/// Invariants (for entries read back from a log that passed [`verify`](crate::verify)):
/// `seq` counts from 1 without gaps; `prev` is the previous entry's `hash` ([`GENESIS_HASH`]
/// for entry 1); `hash` is `hex(sha256("palisade-audit-v1\n" || encode(entry without hash)))`;
/// `time` is UTC. Serializing an entry (serde_json) gives exactly its line in the log.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Position in the log, from 1.
    pub seq: u64,
    /// When the log appended it (UTC, RFC 3339 on disk).
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// Who acted (a user or node name).
    pub actor: String,
    /// What was done, dotted (`registry.push`).
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The client's address, when known.
    pub source: Option<String>,
    /// Further facts, sorted by key.
    pub detail: BTreeMap<String, String>,
    /// Hex SHA-256 of the previous entry ([`GENESIS_HASH`] for the first).
    pub prev: String,
    /// Hex SHA-256 of this entry without this field (see the type's docs).
    pub hash: String,
}

/// The wire form, in its fixed field order; `hash` is left out to compute the hash.
#[derive(Serialize)]
struct Wire<'a> {
    seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    time: OffsetDateTime,
    actor: &'a str,
    action: &'a str,
    target: &'a str,
    outcome: Outcome,
    source: Option<&'a str>,
    detail: &'a BTreeMap<String, String>,
    prev: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<&'a str>,
}

/// Whether [`encode`] includes the `hash` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    /// The stored line (without its `\n`).
    With,
    /// The hash input.
    Without,
}

/// The canonical encoding of `entry`: compact serde_json of the fields in their fixed order
/// (`seq, time, actor, action, target, outcome, source, detail, prev[, hash]`), `detail`
/// sorted by key, `time` in RFC 3339 UTC as the `time` crate writes it. The only encoding of
/// entries in this crate: the hash input, the log line and `Serialize for Entry` all come from
/// here. Fails only for a time outside the years 0–9999.
pub(crate) fn encode(entry: &Entry, hash: Hash) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&wire(entry, hash))
}

fn wire(entry: &Entry, hash: Hash) -> Wire<'_> {
    Wire {
        seq: entry.seq,
        time: entry.time,
        actor: &entry.actor,
        action: &entry.action,
        target: &entry.target,
        outcome: entry.outcome,
        source: entry.source.as_deref(),
        detail: &entry.detail,
        prev: &entry.prev,
        hash: (hash == Hash::With).then_some(entry.hash.as_str()),
    }
}

impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        wire(self, Hash::With).serialize(serializer)
    }
}

impl Entry {
    /// The entry for `event` at `seq`, appended at `time` after the entry whose hash is
    /// `prev`, with its hash computed.
    pub(crate) fn seal(seq: u64, time: OffsetDateTime, prev: &str, event: Event) -> Result<Self, serde_json::Error> {
        let mut entry = Self {
            seq,
            time: time.to_offset(time::UtcOffset::UTC),
            actor: event.actor,
            action: event.action,
            target: event.target,
            outcome: event.outcome,
            source: event.source,
            detail: event.detail,
            prev: prev.to_owned(),
            hash: String::new(),
        };
        entry.hash = entry.computed_hash()?;
        Ok(entry)
    }

    /// The hash this entry's content gives (what `hash` must be).
    pub fn computed_hash(&self) -> Result<String, serde_json::Error> {
        let mut hasher = Sha256::new();
        hasher.update(HASH_DOMAIN);
        hasher.update(encode(self, Hash::Without)?);
        Ok(hex::encode(hasher.finalize()))
    }

    /// The line this entry is stored as, with its `\n`.
    pub(crate) fn line(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut line = encode(self, Hash::With)?;
        line.push(b'\n');
        Ok(line)
    }
}

/// What is wrong with a single line, judged on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineFault {
    /// Its stored hash does not match its content.
    Changed {
        /// The seq it claims.
        seq: u64,
    },
    /// Parses and hashes right, but is not byte-for-byte the canonical encoding.
    NotCanonical {
        /// Its seq.
        seq: u64,
    },
    /// Not JSON, or not an entry.
    NotJson,
}

/// Parses one line (without its `\n`) and checks it on its own: it is an entry, its hash
/// matches its content, and it is exactly the canonical encoding (so no byte of it can change
/// unnoticed, not even one that keeps the meaning, such as an escape or a space).
pub(crate) fn parse_line(line: &[u8]) -> Result<Entry, LineFault> {
    let entry: Entry = serde_json::from_slice(line).map_err(|_| LineFault::NotJson)?;
    let seq = entry.seq;
    match entry.computed_hash() {
        Ok(hash) if hash == entry.hash => {}
        _ => return Err(LineFault::Changed { seq }),
    }
    match encode(&entry, Hash::With) {
        Ok(canonical) if canonical == line => Ok(entry),
        _ => Err(LineFault::NotCanonical { seq }),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn sample() -> Entry {
        let event = Event::new("alice", "registry.push", "team/app:v1", Outcome::Success)
            .source("192.0.2.7:5000")
            .detail("digest", "sha256:ab")
            .detail("a", "first");
        Entry::seal(1, datetime!(2025-03-04 05:06:07.25 UTC), GENESIS_HASH, event).unwrap()
    }

    #[test]
    fn the_line_has_a_fixed_field_order_and_round_trips() {
        let entry = sample();
        let line = entry.line().unwrap();
        let text = std::str::from_utf8(&line).unwrap();
        assert!(text.starts_with(
            r#"{"seq":1,"time":"2025-03-04T05:06:07.25Z","actor":"alice","action":"registry.push","target":"team/app:v1","outcome":"success","source":"192.0.2.7:5000","detail":{"a":"first","digest":"sha256:ab"},"prev":"0000"#
        ), "{text}");
        assert!(text.ends_with(&format!("\",\"hash\":\"{}\"}}\n", entry.hash)), "{text}");
        assert_eq!(serde_json::to_vec(&entry).unwrap(), line[..line.len() - 1]);
        assert_eq!(parse_line(&line[..line.len() - 1]).unwrap(), entry);
    }

    #[test]
    fn the_hash_is_domain_separated_sha256_of_the_line_without_hash() {
        let entry = sample();
        let mut input = b"palisade-audit-v1\n".to_vec();
        input.extend(encode(&entry, Hash::Without).unwrap());
        assert!(!String::from_utf8_lossy(&input).contains("\"hash\""));
        assert_eq!(entry.hash, hex::encode(Sha256::digest(&input)));
    }

    #[test]
    fn changed_content_and_non_canonical_bytes_are_told_apart() {
        let entry = sample();
        let line = String::from_utf8(encode(&entry, Hash::With).unwrap()).unwrap();
        let changed = line.replace("team/app", "team/apq");
        assert_eq!(parse_line(changed.as_bytes()), Err(LineFault::Changed { seq: 1 }));
        let respelled = line.replace("\"alice\"", "\"\\u0061lice\"");
        assert_eq!(parse_line(respelled.as_bytes()), Err(LineFault::NotCanonical { seq: 1 }));
        let spaced = line.replacen(',', ", ", 1);
        assert_eq!(parse_line(spaced.as_bytes()), Err(LineFault::NotCanonical { seq: 1 }));
        assert_eq!(parse_line(b"{\"seq\":1"), Err(LineFault::NotJson));
        let extra = line.replacen('{', "{\"x\":1,", 1);
        assert_eq!(parse_line(extra.as_bytes()), Err(LineFault::NotJson));
    }
}
