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

use std::path::Path;

use redb::{Database, ReadableTable as _, TableDefinition};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

const TUF: TableDefinition<'_, (&str, &str, u64), &[u8]> = TableDefinition::new("tuf");
const CURRENT: TableDefinition<'_, (&str, &str), u64> = TableDefinition::new("current");
const CHECKSUMS: TableDefinition<'_, (&str, &str, &str), u64> = TableDefinition::new("checksums");
const KEYS: TableDefinition<'_, (&str, &str), &[u8]> = TableDefinition::new("keys");
const CHANGES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("changes");

fn db_err(e: impl std::fmt::Display) -> Error {
    Error::Storage(e.to_string())
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
#[derive(Debug)]
pub(crate) struct Store {
    db: Database,
}

impl Store {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let db = Database::create(path).map_err(db_err)?;
        let tx = db.begin_write().map_err(db_err)?;
        tx.open_table(TUF).map_err(db_err)?;
        tx.open_table(CURRENT).map_err(db_err)?;
        tx.open_table(CHECKSUMS).map_err(db_err)?;
        tx.open_table(KEYS).map_err(db_err)?;
        tx.open_table(CHANGES).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(Self { db })
    }

    pub(crate) fn current_version(&self, gun: &str, role: &str) -> Result<Option<u64>> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(CURRENT).map_err(db_err)?;
        Ok(t.get((gun, role)).map_err(db_err)?.map(|v| v.value()))
    }

    pub(crate) fn by_version(&self, gun: &str, role: &str, version: u64) -> Result<Option<Vec<u8>>> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(TUF).map_err(db_err)?;
        Ok(t.get((gun, role, version)).map_err(db_err)?.map(|v| v.value().to_vec()))
    }

    pub(crate) fn current(&self, gun: &str, role: &str) -> Result<Option<Vec<u8>>> {
        match self.current_version(gun, role)? {
            Some(v) => self.by_version(gun, role, v),
            None => Ok(None),
        }
    }

    pub(crate) fn by_checksum(&self, gun: &str, role: &str, sha256_hex: &str) -> Result<Option<Vec<u8>>> {
        let version = {
            let tx = self.db.begin_read().map_err(db_err)?;
            let t = tx.open_table(CHECKSUMS).map_err(db_err)?;
            t.get((gun, role, sha256_hex)).map_err(db_err)?.map(|v| v.value())
        };
        match version {
            Some(v) => self.by_version(gun, role, v),
            None => Ok(None),
        }
    }

    /// Roles of `gun` with their current version.
    pub(crate) fn roles(&self, gun: &str) -> Result<Vec<(String, u64)>> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(CURRENT).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in t.range((gun, "")..).map_err(db_err)? {
            let (k, v) = entry.map_err(db_err)?;
            let (g, role) = k.value();
            if g != gun {
                break;
            }
            out.push((role.to_owned(), v.value()));
        }
        Ok(out)
    }

    /// Writes all roles atomically if each version is above the stored one, and appends a
    /// changefeed record built by `change(id)`.
    pub(crate) fn commit(
        &self,
        gun: &str,
        writes: &[RoleWrite],
        change: impl FnOnce(u64) -> Vec<u8>,
    ) -> Result<(), CommitError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut tuf = tx.open_table(TUF).map_err(db_err)?;
            let mut current = tx.open_table(CURRENT).map_err(db_err)?;
            let mut sums = tx.open_table(CHECKSUMS).map_err(db_err)?;
            for w in writes {
                let stored = current.get((gun, w.role.as_str())).map_err(db_err)?.map(|v| v.value());
                if stored.is_some_and(|s| w.version <= s) {
                    return Err(CommitError::Version);
                }
                let hex = hex::encode(Sha256::digest(&w.bytes));
                tuf.insert((gun, w.role.as_str(), w.version), w.bytes.as_slice()).map_err(db_err)?;
                current.insert((gun, w.role.as_str()), w.version).map_err(db_err)?;
                sums.insert((gun, w.role.as_str(), hex.as_str()), w.version).map_err(db_err)?;
            }
            append_change(&tx, change)?;
        }
        tx.commit().map_err(db_err)?;
        Ok(())
    }

    /// Deletes every version of every role of `gun` (server keys are kept). Each table is cleared
    /// over the key range of `gun`, so the cost is the number of stored entries, never a
    /// version number a client chose.
    pub(crate) fn delete(&self, gun: &str, change: impl FnOnce(u64) -> Vec<u8>) -> Result<()> {
        // Every key whose first element is `gun` sorts below `(gun + "\0", …)`: no string lies
        // between `gun` and `gun + "\0"`.
        let after = format!("{gun}\0");
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut tuf = tx.open_table(TUF).map_err(db_err)?;
            tuf.retain_in((gun, "", 0)..(after.as_str(), "", 0), |_, _| false).map_err(db_err)?;
            let mut current = tx.open_table(CURRENT).map_err(db_err)?;
            current.retain_in((gun, "")..(after.as_str(), ""), |_, _| false).map_err(db_err)?;
            let mut sums = tx.open_table(CHECKSUMS).map_err(db_err)?;
            sums.retain_in((gun, "", "")..(after.as_str(), "", ""), |_, _| false).map_err(db_err)?;
            append_change(&tx, change)?;
        }
        tx.commit().map_err(db_err)?;
        Ok(())
    }

    pub(crate) fn keys(&self, gun: &str, role: &str) -> Result<Option<Vec<u8>>> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(KEYS).map_err(db_err)?;
        Ok(t.get((gun, role)).map_err(db_err)?.map(|v| v.value().to_vec()))
    }

    pub(crate) fn put_keys(&self, gun: &str, role: &str, sealed: &[u8]) -> Result<()> {
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(KEYS).map_err(db_err)?;
            t.insert((gun, role), sealed).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    /// Visits changefeed records with id in `range`, in id order (or reverse id order), until
    /// `visit` returns `false`; only the records visited are read.
    pub(crate) fn changes(
        &self,
        range: std::ops::RangeInclusive<u64>,
        reverse: bool,
        mut visit: impl FnMut(&[u8]) -> Result<bool>,
    ) -> Result<()> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(CHANGES).map_err(db_err)?;
        let entries = t.range(range).map_err(db_err)?;
        let mut step = |entry: std::result::Result<(redb::AccessGuard<'_, u64>, redb::AccessGuard<'_, &[u8]>), redb::StorageError>| {
            let (_, v) = entry.map_err(db_err)?;
            visit(v.value())
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
        Ok(())
    }

    pub(crate) fn last_change_id(&self) -> Result<u64> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(CHANGES).map_err(db_err)?;
        let last = t.last().map_err(db_err)?.map(|(k, _)| k.value()).unwrap_or(0);
        Ok(last)
    }
}

fn append_change(tx: &redb::WriteTransaction, change: impl FnOnce(u64) -> Vec<u8>) -> Result<()> {
    let mut t = tx.open_table(CHANGES).map_err(db_err)?;
    let next = t.last().map_err(db_err)?.map(|(k, _)| k.value()).unwrap_or(0) + 1;
    let record = change(next);
    t.insert(next, record.as_slice()).map_err(db_err)?;
    Ok(())
}
