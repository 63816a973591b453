//! Metadata storage on redb: every version of every role is kept, crash-safe.
//!
//! ```text
//! tuf        (gun, role, version)   -> exact metadata bytes
//! current    (gun, role)            -> latest version
//! checksums  (gun, role, sha256hex) -> version
//! keys       (gun, role)            -> JSON list of sealed server keys (see keys.rs)
//! changes    id                     -> JSON changefeed record
//! ```
//! A whole update is one write transaction; versions are checked inside it.

use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use redb::{Database, ReadableTable as _, TableDefinition};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

const TUF: TableDefinition<'_, (&str, &str, u64), &[u8]> = TableDefinition::new("tuf");
const CURRENT: TableDefinition<'_, (&str, &str), u64> = TableDefinition::new("current");
const CHECKSUMS: TableDefinition<'_, (&str, &str, &str), u64> = TableDefinition::new("checksums");
const KEYS: TableDefinition<'_, (&str, &str), &[u8]> = TableDefinition::new("keys");
const CHANGES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("changes");

/// A failed redb operation, boxed (redb's error is large).
#[derive(Debug)]
struct DbError(Box<redb::Error>);

macro_rules! db_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for DbError {
            fn from(e: $t) -> Self {
                Self(Box::new(e.into()))
            }
        }
    )*};
}
db_error_from!(redb::Error, redb::DatabaseError, redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError);

/// The crate error for a failed database operation; a full disk is told apart.
fn db_err(DbError(e): DbError) -> Error {
    match &*e {
        redb::Error::Io(io) if matches!(io.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded) => {
            Error::StorageFull(e.to_string())
        }
        _ => Error::Storage(e.to_string()),
    }
}

/// What a commit does to one role.
#[derive(Debug)]
pub(crate) struct RoleWrite {
    pub(crate) role: String,
    pub(crate) version: u64,
    pub(crate) bytes: Vec<u8>,
}

/// Why a commit was refused.
#[derive(Debug)]
pub(crate) enum CommitError {
    /// A role's version is not above the stored one.
    Version,
    /// Storage failed.
    Storage(Error),
}

impl From<Error> for CommitError {
    fn from(e: Error) -> Self {
        Self::Storage(e)
    }
}

/// The redb-backed store.
///
/// After any I/O failure (a full disk, typically) redb refuses every further operation on that
/// handle (`PreviousIo`) until the file is opened again, so the store reopens it — redb then
/// repairs it from the last good commit — instead of failing every request until a restart.
#[derive(Debug)]
pub(crate) struct Store {
    path: PathBuf,
    /// The open database; `None` while reopening it after an I/O failure has not succeeded yet.
    /// Invariant: every transaction ends before the read guard it was begun under is released,
    /// so holding the write guard means no transaction is alive and the file can be reopened.
    db: RwLock<Option<Database>>,
}

/// Creates the tables a new database lacks, so that reads find them.
fn create_tables(db: &Database) -> Result<(), DbError> {
    let tx = db.begin_write()?;
    tx.open_table(TUF)?;
    tx.open_table(CURRENT)?;
    tx.open_table(CHECKSUMS)?;
    tx.open_table(KEYS)?;
    tx.open_table(CHANGES)?;
    tx.commit()?;
    Ok(())
}

fn open_db(path: &Path) -> Result<Database, DbError> {
    let db = Database::create(path)?;
    create_tables(&db)?;
    Ok(db)
}

