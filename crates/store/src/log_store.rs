//! The raft log, vote and purge mark in `<dir>/log.redb`, every value sealed.
//!
//! Invariants:
//! - row `log[i]` holds `seal(json(entry i), aad = "log/<i>")`;
//! - `meta["vote"]` and `meta["purged"]` hold `seal(json(..), aad = "vote" | "purged")`;
//! - every write transaction commits with `Durability::Immediate`: when `append` reports an
//!   entry flushed, or `save_vote` returns, it is on disk;
//! - appends are group-committed: `append` hands its entries to one writer thread and returns;
//!   the writer puts every append queued meanwhile into one transaction (one fsync), then
//!   reports each flushed. Until then the entries are `pending` and reads see them there;
//! - truncate and purge go through the same writer, in order with the appends before them,
//!   and return once done;
//! - `purged` is written in the same transaction that deletes the purged rows.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, OptionalSend, RaftLogReader, Vote};
use redb::{Durability, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::raft_types::{read_err, write_err, Entry, LogId, StorageError, TypeConfig};
use crate::sealing::Cipher;

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// The raft log storage (openraft `RaftLogStorage`); clones share the database.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: redb::Database,
    cipher: Cipher,
    /// Entries handed to `append` and not yet committed, by index.
    pending: Mutex<BTreeMap<u64, Entry>>,
    /// To the writer thread, which exits once this is dropped.
    jobs: Mutex<mpsc::Sender<Job>>,
}

/// Work for the writer thread, done in the order queued.
enum Job {
    Append { entries: Vec<Entry>, callback: LogFlushed<TypeConfig> },
    Truncate { from: u64, done: tokio::sync::oneshot::Sender<Result<()>> },
    Purge { upto: LogId, done: tokio::sync::oneshot::Sender<Result<()>> },
}

impl Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogStore")
    }
}

impl LogStore {
    /// Opens or creates the log database at `path`.
    pub(crate) fn open(path: &Path, cipher: Cipher) -> Result<Self> {
        let db = crate::state_machine::open_db(path)?;
        let txn = db.begin_write()?;
        txn.open_table(LOG)?;
        txn.open_table(META)?;
        txn.commit()?;
        let (jobs, queue) = mpsc::channel();
        let inner = Arc::new(Inner { db, cipher, pending: Mutex::new(BTreeMap::new()), jobs: Mutex::new(jobs) });
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("raft-log-writer".into())
            .spawn(move || write_jobs(&weak, &queue))
            .map_err(|e| Error::Database(format!("start the log writer: {e}")))?;
        Ok(Self { inner })
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.inner.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn submit(&self, job: Job) -> Result<()> {
        let jobs = self.inner.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.send(job).map_err(|_| Error::Database("the log writer has stopped".into()))
    }

    /// Runs a truncate or purge on the writer, after every append queued before it.
    async fn run_in_order(&self, job: impl FnOnce(tokio::sync::oneshot::Sender<Result<()>>) -> Job) -> Result<()> {
        let (done, finished) = tokio::sync::oneshot::channel();
        self.submit(job(done))?;
        finished.await.unwrap_or_else(|_| Err(Error::Database("the log writer has stopped".into())))
    }

    /// Whether this is the last handle on the database (so dropping it closes the file).
    pub(crate) fn is_last_handle(&self) -> bool {
        Arc::strong_count(&self.inner) == 1
    }

    /// Whether anything (vote, entry, purge mark) was ever stored.
    pub(crate) fn has_state(&self) -> Result<bool> {
        let txn = self.inner.db.begin_read()?;
        Ok(!txn.open_table(LOG)?.is_empty()? || !txn.open_table(META)?.is_empty()?)
    }

    fn read_meta<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(META)?;
        let Some(sealed) = table.get(name)? else {
            return Ok(None);
        };
        let json = self.inner.cipher.open(sealed.value(), name.as_bytes())?;
        serde_json::from_slice(&json)
            .map(Some)
            .map_err(|e| Error::Corrupt(format!("{name}: {}", crate::codec::json_fault(&e))))
    }

