//! The access model as the registry's [`Credentials`] and [`Authorizer`].

use std::collections::BTreeSet;
use std::sync::Arc;

use palisade_registry::auth::{governing_repo, Action, Authorizer, Credentials, Identity, RecentLogins};

use crate::model::UserSource;
use crate::store::{Accounts, BCRYPT_COST};

/// What a directory says of a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryOutcome {
    /// The password is right: the user's DN, e-mail and groups.
    Valid {
        /// Distinguished name.
        dn: String,
        /// E-mail, if the directory has one.
        email: Option<String>,
        /// Group names.
        groups: BTreeSet<String>,
    },
    /// Wrong password, or no such user (told apart by nobody).
    Invalid,
    /// The directory could not answer (unreachable, TLS, service bind): local users still log in.
    Unavailable(String),
}

/// A directory (LDAP) that checks passwords. Blocking: called from a blocking thread.
pub trait DirectoryLogin: Send + Sync {
    /// Checks `password` for `user`.
    fn login(&self, user: &str, password: &str) -> DirectoryOutcome;
}

/// Checks passwords: local users against their bcrypt hash, everyone else against the
/// directory (if there is one), whose answer also syncs the user's record and groups.
pub struct AccountCredentials {
    accounts: Arc<Accounts>,
    directory: Option<Arc<dyn DirectoryLogin>>,
    recent: RecentLogins,
    /// Checked when the user is unknown, so that timing does not tell who exists.
    dummy: String,
}

impl std::fmt::Debug for AccountCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountCredentials").field("directory", &self.directory.is_some()).finish_non_exhaustive()
    }
}

impl AccountCredentials {
    /// Credentials from `accounts`, with `directory` for users not kept locally.
    pub fn new(accounts: Arc<Accounts>, directory: Option<Arc<dyn DirectoryLogin>>) -> crate::Result<Self> {
        let dummy = bcrypt::hash("palisade-dummy-password", BCRYPT_COST).map_err(|e| crate::AccountsError::Store(e.to_string()))?;
        Ok(Self { accounts, directory, recent: RecentLogins::default(), dummy })
    }

    /// One bcrypt check against `hash`, or against the dummy when there is none (which then
    /// fails): an unknown user costs what a real one does.
    fn verify_local_or_dummy(&self, hash: Option<&str>, password: &str) -> bool {
        let ok = bcrypt::verify(password, hash.unwrap_or(&self.dummy)).unwrap_or(false);
        ok && hash.is_some()
    }

    fn verify_uncached(&self, user: &str, password: &str) -> bool {
        let record = match self.accounts.user(user) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("accounts database: {e}");
                return false;
            }
        };
        match record.map(|u| u.source) {
            Some(UserSource::Local { password_hash }) => self.verify_local_or_dummy(Some(&password_hash), password),
            _ => match &self.directory {
                Some(directory) => match directory.login(user, password) {
                    DirectoryOutcome::Valid { dn, email, groups } => {
                        match self.accounts.sync_directory_user(user, &dn, email.as_deref(), groups) {
                            Ok(_) => true,
                            Err(e) => {
                                tracing::warn!("directory user {user:?} cannot log in: {e}");
                                false
                            }
                        }
                    }
                    DirectoryOutcome::Invalid => false,
                    DirectoryOutcome::Unavailable(why) => {
                        tracing::warn!("directory unavailable for {user:?}'s login: {why}");
                        false
                    }
                },
                None => self.verify_local_or_dummy(None, password),
            },
        }
    }
}

impl Credentials for AccountCredentials {
    fn verify(&self, user: &str, password: &str) -> bool {
        if password.is_empty() {
            return false;
        }
        if self.recent.contains(user, password) {
            return true;
        }
        let ok = self.verify_uncached(user, password);
        if ok {
            self.recent.remember(user, password);
        }
        ok
    }

    fn recently_verified(&self, user: &str, password: &str) -> bool {
        self.recent.contains(user, password)
    }
}

/// Decides registry and trust-server scopes from the access model. A name that maps to no
/// repository, and any database failure, refuse (fail closed).
#[derive(Debug, Clone)]
pub struct AccountsAuthorizer(pub Arc<Accounts>);

impl Authorizer for AccountsAuthorizer {
    fn allows(&self, who: &Identity, name: &str, action: Action) -> bool {
        let Some(repo) = governing_repo(name) else { return false };
        match self.0.allows(who.user(), &repo, action) {
            Ok(allowed) => allowed,
            Err(e) => {
                tracing::warn!("accounts database: {e}; refusing {} on {name}", action.as_str());
                false
            }
        }
    }
}
