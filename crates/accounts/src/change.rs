//! A read or change of the model in progress ([`Tx`]): typed reads through a backend's view,
//! each remembered with the version it saw, and the writes that will be committed with them.
//!
//! Invariants that make changes on any backend as if they ran one at a time:
//! - every record a change read is in its [`ChangeSet::reads`] with the version it saw, so the
//!   commit fails if any changed, appeared or went meanwhile;
//! - listing a table also reads its *generation*, a blank record under the key `""` (no record
//!   has an empty key: names are never empty) that every change adding or removing a record
//!   of the table rewrites, so a record added or removed meanwhile fails the commit too;
//! - a change sees its own writes.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::backend::{ChangeSet, Kind, View};
use crate::error::{AccountsError, Result};
use crate::model::{Organisation, Repository, Team, User};

/// The key of a table's generation record.
const GENERATION: &str = "";
/// The generation record's value: its version is what counts.
const GENERATION_VALUE: &[u8] = b"null";

/// A record of the model and where it is kept.
pub(crate) trait Record: Serialize + DeserializeOwned {
    /// Its table.
    const KIND: Kind;
    /// Its key (never empty).
    fn key(&self) -> String;
}

impl Record for User {
    const KIND: Kind = Kind::Users;
    fn key(&self) -> String {
        self.name.clone()
    }
}

impl Record for Organisation {
    const KIND: Kind = Kind::Organisations;
    fn key(&self) -> String {
        self.name.clone()
    }
}

impl Record for Team {
    const KIND: Kind = Kind::Teams;
    fn key(&self) -> String {
        team_key(&self.organisation, &self.name)
    }
}

impl Record for Repository {
    const KIND: Kind = Kind::Repositories;
    fn key(&self) -> String {
        self.name.clone()
    }
}