    fn write_meta<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        let json = Zeroizing::new(serde_json::to_vec(value).map_err(|e| Error::Corrupt(crate::codec::json_fault(&e)))?);
        let sealed = self.inner.cipher.seal(&json, name.as_bytes())?;
        let mut txn = self.inner.db.begin_write()?;
        txn.set_durability(Durability::Immediate);
        txn.open_table(META)?.insert(name, sealed.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    fn entries<RB: RangeBounds<u64> + Clone>(&self, range: RB) -> Result<Vec<Entry>> {
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(LOG)?;
        let mut out = BTreeMap::new();
        for row in table.range(range.clone())? {
            let (index, sealed) = row?;
            out.insert(index.value(), self.decode(index.value(), sealed.value())?);
        }
        // Entries not committed yet are newer than any row they replace.
        out.extend(self.pending().range(range).map(|(index, entry)| (*index, entry.clone())));
        Ok(out.into_values().collect())
    }

    fn decode(&self, index: u64, sealed: &[u8]) -> Result<Entry> {
        let json = self.inner.cipher.open(sealed, log_aad(index).as_bytes())?;
        serde_json::from_slice(&json)
            .map_err(|e| Error::Corrupt(format!("log entry {index}: {}", crate::codec::json_fault(&e))))
    }

    fn last_entry(&self) -> Result<Option<Entry>> {
        if let Some((_, entry)) = self.pending().last_key_value() {
            return Ok(Some(entry.clone()));
        }
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(LOG)?;
        let Some((index, sealed)) = table.last()? else {
            return Ok(None);
        };
        self.decode(index.value(), sealed.value()).map(Some)
    }
}

impl Inner {
    fn append_all<'a>(&self, entries: impl IntoIterator<Item = &'a mut Entry>) -> Result<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate);
        {
            let mut table = txn.open_table(LOG)?;
            for entry in entries {
                let index = entry.log_id.index;
                let json = Zeroizing::new(
                    serde_json::to_vec(&*entry).map_err(|e| Error::Corrupt(crate::codec::json_fault(&e)))?,
                );
                if let openraft::EntryPayload::Normal(proposal) = &mut entry.payload {
                    proposal.zeroize();
                }
                let sealed = self.cipher.seal(&json, log_aad(index).as_bytes())?;
                table.insert(index, sealed.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn remove_from(&self, from: u64) -> Result<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate);
        txn.open_table(LOG)?.retain_in(from.., |_, _| false)?;
        txn.commit()?;
        Ok(())
    }

    fn purge_upto(&self, log_id: &LogId) -> Result<()> {
        let json = serde_json::to_vec(log_id).map_err(|e| Error::Corrupt(crate::codec::json_fault(&e)))?;
        let sealed = self.cipher.seal(&json, b"purged")?;
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate);
        txn.open_table(META)?.insert("purged", sealed.as_slice())?;
        txn.open_table(LOG)?.retain_in(..=log_id.index, |_, _| false)?;
        txn.commit()?;
        Ok(())
    }
}

/// The writer thread: runs jobs in order, every run of consecutive appends as one transaction.
/// Ends when the store is dropped.
fn write_jobs(inner: &Weak<Inner>, queue: &mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let Some(inner) = inner.upgrade() else { return };
        let mut appends: Vec<(Vec<Entry>, LogFlushed<TypeConfig>)> = Vec::new();
        for job in std::iter::once(first).chain(queue.try_iter()) {
            match job {
                Job::Append { entries, callback } => appends.push((entries, callback)),
                Job::Truncate { from, done } => {
                    commit_appends(&inner, &mut appends);
                    let _ = done.send(inner.remove_from(from));
                }
                Job::Purge { upto, done } => {
                    commit_appends(&inner, &mut appends);
                    let _ = done.send(inner.purge_upto(&upto));
                }
            }
        }
        commit_appends(&inner, &mut appends);
    }
}

/// Commits queued appends in one transaction, then reports each.
fn commit_appends(inner: &Inner, appends: &mut Vec<(Vec<Entry>, LogFlushed<TypeConfig>)>) {
    if appends.is_empty() {
        return;
    }
    let written: Vec<LogId> = appends.iter().flat_map(|(entries, _)| entries.iter().map(|e| e.log_id)).collect();
    let result = inner.append_all(appends.iter_mut().flat_map(|(entries, _)| entries.iter_mut()));
    if result.is_ok() {
        // What was truncated meanwhile, or replaced by a later append, stays as it is.
        let mut pending = inner.pending.lock().unwrap_or_else(|e| e.into_inner());
        for log_id in &written {
            if pending.get(&log_id.index).is_some_and(|e| e.log_id == *log_id) {
                pending.remove(&log_id.index);
            }
        }
    }
    for (_, callback) in appends.drain(..) {
        callback.log_io_completed(result.as_ref().map(|_| ()).map_err(|e| std::io::Error::other(e.to_string())));
    }
}

fn log_aad(index: u64) -> String {
    format!("log/{index}")
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> std::result::Result<Vec<Entry>, StorageError> {
        self.entries(range).map_err(read_err)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> std::result::Result<LogState<TypeConfig>, StorageError> {
        let purged: Option<LogId> = self.read_meta("purged").map_err(read_err)?;
        let last = self.last_entry().map_err(read_err)?.map(|e| e.log_id).or(purged);
        Ok(LogState { last_purged_log_id: purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> std::result::Result<(), StorageError> {
        self.write_meta("vote", vote).map_err(write_err)
    }

    async fn read_vote(&mut self) -> std::result::Result<Option<Vote<u64>>, StorageError> {
        self.read_meta("vote").map_err(read_err)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> std::result::Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        self.pending().extend(entries.iter().map(|e| (e.log_id.index, e.clone())));
        // The writer thread commits it (with whatever else is queued) and calls back.
        self.submit(Job::Append { entries, callback }).map_err(write_err)
    }

    async fn truncate(&mut self, log_id: LogId) -> std::result::Result<(), StorageError> {
        self.pending().retain(|index, _| *index < log_id.index);
        self.run_in_order(|done| Job::Truncate { from: log_id.index, done }).await.map_err(write_err)
    }

    async fn purge(&mut self, log_id: LogId) -> std::result::Result<(), StorageError> {
        self.run_in_order(|done| Job::Purge { upto: log_id, done }).await.map_err(write_err)
    }
}
