//! The access model in a redb database: one table per kind of record, JSON values, every
//! change one write transaction that validates before it writes.

use std::path::Path;

use palisade_reference::RepoName;
use palisade_registry::auth::Action;
use redb::{Database, ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{invalid, not_found, AccountsError, Result};
use crate::model::{check_name, Level, Organisation, Repository, Team, User, UserSource, Visibility, MIN_PASSWORD};

const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
const ORGANISATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("organisations");
/// Keyed `organisation/team`.
const TEAMS: TableDefinition<&str, &[u8]> = TableDefinition::new("teams");
const REPOSITORIES: TableDefinition<&str, &[u8]> = TableDefinition::new("repositories");

/// bcrypt cost of stored passwords.
pub(crate) const BCRYPT_COST: u32 = 10;

/// The access model.
pub struct Accounts {
    db: Database,
    /// Where every change (and every refused one) is recorded, if anywhere.
    audit: std::sync::OnceLock<std::sync::Arc<palisade_audit::AuditLog>>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts").finish_non_exhaustive()
    }
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| AccountsError::Store(format!("a stored record does not parse: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| AccountsError::Store(e.to_string()))
}

/// The table types of read and write transactions alike.
trait Records: ReadableTable<&'static str, &'static [u8]> {}
impl<T: ReadableTable<&'static str, &'static [u8]>> Records for T {}

fn get_in<T: DeserializeOwned>(table: &impl Records, key: &str) -> Result<Option<T>> {
    let value = table.get(key)?;
    value.map(|v| decode(v.value())).transpose()
}

fn all_in<T: DeserializeOwned>(table: &impl Records) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for row in table.iter()? {
        let (_, v) = row?;
        out.push(decode(v.value())?);
    }
    Ok(out)
}

fn get<T: DeserializeOwned>(tx: &ReadTransaction, table: TableDefinition<&str, &[u8]>, key: &str) -> Result<Option<T>> {
    get_in(&tx.open_table(table)?, key)
}

fn get_w<T: DeserializeOwned>(tx: &WriteTransaction, table: TableDefinition<&str, &[u8]>, key: &str) -> Result<Option<T>> {
    get_in(&tx.open_table(table)?, key)
}

fn all<T: DeserializeOwned>(tx: &ReadTransaction, table: TableDefinition<&str, &[u8]>) -> Result<Vec<T>> {
    all_in(&tx.open_table(table)?)
}

fn all_w<T: DeserializeOwned>(tx: &WriteTransaction, table: TableDefinition<&str, &[u8]>) -> Result<Vec<T>> {
    all_in(&tx.open_table(table)?)
}

fn put<T: Serialize>(tx: &WriteTransaction, table: TableDefinition<&str, &[u8]>, key: &str, value: &T) -> Result<()> {
    let bytes = encode(value)?;
    tx.open_table(table)?.insert(key, bytes.as_slice())?;
    Ok(())
}

fn team_key(organisation: &str, team: &str) -> String {
    format!("{organisation}/{team}")
}

/// What a registry action needs.
fn needed(action: Action) -> Level {
    match action {
        Action::Pull => Level::Read,
        Action::Push => Level::Write,
        Action::Delete => Level::Admin,
    }
}

fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(invalid("password", format!("must be at least {MIN_PASSWORD} characters")));
    }
    bcrypt::hash(password, BCRYPT_COST).map_err(|e| invalid("password", e.to_string()))
}

impl Accounts {
    /// Opens (or creates) the database at `path`; its file is 0600.
    pub fn open(path: &Path) -> Result<Self> {
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
        for table in [USERS, ORGANISATIONS, TEAMS, REPOSITORIES] {
            tx.open_table(table)?;
        }
        tx.commit()?;
        Ok(Self { db, audit: std::sync::OnceLock::new() })
    }

    /// Records every change of the model from now on (`registry.permission`: who, what, on
    /// what, and whether it was made). One log; returns `false` if one was already set.
    pub fn set_audit(&self, log: std::sync::Arc<palisade_audit::AuditLog>) -> bool {
        self.audit.set(log).is_ok()
    }

