//! Typed access to the replicated store: records in, records out, JSON in between.

use std::sync::Arc;

use palisade_store::{Check, Op, ReplicatedStore, Table, WriteBatch};
use serde::de::DeserializeOwned;
use serde::Serialize;
use zeroize::Zeroizing;

use super::cluster::CLUSTER_KEY;
use super::ClusterObject;
use crate::error::{Error, Result};

/// A record type and where it lives.
pub(crate) trait Object: Serialize + DeserializeOwned {
    /// Its table.
    const TABLE: Table;
    /// What errors call it (`node`, `secret`).
    const KIND: &'static str;
    /// Its key in the table.
    fn key(&self) -> String;
}

/// A record with the version it was stored at (the raft index of its last write).
#[derive(Debug, Clone)]
pub(crate) struct Versioned<T> {
    pub(crate) version: u64,
    pub(crate) value: T,
}

/// Reads of this manager's copy of the store. Callers that need the latest state confirm
/// leadership first ([`ReplicatedStore::linearizable`]); these reads never do.
#[derive(Clone)]
pub(crate) struct Records {
    store: Arc<ReplicatedStore>,
}

impl Records {
    pub(crate) fn new(store: Arc<ReplicatedStore>) -> Self {
        Self { store }
    }

    pub(crate) fn store(&self) -> &Arc<ReplicatedStore> {
        &self.store
    }

    pub(crate) fn get<T: Object>(&self, key: &str) -> Result<Option<Versioned<T>>> {
        let Some(record) = self.store.get(T::TABLE, key)? else { return Ok(None) };
        Ok(Some(Versioned { version: record.version, value: decode::<T>(key, &record.value)? }))
    }

    pub(crate) fn list<T: Object>(&self) -> Result<Vec<Versioned<T>>> {
        self.store
            .list(T::TABLE)?
            .into_iter()
            .map(|(key, record)| Ok(Versioned { version: record.version, value: decode::<T>(&key, &record.value)? }))
            .collect()
    }

    /// The cluster object; every initialised store has one.
    pub(crate) fn cluster(&self) -> Result<Versioned<ClusterObject>> {
        self.get::<ClusterObject>(CLUSTER_KEY)?
            .ok_or_else(|| Error::internal("load cluster", "the cluster store has no cluster object"))
    }

    /// Commits `writes` through raft: all of it, or nothing when a check fails.
    pub(crate) async fn commit(&self, writes: WriteSet) -> Result<u64> {
        Ok(self.store.write(writes.batch).await?.index)
    }
}

fn decode<T: Object>(key: &str, json: &[u8]) -> Result<T> {
    serde_json::from_slice(json).map_err(|e| Error::internal(format!("decode {} {key}", T::KIND), e))
}

/// A set of record writes with the versions they were computed from.
#[derive(Default)]
pub(crate) struct WriteSet {
    batch: WriteBatch,
}

impl WriteSet {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Stores `value`, provided its record is still at `version` (`None`: does not exist yet).
    pub(crate) fn put<T: Object>(mut self, value: &T, version: Option<u64>) -> Result<Self> {
        let key = value.key();
        self.check::<T>(&key, version);
        let mut json = Zeroizing::new(
            serde_json::to_vec(value).map_err(|e| Error::internal(format!("encode {} {key}", T::KIND), e))?,
        );
        // Moved, not copied: the store takes it from here.
        self.batch.ops.push(Op::Put { table: T::TABLE, key, value: std::mem::take(&mut *json) });
        Ok(self)
    }

    /// Deletes the record `key`, provided it is still at `version`.
    pub(crate) fn delete<T: Object>(mut self, key: &str, version: u64) -> Self {
        self.check::<T>(key, Some(version));
        self.batch.ops.push(Op::Delete { table: T::TABLE, key: key.to_owned() });
        self
    }

    fn check<T: Object>(&mut self, key: &str, version: Option<u64>) {
        let check = match version {
            Some(version) => Check::Version { table: T::TABLE, key: key.to_owned(), version },
            None => Check::Absent { table: T::TABLE, key: key.to_owned() },
        };
        self.batch.checks.push(check);
    }
}
