//! The writer: [`AuditLog`] appends entries durably, one at a time, and signs heads.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use p256::ecdsa::{SigningKey, VerifyingKey};
use palisade_pki::{Clock, SystemClock};
use time::OffsetDateTime;

use crate::entry::{parse_line, Entry};
use crate::files::{self, HEADS_FILE, LOG_FILE};
use crate::head::{parse_head, SignedHead};
use crate::lines::{complete_lines, read_tail, Tail};
use crate::verify::{verify_with, CertifiedHeads};
use crate::{keys, AuditError, CertifiedKey, Event, HeadSigner, Result, GENESIS_HASH};

/// A head is signed automatically once this many entries follow the last one: a bound on how
/// many entries at the end of the log could be removed without a trace between two calls of
/// [`AuditLog::sign_head_if_older`].
pub const HEAD_INTERVAL: u64 = 100;

/// An open audit log: the only writer of its directory.
///
/// Invariants, while the log is not poisoned: `log.jsonl` holds exactly the entries
/// `1..=seq`, each line complete and fsynced, the last with hash `hash`; `heads.jsonl`
/// holds complete heads, the last for `signed.0`. Both are kept by appending under the
/// mutex and rolling a failed append back.
///
/// One process, and one `AuditLog`, per directory: the log does not lock its files against
/// other writers. Share it between threads (it is `Sync`) rather than opening it twice.
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    /// The log's own key: signs every head the signer supplies no key for.
    key: SigningKey,
    /// Supplies a certified key (a node's) to sign heads with instead, while there is one.
    signer: Option<Arc<dyn HeadSigner>>,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    log: Appender,
    heads: Appender,
    /// The last entry (0 when the log is empty).
    seq: u64,
    /// Its hash ([`GENESIS_HASH`] when the log is empty).
    hash: String,
    /// The entry the last signed head vouches for, and when it was signed.
    signed: Option<(u64, OffsetDateTime)>,
    /// Set when a failed append could not be rolled back: the file's end is unknown.
    poisoned: bool,
}

/// One append-only file and the length of its acknowledged content.
#[derive(Debug)]
struct Appender {
    file: File,
    path: PathBuf,
    /// Invariant: the file's length, all of it complete lines that were fsynced.
    len: u64,
}

impl Appender {
    /// Appends `line` (ending in `\n`) and fsyncs. On failure, cuts the file back to its
    /// acknowledged length; `Err(.., true)` when even that failed.
    fn append(&mut self, line: &[u8]) -> std::result::Result<(), (AuditError, bool)> {
        debug_assert!(line.ends_with(b"\n"));
        match self.file.write_all(line).and_then(|()| self.file.sync_data()) {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(source) => {
                let rolled_back = self.file.set_len(self.len).and_then(|()| self.file.sync_data()).is_ok();
                Err((AuditError::Io { op: "append to", path: self.path.clone(), source }, !rolled_back))
            }
        }
    }
}

impl AuditLog {
    /// Opens (or creates) the log in `dir` with the system clock; see [`AuditLog::open_with_clock`].
    pub fn open(dir: impl AsRef<Path>, key: Option<SigningKey>) -> Result<Self> {
        Self::open_with_clock(dir, key, Arc::new(SystemClock))
    }

    /// Opens (or creates) the log in `dir`, stamping entries and heads with `clock`.
    ///
    /// - The directory is created 0700 and its files 0600 (wider modes are narrowed).
    /// - The log's own key is `key`, or `head-key.pem`, generated on first open; it must match
    ///   `head-key.pub.pem` when that exists ([`AuditError::KeyMismatch`]). It signs the heads,
    ///   unless a [`HeadSigner`] given with [`AuditLog::with_head_signer`] supplies a key.
    /// - Bytes after the last `\n` of either file are a torn write that was never
    ///   acknowledged: they are cut off, with a warning.
    /// - The last two entries and the last signed head are checked (each on its own, the
    ///   link between the entries, the head's signature with the key it names, and that the
    ///   head is not past the end; whether a head's certificate chains to a trusted root is
    ///   [`verify`](crate::verify)'s business). If they do not hold, the whole log is verified
    ///   and the open fails with [`AuditError::Tampered`] naming the first bad entry: nothing
    ///   is ever appended to a tampered log. To start over, move the directory aside (and keep
    ///   it as evidence).
    ///
    /// Reads only the end of the files; [`verify`](crate::verify) checks the whole log.
    pub fn open_with_clock(dir: impl AsRef<Path>, key: Option<SigningKey>, clock: Arc<dyn Clock>) -> Result<Self> {
        let dir = dir.as_ref().to_owned();
        files::ensure_dir(&dir)?;
        let key = keys::signing_key(&dir, key)?;
        let (mut log, log_created) = open_appender(&dir.join(LOG_FILE))?;
        let (mut heads, heads_created) = open_appender(&dir.join(HEADS_FILE))?;
        if log_created || heads_created {
            files::sync_dir(&dir)?;
        }
        let log_tail = drop_torn_tail(&mut log, 2)?;
        let heads_tail = drop_torn_tail(&mut heads, 1)?;

        let checked = check_tail(&log_tail, &heads_tail, key.verifying_key());
        let Ends { seq, hash, signed } = match checked {
            Ok(found) => found,
            Err(reason) => {
                return Err(match verify_with(&dir, Some(key.verifying_key()), CertifiedHeads::SignatureOnly) {
                    Err(finding) if finding.is_tampering() => AuditError::Tampered { dir, finding: Box::new(finding) },
                    Err(crate::VerifyError::Io { op, path, source }) => AuditError::Io { op, path, source },
                    Err(_) | Ok(_) => AuditError::Inconsistent { dir, reason },
                })
            }
        };
        let state = State { log, heads, seq, hash, signed, poisoned: false };
        Ok(Self { dir, key, signer: None, clock, state: Mutex::new(state) })
    }

