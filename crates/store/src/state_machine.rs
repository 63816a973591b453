//! The replicated state machine in `<dir>/state.redb`, every value sealed.
//!
//! Invariants:
//! - table `sm_<table>` maps `HMAC(row key, table ‖ 0 ‖ key)` to
//!   `seal(json {key, version, value}, aad = "sm/<table>/" ‖ row)`: neither record keys nor
//!   values reach the file in plaintext, and a row cannot be moved to another place unnoticed;
//! - `sm_meta["applied"]` holds `seal(json {last_applied, membership}, aad = "sm/applied")` and is
//!   written in the same transaction as the records it accounts for;
//! - applies are written behind: an apply seals its rows into an in-memory overlay (`dirty`),
//!   which reads consult before the file. At most every [`FLUSH_AFTER`] or [`FLUSH_ROWS`] rows
//!   the overlay moves aside (`flushing`, still read) and a background thread writes it to
//!   `state.redb` in one durable transaction, one flush at a time; a snapshot build flushes
//!   first, and the last handle writes what is left. No fsync and no lock held across one is
//!   on a write's path but the log's.
//!   A killed process or a power cut may roll the state machine back to an earlier flush —
//!   always a prefix of the log, `last_applied` moves with the records — and openraft
//!   re-applies the rest from the log;
//! - the log is purged only up to the current snapshot, which is fsynced before openraft
//!   purges; [`StateMachine::open`] re-installs that snapshot when the state machine is behind
//!   it, and openraft re-applies the rest of the log once the commit index is known;
//! - installing a snapshot commits with `Durability::Immediate`;
//! - `version` of a record is the log index of the entry that put it.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, Snapshot, SnapshotMeta};
use redb::{Durability, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::batch::{Check, ExportedRecord, Op, Outcome, Record, WriteBatch};
use crate::error::{Error, Result};
use crate::keys::DataKey;
use crate::member::Member;
use crate::raft_types::{read_err, write_err, Entry, LogId, StorageError, StoredMembership, TypeConfig};
use crate::sealing::{Cipher, RowHasher};
use crate::snapshot::{self, SnapRecord};
use crate::table::Table;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("sm_meta");
const APPLIED_AAD: &[u8] = b"sm/applied";

/// The file table of `table`: `sm_<name>` (see the test below).
fn table_def(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(match table {
        Table::Cluster => "sm_cluster",
        Table::Nodes => "sm_nodes",
        Table::Secrets => "sm_secrets",
        Table::Configs => "sm_configs",
        Table::Services => "sm_services",
        Table::Tasks => "sm_tasks",
        Table::Networks => "sm_networks",
        Table::Policies => "sm_policies",
        Table::PolicyLog => "sm_policy_log",
        Table::AccountUsers => "sm_account_users",
        Table::AccountOrganisations => "sm_account_organisations",
        Table::AccountTeams => "sm_account_teams",
        Table::AccountRepositories => "sm_account_repositories",
    })
}

/// Opens (or creates) a redb file, telling "in use" apart from other failures.
pub(crate) fn open_db(path: &Path) -> Result<redb::Database> {
    redb::Database::create(path).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => Error::InUse(path.to_owned()),
        other => other.into(),
    })
}