impl Store {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let db = open_db(path).map_err(db_err)?;
        Ok(Self { path: path.to_owned(), db: RwLock::new(Some(db)) })
    }

    /// Runs `op` on the database. When the database has failed an I/O operation (now or
    /// before), reopens it; `op` runs again only when it had been refused for an earlier
    /// failure (`PreviousIo`), never after it failed itself.
    fn with_db<T>(&self, op: impl Fn(&Database) -> Result<T, DbError>) -> Result<T> {
        let first = {
            let guard = self.db.read().unwrap_or_else(PoisonError::into_inner);
            guard.as_ref().map(&op)
        };
        match first {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) if matches!(*e.0, redb::Error::Io(_)) => {
                if let Err(again) = self.reopen() {
                    tracing::warn!(error = %again, "trust database not reopened yet after an I/O failure");
                }
                Err(db_err(e))
            }
            Some(Err(e)) if !matches!(*e.0, redb::Error::PreviousIo) => Err(db_err(e)),
            Some(Err(_)) | None => {
                self.reopen()?;
                let guard = self.db.read().unwrap_or_else(PoisonError::into_inner);
                match guard.as_ref() {
                    Some(db) => op(db).map_err(db_err),
                    None => Err(Error::Storage("trust database unavailable".into())),
                }
            }
        }
    }

    /// Closes and reopens the database file unless another caller already did.
    fn reopen(&self) -> Result<()> {
        let mut guard = self.db.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(db) = guard.as_ref() {
            // Another request may have reopened it already: a healthy handle is kept.
            if db.begin_write().is_ok() {
                return Ok(());
            }
        }
        // The old handle holds the file lock: drop it before opening again.
        *guard = None;
        let db = open_db(&self.path).map_err(db_err)?;
        tracing::info!(path = %self.path.display(), "trust database reopened after an I/O failure");
        *guard = Some(db);
        Ok(())
    }

    pub(crate) fn current_version(&self, gun: &str, role: &str) -> Result<Option<u64>> {
        self.with_db(|db| {
            let tx = db.begin_read()?;
            let t = tx.open_table(CURRENT)?;
            Ok(t.get((gun, role))?.map(|v| v.value()))
        })
    }

    pub(crate) fn by_version(&self, gun: &str, role: &str, version: u64) -> Result<Option<Vec<u8>>> {
        self.with_db(|db| {
            let tx = db.begin_read()?;
            let t = tx.open_table(TUF)?;
            Ok(t.get((gun, role, version))?.map(|v| v.value().to_vec()))
        })
    }

    pub(crate) fn current(&self, gun: &str, role: &str) -> Result<Option<Vec<u8>>> {
        match self.current_version(gun, role)? {
            Some(v) => self.by_version(gun, role, v),
            None => Ok(None),
        }
    }

    pub(crate) fn by_checksum(&self, gun: &str, role: &str, sha256_hex: &str) -> Result<Option<Vec<u8>>> {
        let version = self.with_db(|db| {
            let tx = db.begin_read()?;
            let t = tx.open_table(CHECKSUMS)?;
            Ok(t.get((gun, role, sha256_hex))?.map(|v| v.value()))
        })?;
        match version {
            Some(v) => self.by_version(gun, role, v),
            None => Ok(None),
        }
    }

    /// Roles of `gun` with their current version.
    pub(crate) fn roles(&self, gun: &str) -> Result<Vec<(String, u64)>> {
        self.with_db(|db| {
            let tx = db.begin_read()?;
            let t = tx.open_table(CURRENT)?;
            let mut out = Vec::new();
            for entry in t.range((gun, "")..)? {
                let (k, v) = entry?;
                let (g, role) = k.value();
                if g != gun {
                    break;
                }
                out.push((role.to_owned(), v.value()));
            }
            Ok(out)
        })
    }

    /// Writes all roles atomically if each version is above the stored one, and appends a
    /// changefeed record built by `change(id)`.
    pub(crate) fn commit(
        &self,
        gun: &str,
        writes: &[RoleWrite],
        change: impl Fn(u64) -> Vec<u8>,
    ) -> Result<(), CommitError> {
        let committed = self.with_db(|db| {
            let tx = db.begin_write()?;
            {
                let mut tuf = tx.open_table(TUF)?;
                let mut current = tx.open_table(CURRENT)?;
                let mut sums = tx.open_table(CHECKSUMS)?;
                for w in writes {
                    let stored = current.get((gun, w.role.as_str()))?.map(|v| v.value());
                    if stored.is_some_and(|s| w.version <= s) {
                        // Dropping the transaction aborts it.
                        return Ok(false);
                    }
                    let hex = hex::encode(Sha256::digest(&w.bytes));
                    tuf.insert((gun, w.role.as_str(), w.version), w.bytes.as_slice())?;
                    current.insert((gun, w.role.as_str()), w.version)?;
                    sums.insert((gun, w.role.as_str(), hex.as_str()), w.version)?;
                }
                append_change(&tx, &change)?;
            }
            tx.commit()?;
            Ok(true)
        })?;
        if committed {
            Ok(())
        } else {
            Err(CommitError::Version)
        }
    }

    /// Deletes every version of every role of `gun` (server keys are kept). Each table is cleared
    /// over the key range of `gun`, so the cost is the number of stored entries, never a
    /// version number a client chose.
    pub(crate) fn delete(&self, gun: &str, change: impl Fn(u64) -> Vec<u8>) -> Result<()> {
        // Every key whose first element is `gun` sorts below `(gun + "\0", …)`: no string lies
        // between `gun` and `gun + "\0"`.
        let after = format!("{gun}\0");
        self.with_db(|db| {
            let tx = db.begin_write()?;
            {
                let mut tuf = tx.open_table(TUF)?;
                tuf.retain_in((gun, "", 0)..(after.as_str(), "", 0), |_, _| false)?;
                let mut current = tx.open_table(CURRENT)?;
                current.retain_in((gun, "")..(after.as_str(), ""), |_, _| false)?;
                let mut sums = tx.open_table(CHECKSUMS)?;
                sums.retain_in((gun, "", "")..(after.as_str(), "", ""), |_, _| false)?;
                append_change(&tx, &change)?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    pub(crate) fn keys(&self, gun: &str, role: &str) -> Result<Option<Vec<u8>>> {
        self.with_db(|db| {
            let tx = db.begin_read()?;
            let t = tx.open_table(KEYS)?;
            Ok(t.get((gun, role))?.map(|v| v.value().to_vec()))
        })
    }

    pub(crate) fn put_keys(&self, gun: &str, role: &str, sealed: &[u8]) -> Result<()> {
        self.with_db(|db| {
            let tx = db.begin_write()?;
            {
                let mut t = tx.open_table(KEYS)?;
                t.insert((gun, role), sealed)?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Up to `want` changefeed records with id in `range` for which `keep` holds, in id order
    /// (or reverse id order); only the records up to the last one returned are read.
    pub(crate) fn changes(
        &self,
        range: std::ops::RangeInclusive<u64>,
        reverse: bool,
        want: usize,
        keep: impl Fn(&[u8]) -> bool,
    ) -> Result<Vec<Vec<u8>>> {
        self.with_db(|db| {
            let tx = db.begin_read()?;
            let t = tx.open_table(CHANGES)?;
            let entries = t.range(range.clone())?;
            let mut out = Vec::new();
            let mut step = |entry: std::result::Result<(redb::AccessGuard<'_, u64>, redb::AccessGuard<'_, &[u8]>), redb::StorageError>| {
                let (_, v) = entry?;
                if keep(v.value()) {
                    out.push(v.value().to_vec());
                }
                Ok::<_, DbError>(out.len() < want)
            };
            if reverse {
                for entry in entries.rev() {
                    if !step(entry)? {
                        break;
                    }
                }
            } else {
                for entry in entries {
                    if !step(entry)? {
                        break;
                    }
                }
            }
            Ok(out)
        })
    }

    pub(crate) fn last_change_id(&self) -> Result<u64> {
        self.with_db(|db| {
            let tx = db.begin_read()?;
            let t = tx.open_table(CHANGES)?;
            let last = t.last()?.map(|(k, _)| k.value()).unwrap_or(0);
            Ok(last)
        })
    }
}

fn append_change(tx: &redb::WriteTransaction, change: &impl Fn(u64) -> Vec<u8>) -> Result<(), DbError> {
    let mut t = tx.open_table(CHANGES)?;
    let next = t.last()?.map(|(k, _)| k.value()).unwrap_or(0) + 1;
    let record = change(next);
    t.insert(next, record.as_slice())?;
    Ok(())
}