    /// Signs heads with the key `signer` supplies, asked at every signing, and with the log's
    /// own key whenever it supplies none. A supplied certificate that is not valid at the
    /// signing time is passed over for the log's key, with a warning: a head signed with it
    /// would never verify.
    #[must_use]
    pub fn with_head_signer(mut self, signer: Arc<dyn HeadSigner>) -> Self {
        self.signer = Some(signer);
        self
    }

    /// [`Self::append`] for callers that record what they did rather than depend on it: a
    /// failure to append is logged, never returned (the action itself already happened).
    pub fn record(&self, event: Event) {
        if let Err(e) = self.append(event) {
            tracing::error!("audit log {}: {e}", self.dir.display());
        }
    }

    /// Appends `event` as the next entry and returns it once it is on disk (written and
    /// fsynced): an acknowledged entry survives a crash. Thread-safe; entries get consecutive
    /// `seq`s in the order the calls take the log's lock.
    ///
    /// Signs a head once [`HEAD_INTERVAL`] entries follow the last one; a failure to sign
    /// is logged, not returned (the entry is already recorded), and retried on the next append.
    pub fn append(&self, event: Event) -> Result<Entry> {
        let mut state = self.lock()?;
        let entry = Entry::seal(state.seq + 1, self.clock.now(), &state.hash, event).map_err(encode)?;
        let line = entry.line().map_err(encode)?;
        append_or_poison(&mut state, &line, |s| &mut s.log)?;
        state.seq = entry.seq;
        state.hash.clone_from(&entry.hash);
        if state.seq - state.signed.map_or(0, |(seq, _)| seq) >= HEAD_INTERVAL {
            if let Err(error) = self.sign_locked(&mut state) {
                tracing::warn!(dir = %self.dir.display(), %error, "could not sign the audit log's head; will retry");
            }
        }
        Ok(entry)
    }

    /// Signs the current head (the last entry and its hash, or entry 0 for an empty log) and
    /// appends it to `heads.jsonl`, durably.
    pub fn sign_head(&self) -> Result<SignedHead> {
        let mut state = self.lock()?;
        self.sign_locked(&mut state)
    }

    /// Signs the head when entries were appended since the last signed head and that head is
    /// at least `max_age` old (or there is none): for a caller's timer, so the unsigned end of
    /// the log stays short in time as well as in count. `None` when nothing was signed.
    pub fn sign_head_if_older(&self, max_age: Duration) -> Result<Option<SignedHead>> {
        let mut state = self.lock()?;
        let due = match state.signed {
            _ if state.seq == 0 => false,
            None => true,
            Some((seq, time)) => seq < state.seq && self.clock.now() - time >= max_age,
        };
        if due {
            self.sign_locked(&mut state).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The entries appended at or after `since` (all when `None`), oldest first. See
    /// [`read_entries`].
    pub fn entries(&self, since: Option<OffsetDateTime>) -> Result<Vec<Entry>> {
        // Hold the lock so no append is half-written while reading.
        let _state = self.lock()?;
        read_entries(&self.dir, since)
    }

    /// The last entry's `seq` (0 for an empty log).
    pub fn last_seq(&self) -> u64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).seq
    }

    /// The directory the log owns.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log's own public key, which heads without a certificate are checked with.
    pub fn verifying_key(&self) -> &VerifyingKey {
        self.key.verifying_key()
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        // No code panics while holding the lock, and the state is only changed after the
        // files are, so a poisoned mutex still guards a consistent state.
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.poisoned {
            return Err(AuditError::Poisoned { dir: self.dir.clone() });
        }
        Ok(state)
    }

    fn sign_locked(&self, state: &mut State) -> Result<SignedHead> {
        let time = self.clock.now();
        let head = match self.certified_key(time)? {
            Some(certified) => SignedHead::sign(certified.key(), Some(certified.chain().clone()), state.seq, &state.hash, time),
            None => SignedHead::sign(&self.key, None, state.seq, &state.hash, time),
        }
        .map_err(encode)?;
        let line = head.line().map_err(encode)?;
        append_or_poison(state, &line, |s| &mut s.heads)?;
        state.signed = Some((head.seq, head.time));
        Ok(head)
    }

