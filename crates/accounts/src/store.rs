//! The access model's reads, decisions and changes, on either backend (see `backend`).
//!
//! Each runs as a [`Tx`]: it reads, decides, and (a change) writes. What it decided stands
//! only if it rests on one state of the model — a change's commit checks every record it read;
//! a read, or a refusal, checks that its view stayed consistent — else it runs again on fresh
//! state, at most [`ATTEMPTS`] times. A change first catches up with every change committed
//! before it (on any manager), so neither what it writes nor why it refuses rests on stale
//! state; reads and decisions ([`Accounts::allows`]) use the local state as it is.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use palisade_reference::RepoName;
use palisade_registry::auth::Action;
use palisade_store::ReplicatedStore;

use crate::backend::{Backend, ClusterStore, Commit, RedbFile};
use crate::change::{team_key, Tx};
use crate::error::{invalid, not_found, AccountsError, Result};
use crate::model::{check_name, Level, Organisation, Repository, Team, User, UserSource, Visibility, MIN_PASSWORD};

/// bcrypt cost of stored passwords.
pub(crate) const BCRYPT_COST: u32 = 10;

/// How many times a read or change runs against state that other changes replaced meanwhile
/// before it gives up with [`AccountsError::Contended`].
const ATTEMPTS: u32 = 5;

/// The access model.
pub struct Accounts {
    backend: Box<dyn Backend>,
    /// Where every change (and every refused one) is recorded, if anywhere.
    audit: OnceLock<Arc<palisade_audit::AuditLog>>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts").finish_non_exhaustive()
    }
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

/// Whether `hash` is a bcrypt hash the login check can use.
pub(crate) fn check_bcrypt(hash: &str) -> Result<()> {
    if !palisade_registry::auth::is_bcrypt_hash(hash) || hash.parse::<bcrypt::HashParts>().is_err() {
        return Err(invalid("password hash", "not a bcrypt hash (htpasswd -B writes one)"));
    }
    Ok(())
}

fn repo_name(name: &str) -> Result<RepoName> {
    name.parse().map_err(|e: palisade_reference::ReferenceError| invalid("repository", e.to_string()))
}

fn require(allowed: bool, actor: &str, what: impl Into<String>) -> Result<()> {
    if allowed {
        Ok(())
    } else {
        Err(AccountsError::Forbidden { actor: actor.to_owned(), what: what.into() })
    }
}

/// See [`Accounts::allows`].
fn allows_in(tx: &mut Tx<'_>, user: Option<&str>, repo: &RepoName, action: Action) -> Result<bool> {
    let record: Option<Repository> = tx.get(repo.as_str())?;
    if action == Action::Pull && record.as_ref().is_some_and(|r| r.visibility == Visibility::Public) {
        return Ok(true);
    }
    let Some(user) = user.map(|u| tx.get::<User>(u)).transpose()?.flatten() else { return Ok(false) };
    if user.admin {
        return Ok(true);
    }
    let namespace = repo.components().next().unwrap_or_default();
    if namespace == user.name {
        return Ok(true);
    }
    if tx.get::<Organisation>(namespace)?.is_some_and(|org| org.owners.contains(&user.name)) {
        return Ok(true);
    }
    if record.is_none() {
        return Ok(false);
    }
    let level = tx
        .all::<Team>()?
        .iter()
        .filter(|t| t.organisation == namespace && t.has_member(&user))
        .filter_map(|t| t.grants.get(repo.as_str()).copied())
        .max();
    Ok(level.is_some_and(|l| l >= needed(action)))
}

/// See [`Accounts::may_manage_organisation`].
fn may_manage_organisation_in(tx: &mut Tx<'_>, actor: &str, name: &str) -> Result<bool> {
    let admin = tx.get::<User>(actor)?.is_some_and(|u| u.admin);
    Ok(admin || tx.get::<Organisation>(name)?.is_some_and(|o| o.owners.contains(actor)))
}

