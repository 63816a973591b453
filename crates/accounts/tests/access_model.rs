#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! The access model's decisions and its refusals of bad changes: every case runs on both
//! backends, a real redb file (`<case>::redb`) and a real one-member cluster store
//! (`<case>::cluster_store`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use palisade_accounts::testing::Cluster;
use palisade_accounts::{
    AccountCredentials, Accounts, AccountsAuthorizer, AccountsError, DirectoryLogin, DirectoryOutcome, Level, Visibility,
};
use palisade_audit::{AuditLog, Outcome};
use palisade_registry::auth::{Action, Authorizer, Credentials, Identity};

/// The access model on one backend, empty, and where that backend keeps it.
struct Fixture {
    accounts: Arc<Accounts>,
    /// Stopped before `dir` goes.
    cluster: Option<Cluster>,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn redb() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Arc::new(Accounts::open(&dir.path().join("accounts.redb")).unwrap());
        Self { accounts, cluster: None, dir }
    }

    fn cluster_store() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cluster = Cluster::one(&dir.path().join("members"));
        Self { accounts: cluster.accounts(0), cluster: Some(cluster), dir }
    }

    /// Every file the backend keeps data in, once everything it holds is written.
    fn files_at_rest(&mut self) -> Vec<PathBuf> {
        if let Some(cluster) = &mut self.cluster {
            cluster.stop_all();
        }
        let mut files = Vec::new();
        let mut dirs = vec![self.dir.path().to_owned()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        files
    }
}