#[derive(Clone, Serialize, Deserialize, Default)]
struct AppliedState {
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

#[derive(Serialize, Deserialize)]
struct StoredRow {
    key: String,
    version: u64,
    #[serde(with = "crate::codec::b64")]
    value: Vec<u8>,
}

impl Drop for StoredRow {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

/// The state machine (openraft `RaftStateMachine`); clones share the database and read it
/// concurrently with raft's writes.
#[derive(Clone)]
pub struct StateMachine {
    inner: Arc<Inner>,
}

/// Applied rows wait in memory at most this long before they are written to the file...
const FLUSH_AFTER: std::time::Duration = std::time::Duration::from_millis(200);
/// ...or until there are this many.
const FLUSH_ROWS: usize = 4096;

/// Rows applied but not yet written to the file.
type Rows = BTreeMap<(Table, Vec<u8>), Option<Vec<u8>>>;

#[derive(Default)]
struct Dirty {
    /// `(table, row)` → the sealed row, or `None` for a deletion.
    rows: Rows,
    /// Rows being written by a flush: older than `rows`, newer than the file.
    flushing: Arc<Rows>,
    /// The applied state the rows bring, when there are any.
    applied: Option<AppliedState>,
    since: Option<std::time::Instant>,
}

struct Inner {
    db: redb::Database,
    dirty: Mutex<Dirty>,
    /// Held for a whole flush (and a snapshot install): one writer of the file at a time.
    flush_lock: Mutex<()>,
    /// A background flush is queued or running.
    flush_running: std::sync::atomic::AtomicBool,
    /// Per table (in [`Table::ALL`] order): the log index of the last applied write to it.
    changed: [std::sync::atomic::AtomicU64; Table::ALL.len()],
    cipher: Cipher,
    hasher: RowHasher,
    snapshot_path: PathBuf,
    /// Serializes access to the snapshot file and holds the last log ID it covers, so a slow
    /// build never replaces a newer snapshot (installed or built meanwhile) with an older one.
    snapshot_lock: Mutex<Option<LogId>>,
}

impl std::fmt::Debug for StateMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateMachine")
    }
}

impl StateMachine {
    /// Opens (or creates) the state machine in `dir` (`state.redb`, `snapshot.sealed`).
    pub(crate) fn open(dir: &Path, dek: &DataKey) -> Result<Self> {
        let db = open_db(&dir.join("state.redb"))?;
        let txn = db.begin_write()?;
        txn.open_table(META)?;
        for table in Table::ALL {
            txn.open_table(table_def(table))?;
        }
        txn.commit()?;
        let sm = Self {
            inner: Arc::new(Inner {
                db,
                dirty: Mutex::new(Dirty::default()),
                flush_lock: Mutex::new(()),
                flush_running: std::sync::atomic::AtomicBool::new(false),
                changed: Default::default(),
                cipher: dek.cipher()?,
                hasher: dek.row_hasher()?,
                snapshot_path: dir.join("snapshot.sealed"),
                snapshot_lock: Mutex::new(None),
            }),
        };
        sm.catch_up_with_snapshot()?;
        Ok(sm)
    }

    /// After a power cut the state machine may be behind the snapshot (whose entries may be
    /// purged from the log): re-install the snapshot then.
    fn catch_up_with_snapshot(&self) -> Result<()> {
        let Some((meta, mut data)) = snapshot::load(&self.inner.snapshot_path, &self.inner.cipher)? else {
            return Ok(());
        };
        *self.snapshot_guard()? = meta.last_log_id;
        let result = if meta.last_log_id > self.applied()?.last_applied { self.install(&meta, &data) } else { Ok(()) };
        data.zeroize();
        result
    }

    /// Whether this is the last handle on the database (so dropping it closes the file).
    pub(crate) fn is_last_handle(&self) -> bool {
        Arc::strong_count(&self.inner) == 1
    }

    /// The record `key` of `table`.
    pub(crate) fn get(&self, table: Table, key: &str) -> Result<Option<Record>> {
        let row = self.inner.hasher.row(table.name(), key);
        let Some(sealed) = self.sealed_row(table, &row)? else {
            return Ok(None);
        };
        let mut stored = self.open_row(table, &row, &sealed)?;
        Ok(Some(Record { version: stored.version, value: Zeroizing::new(std::mem::take(&mut stored.value)) }))
    }

    /// A sealed row: from the overlay, else from the file.
    fn sealed_row(&self, table: Table, row: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(sealed) = overlay_row(&*self.dirty()?, table, row) {
            return Ok(sealed);
        }
        let txn = self.inner.db.begin_read()?;
        let tbl = txn.open_table(table_def(table))?;
        Ok(tbl.get(row)?.map(|sealed| sealed.value().to_vec()))
    }

    /// See [`crate::ReplicatedStore::changed_at`].
    pub(crate) fn changed_at(&self, table: Table) -> u64 {
        self.inner.changed[slot(table)].load(std::sync::atomic::Ordering::Acquire)
    }