    /// Records `actor`'s change `what` of `target` with its outcome (a refusal's reason too).
    /// A failure to record is logged, never the caller's error.
    fn record<T>(&self, actor: &str, what: &str, target: String, result: &Result<T>) {
        use palisade_audit::{action, Event, Outcome};
        let Some(log) = self.audit.get() else { return };
        let mut event = Event::new(actor, action::REGISTRY_PERMISSION, target, Outcome::of(result.is_ok())).detail("change", what);
        if let Err(e) = result {
            event = event.detail("error", e.to_string());
        }
        log.record(event);
    }

    fn write<T>(&self, change: impl FnOnce(&WriteTransaction) -> Result<T>) -> Result<T> {
        let tx = self.db.begin_write()?;
        // On error the transaction is dropped: nothing is written.
        let out = change(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    // ---- reading ----

    /// The user named `name`.
    pub fn user(&self, name: &str) -> Result<Option<User>> {
        get(&self.db.begin_read()?, USERS, name)
    }

    /// Every user.
    pub fn users(&self) -> Result<Vec<User>> {
        all(&self.db.begin_read()?, USERS)
    }

    /// The organisation named `name`.
    pub fn organisation(&self, name: &str) -> Result<Option<Organisation>> {
        get(&self.db.begin_read()?, ORGANISATIONS, name)
    }

    /// Every organisation.
    pub fn organisations(&self) -> Result<Vec<Organisation>> {
        all(&self.db.begin_read()?, ORGANISATIONS)
    }

    /// Every team (of every organisation).
    pub fn teams(&self) -> Result<Vec<Team>> {
        all(&self.db.begin_read()?, TEAMS)
    }

    /// The repository record of `name`.
    pub fn repository(&self, name: &str) -> Result<Option<Repository>> {
        get(&self.db.begin_read()?, REPOSITORIES, name)
    }

    /// Every repository record.
    pub fn repositories(&self) -> Result<Vec<Repository>> {
        all(&self.db.begin_read()?, REPOSITORIES)
    }

    // ---- deciding ----

    /// Whether `user` (`None`: anonymous) may perform `action` on the repository `repo` (see
    /// the crate docs). Reads one consistent snapshot.
    pub fn allows(&self, user: Option<&str>, repo: &RepoName, action: Action) -> Result<bool> {
        let tx = self.db.begin_read()?;
        let record: Option<Repository> = get(&tx, REPOSITORIES, repo.as_str())?;
        if action == Action::Pull && record.as_ref().is_some_and(|r| r.visibility == Visibility::Public) {
            return Ok(true);
        }
        let Some(user) = user.map(|u| get::<User>(&tx, USERS, u)).transpose()?.flatten() else { return Ok(false) };
        if user.admin {
            return Ok(true);
        }
        let namespace = repo.components().next().unwrap_or_default();
        if namespace == user.name {
            return Ok(true);
        }
        if let Some(org) = get::<Organisation>(&tx, ORGANISATIONS, namespace)? {
            if org.owners.contains(&user.name) {
                return Ok(true);
            }
        }
        if record.is_none() {
            return Ok(false);
        }
        let level = all::<Team>(&tx, TEAMS)?
            .iter()
            .filter(|t| t.organisation == namespace && t.has_member(&user))
            .filter_map(|t| t.grants.get(repo.as_str()).copied())
            .max();
        Ok(level.is_some_and(|l| l >= needed(action)))
    }

    /// Whether `actor` may manage the organisation `name` (its teams, members, grants and
    /// repositories): a platform administrator or one of its owners.
    pub fn may_manage_organisation(&self, actor: &str, name: &str) -> Result<bool> {
        let admin = self.user(actor)?.is_some_and(|u| u.admin);
        Ok(admin || self.organisation(name)?.is_some_and(|o| o.owners.contains(actor)))
    }

    /// Whether `actor` may manage the repository `repo` (create it, set its visibility):
    /// its namespace's owner, an organisation owner, an administrator, or a team with admin.
    pub fn may_manage_repository(&self, actor: &str, repo: &RepoName) -> Result<bool> {
        self.allows(Some(actor), repo, Action::Delete)
    }

    fn require(&self, allowed: bool, actor: &str, what: impl Into<String>) -> Result<()> {
        if allowed {
            Ok(())
        } else {
            Err(AccountsError::Forbidden { actor: actor.to_owned(), what: what.into() })
        }
    }

    // ---- changing ----

    /// Adds a local user with `password` (at least 8 characters, stored as bcrypt).
    pub fn add_local_user(&self, actor: &str, name: &str, password: &str, admin: bool) -> Result<User> {
        let result = (|| -> Result<User> {
            check_name("user name", name)?;
            let user = User { name: name.to_owned(), source: UserSource::Local { password_hash: hash_password(password)? }, email: None, admin };
            self.write(|tx| {
                Self::namespace_free(tx, name)?;
                put(tx, USERS, name, &user)
            })?;
            Ok(user)
        })();
        self.record(actor, if admin { "create administrator" } else { "create user" }, name.to_owned(), &result);
        result
    }

    /// Sets a local user's password.
    pub fn set_password(&self, name: &str, password: &str) -> Result<()> {
        let hash = hash_password(password)?;
        self.write(|tx| {
            let mut user: User = get_w(tx, USERS, name)?.ok_or_else(|| not_found("user", name))?;
            match &mut user.source {
                UserSource::Local { password_hash } => *password_hash = hash,
                UserSource::Directory { .. } => return Err(invalid("user", format!("{name:?}'s password is kept in the directory"))),
            }
            put(tx, USERS, name, &user)
        })
    }

    /// Makes or updates the record of a directory user after a login or a sync: its DN,
    /// e-mail and groups (which decide its membership of teams mapped to groups).
    pub fn sync_directory_user(&self, name: &str, dn: &str, email: Option<&str>, groups: std::collections::BTreeSet<String>) -> Result<User> {
        check_name("user name", name)?;
        self.write(|tx| {
            let existing: Option<User> = get_w(tx, USERS, name)?;
            let admin = match &existing {
                Some(User { source: UserSource::Local { .. }, .. }) => {
                    return Err(AccountsError::Exists { kind: "local user", name: name.to_owned() })
                }
                Some(u) => u.admin,
                None => {
                    if get_w::<Organisation>(tx, ORGANISATIONS, name)?.is_some() {
                        return Err(AccountsError::Exists { kind: "namespace", name: name.to_owned() });
                    }
                    false
                }
            };
            let user = User {
                name: name.to_owned(),
                source: UserSource::Directory { dn: dn.to_owned(), groups },
                email: email.map(str::to_owned),
                admin,
            };
            put(tx, USERS, name, &user)?;
            Ok(user)
        })
    }

    /// Removes a user (and its team memberships and organisation ownerships).
    pub fn remove_user(&self, name: &str) -> Result<()> {
        self.write(|tx| {
            if tx.open_table(USERS)?.remove(name)?.is_none() {
                return Err(not_found("user", name));
            }
            for mut org in all_w::<Organisation>(tx, ORGANISATIONS)? {
                if org.owners.remove(name) {
                    put(tx, ORGANISATIONS, &org.name.clone(), &org)?;
                }
            }
            for mut team in all_w::<Team>(tx, TEAMS)? {
                if team.members.remove(name) {
                    put(tx, TEAMS, &team_key(&team.organisation, &team.name), &team)?;
                }
            }
            Ok(())
        })
    }

    /// `actor` creates the organisation `name` and becomes its owner.
    pub fn create_organisation(&self, actor: &str, name: &str) -> Result<Organisation> {
        let result = (|| -> Result<Organisation> {
            check_name("organisation name", name)?;
            self.write(|tx| {
                if get_w::<User>(tx, USERS, actor)?.is_none() {
                    return Err(not_found("user", actor));
                }
                Self::namespace_free(tx, name)?;
                let org = Organisation { name: name.to_owned(), owners: [actor.to_owned()].into() };
                put(tx, ORGANISATIONS, name, &org)?;
                Ok(org)
            })
        })();
        self.record(actor, "create organisation", name.to_owned(), &result);
        result
    }

    /// `actor` adds `owner` to the owners of `organisation`.
    pub fn add_owner(&self, actor: &str, organisation: &str, owner: &str) -> Result<()> {
        let result = (|| -> Result<()> {
            self.require(self.may_manage_organisation(actor, organisation)?, actor, format!("manage organisation {organisation}"))?;
            self.write(|tx| {
                let mut org: Organisation = get_w(tx, ORGANISATIONS, organisation)?.ok_or_else(|| not_found("organisation", organisation))?;
                if get_w::<User>(tx, USERS, owner)?.is_none() {
                    return Err(not_found("user", owner));
                }
                org.owners.insert(owner.to_owned());
                put(tx, ORGANISATIONS, organisation, &org)
            })
        })();
        self.record(actor, "add owner", format!("{organisation} owner {owner}"), &result);
        result
    }

    /// `actor` creates `team` in `organisation`, optionally mapped to a directory group.
    pub fn create_team(&self, actor: &str, organisation: &str, team: &str, directory_group: Option<&str>) -> Result<Team> {
        let result = (|| -> Result<Team> {
            check_name("team name", team)?;
            self.require(self.may_manage_organisation(actor, organisation)?, actor, format!("manage organisation {organisation}"))?;
            if directory_group.is_some_and(|g| g.trim().is_empty()) {
                return Err(invalid("directory group", "must not be empty"));
            }
            self.write(|tx| {
                if get_w::<Organisation>(tx, ORGANISATIONS, organisation)?.is_none() {
                    return Err(not_found("organisation", organisation));
                }
                let key = team_key(organisation, team);
                if get_w::<Team>(tx, TEAMS, &key)?.is_some() {
                    return Err(AccountsError::Exists { kind: "team", name: key });
                }
                let t = Team {
                    organisation: organisation.to_owned(),
                    name: team.to_owned(),
                    members: Default::default(),
                    directory_group: directory_group.map(str::to_owned),
                    grants: Default::default(),
                };
                put(tx, TEAMS, &key, &t)?;
                Ok(t)
            })
        })();
        self.record(actor, "create team", format!("{organisation}/{team}"), &result);
        result
    }

    /// `actor` changes a team with `edit` (after checking the actor may manage its organisation).
    fn edit_team(&self, actor: &str, organisation: &str, team: &str, edit: impl FnOnce(&WriteTransaction, &mut Team) -> Result<()>) -> Result<()> {
        self.require(self.may_manage_organisation(actor, organisation)?, actor, format!("manage organisation {organisation}"))?;
        self.write(|tx| {
            let key = team_key(organisation, team);
            let mut t: Team = get_w(tx, TEAMS, &key)?.ok_or_else(|| not_found("team", &key))?;
            edit(tx, &mut t)?;
            put(tx, TEAMS, &key, &t)
        })
    }

    /// `actor` adds `user` to a team.
    pub fn add_member(&self, actor: &str, organisation: &str, team: &str, user: &str) -> Result<()> {
        let result = self.edit_team(actor, organisation, team, |tx, t| {
            if get_w::<User>(tx, USERS, user)?.is_none() {
                return Err(not_found("user", user));
            }
            t.members.insert(user.to_owned());
            Ok(())
        });
        self.record(actor, "add member", format!("{organisation}/{team} member {user}"), &result);
        result
    }

    /// `actor` removes `user` from a team.
    pub fn remove_member(&self, actor: &str, organisation: &str, team: &str, user: &str) -> Result<()> {
        let result = self.edit_team(actor, organisation, team, |_, t| {
            if !t.members.remove(user) {
                return Err(not_found("member", user));
            }
            Ok(())
        });
        self.record(actor, "remove member", format!("{organisation}/{team} member {user}"), &result);
        result
    }

    /// `actor` gives a team `level` on `repository`, which must exist and be in the team's
    /// organisation's namespace.
    pub fn grant(&self, actor: &str, organisation: &str, team: &str, repository: &str, level: Level) -> Result<()> {
        let result = (|| -> Result<()> {
            let repo: RepoName = repository.parse().map_err(|e: palisade_reference::ReferenceError| invalid("repository", e.to_string()))?;
            if repo.components().next() != Some(organisation) {
                return Err(invalid("grant", format!("{repository:?} is not in organisation {organisation:?}'s namespace")));
            }
            self.edit_team(actor, organisation, team, |tx, t| {
                if get_w::<Repository>(tx, REPOSITORIES, repository)?.is_none() {
                    return Err(not_found("repository", repository));
                }
                t.grants.insert(repository.to_owned(), level);
                Ok(())
            })
        })();
        self.record(actor, "grant", format!("{organisation}/{team} on {repository} ({})", level.as_str()), &result);
        result
    }

    /// `actor` takes a team's level on `repository` away.
    pub fn revoke(&self, actor: &str, organisation: &str, team: &str, repository: &str) -> Result<()> {
        let result = self.edit_team(actor, organisation, team, |_, t| {
            if t.grants.remove(repository).is_none() {
                return Err(not_found("grant", repository));
            }
            Ok(())
        });
        self.record(actor, "revoke", format!("{organisation}/{team} on {repository}"), &result);
        result
    }

    /// `actor` creates the repository record `name` (in a namespace it may manage).
    pub fn create_repository(&self, actor: &str, name: &str, visibility: Visibility) -> Result<Repository> {
        let result = (|| -> Result<Repository> {
            let repo: RepoName = name.parse().map_err(|e: palisade_reference::ReferenceError| invalid("repository", e.to_string()))?;
            let namespace = repo.components().next().unwrap_or_default().to_owned();
            if repo.components().count() < 2 {
                return Err(invalid("repository", format!("{name:?} must be NAMESPACE/NAME")));
            }
            self.require(self.may_manage_repository(actor, &repo)?, actor, format!("create repositories in {namespace}"))?;
            self.write(|tx| {
                if get_w::<User>(tx, USERS, &namespace)?.is_none() && get_w::<Organisation>(tx, ORGANISATIONS, &namespace)?.is_none() {
                    return Err(not_found("namespace", &namespace));
                }
                if get_w::<Repository>(tx, REPOSITORIES, name)?.is_some() {
                    return Err(AccountsError::Exists { kind: "repository", name: name.to_owned() });
                }
                let r = Repository { name: name.to_owned(), visibility, created_by: actor.to_owned() };
                put(tx, REPOSITORIES, name, &r)?;
                Ok(r)
            })
        })();
        self.record(actor, "create repository", name.to_owned(), &result);
        result
    }

    /// `actor` sets a repository's visibility.
    pub fn set_visibility(&self, actor: &str, name: &str, visibility: Visibility) -> Result<()> {
        let result = (|| -> Result<()> {
            let repo: RepoName = name.parse().map_err(|e: palisade_reference::ReferenceError| invalid("repository", e.to_string()))?;
            self.require(self.may_manage_repository(actor, &repo)?, actor, format!("manage repository {name}"))?;
            self.write(|tx| {
                let mut r: Repository = get_w(tx, REPOSITORIES, name)?.ok_or_else(|| not_found("repository", name))?;
                r.visibility = visibility;
                put(tx, REPOSITORIES, name, &r)
            })
        })();
        self.record(actor, visibility.change(), name.to_owned(), &result);
        result
    }

    fn namespace_free(tx: &WriteTransaction, name: &str) -> Result<()> {
        if get_w::<User>(tx, USERS, name)?.is_some() || get_w::<Organisation>(tx, ORGANISATIONS, name)?.is_some() {
            return Err(AccountsError::Exists { kind: "namespace", name: name.to_owned() });
        }
        Ok(())
    }
}
