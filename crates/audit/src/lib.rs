//! A tamper-evident audit log for Palisade's security-relevant actions (logins, pushes,
//! deletes, tags, permission changes, trust publishes, swarm joins and leaves, CA rotations,
//! secret creation and removal, policy changes).
//!
//! # How tampering shows
//!
//! Every [`Entry`] carries the hash of the entry before it (`prev`) and its own `hash`,
//! `hex(sha256("palisade-audit-v1\n" || canonical JSON of the entry without hash))`. Every
//! [`HEAD_INTERVAL`] entries, and whenever the caller asks ([`AuditLog::sign_head`],
//! [`AuditLog::sign_head_if_older`] for a timer), the log appends a [`SignedHead`]: the last
//! seq and hash, a time, and an ECDSA P-256 signature — with the key of a swarm node, carrying
//! the node's certificate chain, when the log was given a [`HeadSigner`] that has one (a node's
//! daemon); else with the log's own key. [`verify`] then detects, naming the entry and its
//! line:
//!
//! - a changed byte in an entry: the hash no longer matches the content, or the line is no
//!   longer the canonical encoding (lines are compared byte for byte with it, so even a change
//!   that keeps the meaning, such as a respelled escape, shows);
//! - a removed entry: a gap in `seq`; swapped or reordered entries: a `seq` that comes too
//!   early; a copied entry: a `seq` that comes twice;
//! - a changed entry whose hash was recomputed: the next entry's `prev` no longer matches;
//!   a chain rewritten to the end: the signed heads no longer match it;
//! - entries removed from the end: a signed head vouches for an entry that no longer exists;
//! - a head signed by someone else: its signature does not verify with the log's key, or its
//!   certificate does not chain to the cluster's root CAs ([`Trust::roots`]) as a node
//!   certificate valid at the head's time.
//!
//! What it cannot detect: removal of the entries after the last signed head (bounded by
//! [`HEAD_INTERVAL`] and the caller's signing timer), or a rewrite by someone who holds the
//! signing key (the node's, or the log's), or — for heads signed with the log's own key — who
//! replaces the whole directory, key included. Against those, verify the log's heads with a
//! public key kept elsewhere, and record [`Report::last_hash`] outside the host. A node's heads
//! carry their trust with them: their certificate must chain to a root kept outside the log,
//! and each head keeps the certificate it was signed with, so it verifies after the node's
//! certificate is renewed (give the earlier root too, after a root rotation). Bytes after
//! the last `\n` of `log.jsonl` are an append that never completed, not an entry: `verify`
//! reports their count ([`Report::unfinished_bytes`]; worth a warning when no writer is
//! running) and does not check them, so taking the `\n` off the last entry is, like removing
//! it, caught only by a signed head.
//!
//! # Files
//!
//! ```text
//! <dir>/                    0700
//!   log.jsonl               0600  one entry per line (canonical JSON, see below), fsynced per append
//!   heads.jsonl             0600  one signed head per line (canonical JSON, see SignedHead):
//!                                 {"seq","hash","time","signature"[,"certificates"]}
//!   head-key.pem            0600  the log's own PKCS#8 PEM P-256 private key, generated on first
//!                                 open unless the caller gives the key
//!   head-key.pub.pem        0600  SPKI PEM public key; `verify` uses it by default for heads
//!                                 without certificates
//! ```
//!
//! An entry line is compact JSON with the fields in this order, `detail` sorted by key and the
//! time in RFC 3339 UTC:
//!
//! ```text
//! {"seq":1,"time":"2025-03-04T05:06:07.25Z","actor":"alice","action":"registry.push",
//!  "target":"team/app:v1","outcome":"success","source":"192.0.2.7:51234",
//!  "detail":{"digest":"sha256:…"},"prev":"000…000","hash":"…"}
//! ```
//!
//! A head's signature is the base64 of the 64-byte `r || s` signature over
//! `"palisade-audit-head-v1\n{seq}\n{hash}\n{time}"`; a head signed by a node adds
//! `"certificates"`, the base64 DER of its certificate chain, leaf first ([`SignedHead`]).
//!
//! # Durability
//!
//! [`AuditLog::append`] returns only after the line is written and fsynced (and the
//! directory, when the file was created), so nothing acknowledged is lost. A crash can leave
//! a partial last line, never acknowledged: [`AuditLog::open`] cuts it off with a warning and
//! the chain continues. A complete line that is not intact is tampering, and open refuses
//! the log rather than append after it.
//!
//! # Usage
//!
//! ```no_run
//! use palisade_audit::{action, AuditLog, Event, Outcome};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let log = AuditLog::open("/var/lib/palisade/audit", None)?;
//! log.append(
//!     Event::new("alice", action::REGISTRY_PUSH, "team/app:v1", Outcome::Success)
//!         .source("192.0.2.7:51234")
//!         .detail("digest", "sha256:…"),
//! )?;
//! let report = palisade_audit::verify(log.dir(), &palisade_audit::Trust::default())?;
//! println!("{} entries verified", report.entries);
//! # Ok(()) }
//! ```
//!
//! Events must never carry secret material (see [`Event`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod chain;
mod entry;
mod error;
mod event;
mod files;
mod head;
mod keys;
mod lines;
mod log;
mod signer;
mod verify;

pub use chain::CertificateChain;
pub use entry::{Entry, GENESIS_HASH};
pub use error::{AuditError, Result, VerifyError};
pub use event::{action, Event, Outcome, MAX_DETAIL_KEYS, MAX_FIELD_BYTES};
pub use head::SignedHead;
pub use keys::public_key;
pub use log::{read_entries, AuditLog, HEAD_INTERVAL};
pub use signer::{CertifiedKey, HeadSigner};
pub use verify::{verify, HeadReport, Report, SignedBy, Trust};
