#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! The access model on a real three-manager cluster store: a change made on any manager is
//! seen on the others, changes racing on two managers make one winner, a new leader keeps every
//! acknowledged change, and password hashes reach the disk only sealed.

use std::sync::{Arc, Barrier};

use palisade_accounts::testing::Cluster;
use palisade_accounts::{Accounts, AccountsError, Level, Visibility};
use palisade_registry::auth::Action;

fn may(a: &Accounts, user: Option<&str>, repo: &str, action: Action) -> bool {
    a.allows(user, &repo.parse().unwrap(), action).unwrap()
}

/// Runs `left` and `right` at once, on threads of their own.
fn race<L, R, A, B>(left: L, right: R) -> (A, B)
where
    L: FnOnce() -> A + Send + 'static,
    R: FnOnce() -> B + Send + 'static,
    A: Send + 'static,
    B: Send + 'static,
{
    let start = Arc::new(Barrier::new(2));
    let other = start.clone();
    let left = std::thread::spawn(move || {
        start.wait();
        left()
    });
    let right = std::thread::spawn(move || {
        other.wait();
        right()
    });
    (left.join().unwrap(), right.join().unwrap())
}

#[test]
fn a_change_made_on_any_manager_is_seen_on_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::three(dir.path());
    let (leader, follower, other) = (cluster.accounts(0), cluster.accounts(1), cluster.accounts(2));

    // Made on a follower (committed through the leader): seen there at once, elsewhere after
    // catching up.
    follower.add_local_user("admin", "alice", "alice-password", false).unwrap();
    assert!(follower.user("alice").unwrap().is_some());
    other.catch_up().unwrap();
    assert_eq!(other.user("alice").unwrap(), follower.user("alice").unwrap());

    // Made on the leader, decided on a follower.
    leader.create_organisation("alice", "acme").unwrap();
    leader.create_repository("alice", "acme/app", Visibility::Public).unwrap();
    other.catch_up().unwrap();
    assert!(may(&other, None, "acme/app", Action::Pull));
    assert!(!may(&other, None, "acme/app", Action::Push));
    assert!(may(&other, Some("alice"), "acme/app", Action::Delete));

    // A refusal on a follower changes nothing anywhere.
    let refused = other.create_team("mallory", "acme", "mine", None);
    assert!(matches!(refused, Err(AccountsError::Forbidden { .. })), "{refused:?}");
    leader.catch_up().unwrap();
    assert!(leader.teams().unwrap().is_empty());
}

#[test]
fn changes_racing_on_two_managers_make_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::three(dir.path());
    let setup = cluster.accounts(0);
    setup.add_local_user("admin", "alice", "alice-password", false).unwrap();
    setup.create_organisation("alice", "acme").unwrap();
    setup.create_team("alice", "acme", "devs", None).unwrap();
    let (one, two) = (cluster.accounts(1), cluster.accounts(2));

    for round in 0..8 {
        // Both create the same repository: one makes it, the other finds it made.
        let name = format!("acme/app{round}");
        let (a, b) = (one.clone(), two.clone());
        let (n1, n2) = (name.clone(), name.clone());
        let (left, right) = race(
            move || a.create_repository("alice", &n1, Visibility::Private),
            move || b.create_repository("alice", &n2, Visibility::Public),
        );
        let winner = match (&left, &right) {
            (Ok(_), Err(AccountsError::Exists { kind: "repository", .. })) => Visibility::Private,
            (Err(AccountsError::Exists { kind: "repository", .. }), Ok(_)) => Visibility::Public,
            other => panic!("round {round}: expected one winner, got {other:?}"),
        };
        setup.catch_up().unwrap();
        assert_eq!(setup.repository(&name).unwrap().unwrap().visibility, winner);

        // A user joins a team on one manager while being removed on the other: whichever
        // comes second sees the first, so no team is left with a member who does not exist.
        let user = format!("user{round}");
        setup.add_local_user("admin", &user, "user-password", false).unwrap();
        let (a, b) = (one.clone(), two.clone());
        let (u1, u2) = (user.clone(), user.clone());
        let (added, removed) = race(move || a.add_member("alice", "acme", "devs", &u1), move || b.remove_user(&u2));
        removed.unwrap();
        assert!(matches!(added, Ok(()) | Err(AccountsError::NotFound { kind: "user", .. })), "{added:?}");
        setup.catch_up().unwrap();
        assert!(setup.user(&user).unwrap().is_none());
        assert!(setup.teams().unwrap().iter().all(|t| !t.members.contains(&user)), "round {round}: {user} left in a team");

        // Two grants on one team at once: both are kept (the second runs on the first's team).
        let (a, b) = (one.clone(), two.clone());
        let (r1, r2) = (name.clone(), name.clone());
        setup.create_team("alice", "acme", &format!("team{round}"), None).unwrap();
        let team = format!("team{round}");
        let (t1, t2) = (team.clone(), team.clone());
        setup.create_repository("alice", &format!("{r1}-x"), Visibility::Private).unwrap();
        let (left, right) = race(
            move || a.grant("alice", "acme", &t1, &r1, Level::Read),
            move || b.grant("alice", "acme", &t2, &format!("{r2}-x"), Level::Write),
        );
        left.unwrap();
        right.unwrap();
        setup.catch_up().unwrap();
        let grants = setup.teams().unwrap().into_iter().find(|t| t.name == team).unwrap().grants;
        assert_eq!(grants.len(), 2, "round {round}: a grant was lost: {grants:?}");
    }
}

