//! The raft log, vote and purge mark in `<dir>/log.redb`, every value sealed.
//!
//! Invariants:
//! - row `log[i]` holds `seal(json(entry i), aad = "log/<i>")`;
//! - `meta["vote"]` and `meta["purged"]` hold `seal(json(..), aad = "vote" | "purged")`;
//! - every write transaction commits with `Durability::Immediate`: when `append` reports an
//!   entry flushed, or `save_vote` returns, it is on disk. One append batch is one transaction
//!   (one fsync), however many entries openraft hands over;
//! - `purged` is written in the same transaction that deletes the purged rows.

use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::Arc;

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
        Ok(Self { inner: Arc::new(Inner { db, cipher }) })
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

    fn entries<RB: RangeBounds<u64>>(&self, range: RB) -> Result<Vec<Entry>> {
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(LOG)?;
        let mut out = Vec::new();
        for row in table.range(range)? {
            let (index, sealed) = row?;
            out.push(self.decode(index.value(), sealed.value())?);
        }
        Ok(out)
    }

    fn decode(&self, index: u64, sealed: &[u8]) -> Result<Entry> {
        let json = self.inner.cipher.open(sealed, log_aad(index).as_bytes())?;
        serde_json::from_slice(&json)
            .map_err(|e| Error::Corrupt(format!("log entry {index}: {}", crate::codec::json_fault(&e))))
    }

    fn last_entry(&self) -> Result<Option<Entry>> {
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(LOG)?;
        let Some((index, sealed)) = table.last()? else {
            return Ok(None);
        };
        self.decode(index.value(), sealed.value()).map(Some)
    }

    fn append_all(&self, entries: impl IntoIterator<Item = Entry>) -> Result<()> {
        let mut txn = self.inner.db.begin_write()?;
        txn.set_durability(Durability::Immediate);
        {
            let mut table = txn.open_table(LOG)?;
            for mut entry in entries {
                let index = entry.log_id.index;
                let json = Zeroizing::new(
                    serde_json::to_vec(&entry).map_err(|e| Error::Corrupt(crate::codec::json_fault(&e)))?,
                );
                if let openraft::EntryPayload::Normal(batch) = &mut entry.payload {
                    batch.zeroize();
                }
                let sealed = self.inner.cipher.seal(&json, log_aad(index).as_bytes())?;
                table.insert(index, sealed.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn remove_from(&self, from: u64) -> Result<()> {
        let mut txn = self.inner.db.begin_write()?;
        txn.set_durability(Durability::Immediate);
        txn.open_table(LOG)?.retain_in(from.., |_, _| false)?;
        txn.commit()?;
        Ok(())
    }

    fn purge_upto(&self, log_id: &LogId) -> Result<()> {
        let json = serde_json::to_vec(log_id).map_err(|e| Error::Corrupt(crate::codec::json_fault(&e)))?;
        let sealed = self.inner.cipher.seal(&json, b"purged")?;
        let mut txn = self.inner.db.begin_write()?;
        txn.set_durability(Durability::Immediate);
        txn.open_table(META)?.insert("purged", sealed.as_slice())?;
        txn.open_table(LOG)?.retain_in(..=log_id.index, |_, _| false)?;
        txn.commit()?;
        Ok(())
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
        // Off the async workers: the commit waits for fsync.
        let entries: Vec<Entry> = entries.into_iter().collect();
        let this = self.clone();
        let appended = tokio::task::spawn_blocking(move || this.append_all(entries))
            .await
            .unwrap_or_else(|e| Err(Error::Database(format!("log append task: {e}"))));
        match appended {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(write_err(e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> std::result::Result<(), StorageError> {
        self.remove_from(log_id.index).map_err(write_err)
    }

    async fn purge(&mut self, log_id: LogId) -> std::result::Result<(), StorageError> {
        self.purge_upto(&log_id).map_err(write_err)
    }
}
