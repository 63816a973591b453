//! The access model in the replicated cluster store: tables `account_users`,
//! `account_organisations`, `account_teams` and `account_repositories`, sealed at rest like
//! every record there; a record's version is the raft log index of its last write.
//!
//! Reads are of this member's copy (see the crate docs for what that means for decisions).
//! A commit is one [`WriteBatch`] whose checks are the change's reads (`Check::Version`, or
//! `Check::Absent` for a record read as missing), committed through the raft leader from
//! whichever manager makes it ([`ReplicatedStore::write_via_leader`]): a change that raced
//! another on any manager fails its checks and changes nothing.
//!
//! The store's calls are async; this backend blocks on them with the runtime handle it was
//! given, so its methods must be called from blocking threads (`spawn_blocking`, or threads
//! of one's own), never from async tasks.

use std::collections::BTreeMap;
use std::sync::Arc;

use palisade_store::{Check, Op, ReplicatedStore, Table, WriteBatch, WriteError};

use super::{Backend, ChangeSet, Commit, Kind, Stored, View};
use crate::error::{AccountsError, Result};

fn table(kind: Kind) -> Table {
    match kind {
        Kind::Users => Table::AccountUsers,
        Kind::Organisations => Table::AccountOrganisations,
        Kind::Teams => Table::AccountTeams,
        Kind::Repositories => Table::AccountRepositories,
    }
}

/// The model in a member's [`ReplicatedStore`].
pub(crate) struct ClusterStore {
    store: Arc<ReplicatedStore>,
    runtime: tokio::runtime::Handle,
}

impl ClusterStore {
    /// The model in `store`, whose async calls are run on `runtime`.
    pub(crate) fn new(store: Arc<ReplicatedStore>, runtime: tokio::runtime::Handle) -> Self {
        Self { store, runtime }
    }
}

/// Reads of the local state machine. Each kind's first read notes when the store last applied
/// a change to its table ([`ReplicatedStore::changed_at`]); the reads are of one state as long
/// as none of those moved.
struct LocalReads<'a> {
    store: &'a ReplicatedStore,
    /// Kind → the table's `changed_at` before its first read.
    seen: BTreeMap<Kind, u64>,
}

impl LocalReads<'_> {
    fn note(&mut self, kind: Kind) -> Result<()> {
        if !self.seen.contains_key(&kind) {
            self.seen.insert(kind, self.store.changed_at(table(kind))?);
        }
        Ok(())
    }
}

impl View for LocalReads<'_> {
    fn get(&mut self, kind: Kind, key: &str) -> Result<Option<Stored>> {
        self.note(kind)?;
        let record = self.store.get(table(kind), key)?;
        Ok(record.map(|r| Stored { version: r.version, value: r.value.to_vec() }))
    }

    fn list(&mut self, kind: Kind) -> Result<Vec<(String, Stored)>> {
        self.note(kind)?;
        let records = self.store.list(table(kind))?;
        Ok(records.into_iter().map(|(key, r)| (key, Stored { version: r.version, value: r.value.to_vec() })).collect())
    }

    fn consistent(&self) -> Result<bool> {
        // A change is applied to the state machine whole, and marks its tables before any of
        // its rows can be read: a read that saw any of it sees the mark moved.
        for (kind, before) in &self.seen {
            if self.store.changed_at(table(*kind))? != *before {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl Backend for ClusterStore {
    fn view(&self) -> Result<Box<dyn View + '_>> {
        Ok(Box::new(LocalReads { store: &self.store, seen: BTreeMap::new() }))
    }

    fn commit(&self, change: ChangeSet) -> Result<Commit> {
        let checks = change
            .reads
            .into_iter()
            .map(|(kind, key, read)| match read {
                Some(version) => Check::Version { table: table(kind), key, version },
                None => Check::Absent { table: table(kind), key },
            })
            .collect();
        let ops = change
            .writes
            .into_iter()
            .map(|(kind, key, value)| match value {
                Some(value) => Op::Put { table: table(kind), key, value },
                None => Op::Delete { table: table(kind), key },
            })
            .collect();
        match self.runtime.block_on(self.store.write_via_leader(WriteBatch { checks, ops })) {
            Ok(_) => Ok(Commit::Done),
            Err(WriteError::Conflict { .. }) => Ok(Commit::Conflict),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn catch_up(&self) -> Result<()> {
        self.runtime.block_on(self.store.read_barrier()).map_err(unavailable)
    }
}

fn unavailable(e: WriteError) -> AccountsError {
    match e {
        WriteError::Store(e) => AccountsError::Store(e.to_string()),
        other => AccountsError::Unavailable(other.to_string()),
    }
}