    fn mark_changed(&self, table: Table, index: u64) {
        self.inner.changed[slot(table)].fetch_max(index, std::sync::atomic::Ordering::AcqRel);
    }

    fn dirty(&self) -> Result<std::sync::MutexGuard<'_, Dirty>> {
        self.inner.dirty.lock().map_err(|_| Error::Corrupt("state machine lock poisoned".into()))
    }

    /// Every record of `table`, in key order.
    pub(crate) fn list(&self, table: Table) -> Result<Vec<(String, Record)>> {
        let mut rows: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        {
            // The overlay is read under its lock, after the file: a flush cannot fall between.
            let dirty = self.dirty()?;
            let txn = self.inner.db.begin_read()?;
            let tbl = txn.open_table(table_def(table))?;
            for row in tbl.iter()? {
                let (row, sealed) = row?;
                rows.insert(row.value().to_vec(), sealed.value().to_vec());
            }
            for overlay in [&*dirty.flushing, &dirty.rows] {
                for ((_, row), sealed) in overlay.range((table, Vec::new())..).take_while(|((t, _), _)| *t == table) {
                    match sealed {
                        Some(sealed) => rows.insert(row.clone(), sealed.clone()),
                        None => rows.remove(row),
                    };
                }
            }
        }
        let mut out = Vec::new();
        for (row, sealed) in rows {
            let mut stored = self.open_row(table, &row, &sealed)?;
            let record = Record { version: stored.version, value: Zeroizing::new(std::mem::take(&mut stored.value)) };
            out.push((std::mem::take(&mut stored.key), record));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Every record of every table.
    pub(crate) fn export(&self) -> Result<Vec<ExportedRecord>> {
        let mut out = Vec::new();
        for table in Table::ALL {
            for (key, record) in self.list(table)? {
                out.push((table, key, record.value));
            }
        }
        Ok(out)
    }

    /// Whether anything was ever applied.
    pub(crate) fn has_state(&self) -> Result<bool> {
        Ok(self.applied()?.last_applied.is_some())
    }

    fn row_aad(table: Table, row: &[u8]) -> Vec<u8> {
        let mut aad = format!("sm/{}/", table.name()).into_bytes();
        aad.extend_from_slice(row);
        aad
    }

    /// Opens a row and checks that its key hashes to the row it sits in.
    fn open_row(&self, table: Table, row: &[u8], sealed: &[u8]) -> Result<StoredRow> {
        let json = self.inner.cipher.open(sealed, &Self::row_aad(table, row))?;
        let stored: StoredRow = serde_json::from_slice(&json)
            .map_err(|e| Error::Corrupt(format!("{table} record: {}", crate::codec::json_fault(&e))))?;
        if self.inner.hasher.row(table.name(), &stored.key).as_slice() != row {
            return Err(Error::Corrupt(format!("{table} record sits in the wrong row")));
        }
        Ok(stored)
    }

    fn seal_row(&self, table: Table, row: &[u8], stored: &StoredRow) -> Result<Vec<u8>> {
        let json =
            Zeroizing::new(serde_json::to_vec(stored).map_err(|e| Error::Corrupt(crate::codec::json_fault(&e)))?);
        self.inner.cipher.seal(&json, &Self::row_aad(table, row))
    }

    fn applied(&self) -> Result<AppliedState> {
        if let Some(applied) = &self.dirty()?.applied {
            return Ok(applied.clone());
        }
        self.applied_on_file()
    }

    fn applied_on_file(&self) -> Result<AppliedState> {
        self.applied_in(&self.inner.db.begin_read()?)
    }

    /// The applied state as `txn` sees the file.
    fn applied_in(&self, txn: &redb::ReadTransaction) -> Result<AppliedState> {
        let meta = txn.open_table(META)?;
        let Some(sealed) = meta.get("applied")? else {
            return Ok(AppliedState::default());
        };
        let json = self.inner.cipher.open(sealed.value(), APPLIED_AAD)?;
        serde_json::from_slice(&json)
            .map_err(|e| Error::Corrupt(format!("applied state: {}", crate::codec::json_fault(&e))))
    }

    fn put_applied(&self, txn: &redb::WriteTransaction, state: &AppliedState) -> Result<()> {
        self.inner.put_applied(txn, state)
    }

    /// The version of `key` in `table`, the overlay `dirty` included.
    fn version_in(&self, dirty: &Dirty, table: Table, key: &str) -> Result<Option<u64>> {
        let row = self.inner.hasher.row(table.name(), key);
        let sealed = match overlay_row(dirty, table, &row) {
            Some(sealed) => sealed,
            None => {
                let txn = self.inner.db.begin_read()?;
                let tbl = txn.open_table(table_def(table))?;
                let on_file = tbl.get(row.as_slice())?.map(|sealed| sealed.value().to_vec());
                on_file
            }
        };
        sealed.map(|sealed| self.open_row(table, &row, &sealed).map(|stored| stored.version)).transpose()
    }

    /// Applies `batch` as version `version` to the overlay: all checks first, then every op, or
    /// nothing.
    fn apply_batch(&self, dirty: &mut Dirty, batch: &WriteBatch, version: u64) -> Result<Outcome> {
        for check in &batch.checks {
            let (table, key, ok) = match check {
                Check::Absent { table, key } => (table, key, self.version_in(dirty, *table, key)?.is_none()),
                Check::Version { table, key, version } => {
                    (table, key, self.version_in(dirty, *table, key)? == Some(*version))
                }
            };
            if !ok {
                return Ok(Outcome::Conflict { table: *table, key: key.clone() });
            }
        }
        for op in &batch.ops {
            match op {
                Op::Put { table, key, value } => {
                    let row = self.inner.hasher.row(table.name(), key);
                    let stored = StoredRow { key: key.clone(), version, value: value.clone() };
                    let sealed = self.seal_row(*table, &row, &stored)?;
                    dirty.rows.insert((*table, row.to_vec()), Some(sealed));
                    self.mark_changed(*table, version);
                }
                Op::Delete { table, key } => {
                    let row = self.inner.hasher.row(table.name(), key);
                    dirty.rows.insert((*table, row.to_vec()), None);
                    self.mark_changed(*table, version);
                }
            }
        }
        Ok(Outcome::Applied)
    }

    /// Applies entries to the overlay; says whether it is due to be flushed.
    fn apply_all(&self, entries: impl IntoIterator<Item = Entry>) -> Result<(Vec<Vec<Outcome>>, bool)> {
        let mut dirty = self.dirty()?;
        let mut state = match &dirty.applied {
            Some(applied) => applied.clone(),
            None => self.applied_on_file()?,
        };
        let mut out = Vec::new();
        for mut entry in entries {
            state.last_applied = Some(entry.log_id);
            let outcome = match &mut entry.payload {
                EntryPayload::Blank => Vec::new(),
                EntryPayload::Normal(proposal) => {
                    let mut outcomes = Vec::with_capacity(proposal.batches.len());
                    // One version for the whole entry: it is applied under one lock, so no
                    // reader sees the state between two of its writes.
                    for batch in &proposal.batches {
                        outcomes.push(self.apply_batch(&mut dirty, batch, entry.log_id.index)?);
                    }
                    proposal.zeroize();
                    outcomes
                }
                EntryPayload::Membership(membership) => {
                    state.membership = StoredMembership::new(Some(entry.log_id), membership.clone());
                    Vec::new()
                }
            };
            out.push(outcome);
        }
        dirty.applied = Some(state);
        let since = *dirty.since.get_or_insert_with(std::time::Instant::now);
        Ok((out, dirty.rows.len() >= FLUSH_ROWS || since.elapsed() >= FLUSH_AFTER))
    }

    /// Writes the overlay to the file in one durable transaction. Applies go on meanwhile:
    /// the rows being written stay readable in `flushing` until the commit is done.
    fn flush(&self) -> Result<()> {
        let _one = self.inner.flush_lock.lock().map_err(|_| Error::Corrupt("state machine lock poisoned".into()))?;
        let (rows, state) = {
            let mut dirty = self.dirty()?;
            let Some(state) = dirty.applied.clone() else {
                return Ok(());
            };
            dirty.flushing = Arc::new(std::mem::take(&mut dirty.rows));
            dirty.since = None;
            (dirty.flushing.clone(), state)
        };
        let mut txn = self.inner.db.begin_write()?;
        txn.set_durability(Durability::Immediate);
        write_rows(&txn, &rows)?;
        self.put_applied(&txn, &state)?;
        txn.commit()?;
        self.dirty()?.flushing = Arc::default();
        Ok(())
    }

    /// Starts a background flush unless one is queued or running.
    fn flush_in_background(&self) {
        use std::sync::atomic::Ordering;
        if self.inner.flush_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = this.flush() {
                // Nothing is lost: the log still holds every entry since the last flush.
                tracing::warn!("writing the state machine: {e}");
            }
            this.inner.flush_running.store(false, Ordering::Release);
        });
    }

    /// Reads a consistent view of everything and seals it into the snapshot file.
    fn build(&self) -> Result<Snapshot<TypeConfig>> {
        self.flush()?;
        let (state, records) = {
            let txn = self.inner.db.begin_read()?;
            let state = self.applied_in(&txn)?;
            let mut records = Vec::new();
            for table in Table::ALL {
                let tbl = txn.open_table(table_def(table))?;
                for row in tbl.iter()? {
                    let (row, sealed) = row?;
                    let mut stored = self.open_row(table, row.value(), sealed.value())?;
                    records.push(SnapRecord {
                        table,
                        key: std::mem::take(&mut stored.key),
                        version: stored.version,
                        value: std::mem::take(&mut stored.value),
                    });
                }
            }
            (state, records)
        };
        let data = snapshot::encode(&records)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let snapshot_id = match &state.last_applied {
            Some(id) => format!("{}-{}-{}-{nanos:x}", id.leader_id.term, id.leader_id.node_id, id.index),
            None => format!("0-0-0-{nanos:x}"),
        };
        let meta = SnapshotMeta { last_log_id: state.last_applied, last_membership: state.membership, snapshot_id };
        {
            let mut current = self.snapshot_guard()?;
            if meta.last_log_id >= *current {
                snapshot::save(&self.inner.snapshot_path, &self.inner.cipher, &meta, &data)?;
                *current = meta.last_log_id;
            }
        }
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }

    /// Replaces the whole state with `data` (one durable transaction), then keeps the snapshot.
    fn install(&self, meta: &SnapshotMeta<u64, Member>, data: &[u8]) -> Result<()> {
        let records = snapshot::decode(data)?;
        // The snapshot replaces everything, applied-but-unwritten rows included.
        let _one = self.inner.flush_lock.lock().map_err(|_| Error::Corrupt("state machine lock poisoned".into()))?;
        let mut dirty = self.dirty()?;
        *dirty = Dirty::default();
        let mut txn = self.inner.db.begin_write()?;
        txn.set_durability(Durability::Immediate);
        for table in Table::ALL {
            txn.delete_table(table_def(table))?;
            txn.open_table(table_def(table))?;
        }
        for record in &records {
            let row = self.inner.hasher.row(record.table.name(), &record.key);
            let stored = StoredRow { key: record.key.clone(), version: record.version, value: record.value.clone() };
            let sealed = self.seal_row(record.table, &row, &stored)?;
            txn.open_table(table_def(record.table))?.insert(row.as_slice(), sealed.as_slice())?;
        }
        let state = AppliedState { last_applied: meta.last_log_id, membership: meta.last_membership.clone() };
        self.put_applied(&txn, &state)?;
        // Marked before the new rows can be read (readers of the file do not wait for `dirty`),
        // so a reader that sees any of them sees `changed_at` moved.
        let index = meta.last_log_id.map_or(0, |id| id.index);
        Table::ALL.iter().for_each(|table| self.mark_changed(*table, index));
        txn.commit()?;
        drop(dirty);
        let mut current = self.snapshot_guard()?;
        snapshot::save(&self.inner.snapshot_path, &self.inner.cipher, meta, data)?;
        *current = meta.last_log_id;
        Ok(())
    }

    fn snapshot_guard(&self) -> Result<std::sync::MutexGuard<'_, Option<LogId>>> {
        self.inner.snapshot_lock.lock().map_err(|_| Error::Corrupt("snapshot lock poisoned".into()))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> std::result::Result<Snapshot<TypeConfig>, StorageError> {
        self.build().map_err(write_err)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> std::result::Result<(Option<LogId>, StoredMembership), StorageError> {
        let state = self.applied().map_err(read_err)?;
        Ok((state.last_applied, state.membership))
    }

    async fn apply<I>(&mut self, entries: I) -> std::result::Result<Vec<Vec<Outcome>>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        // Sealing rows into memory is quick; the file is written in the background.
        let (outcomes, flush_due) = self.apply_all(entries).map_err(write_err)?;
        if flush_due {
            self.flush_in_background();
        }
        Ok(outcomes)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> std::result::Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, Member>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> std::result::Result<(), StorageError> {
        let mut data = snapshot.into_inner();
        let result = self.install(meta, &data).map_err(write_err);
        data.zeroize();
        result
    }

    async fn get_current_snapshot(&mut self) -> std::result::Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let _guard = self.snapshot_guard().map_err(read_err)?;
        let loaded = snapshot::load(&self.inner.snapshot_path, &self.inner.cipher).map_err(read_err)?;
        Ok(loaded.map(|(meta, data)| Snapshot { meta, snapshot: Box::new(Cursor::new(data)) }))
    }
}