/// The key of a team: `organisation/team`.
pub(crate) fn team_key(organisation: &str, team: &str) -> String {
    format!("{organisation}/{team}")
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| AccountsError::Store(format!("a stored record does not parse: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| AccountsError::Store(e.to_string()))
}

/// A read or change of the model in progress.
pub(crate) struct Tx<'a> {
    view: Box<dyn View + 'a>,
    /// Every record read: the version seen first (`None`: absent).
    reads: BTreeMap<(Kind, String), Option<u64>>,
    /// The writes so far: `Some(json)` puts, `None` deletes.
    writes: BTreeMap<(Kind, String), Option<Vec<u8>>>,
}

impl<'a> Tx<'a> {
    pub(crate) fn new(view: Box<dyn View + 'a>) -> Self {
        Self { view, reads: BTreeMap::new(), writes: BTreeMap::new() }
    }

    /// Remembers the version of a read; the first one counts (should a later read of the same
    /// record differ, the record changed since, and the commit's check of the first fails).
    fn note(&mut self, kind: Kind, key: &str, version: Option<u64>) {
        self.reads.entry((kind, key.to_owned())).or_insert(version);
    }

    /// The record `key`, as this change left it or as stored.
    pub(crate) fn get<T: Record>(&mut self, key: &str) -> Result<Option<T>> {
        if key == GENERATION {
            return Ok(None);
        }
        if let Some(written) = self.writes.get(&(T::KIND, key.to_owned())) {
            return written.as_deref().map(decode).transpose();
        }
        let stored = self.view.get(T::KIND, key)?;
        self.note(T::KIND, key, stored.as_ref().map(|s| s.version));
        stored.map(|s| decode(&s.value)).transpose()
    }

    /// Whether the record `key` exists.
    pub(crate) fn exists<T: Record>(&mut self, key: &str) -> Result<bool> {
        Ok(self.get::<T>(key)?.is_some())
    }

    /// Every record of the table, in key order, as this change left them.
    pub(crate) fn all<T: Record>(&mut self) -> Result<Vec<T>> {
        let generation = self.view.get(T::KIND, GENERATION)?;
        self.note(T::KIND, GENERATION, generation.map(|g| g.version));
        let mut out = BTreeMap::new();
        for (key, stored) in self.view.list(T::KIND)? {
            if key != GENERATION {
                self.note(T::KIND, &key, Some(stored.version));
                out.insert(key, decode::<T>(&stored.value)?);
            }
        }
        for ((kind, key), written) in &self.writes {
            if *kind == T::KIND && key != GENERATION {
                match written {
                    Some(json) => out.insert(key.clone(), decode(json)?),
                    None => out.remove(key),
                };
            }
        }
        Ok(out.into_values().collect())
    }

    /// Stores `record` (new or changed).
    pub(crate) fn put<T: Record>(&mut self, record: &T) -> Result<()> {
        self.writes.insert((T::KIND, record.key()), Some(encode(record)?));
        Ok(())
    }

    /// Removes the record `key`.
    pub(crate) fn delete<T: Record>(&mut self, key: &str) {
        self.writes.insert((T::KIND, key.to_owned()), None);
    }

    /// Whether everything read so far belongs to one state of the model.
    pub(crate) fn consistent(&self) -> Result<bool> {
        self.view.consistent()
    }

    /// What to commit, `None` when nothing was written: the writes, the generation of every
    /// table that gains or loses a record, and every read — a written record not read yet is
    /// read now, to know whether it is added, changed or removed.
    pub(crate) fn changes(&mut self) -> Result<Option<ChangeSet>> {
        if self.writes.is_empty() {
            return Ok(None);
        }
        let mut writes = std::mem::take(&mut self.writes);
        for (kind, key) in writes.keys() {
            if !self.reads.contains_key(&(*kind, key.clone())) {
                let version = self.view.get(*kind, key)?.map(|s| s.version);
                self.note(*kind, key, version);
            }
        }
        let mut regenerated = Vec::new();
        for ((kind, key), written) in &writes {
            let existed = self.reads.get(&(*kind, key.clone())).is_some_and(Option::is_some);
            if existed != written.is_some() {
                regenerated.push(*kind);
            }
        }
        for kind in regenerated {
            writes.insert((kind, GENERATION.to_owned()), Some(GENERATION_VALUE.to_vec()));
        }
        Ok(Some(ChangeSet {
            reads: self.reads.iter().map(|((kind, key), version)| (*kind, key.clone(), *version)).collect(),
            writes: writes.into_iter().map(|((kind, key), value)| (kind, key, value)).collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::tests::{cluster_store, redb_file};
    use crate::backend::{Backend, Commit};
    use crate::model::UserSource;
    use crate::testing::Cluster;

    fn user(name: &str) -> User {
        User { name: name.into(), source: UserSource::Local { password_hash: "$2b$x".into() }, email: None, admin: false }
    }

    fn org(name: &str) -> Organisation {
        Organisation { name: name.into(), owners: Default::default() }
    }

    fn commit(b: &dyn Backend, mut tx: Tx<'_>) -> Commit {
        b.commit(tx.changes().unwrap().unwrap()).unwrap()
    }

    /// A change that listed a table conflicts with one that added or removed a record of it
    /// meanwhile, not with one that changed another table.
    fn listing(b: &dyn Backend) {
        let mut seed = Tx::new(b.view().unwrap());
        seed.put(&user("alice")).unwrap();
        seed.put(&org("acme")).unwrap();
        assert_eq!(commit(b, seed), Commit::Done);

        let mut lister = Tx::new(b.view().unwrap());
        assert_eq!(lister.all::<User>().unwrap(), [user("alice")]);
        lister.put(&org("listed")).unwrap();
        let mut adder = Tx::new(b.view().unwrap());
        adder.put(&user("zed")).unwrap();
        assert_eq!(commit(b, adder), Commit::Done);
        assert_eq!(commit(b, lister), Commit::Conflict, "a user was added after the list");

        let mut lister = Tx::new(b.view().unwrap());
        assert_eq!(lister.all::<User>().unwrap().len(), 2);
        lister.put(&org("listed")).unwrap();
        let mut other = Tx::new(b.view().unwrap());
        other.put(&Organisation { name: "acme".into(), owners: ["alice".into()].into() }).unwrap();
        assert_eq!(commit(b, other), Commit::Done);
        assert_eq!(commit(b, lister), Commit::Done, "only organisations changed");

        let mut lister = Tx::new(b.view().unwrap());
        lister.all::<User>().unwrap();
        lister.put(&org("again")).unwrap();
        let mut remover = Tx::new(b.view().unwrap());
        remover.delete::<User>("zed");
        assert_eq!(commit(b, remover), Commit::Done);
        assert_eq!(commit(b, lister), Commit::Conflict, "a user was removed after the list");

        // A change sees its own writes, and the generation is never a record.
        let mut tx = Tx::new(b.view().unwrap());
        tx.put(&user("bob")).unwrap();
        assert_eq!(tx.get::<User>("bob").unwrap(), Some(user("bob")));
        assert_eq!(tx.all::<User>().unwrap(), [user("alice"), user("bob")]);
        tx.delete::<User>("alice");
        assert_eq!(tx.all::<User>().unwrap(), [user("bob")]);
        assert_eq!(tx.get::<User>("").unwrap(), None);
        assert!(Tx::new(b.view().unwrap()).changes().unwrap().is_none(), "nothing written, nothing to commit");
    }

    #[test]
    fn listing_a_redb_file_conflicts_with_added_and_removed_records() {
        let dir = tempfile::tempdir().unwrap();
        listing(&*redb_file(&dir));
    }

    #[test]
    fn listing_the_cluster_store_conflicts_with_added_and_removed_records() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = Cluster::one(dir.path());
        listing(&*cluster_store(&cluster, 0));
    }
}
