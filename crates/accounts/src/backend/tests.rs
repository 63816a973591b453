//! The contract of a [`Backend`], which every backend runs from one line, and the fixtures
//! other unit tests use to run on each backend.

use std::sync::Arc;

use super::*;
use crate::testing::Cluster;

/// A backend shared by several users (an `Accounts` and the test, say).
pub(crate) struct Shared(pub(crate) Arc<dyn Backend>);

impl Backend for Shared {
    fn view(&self) -> Result<Box<dyn View + '_>> {
        self.0.view()
    }

    fn commit(&self, change: ChangeSet) -> Result<Commit> {
        self.0.commit(change)
    }

    fn catch_up(&self) -> Result<()> {
        self.0.catch_up()
    }
}

/// A redb file in `dir`.
pub(crate) fn redb_file(dir: &tempfile::TempDir) -> Arc<dyn Backend> {
    Arc::new(RedbFile::open(&dir.path().join("accounts.redb")).unwrap())
}

/// Member `i` of `cluster`.
pub(crate) fn cluster_store(cluster: &Cluster, i: usize) -> Arc<dyn Backend> {
    Arc::new(ClusterStore::new(cluster.store(i).clone(), cluster.runtime.handle().clone()))
}

type Write = (Kind, String, Option<Vec<u8>>);

fn put(kind: Kind, key: &str, value: &str) -> Write {
    (kind, key.to_owned(), Some(value.as_bytes().to_vec()))
}

fn delete(kind: Kind, key: &str) -> Write {
    (kind, key.to_owned(), None)
}

fn commit(backend: &dyn Backend, reads: &[(Kind, &str, Option<u64>)], writes: Vec<Write>) -> Commit {
    let reads = reads.iter().map(|(kind, key, version)| (*kind, (*key).to_owned(), *version)).collect();
    backend.commit(ChangeSet { reads, writes }).unwrap()
}

fn get(backend: &dyn Backend, kind: Kind, key: &str) -> Option<Stored> {
    backend.view().unwrap().get(kind, key).unwrap()
}

/// What every backend does.
fn conformance(b: &dyn Backend) {
    use Kind::{Repositories, Teams, Users};

    assert!(get(b, Users, "alice").is_none());
    assert!(b.view().unwrap().list(Users).unwrap().is_empty());

    // A change whose reads hold is made whole.
    let made = commit(b, &[(Users, "alice", None)], vec![put(Users, "alice", "1"), put(Teams, "acme/devs", "t")]);
    assert_eq!(made, Commit::Done);
    let alice = get(b, Users, "alice").unwrap();
    let devs = get(b, Teams, "acme/devs").unwrap();
    assert_eq!((alice.value.as_slice(), devs.value.as_slice()), (b"1".as_slice(), b"t".as_slice()));

    // Writing a record gives it a new version; the others keep theirs.
    assert_eq!(commit(b, &[(Users, "alice", Some(alice.version))], vec![put(Users, "alice", "2")]), Commit::Done);
    let alice2 = get(b, Users, "alice").unwrap();
    assert_eq!(alice2.value, b"2");
    assert_ne!(alice2.version, alice.version);
    assert_eq!(get(b, Teams, "acme/devs"), Some(devs));

    // A read that no longer holds refuses the whole change.
    let stale = commit(b, &[(Users, "alice", Some(alice.version))], vec![put(Users, "alice", "3"), put(Repositories, "acme/app", "r")]);
    assert_eq!(stale, Commit::Conflict);
    let exists = commit(b, &[(Users, "alice", None)], vec![put(Users, "bob", "b")]);
    assert_eq!(exists, Commit::Conflict);
    let missing = commit(b, &[(Users, "carol", Some(alice2.version))], vec![put(Users, "bob", "b")]);
    assert_eq!(missing, Commit::Conflict);
    assert_eq!(get(b, Users, "alice").unwrap().value, b"2");
    assert!(get(b, Repositories, "acme/app").is_none() && get(b, Users, "bob").is_none());

    // A record removed and made again never has a version it had.
    assert_eq!(commit(b, &[(Users, "alice", Some(alice2.version))], vec![delete(Users, "alice")]), Commit::Done);
    assert!(get(b, Users, "alice").is_none());
    assert_eq!(commit(b, &[(Users, "alice", None)], vec![put(Users, "alice", "4")]), Commit::Done);
    let alice4 = get(b, Users, "alice").unwrap();
    assert!(alice4.version != alice.version && alice4.version != alice2.version);

    // Lists are in key order, with the versions `get` gives; deleting nothing is no error.
    assert_eq!(commit(b, &[], vec![put(Users, "bob", "b"), put(Users, "aaron", "a"), delete(Users, "nobody")]), Commit::Done);
    let listed = b.view().unwrap().list(Users).unwrap();
    assert_eq!(listed.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["aaron", "alice", "bob"]);
    for (key, stored) in &listed {
        assert_eq!(get(b, Users, key).as_ref(), Some(stored));
    }
    b.catch_up().unwrap();

    // A view that calls itself consistent read one state, even with a change made meanwhile.
    let mut view = b.view().unwrap();
    let before = view.get(Users, "alice").unwrap();
    assert!(view.consistent().unwrap());
    assert_eq!(commit(b, &[], vec![put(Users, "alice", "5")]), Commit::Done);
    let after = view.get(Users, "alice").unwrap();
    let listed_after = view.list(Users).unwrap();
    if view.consistent().unwrap() {
        assert_eq!(before, after);
        assert_eq!(listed_after.iter().find(|(k, _)| k == "alice").map(|(_, s)| s), before.as_ref());
    }
}

#[test]
fn a_redb_file_keeps_the_backend_contract() {
    let dir = tempfile::tempdir().unwrap();
    conformance(&*redb_file(&dir));
}

#[test]
fn the_cluster_store_keeps_the_backend_contract() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::one(dir.path());
    conformance(&*cluster_store(&cluster, 0));
}

#[test]
fn a_view_of_the_cluster_store_that_saw_a_change_land_is_not_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::one(dir.path());
    let b = cluster_store(&cluster, 0);
    let mut view = b.view().unwrap();
    assert!(view.get(Kind::Teams, "acme/devs").unwrap().is_none());
    assert_eq!(commit(&*b, &[], vec![put(Kind::Users, "alice", "1")]), Commit::Done);
    assert!(view.consistent().unwrap(), "no table it read changed");
    assert!(view.get(Kind::Users, "alice").unwrap().is_some());
    assert!(view.consistent().unwrap(), "its first read of users saw them as they are");
    assert_eq!(commit(&*b, &[], vec![put(Kind::Teams, "acme/devs", "t")]), Commit::Done);
    assert!(!view.consistent().unwrap(), "teams changed after it read them");
}
