//! Read-side questions the JSON API and the web console both ask, answered once so that the
//! two never disagree on who sees what.

use std::collections::BTreeSet;

use palisade_reference::RepoName;
use palisade_registry::auth::Action;
use palisade_registry::storage::Store;

use crate::error::{AccountsError, Result};
use crate::model::{Team, Visibility};
use crate::store::Accounts;

/// A repository as a list shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListedRepository {
    /// `namespace/…`.
    pub name: String,
    /// Its record's visibility; private when it has no record yet.
    pub visibility: Visibility,
}

/// The repositories `who` (`None`: anonymous) may pull, from the store's catalog and the
/// accounts' records, sorted by name. Names that do not parse are skipped.
pub fn visible_repositories(accounts: &Accounts, store: &Store, who: Option<&str>) -> Result<Vec<ListedRepository>> {
    let mut names: BTreeSet<String> = accounts.repositories()?.into_iter().map(|r| r.name).collect();
    names.extend(store.repositories().map_err(|e| AccountsError::Store(e.to_string()))?);
    let mut rows = Vec::new();
    for name in names {
        let Ok(repo) = name.parse::<RepoName>() else { continue };
        if accounts.allows(who, &repo, Action::Pull)? {
            let visibility = accounts.repository(&name)?.map_or(Visibility::Private, |r| r.visibility);
            rows.push(ListedRepository { name, visibility });
        }
    }
    Ok(rows)
}

/// The teams of `organisation`, for those who manage it (else `Forbidden`).
pub fn teams_of(accounts: &Accounts, actor: &str, organisation: &str) -> Result<Vec<Team>> {
    if !accounts.may_manage_organisation(actor, organisation)? {
        return Err(AccountsError::Forbidden { actor: actor.to_owned(), what: format!("see the teams of {organisation}") });
    }
    Ok(accounts.teams()?.into_iter().filter(|t| t.organisation == organisation).collect())
}

/// Whether `user` is a platform administrator (an unknown user is not).
pub fn is_admin(accounts: &Accounts, user: &str) -> Result<bool> {
    Ok(accounts.user(user)?.is_some_and(|u| u.admin))
}

/// The namespaces in which `actor` may create repositories: its own and the organisations
/// it manages, sorted.
pub fn managed_namespaces(accounts: &Accounts, actor: &str) -> Result<Vec<String>> {
    let mut out = BTreeSet::from([actor.to_owned()]);
    for org in accounts.organisations()? {
        if accounts.may_manage_organisation(actor, &org.name)? {
            out.insert(org.name);
        }
    }
    Ok(out.into_iter().collect())
}