    /// The certified key to sign a head at `time` with, if the signer supplies one valid then.
    fn certified_key(&self, time: OffsetDateTime) -> Result<Option<CertifiedKey>> {
        let Some(signer) = &self.signer else { return Ok(None) };
        let Some(certified) = signer.certified_key()? else { return Ok(None) };
        if !certified.is_valid_at(time) {
            let node = certified.node();
            tracing::warn!(
                dir = %self.dir.display(),
                node = %node.node_id,
                not_before = %node.not_before,
                not_after = %node.not_after,
                "the node certificate is not valid now; signing the audit log's head with the log's own key"
            );
            return Ok(None);
        }
        Ok(Some(certified))
    }
}

/// Appends `line` to the file `which` picks; poisons the log when a failure could not be
/// rolled back.
fn append_or_poison(state: &mut State, line: &[u8], which: impl FnOnce(&mut State) -> &mut Appender) -> Result<()> {
    which(state).append(line).map_err(|(error, poison)| {
        state.poisoned |= poison;
        error
    })
}

/// The entries of the log in `dir` appended at or after `since` (all when `None`), oldest
/// first; for `palisade audit ls`, without opening the log for writing.
///
/// Every complete line must be an entry whose hash matches its content (else
/// [`AuditError::Unreadable`] names the line); the chain and the heads are
/// [`verify`](crate::verify)'s business. An unfinished last line is left out.
pub fn read_entries(dir: &Path, since: Option<OffsetDateTime>) -> Result<Vec<Entry>> {
    let path = dir.join(LOG_FILE);
    let bytes = std::fs::read(&path).map_err(files::io("read", &path))?;
    let (lines, _unfinished) = complete_lines(&bytes);
    let mut entries = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let entry = parse_line(line).map_err(|_| AuditError::Unreadable { path: path.clone(), line: index as u64 + 1 })?;
        if since.is_none_or(|since| entry.time >= since) {
            entries.push(entry);
        }
    }
    Ok(entries)
}

fn open_appender(path: &Path) -> Result<(Appender, bool)> {
    let (file, created) = files::open_append(path)?;
    let len = file.metadata().map_err(files::io("inspect", path))?.len();
    Ok((Appender { file, path: path.to_owned(), len }, created))
}

/// Reads the last `want` lines of the file and cuts off a torn write after them.
fn drop_torn_tail(appender: &mut Appender, want: usize) -> Result<Tail> {
    let tail = read_tail(&appender.file, appender.len, want).map_err(files::io("read", &appender.path))?;
    if tail.complete_len < appender.len {
        tracing::warn!(
            path = %appender.path.display(),
            bytes = appender.len - tail.complete_len,
            "dropping the torn last line of the audit log (an append interrupted before it was acknowledged)"
        );
        appender
            .file
            .set_len(tail.complete_len)
            .and_then(|()| appender.file.sync_data())
            .map_err(files::io("truncate the torn tail of", &appender.path))?;
        appender.len = tail.complete_len;
    }
    Ok(tail)
}

/// The head of the log (last seq, its hash, the last signed head) from the ends of the files,
/// or why they are inconsistent.
fn check_tail(log: &Tail, heads: &Tail, log_key: &VerifyingKey) -> std::result::Result<Ends, &'static str> {
    let entries = log.lines.iter().map(|line| parse_line(line)).collect::<std::result::Result<Vec<_>, _>>().map_err(|_| "an entry at the end of the log is not intact")?;
    match entries.as_slice() {
        [] => {}
        [only] if only.seq != 1 || only.prev != GENESIS_HASH => return Err("the log's only entry is not entry 1"),
        [before, last] if last.seq != before.seq + 1 || last.prev != before.hash => return Err("the log's last two entries do not chain"),
        _ => {}
    }
    let (seq, hash) = entries.last().map_or((0, GENESIS_HASH.to_owned()), |last| (last.seq, last.hash.clone()));
    let signed = match heads.lines.last() {
        None => None,
        Some(line) => {
            let head = parse_head(line).ok_or("the last signed head is not valid")?;
            let certified;
            let key = match &head.certificates {
                Some(chain) => {
                    certified = chain.signer().map_err(|_| "the last signed head's certificate is not a node certificate")?.1;
                    &certified
                }
                None => log_key,
            };
            if !head.is_signed_by(key) {
                return Err("the last signed head's signature does not verify");
            }
            if head.seq > seq {
                return Err("the last signed head is past the end of the log");
            }
            let known = entries.iter().find(|e| e.seq == head.seq).map(|e| e.hash.as_str()).or((head.seq == 0).then_some(GENESIS_HASH));
            if known.is_some_and(|hash| hash != head.hash) {
                return Err("the last signed head does not match its entry");
            }
            Some((head.seq, head.time))
        }
    };
    Ok(Ends { seq, hash, signed })
}

/// What opening learns from the ends of the files.
struct Ends {
    seq: u64,
    hash: String,
    signed: Option<(u64, OffsetDateTime)>,
}

fn encode(source: serde_json::Error) -> AuditError {
    AuditError::Encode { source }
}