#[test]
fn a_new_leader_keeps_every_acknowledged_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::three(dir.path());
    let (old_leader, follower) = (cluster.accounts(0), cluster.accounts(1));
    follower.add_local_user("admin", "alice", "alice-password", false).unwrap();
    follower.add_local_user("admin", "bob", "bob-password", false).unwrap();
    old_leader.create_organisation("alice", "acme").unwrap();
    old_leader.create_team("alice", "acme", "devs", None).unwrap();
    follower.add_member("alice", "acme", "devs", "bob").unwrap();
    follower.create_repository("alice", "acme/app", Visibility::Private).unwrap();
    old_leader.grant("alice", "acme", "devs", "acme/app", Level::Write).unwrap();

    cluster.stop(0);
    let leader = cluster.leader();
    assert_ne!(leader, 0);
    for i in [1, 2] {
        let accounts = cluster.accounts(i);
        accounts.catch_up().unwrap();
        assert!(may(&accounts, Some("bob"), "acme/app", Action::Push), "member {i}");
        assert!(!may(&accounts, Some("bob"), "acme/app", Action::Delete), "member {i}");
    }
    // And the cluster goes on changing, from either manager.
    let other = cluster.accounts(3 - leader);
    other.revoke("alice", "acme", "devs", "acme/app").unwrap();
    let on_leader = cluster.accounts(leader);
    on_leader.catch_up().unwrap();
    assert!(!may(&on_leader, Some("bob"), "acme/app", Action::Pull));
}

#[test]
fn password_hashes_reach_the_disk_only_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::three(dir.path());
    let accounts = cluster.accounts(1);
    accounts.add_local_user("admin", "alice", "alice-password", false).unwrap();
    let Some(palisade_accounts::User { source: palisade_accounts::UserSource::Local { password_hash }, .. }) = accounts.user("alice").unwrap()
    else {
        panic!("alice is a local user")
    };
    assert!(password_hash.starts_with("$2"), "a bcrypt hash");
    for i in 0..3 {
        cluster.accounts(i).catch_up().unwrap();
    }
    // Stopped, every member has written all it holds.
    cluster.stop_all();

    let mut files = Vec::new();
    let mut dirs = vec![dir.path().to_owned()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert_eq!(files.iter().filter(|f| f.ends_with("state.redb")).count(), 3);
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        for needle in [password_hash.as_bytes(), &password_hash.as_bytes()[7..], b"alice-password".as_slice()] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} holds {:?} in plaintext",
                file.display(),
                String::from_utf8_lossy(needle)
            );
        }
    }
}
