//! Changes that lose a race: another change commits between their reads and their commit.

use std::sync::{Arc, Mutex};

use super::*;
use crate::backend::tests::{cluster_store, redb_file, Shared};
use crate::backend::{ChangeSet, View};
use crate::testing::Cluster;

/// Another change to make just before a commit.
type Meddle = Box<dyn FnMut() + Send>;

/// A backend that runs `meddle` (which changes the model through another `Accounts`) before
/// each commit it is asked for, while it is set.
struct Meddling {
    inner: Arc<dyn Backend>,
    meddle: Mutex<Option<Meddle>>,
    /// How many commits it was asked for.
    commits: Mutex<u32>,
}

impl Backend for Meddling {
    fn view(&self) -> Result<Box<dyn View + '_>> {
        self.inner.view()
    }

    fn commit(&self, change: ChangeSet) -> Result<Commit> {
        *self.commits.lock().unwrap() += 1;
        if let Some(meddle) = self.meddle.lock().unwrap().as_mut() {
            meddle();
        }
        self.inner.commit(change)
    }

    fn catch_up(&self) -> Result<()> {
        self.inner.catch_up()
    }
}

/// `Accounts` on `backend` for the test's own changes, and one whose commits are preceded by
/// whatever the test sets; alice owns acme, with team devs; bob is a user.
fn racing(backend: &Arc<dyn Backend>) -> (Arc<Accounts>, Accounts, Arc<Meddling>) {
    let other = Arc::new(Accounts::with_backend(Box::new(Shared(backend.clone()))));
    other.add_local_user("admin", "alice", "alice-password", false).unwrap();
    other.add_local_user("admin", "bob", "bob-password", false).unwrap();
    other.create_organisation("alice", "acme").unwrap();
    other.create_team("alice", "acme", "devs", None).unwrap();
    let meddling = Arc::new(Meddling { inner: backend.clone(), meddle: Mutex::new(None), commits: Mutex::new(0) });
    let accounts = Accounts::with_backend(Box::new(Shared(meddling.clone())));
    (other, accounts, meddling)
}

/// Sets `meddle` to run once, before the next commit.
fn once(meddling: &Meddling, meddle: impl FnOnce() + Send + 'static) {
    let mut meddle = Some(meddle);
    *meddling.meddle.lock().unwrap() = Some(Box::new(move || {
        if let Some(meddle) = meddle.take() {
            meddle();
        }
    }));
    *meddling.commits.lock().unwrap() = 0;
}

fn races(backend: Arc<dyn Backend>) {
    let (other, a, meddling) = racing(&backend);

    // Both create acme/app; the other gets in first: this one runs again and finds it made.
    let o = other.clone();
    once(&meddling, move || {
        o.create_repository("alice", "acme/app", Visibility::Private).unwrap();
    });
    let lost = a.create_repository("alice", "acme/app", Visibility::Public);
    assert!(matches!(lost, Err(AccountsError::Exists { kind: "repository", .. })), "{lost:?}");
    assert_eq!(*meddling.commits.lock().unwrap(), 1, "the second run refuses without committing");
    assert_eq!(a.repository("acme/app").unwrap().unwrap().visibility, Visibility::Private);

    // bob is added to devs while he is removed: the change runs again and finds no bob.
    let o = other.clone();
    once(&meddling, move || o.remove_user("bob").unwrap());
    let lost = a.add_member("alice", "acme", "devs", "bob");
    assert!(matches!(lost, Err(AccountsError::NotFound { kind: "user", .. })), "{lost:?}");
    assert!(a.teams().unwrap().iter().all(|t| t.members.is_empty()));

    // carol is removed while a new team takes her in: the removal runs again and takes her
    // out of that team too (it listed the teams before the team existed).
    other.add_local_user("admin", "carol", "carol-password", false).unwrap();
    let o = other.clone();
    once(&meddling, move || {
        o.create_team("alice", "acme", "ops", None).unwrap();
        o.add_member("alice", "acme", "ops", "carol").unwrap();
    });
    a.remove_user("carol").unwrap();
    assert_eq!(*meddling.commits.lock().unwrap(), 2);
    assert!(a.teams().unwrap().iter().all(|t| !t.members.contains("carol")));
    assert!(a.user("carol").unwrap().is_none());

    // A grant while its repository's organisation loses the granter as owner: refused on the
    // new state.
    other.add_local_user("admin", "dave", "dave-password", false).unwrap();
    other.add_owner("alice", "acme", "dave").unwrap();
    let o = other.clone();
    once(&meddling, move || {
        let mut acme = o.organisation("acme").unwrap().unwrap();
        acme.owners.remove("dave");
        o.run(|tx| tx.put(&acme)).unwrap();
    });
    let lost = a.grant("dave", "acme", "devs", "acme/app", Level::Read);
    assert!(matches!(lost, Err(AccountsError::Forbidden { .. })), "{lost:?}");
    assert!(a.teams().unwrap().iter().all(|t| t.grants.is_empty()));

    // A change that loses every time gives up, having changed nothing.
    let o = other.clone();
    *meddling.meddle.lock().unwrap() = Some(Box::new(move || o.add_owner("alice", "acme", "alice").unwrap()));
    let lost = a.create_repository("alice", "acme/busy", Visibility::Private);
    assert!(matches!(lost, Err(AccountsError::Contended { attempts: ATTEMPTS })), "{lost:?}");
    assert!(lost.unwrap_err().is_retryable());
    assert!(a.repository("acme/busy").unwrap().is_none());
}

#[test]
fn changes_that_lose_a_race_on_a_redb_file_run_again_on_the_new_state() {
    let dir = tempfile::tempdir().unwrap();
    races(redb_file(&dir));
}

#[test]
fn changes_that_lose_a_race_on_the_cluster_store_run_again_on_the_new_state() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::one(dir.path());
    races(cluster_store(&cluster, 0));
}
