#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! The access model's decisions and its refusals of bad changes, on a real redb file.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use palisade_accounts::{
    AccountCredentials, Accounts, AccountsAuthorizer, AccountsError, DirectoryLogin, DirectoryOutcome, Level, Visibility,
};
use palisade_registry::auth::{Action, Authorizer, Credentials, Identity};

fn open() -> (Arc<Accounts>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("accounts.redb")).unwrap();
    (Arc::new(accounts), dir)
}

fn may(a: &Accounts, user: Option<&str>, repo: &str, action: Action) -> bool {
    a.allows(user, &repo.parse().unwrap(), action).unwrap()
}

/// alice owns organisation acme with team devs (bob) and repository acme/app (private).
fn acme() -> (Arc<Accounts>, tempfile::TempDir) {
    let (a, dir) = open();
    a.add_local_user("admin", "alice", "alice-password", false).unwrap();
    a.add_local_user("admin", "bob", "bob-password", false).unwrap();
    a.create_organisation("alice", "acme").unwrap();
    a.create_team("alice", "acme", "devs", None).unwrap();
    a.add_member("alice", "acme", "devs", "bob").unwrap();
    a.create_repository("alice", "acme/app", Visibility::Private).unwrap();
    (a, dir)
}

#[test]
fn users_own_their_namespace_and_nobody_else_sees_a_private_repository() {
    let (a, _dir) = acme();
    for action in [Action::Pull, Action::Push, Action::Delete] {
        assert!(may(&a, Some("alice"), "alice/tool", action));
        assert!(may(&a, Some("alice"), "acme/app", action), "an owner of acme");
        assert!(!may(&a, Some("bob"), "alice/tool", action));
        assert!(!may(&a, None, "acme/app", action));
    }
    assert!(!may(&a, Some("bob"), "acme/app", Action::Pull), "a team without a grant sees nothing");
    assert!(!may(&a, Some("nobody"), "nobody/x", Action::Push), "an unknown user owns nothing");
}

#[test]
fn team_levels_grant_pull_then_push_then_delete() {
    let (a, _dir) = acme();
    let bob = |action| may(&a, Some("bob"), "acme/app", action);
    a.grant("alice", "acme", "devs", "acme/app", Level::Read).unwrap();
    assert_eq!((bob(Action::Pull), bob(Action::Push), bob(Action::Delete)), (true, false, false));
    a.grant("alice", "acme", "devs", "acme/app", Level::Write).unwrap();
    assert_eq!((bob(Action::Pull), bob(Action::Push), bob(Action::Delete)), (true, true, false));
    a.grant("alice", "acme", "devs", "acme/app", Level::Admin).unwrap();
    assert_eq!((bob(Action::Pull), bob(Action::Push), bob(Action::Delete)), (true, true, true));
    a.remove_member("alice", "acme", "devs", "bob").unwrap();
    assert!(!bob(Action::Pull), "leaving the team takes the access away");
    // Another repository of acme, not granted.
    a.create_repository("alice", "acme/other", Visibility::Private).unwrap();
    assert!(!may(&a, Some("bob"), "acme/other", Action::Pull));
}

#[test]
fn public_repositories_pull_anonymously_and_nothing_more() {
    let (a, _dir) = acme();
    a.set_visibility("alice", "acme/app", Visibility::Public).unwrap();
    assert!(may(&a, None, "acme/app", Action::Pull));
    assert!(!may(&a, None, "acme/app", Action::Push));
    assert!(!may(&a, Some("bob"), "acme/app", Action::Push));
}

#[test]
fn bad_changes_are_refused_and_change_nothing() {
    let (a, _dir) = acme();
    let before = (a.teams().unwrap(), a.repositories().unwrap(), a.organisations().unwrap());
    // A team granting an unknown repository.
    assert!(matches!(a.grant("alice", "acme", "devs", "acme/ghost", Level::Read), Err(AccountsError::NotFound { kind: "repository", .. })));
    // A repository outside the team's organisation.
    a.create_repository("bob", "bob/own", Visibility::Private).unwrap();
    assert!(matches!(a.grant("alice", "acme", "devs", "bob/own", Level::Read), Err(AccountsError::Invalid { .. })));
    // bob does not own acme.
    assert!(matches!(a.create_team("bob", "acme", "mine", None), Err(AccountsError::Forbidden { .. })));
    assert!(matches!(a.add_member("bob", "acme", "devs", "bob"), Err(AccountsError::Forbidden { .. })));
    assert!(matches!(a.set_visibility("bob", "acme/app", Visibility::Public), Err(AccountsError::Forbidden { .. })));
    assert!(matches!(a.create_repository("bob", "acme/new", Visibility::Public), Err(AccountsError::Forbidden { .. })));
    // Names: a namespace is taken once; grammar; levels.
    assert!(matches!(a.create_organisation("alice", "bob"), Err(AccountsError::Exists { kind: "namespace", .. })));
    assert!(matches!(a.add_local_user("admin", "acme", "password1", false), Err(AccountsError::Exists { .. })));
    assert!(matches!(a.add_local_user("admin", "Bad Name", "password1", false), Err(AccountsError::Invalid { .. })));
    assert!(matches!(a.add_local_user("admin", "carol", "short", false), Err(AccountsError::Invalid { what: "password", .. })));
    assert!("owner".parse::<Level>().is_err());
    let after = (a.teams().unwrap(), a.repositories().unwrap().into_iter().filter(|r| r.name != "bob/own").collect(), a.organisations().unwrap());
    assert_eq!(before, after);
    assert!(a.user("carol").unwrap().is_none());
}