/// Each case becomes a module with a test per backend.
macro_rules! on_both_backends {
    ($($(#[doc = $doc:literal])* fn $case:ident($f:ident: &mut Fixture) $body:block)*) => {$(
        $(#[doc = $doc])*
        mod $case {
            use super::*;

            fn case($f: &mut Fixture) $body

            #[test]
            fn redb() {
                case(&mut Fixture::redb());
            }

            #[test]
            fn cluster_store() {
                case(&mut Fixture::cluster_store());
            }
        }
    )*};
}

fn may(a: &Accounts, user: Option<&str>, repo: &str, action: Action) -> bool {
    a.allows(user, &repo.parse().unwrap(), action).unwrap()
}

/// alice owns organisation acme with team devs (bob) and repository acme/app (private).
fn acme(f: &Fixture) -> Arc<Accounts> {
    let a = f.accounts.clone();
    a.add_local_user("admin", "alice", "alice-password", false).unwrap();
    a.add_local_user("admin", "bob", "bob-password", false).unwrap();
    a.create_organisation("alice", "acme").unwrap();
    a.create_team("alice", "acme", "devs", None).unwrap();
    a.add_member("alice", "acme", "devs", "bob").unwrap();
    a.create_repository("alice", "acme/app", Visibility::Private).unwrap();
    a
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

on_both_backends! {
    fn users_own_their_namespace_and_nobody_else_sees_a_private_repository(f: &mut Fixture) {
        let a = acme(f);
        for action in [Action::Pull, Action::Push, Action::Delete] {
            assert!(may(&a, Some("alice"), "alice/tool", action));
            assert!(may(&a, Some("alice"), "acme/app", action), "an owner of acme");
            assert!(!may(&a, Some("bob"), "alice/tool", action));
            assert!(!may(&a, None, "acme/app", action));
        }
        assert!(!may(&a, Some("bob"), "acme/app", Action::Pull), "a team without a grant sees nothing");
        assert!(!may(&a, Some("nobody"), "nobody/x", Action::Push), "an unknown user owns nothing");
    }

    fn team_levels_grant_pull_then_push_then_delete(f: &mut Fixture) {
        let a = acme(f);
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

    fn public_repositories_pull_anonymously_and_nothing_more(f: &mut Fixture) {
        let a = acme(f);
        a.set_visibility("alice", "acme/app", Visibility::Public).unwrap();
        assert!(may(&a, None, "acme/app", Action::Pull));
        assert!(!may(&a, None, "acme/app", Action::Push));
        assert!(!may(&a, Some("bob"), "acme/app", Action::Push));
    }

    fn bad_changes_are_refused_and_change_nothing(f: &mut Fixture) {
        let a = acme(f);
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

    fn administrators_may_do_everything(f: &mut Fixture) {
        let a = acme(f);
        a.add_local_user("admin", "root", "root-password", true).unwrap();
        assert!(may(&a, Some("root"), "acme/app", Action::Delete));
        a.create_team("root", "acme", "ops", None).unwrap();
    }

    fn directory_users_log_in_and_their_groups_decide_team_membership_at_each_login(f: &mut Fixture) {
        let a = acme(f);
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

    fn local_passwords_verify_and_empty_or_unknown_never_do(f: &mut Fixture) {
        let a = acme(f);
        let creds = AccountCredentials::new(Arc::clone(&a), None).unwrap();
        assert!(creds.verify("alice", "alice-password"));
        assert!(creds.recently_verified("alice", "alice-password"));
        assert!(!creds.verify("alice", "alice-passwor"));
        assert!(!creds.verify("alice", ""));
        assert!(!creds.verify("nobody", "alice-password"));
        a.set_password("bob", "new-bob-password").unwrap();
        assert!(creds.verify("bob", "new-bob-password") && !AccountCredentials::new(Arc::clone(&a), None).unwrap().verify("bob", "bob-password"));
        // Stored hashes are bcrypt, never the password: no file holds it.
        for file in f.files_at_rest() {
            let bytes = std::fs::read(&file).unwrap();
            assert!(!bytes.windows(b"alice-password".len()).any(|w| w == b"alice-password"), "{}", file.display());
        }
    }

    /// An htpasswd user's bcrypt hash is taken as it is: its password keeps working. Anything
    /// but a bcrypt hash is refused and adds nobody.
    fn imported_bcrypt_hashes_keep_their_passwords(f: &mut Fixture) {
        let a = Arc::clone(&f.accounts);
        let htpasswd_hash = bcrypt::hash("carol-password", 4).unwrap().replacen("$2b$", "$2y$", 1);
        a.import_local_user("test", "carol", &htpasswd_hash, false).unwrap();
        let creds = AccountCredentials::new(Arc::clone(&a), None).unwrap();
        assert!(creds.verify("carol", "carol-password") && !creds.verify("carol", "carol-passwor"));
        for hash in ["{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "$2y$10$short", "carol-password"] {
            let e = a.import_local_user("test", "dave", hash, false).unwrap_err();
            assert!(matches!(e, AccountsError::Invalid { .. }), "{hash}: {e}");
        }
        assert!(a.user("dave").unwrap().is_none());
    }

    fn removing_a_user_removes_its_memberships(f: &mut Fixture) {
        let a = acme(f);
        a.grant("alice", "acme", "devs", "acme/app", Level::Read).unwrap();
        a.remove_user("bob").unwrap();
        assert!(a.teams().unwrap().iter().all(|t| !t.members.contains("bob")));
        assert!(matches!(a.remove_user("bob"), Err(AccountsError::NotFound { .. })));
    }

    /// Every change, made or refused, is recorded as who did what to what.
    fn changes_are_audited_made_or_refused(f: &mut Fixture) {
        let log = Arc::new(AuditLog::open(f.dir.path().join("audit"), None).unwrap());
        assert!(f.accounts.set_audit(log.clone()));
        assert!(!f.accounts.set_audit(log.clone()), "one log");
        let a = acme(f);
        assert!(a.create_team("bob", "acme", "mine", None).is_err());
        let entries: Vec<_> = log
            .entries(None)
            .unwrap()
            .into_iter()
            .map(|e| (e.actor, e.action, e.target, e.outcome, e.detail.get("change").cloned().unwrap_or_default()))
            .collect();
        let entry = |actor: &str, target: &str, outcome, change: &str| {
            (actor.to_owned(), "registry.permission".to_owned(), target.to_owned(), outcome, change.to_owned())
        };
        assert_eq!(
            entries,
            [
                entry("admin", "alice", Outcome::Success, "create user"),
                entry("admin", "bob", Outcome::Success, "create user"),
                entry("alice", "acme", Outcome::Success, "create organisation"),
                entry("alice", "acme/devs", Outcome::Success, "create team"),
                entry("alice", "acme/devs member bob", Outcome::Success, "add member"),
                entry("alice", "acme/app", Outcome::Success, "create repository"),
                entry("bob", "acme/mine", Outcome::Failure, "create team"),
            ]
        );
        let refused = log.entries(None).unwrap().pop().unwrap();
        assert!(refused.detail["error"].contains("may not manage organisation acme"), "{:?}", refused.detail);
    }
}

#[test]
fn the_redb_file_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let f = Fixture::redb();
    let mode = std::fs::metadata(f.dir.path().join("accounts.redb")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