fn require_manager(tx: &mut Tx<'_>, actor: &str, organisation: &str) -> Result<()> {
    require(may_manage_organisation_in(tx, actor, organisation)?, actor, format!("manage organisation {organisation}"))
}

/// A user or organisation may take `name` as its namespace only if neither has it.
fn namespace_free(tx: &mut Tx<'_>, name: &str) -> Result<()> {
    if tx.exists::<User>(name)? || tx.exists::<Organisation>(name)? {
        return Err(AccountsError::Exists { kind: "namespace", name: name.to_owned() });
    }
    Ok(())
}

impl Accounts {
    /// The model in the redb file at `path` (created if missing, mode 0600): for a registry
    /// that runs on its own.
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self::with_backend(Box::new(RedbFile::open(path)?)))
    }

    /// The model in this manager's replicated cluster store, shared with every other manager
    /// (see the crate docs). `runtime` runs the store's calls: this `Accounts`' methods block
    /// on it, so they must be called from blocking threads (`spawn_blocking`), never from async
    /// tasks.
    pub fn on_cluster_store(store: Arc<ReplicatedStore>, runtime: tokio::runtime::Handle) -> Self {
        Self::with_backend(Box::new(ClusterStore::new(store, runtime)))
    }

    pub(crate) fn with_backend(backend: Box<dyn Backend>) -> Self {
        Self { backend, audit: OnceLock::new() }
    }

    /// Records every change of the model from now on (`registry.permission`: who, what, on
    /// what, and whether it was made). One log; returns `false` if one was already set.
    pub fn set_audit(&self, log: Arc<palisade_audit::AuditLog>) -> bool {
        self.audit.set(log).is_ok()
    }

    /// Waits until reads here see every change committed before the call, on any manager: a
    /// read barrier through the raft leader on the cluster store, nothing on a redb file.
    /// Reads do not wait by themselves (see the crate docs); call this first when one must.
    pub fn catch_up(&self) -> Result<()> {
        self.backend.catch_up()
    }

    /// Runs `change` and records it as `actor`'s change `what` of `target`, with its outcome
    /// (a refusal's reason too). A failure to record is logged, never the caller's error.
    fn audited<T>(&self, actor: &str, what: &str, target: String, change: impl FnOnce() -> Result<T>) -> Result<T> {
        use palisade_audit::{action, Event, Outcome};
        let result = change();
        if let Some(log) = self.audit.get() {
            let mut event = Event::new(actor, action::REGISTRY_PERMISSION, target, Outcome::of(result.is_ok())).detail("change", what);
            if let Err(e) = &result {
                event = event.detail("error", e.to_string());
            }
            log.record(event);
        }
        result
    }

    /// Runs `step` until what it decided stands (see the module docs).
    fn run<T>(&self, mut step: impl FnMut(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        for _ in 0..ATTEMPTS {
            let mut tx = Tx::new(self.backend.view()?);
            let decided = step(&mut tx);
            let changes = if decided.is_ok() { tx.changes()? } else { None };
            let stands = match changes {
                Some(change) => match self.backend.commit(change)? {
                    Commit::Done => true,
                    Commit::Conflict => {
                        self.backend.catch_up()?;
                        false
                    }
                },
                // Decided from reads alone: a read, a refusal, or a change that found nothing to do.
                None => tx.consistent()?,
            };
            if stands {
                return decided;
            }
        }
        Err(AccountsError::Contended { attempts: ATTEMPTS })
    }

    /// Runs the change `step` on state at least as new as every change committed before it.
    fn change<T>(&self, step: impl FnMut(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        self.backend.catch_up()?;
        self.run(step)
    }

    // ---- reading ----

    /// The user named `name`.
    pub fn user(&self, name: &str) -> Result<Option<User>> {
        self.run(|tx| tx.get(name))
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<User>> {
        self.run(|tx| tx.all())
    }

    /// The organisation named `name`.
    pub fn organisation(&self, name: &str) -> Result<Option<Organisation>> {
        self.run(|tx| tx.get(name))
    }

    /// Every organisation, by name.
    pub fn organisations(&self) -> Result<Vec<Organisation>> {
        self.run(|tx| tx.all())
    }

    /// Every team (of every organisation), by organisation and name.
    pub fn teams(&self) -> Result<Vec<Team>> {
        self.run(|tx| tx.all())
    }

    /// The repository record of `name`.
    pub fn repository(&self, name: &str) -> Result<Option<Repository>> {
        self.run(|tx| tx.get(name))
    }

    /// Every repository record, by name.
    pub fn repositories(&self) -> Result<Vec<Repository>> {
        self.run(|tx| tx.all())
    }

    // ---- deciding ----

    /// Whether `user` (`None`: anonymous) may perform `action` on the repository `repo` (see
    /// the crate docs). Reads one consistent state.
    pub fn allows(&self, user: Option<&str>, repo: &RepoName, action: Action) -> Result<bool> {
        self.run(|tx| allows_in(tx, user, repo, action))
    }

    /// Whether `actor` may manage the organisation `name` (its teams, members, grants and
    /// repositories): a platform administrator or one of its owners.
    pub fn may_manage_organisation(&self, actor: &str, name: &str) -> Result<bool> {
        self.run(|tx| may_manage_organisation_in(tx, actor, name))
    }

    /// Whether `actor` may manage the repository `repo` (create it, set its visibility):
    /// its namespace's owner, an organisation owner, an administrator, or a team with admin.
    pub fn may_manage_repository(&self, actor: &str, repo: &RepoName) -> Result<bool> {
        self.allows(Some(actor), repo, Action::Delete)
    }

    // ---- changing ----

    /// Adds a local user with `password` (at least 8 characters, stored as bcrypt).
    pub fn add_local_user(&self, actor: &str, name: &str, password: &str, admin: bool) -> Result<User> {
        self.audited(actor, if admin { "create administrator" } else { "create user" }, name.to_owned(), || {
            check_name("user name", name)?;
            let user = User { name: name.to_owned(), source: UserSource::Local { password_hash: hash_password(password)? }, email: None, admin };
            self.change(|tx| {
                namespace_free(tx, name)?;
                tx.put(&user)
            })?;
            Ok(user)
        })
    }

    /// Adds a local user whose bcrypt `password_hash` comes from elsewhere (an htpasswd file
    /// written by `htpasswd -B`): its password stays what it was. Only bcrypt hashes
    /// (`$2a$`, `$2b$`, `$2y$`) that parse are taken.
    pub fn import_local_user(&self, actor: &str, name: &str, password_hash: &str, admin: bool) -> Result<User> {
        self.audited(actor, if admin { "import administrator" } else { "import user" }, name.to_owned(), || {
            check_name("user name", name)?;
            check_bcrypt(password_hash)?;
            let user = User { name: name.to_owned(), source: UserSource::Local { password_hash: password_hash.to_owned() }, email: None, admin };
            self.change(|tx| {
                namespace_free(tx, name)?;
                tx.put(&user)
            })?;
            Ok(user)
        })
    }

    /// Sets a local user's password.
    pub fn set_password(&self, name: &str, password: &str) -> Result<()> {
        let hash = hash_password(password)?;
        self.change(|tx| {
            let mut user: User = tx.get(name)?.ok_or_else(|| not_found("user", name))?;
            match &mut user.source {
                UserSource::Local { password_hash } => password_hash.clone_from(&hash),
                UserSource::Directory { .. } => return Err(invalid("user", format!("{name:?}'s password is kept in the directory"))),
            }
            tx.put(&user)
        })
    }

    /// Makes or updates the record of a directory user after a login or a sync: its DN,
    /// e-mail and groups (which decide its membership of teams mapped to groups). A record
    /// that already says all that is left as it is.
    pub fn sync_directory_user(&self, name: &str, dn: &str, email: Option<&str>, groups: std::collections::BTreeSet<String>) -> Result<User> {
        check_name("user name", name)?;
        self.change(|tx| {
            let existing: Option<User> = tx.get(name)?;
            let admin = match &existing {
                Some(User { source: UserSource::Local { .. }, .. }) => {
                    return Err(AccountsError::Exists { kind: "local user", name: name.to_owned() })
                }
                Some(u) => u.admin,
                None => {
                    if tx.exists::<Organisation>(name)? {
                        return Err(AccountsError::Exists { kind: "namespace", name: name.to_owned() });
                    }
                    false
                }
            };
            let user = User {
                name: name.to_owned(),
                source: UserSource::Directory { dn: dn.to_owned(), groups: groups.clone() },
                email: email.map(str::to_owned),
                admin,
            };
            if existing.as_ref() != Some(&user) {
                tx.put(&user)?;
            }
            Ok(user)
        })
    }

    /// Removes a user (and its team memberships and organisation ownerships).
    pub fn remove_user(&self, name: &str) -> Result<()> {
        self.change(|tx| {
            if !tx.exists::<User>(name)? {
                return Err(not_found("user", name));
            }
            tx.delete::<User>(name);
            for mut org in tx.all::<Organisation>()? {
                if org.owners.remove(name) {
                    tx.put(&org)?;
                }
            }
            for mut team in tx.all::<Team>()? {
                if team.members.remove(name) {
                    tx.put(&team)?;
                }
            }
            Ok(())
        })
    }

    /// `actor` creates the organisation `name` and becomes its owner.
    pub fn create_organisation(&self, actor: &str, name: &str) -> Result<Organisation> {
        self.audited(actor, "create organisation", name.to_owned(), || {
            check_name("organisation name", name)?;
            self.change(|tx| {
                if !tx.exists::<User>(actor)? {
                    return Err(not_found("user", actor));
                }
                namespace_free(tx, name)?;
                let org = Organisation { name: name.to_owned(), owners: [actor.to_owned()].into() };
                tx.put(&org)?;
                Ok(org)
            })
        })
    }

    /// `actor` adds `owner` to the owners of `organisation`.
    pub fn add_owner(&self, actor: &str, organisation: &str, owner: &str) -> Result<()> {
        self.audited(actor, "add owner", format!("{organisation} owner {owner}"), || {
            self.change(|tx| {
                require_manager(tx, actor, organisation)?;
                let mut org: Organisation = tx.get(organisation)?.ok_or_else(|| not_found("organisation", organisation))?;
                if !tx.exists::<User>(owner)? {
                    return Err(not_found("user", owner));
                }
                org.owners.insert(owner.to_owned());
                tx.put(&org)
            })
        })
    }

    /// `actor` creates `team` in `organisation`, optionally mapped to a directory group.
    pub fn create_team(&self, actor: &str, organisation: &str, team: &str, directory_group: Option<&str>) -> Result<Team> {
        self.audited(actor, "create team", team_key(organisation, team), || {
            check_name("team name", team)?;
            if directory_group.is_some_and(|g| g.trim().is_empty()) {
                return Err(invalid("directory group", "must not be empty"));
            }
            self.change(|tx| {
                require_manager(tx, actor, organisation)?;
                if !tx.exists::<Organisation>(organisation)? {
                    return Err(not_found("organisation", organisation));
                }
                let key = team_key(organisation, team);
                if tx.exists::<Team>(&key)? {
                    return Err(AccountsError::Exists { kind: "team", name: key });
                }
                let t = Team {
                    organisation: organisation.to_owned(),
                    name: team.to_owned(),
                    members: Default::default(),
                    directory_group: directory_group.map(str::to_owned),
                    grants: Default::default(),
                };
                tx.put(&t)?;
                Ok(t)
            })
        })
    }

    /// `actor` changes a team with `edit`, if the actor may manage its organisation.
    fn edit_team(&self, actor: &str, organisation: &str, team: &str, mut edit: impl FnMut(&mut Tx<'_>, &mut Team) -> Result<()>) -> Result<()> {
        self.change(|tx| {
            require_manager(tx, actor, organisation)?;
            let key = team_key(organisation, team);
            let mut t: Team = tx.get(&key)?.ok_or_else(|| not_found("team", &key))?;
            edit(tx, &mut t)?;
            tx.put(&t)
        })
    }

    /// `actor` adds `user` to a team.
    pub fn add_member(&self, actor: &str, organisation: &str, team: &str, user: &str) -> Result<()> {
        self.audited(actor, "add member", format!("{organisation}/{team} member {user}"), || {
            self.edit_team(actor, organisation, team, |tx, t| {
                if !tx.exists::<User>(user)? {
                    return Err(not_found("user", user));
                }
                t.members.insert(user.to_owned());
                Ok(())
            })
        })
    }

    /// `actor` removes `user` from a team.
    pub fn remove_member(&self, actor: &str, organisation: &str, team: &str, user: &str) -> Result<()> {
        self.audited(actor, "remove member", format!("{organisation}/{team} member {user}"), || {
            self.edit_team(actor, organisation, team, |_, t| {
                if !t.members.remove(user) {
                    return Err(not_found("member", user));
                }
                Ok(())
            })
        })
    }

    /// `actor` gives a team `level` on `repository`, which must exist and be in the team's
    /// organisation's namespace.
    pub fn grant(&self, actor: &str, organisation: &str, team: &str, repository: &str, level: Level) -> Result<()> {
        self.audited(actor, "grant", format!("{organisation}/{team} on {repository} ({})", level.as_str()), || {
            let repo = repo_name(repository)?;
            if repo.components().next() != Some(organisation) {
                return Err(invalid("grant", format!("{repository:?} is not in organisation {organisation:?}'s namespace")));
            }
            self.edit_team(actor, organisation, team, |tx, t| {
                if !tx.exists::<Repository>(repository)? {
                    return Err(not_found("repository", repository));
                }
                t.grants.insert(repository.to_owned(), level);
                Ok(())
            })
        })
    }

    /// `actor` takes a team's level on `repository` away.
    pub fn revoke(&self, actor: &str, organisation: &str, team: &str, repository: &str) -> Result<()> {
        self.audited(actor, "revoke", format!("{organisation}/{team} on {repository}"), || {
            self.edit_team(actor, organisation, team, |_, t| {
                if t.grants.remove(repository).is_none() {
                    return Err(not_found("grant", repository));
                }
                Ok(())
            })
        })
    }

    /// `actor` creates the repository record `name` (in a namespace it may manage).
    pub fn create_repository(&self, actor: &str, name: &str, visibility: Visibility) -> Result<Repository> {
        self.audited(actor, "create repository", name.to_owned(), || {
            let repo = repo_name(name)?;
            let namespace = repo.components().next().unwrap_or_default();
            if repo.components().count() < 2 {
                return Err(invalid("repository", format!("{name:?} must be NAMESPACE/NAME")));
            }
            self.change(|tx| {
                require(allows_in(tx, Some(actor), &repo, Action::Delete)?, actor, format!("create repositories in {namespace}"))?;
                if !tx.exists::<User>(namespace)? && !tx.exists::<Organisation>(namespace)? {
                    return Err(not_found("namespace", namespace));
                }
                if tx.exists::<Repository>(name)? {
                    return Err(AccountsError::Exists { kind: "repository", name: name.to_owned() });
                }
                let r = Repository { name: name.to_owned(), visibility, created_by: actor.to_owned() };
                tx.put(&r)?;
                Ok(r)
            })
        })
    }

    /// `actor` sets a repository's visibility.
    pub fn set_visibility(&self, actor: &str, name: &str, visibility: Visibility) -> Result<()> {
        self.audited(actor, visibility.change(), name.to_owned(), || {
            let repo = repo_name(name)?;
            self.change(|tx| {
                require(allows_in(tx, Some(actor), &repo, Action::Delete)?, actor, format!("manage repository {name}"))?;
                let mut r: Repository = tx.get(name)?.ok_or_else(|| not_found("repository", name))?;
                r.visibility = visibility;
                tx.put(&r)
            })
        })
    }
}

#[cfg(test)]
mod tests;