#[test]
fn administrators_may_do_everything() {
    let (a, _dir) = acme();
    a.add_local_user("admin", "root", "root-password", true).unwrap();
    assert!(may(&a, Some("root"), "acme/app", Action::Delete));
    a.create_team("root", "acme", "ops", None).unwrap();
}

/// A directory that knows dave (groups as the test sets them) and can be switched off.
struct FakeDirectory {
    groups: Mutex<BTreeSet<String>>,
    up: Mutex<bool>,
}

impl DirectoryLogin for FakeDirectory {
    fn login(&self, user: &str, password: &str) -> DirectoryOutcome {
        if !*self.up.lock().unwrap() {
            return DirectoryOutcome::Unavailable("connection refused".into());
        }
        if user == "dave" && password == "dave-password" {
            DirectoryOutcome::Valid { dn: "uid=dave,ou=people,dc=test".into(), email: None, groups: self.groups.lock().unwrap().clone() }
        } else {
            DirectoryOutcome::Invalid
        }
    }
}

#[test]
fn directory_users_log_in_and_their_groups_decide_team_membership_at_each_login() {
    let (a, _dir) = acme();
    a.create_team("alice", "acme", "ldap-devs", Some("developers")).unwrap();
    a.grant("alice", "acme", "ldap-devs", "acme/app", Level::Write).unwrap();
    let directory = Arc::new(FakeDirectory { groups: Mutex::new(["developers".to_owned()].into()), up: Mutex::new(true) });
    let creds = AccountCredentials::new(Arc::clone(&a), Some(directory.clone() as Arc<dyn DirectoryLogin>)).unwrap();
    let authz = AccountsAuthorizer(Arc::clone(&a));
    let dave = Identity::User("dave".into());

    assert!(!creds.verify("dave", "wrong"));
    assert!(creds.verify("dave", "dave-password"));
    assert!(authz.allows(&dave, "acme/app", Action::Push));
    // A trust GUN of the same repository is judged the same.
    assert!(authz.allows(&dave, "127.0.0.1:5000/acme/app", Action::Push));
    assert!(!authz.allows(&dave, "127.0.0.1:5000/acme/app", Action::Delete));

    // dave leaves the group; the next (uncached) login syncs it away.
    directory.groups.lock().unwrap().clear();
    let fresh = AccountCredentials::new(Arc::clone(&a), Some(directory.clone() as Arc<dyn DirectoryLogin>)).unwrap();
    assert!(fresh.verify("dave", "dave-password"));
    assert!(!authz.allows(&dave, "acme/app", Action::Pull));

    // The directory goes away: directory logins fail, local users still log in.
    *directory.up.lock().unwrap() = false;
    let offline = AccountCredentials::new(Arc::clone(&a), Some(directory as Arc<dyn DirectoryLogin>)).unwrap();
    assert!(!offline.verify("dave", "dave-password"));
    assert!(offline.verify("alice", "alice-password"));
    // A directory login can never take over a local user's name.
    assert!(matches!(a.sync_directory_user("alice", "uid=alice", None, BTreeSet::new()), Err(AccountsError::Exists { .. })));
}

#[test]
fn local_passwords_verify_and_empty_or_unknown_never_do() {
    let (a, dir) = acme();
    let creds = AccountCredentials::new(Arc::clone(&a), None).unwrap();
    assert!(creds.verify("alice", "alice-password"));
    assert!(creds.recently_verified("alice", "alice-password"));
    assert!(!creds.verify("alice", "alice-passwor"));
    assert!(!creds.verify("alice", ""));
    assert!(!creds.verify("nobody", "alice-password"));
    a.set_password("bob", "new-bob-password").unwrap();
    assert!(creds.verify("bob", "new-bob-password") && !AccountCredentials::new(Arc::clone(&a), None).unwrap().verify("bob", "bob-password"));
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(dir.path().join("accounts.redb")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Stored hashes are bcrypt, never the password.
    let bytes = std::fs::read(dir.path().join("accounts.redb")).unwrap();
    assert!(!bytes.windows(b"alice-password".len()).any(|w| w == b"alice-password"));
}

#[test]
fn removing_a_user_removes_its_memberships() {
    let (a, _dir) = acme();
    a.grant("alice", "acme", "devs", "acme/app", Level::Read).unwrap();
    a.remove_user("bob").unwrap();
    assert!(a.teams().unwrap().iter().all(|t| !t.members.contains("bob")));
    assert!(matches!(a.remove_user("bob"), Err(AccountsError::NotFound { .. })));
}
