//! The access model in a redb file of its own.
//!
//! ```text
//! accounts.redb       0600
//!   users, organisations, teams, repositories:  key -> record JSON
//!   versions:  (kind, key) -> version of the record; none for records written before
//!              versions were kept (version 0)
//!   meta:      "revision" -> commits so far; a commit gives what it writes revision + 1
//! ```
//!
//! A view is one read transaction (a snapshot, so always consistent); a commit is one write
//! transaction that checks the versions read before it writes. Versions only grow, so a
//! record removed and made again never has the version it had.

use std::path::Path;

use redb::{Database, ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use super::{Backend, ChangeSet, Commit, Kind, Stored, View};
use crate::error::{AccountsError, Result};

const VERSIONS: TableDefinition<(&str, &str), u64> = TableDefinition::new("versions");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const REVISION: &str = "revision";

fn records(kind: Kind) -> TableDefinition<'static, &'static str, &'static [u8]> {
    TableDefinition::new(kind.name())
}

/// A redb file holding the model.
pub(crate) struct RedbFile {
    db: Database,
}

impl RedbFile {
    /// Opens (or creates) the file at `path`, mode 0600.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| AccountsError::Store(format!("creating {}: {e}", dir.display())))?;
        }
        let db = Database::create(path)?;
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| AccountsError::Store(format!("{}: {e}", path.display())))?;
        }
        let tx = db.begin_write()?;
        for kind in Kind::ALL {
            tx.open_table(records(kind))?;
        }
        tx.open_table(VERSIONS)?;
        tx.open_table(META)?;
        tx.commit()?;
        Ok(Self { db })
    }
}

/// The version of `key` of `kind` as `versions` has it (0: written before versions were kept).
fn version_in(versions: &impl ReadableTable<(&'static str, &'static str), u64>, kind: Kind, key: &str) -> Result<u64> {
    Ok(versions.get((kind.name(), key))?.map_or(0, |v| v.value()))
}

/// One read transaction.
struct Snapshot(ReadTransaction);

impl View for Snapshot {
    fn get(&mut self, kind: Kind, key: &str) -> Result<Option<Stored>> {
        let Some(value) = self.0.open_table(records(kind))?.get(key)?.map(|v| v.value().to_vec()) else { return Ok(None) };
        let version = version_in(&self.0.open_table(VERSIONS)?, kind, key)?;
        Ok(Some(Stored { version, value }))
    }

    fn list(&mut self, kind: Kind) -> Result<Vec<(String, Stored)>> {
        let versions = self.0.open_table(VERSIONS)?;
        let mut out = Vec::new();
        for row in self.0.open_table(records(kind))?.iter()? {
            let (key, value) = row?;
            let version = version_in(&versions, kind, key.value())?;
            out.push((key.value().to_owned(), Stored { version, value: value.value().to_vec() }));
        }
        Ok(out)
    }

    fn consistent(&self) -> Result<bool> {
        // A read transaction sees one state of the file.
        Ok(true)
    }
}

impl Backend for RedbFile {
    fn view(&self) -> Result<Box<dyn View + '_>> {
        Ok(Box::new(Snapshot(self.db.begin_read()?)))
    }

    fn commit(&self, change: ChangeSet) -> Result<Commit> {
        let tx = self.db.begin_write()?;
        if !reads_hold(&tx, &change)? {
            // Dropped unwritten: nothing changes.
            return Ok(Commit::Conflict);
        }
        let revision = tx.open_table(META)?.get(REVISION)?.map_or(0, |v| v.value()) + 1;
        {
            let mut versions = tx.open_table(VERSIONS)?;
            for (kind, key, value) in &change.writes {
                let mut table = tx.open_table(records(*kind))?;
                match value {
                    Some(json) => {
                        table.insert(key.as_str(), json.as_slice())?;
                        versions.insert((kind.name(), key.as_str()), revision)?;
                    }
                    None => {
                        table.remove(key.as_str())?;
                        versions.remove((kind.name(), key.as_str()))?;
                    }
                }
            }
        }
        tx.open_table(META)?.insert(REVISION, revision)?;
        tx.commit()?;
        Ok(Commit::Done)
    }

    fn catch_up(&self) -> Result<()> {
        // Every commit is in the file before `commit` returns, and views begin after it.
        Ok(())
    }
}

/// Whether every record `change` read is still as it was read.
fn reads_hold(tx: &WriteTransaction, change: &ChangeSet) -> Result<bool> {
    let versions = tx.open_table(VERSIONS)?;
    for (kind, key, read) in &change.reads {
        let exists = tx.open_table(records(*kind))?.get(key.as_str())?.is_some();
        let now = if exists { Some(version_in(&versions, *kind, key)?) } else { None };
        if now != *read {
            return Ok(false);
        }
    }
    Ok(true)
}
