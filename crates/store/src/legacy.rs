//! The single-node store of earlier releases (`<data-root>/store/`), kept to read and migrate
//! old data roots: open, get, list. `write`/`put` remain only until callers move to
//! [`crate::ReplicatedStore`].

use std::path::Path;

use rand::RngCore;
use redb::{ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::Kek;
use crate::sealing::{Cipher, KEY_LEN};
use crate::table::Table;

fn definition(table: Table) -> TableDefinition<'static, &'static str, &'static [u8]> {
    TableDefinition::new(table.name())
}

/// The legacy single-node store: JSON records sealed under its own data key.
pub struct LegacyStore {
    db: redb::Database,
    dek: Cipher,
}

impl std::fmt::Debug for LegacyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LegacyStore")
    }
}

impl LegacyStore {
    /// Opens (or creates) the store in `dir`, unsealing its data key with `kek`.
    pub fn open(dir: &Path, kek: &Kek) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io { op: "create", path: dir.to_owned(), source })?;
        let dek_path = dir.join("dek.sealed");
        let kek_cipher = kek.cipher();
        let dek: Zeroizing<Vec<u8>> = match std::fs::read(&dek_path) {
            Ok(sealed) => kek_cipher.open(&sealed, b"palisade-dek")?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut dek = Zeroizing::new(vec![0u8; KEY_LEN]);
                rand::rngs::OsRng.fill_bytes(&mut dek);
                palisade_pki::write_private_file(&dek_path, &kek_cipher.seal(&dek, b"palisade-dek")?)?;
                dek
            }
            Err(source) => return Err(Error::Io { op: "read", path: dek_path, source }),
        };
        let dek: [u8; KEY_LEN] =
            dek.as_slice().try_into().map_err(|_| Error::Corrupt("data key has the wrong length".into()))?;
        let dek = Zeroizing::new(dek);
        let db = redb::Database::create(dir.join("cluster.redb"))?;
        Ok(Self { db, dek: Cipher::new(&dek) })
    }

    /// The record `key` of `table`.
    pub fn get<T: DeserializeOwned>(&self, table: Table, key: &str) -> Result<Option<T>> {
        let txn = self.db.begin_read()?;
        let tbl = match txn.open_table(definition(table)) {
            Ok(tbl) => tbl,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(value) = tbl.get(key)? else {
            return Ok(None);
        };
        self.decode(table, key, value.value()).map(Some)
    }

    /// Every record of `table`, in key order.
    pub fn list<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<T>> {
        let txn = self.db.begin_read()?;
        let tbl = match txn.open_table(definition(table)) {
            Ok(tbl) => tbl,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for entry in tbl.iter()? {
            let (key, value) = entry?;
            out.push(self.decode(table, key.value(), value.value())?);
        }
        Ok(out)
    }

    /// Applies `writes` atomically: every record is stored (`Some`) or deleted (`None`), or none is.
    pub fn write(&self, writes: &[(Table, &str, Option<&dyn ErasedRecord>)]) -> Result<()> {
        let txn = self.db.begin_write()?;
        for (table, key, value) in writes {
            let mut tbl = txn.open_table(definition(*table))?;
            match value {
                Some(value) => {
                    let json = Zeroizing::new(value.to_json()?);
                    let sealed = self.dek.seal(&json, &aad(*table, key))?;
                    tbl.insert(*key, sealed.as_slice())?;
                }
                None => {
                    tbl.remove(*key)?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Stores one record.
    pub fn put<T: Serialize>(&self, table: Table, key: &str, value: &T) -> Result<()> {
        self.write(&[(table, key, Some(value as &dyn ErasedRecord))])
    }

    fn decode<T: DeserializeOwned>(&self, table: Table, key: &str, sealed: &[u8]) -> Result<T> {
        let json = self.dek.open(sealed, &aad(table, key))?;
        serde_json::from_slice(&json)
            .map_err(|e| Error::Corrupt(format!("{}/{key}: {}", table.name(), crate::codec::json_fault(&e))))
    }
}

/// A record that can be written by [`LegacyStore::write`] (any `Serialize` type).
pub trait ErasedRecord {
    /// The record as JSON.
    fn to_json(&self) -> Result<Vec<u8>>;
}

impl<T: Serialize> ErasedRecord for T {
    fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Corrupt(crate::codec::json_fault(&e)))
    }
}

fn aad(table: Table, key: &str) -> Vec<u8> {
    format!("{}/{key}", table.name()).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let kek = Kek::generate();
        {
            let store = LegacyStore::open(dir.path(), &kek).unwrap();
            store.put(Table::Nodes, "a", &vec!["x".to_owned()]).unwrap();
            store.put(Table::Nodes, "b", &vec!["y".to_owned()]).unwrap();
            store.write(&[(Table::Nodes, "a", None)]).unwrap();
        }
        let store = LegacyStore::open(dir.path(), &kek).unwrap();
        assert_eq!(store.get::<Vec<String>>(Table::Nodes, "a").unwrap(), None);
        assert_eq!(store.list::<Vec<String>>(Table::Nodes).unwrap(), vec![vec!["y".to_owned()]]);
        assert_eq!(store.get::<String>(Table::Cluster, "none").unwrap(), None);
    }

    #[test]
    fn plaintext_never_reaches_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = LegacyStore::open(dir.path(), &Kek::generate()).unwrap();
        store.put(Table::Cluster, "cluster", &"TOP-SECRET-CA-KEY-MATERIAL").unwrap();
        drop(store);
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(!bytes.windows(10).any(|w| w == b"TOP-SECRET"));
        }
    }

    #[test]
    fn a_wrong_key_encryption_key_cannot_open_the_store() {
        let dir = tempfile::tempdir().unwrap();
        LegacyStore::open(dir.path(), &Kek::generate()).unwrap();
        let err = LegacyStore::open(dir.path(), &Kek::generate()).unwrap_err();
        assert!(matches!(err, Error::Crypto(_)), "{err}");
    }
}
