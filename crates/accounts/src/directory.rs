//! LDAP / Active Directory behind the accounts: logins of users not kept locally, and the
//! sync of every directory user's groups (on login, on demand, periodically).

use std::sync::Arc;

use palisade_ldap::{Directory, LdapError};
use secrecy::SecretString;

use crate::credentials::{DirectoryLogin, DirectoryOutcome};
use crate::error::Result;
use crate::model::UserSource;
use crate::store::Accounts;

/// A [`DirectoryLogin`] on an LDAP directory. Its calls block the calling (blocking) thread
/// on the async runtime whose handle it holds.
pub struct LdapLogin {
    directory: Arc<Directory>,
    runtime: tokio::runtime::Handle,
}

impl LdapLogin {
    /// Logins against `directory`, run on `runtime`.
    pub fn new(directory: Arc<Directory>, runtime: tokio::runtime::Handle) -> Self {
        Self { directory, runtime }
    }
}

impl DirectoryLogin for LdapLogin {
    fn login(&self, user: &str, password: &str) -> DirectoryOutcome {
        let password = SecretString::from(password.to_owned());
        match self.runtime.block_on(self.directory.authenticate(user, &password)) {
            // The name is the user's identity in tokens and teams: only its exact spelling.
            Ok(found) if found.username == user => {
                DirectoryOutcome::Valid { dn: found.dn, email: found.email, groups: found.groups }
            }
            Ok(found) => {
                tracing::info!("directory login as {user:?} refused: the directory spells the user {:?}", found.username);
                DirectoryOutcome::Invalid
            }
            Err(e) if e.is_authentication_failure() => DirectoryOutcome::Invalid,
            Err(e) => DirectoryOutcome::Unavailable(e.to_string()),
        }
    }
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    /// Directory users whose groups were read again.
    pub synced: Vec<String>,
    /// Directory users the directory no longer has: their groups were emptied.
    pub gone: Vec<String>,
    /// Users whose lookup failed (the directory's error), left as they were.
    pub failed: Vec<(String, String)>,
}

/// Reads every directory user's groups again. A user the directory no longer has keeps its
/// record (and its own namespace) but loses every group, so team access through groups ends.
pub async fn sync_directory_users(accounts: &Arc<Accounts>, directory: &Directory) -> Result<SyncReport> {
    let users = {
        let accounts = Arc::clone(accounts);
        tokio::task::spawn_blocking(move || accounts.users())
            .await
            .map_err(|e| crate::AccountsError::Store(e.to_string()))??
    };
    let mut report = SyncReport::default();
    for user in users {
        let UserSource::Directory { dn, .. } = &user.source else { continue };
        let (name, email) = (user.name.clone(), user.email.clone());
        let found: std::result::Result<Option<palisade_ldap::DirectoryUser>, LdapError> = directory.lookup(&name).await;
        let (dn, email, groups) = match found {
            Ok(Some(found)) if found.username == name => {
                report.synced.push(name.clone());
                (found.dn, found.email, found.groups)
            }
            Ok(_) => {
                report.gone.push(name.clone());
                (dn.clone(), email, Default::default())
            }
            Err(e) => {
                report.failed.push((name, e.to_string()));
                continue;
            }
        };
        let accounts = Arc::clone(accounts);
        tokio::task::spawn_blocking(move || accounts.sync_directory_user(&name, &dn, email.as_deref(), groups))
            .await
            .map_err(|e| crate::AccountsError::Store(e.to_string()))??;
    }
    Ok(report)
}