impl Inner {
    fn put_applied(&self, txn: &redb::WriteTransaction, state: &AppliedState) -> Result<()> {
        let json = serde_json::to_vec(state).map_err(|e| Error::Corrupt(crate::codec::json_fault(&e)))?;
        txn.open_table(META)?.insert("applied", self.cipher.seal(&json, APPLIED_AAD)?.as_slice())?;
        Ok(())
    }
}

impl Drop for Inner {
    /// The last handle writes what is still in memory, so a stopped store's file is complete
    /// (`export` reads only the file).
    fn drop(&mut self) {
        let Ok(dirty) = self.dirty.get_mut() else { return };
        let dirty = std::mem::take(dirty);
        let Some(state) = dirty.applied.as_ref() else { return };
        let written = (|| -> Result<()> {
            let mut txn = self.db.begin_write()?;
            txn.set_durability(Durability::Immediate);
            write_rows(&txn, &dirty.flushing)?;
            write_rows(&txn, &dirty.rows)?;
            self.put_applied(&txn, state)?;
            txn.commit()?;
            Ok(())
        })();
        if let Err(e) = written {
            // Nothing is lost: the log still holds every entry past the last flush.
            tracing::warn!("writing the state machine on close: {e}");
        }
    }
}

/// A table's place in [`Table::ALL`].
fn slot(table: Table) -> usize {
    Table::ALL.iter().position(|t| *t == table).unwrap_or(0)
}

/// A row of the overlay: `Some(None)` when deleted there, `None` when the overlay has no word
/// on it (newest first: `rows`, then `flushing`).
fn overlay_row(dirty: &Dirty, table: Table, row: &[u8]) -> Option<Option<Vec<u8>>> {
    let key = (table, row.to_vec());
    dirty.rows.get(&key).or_else(|| dirty.flushing.get(&key)).cloned()
}

/// Puts overlay rows into the file's tables.
fn write_rows(txn: &redb::WriteTransaction, rows: &Rows) -> Result<()> {
    for ((table, row), sealed) in rows {
        let mut tbl = txn.open_table(table_def(*table))?;
        match sealed {
            Some(sealed) => tbl.insert(row.as_slice(), sealed.as_slice())?,
            None => tbl.remove(row.as_slice())?,
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use redb::TableHandle;

    use super::*;

    #[test]
    fn every_table_has_its_own_file_table_named_after_it() {
        for table in Table::ALL {
            assert_eq!(table_def(table).name(), format!("sm_{}", table.name()));
        }
    }
}
