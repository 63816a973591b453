//! Authentication, lookup and the connection check against one directory.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use ldap3::{Scope, SearchEntry};
use rustls::ClientConfig;
use secrecy::{ExposeSecret, SecretString};

use crate::config::DirectoryConfig;
use crate::error::{LdapError, Result};
use crate::session::{describe, rc, Session};
use crate::tls;

/// A user as the directory knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The user name as stored in `username_attribute` (so `Alice` typed at the login form
    /// comes back as `alice` where the directory compares names case-insensitively).
    pub username: String,
    /// The user's distinguished name.
    pub dn: String,
    /// The first value of `email_attribute`, if any.
    pub email: Option<String>,
    /// The `group_name_attribute` of every group under `group_base` that `group_filter`
    /// matches; empty when no `group_base` is configured.
    pub groups: BTreeSet<String>,
}

/// An LDAP / Active Directory server used to authenticate registry users.
///
/// Every method opens its own connection, binds as the service account, does its work within
/// the configured timeout per step, and closes the connection: no state is kept between calls,
/// and a `Directory` can be shared (`Arc`) between tasks.
pub struct Directory {
    config: DirectoryConfig,
    tls: Option<Arc<ClientConfig>>,
}

impl Directory {
    /// Prepares a directory client: reads `ca_file` (or the system's roots) for TLS. Does not
    /// connect; see [`Directory::check`] for that.
    pub fn new(config: DirectoryConfig) -> Result<Self> {
        let tls = tls::client_config(&config)?;
        Ok(Self { config, tls })
    }

    /// The configuration this directory was built from.
    pub fn config(&self) -> &DirectoryConfig {
        &self.config
    }

    /// Checks `username`'s `password` and returns the user with their groups.
    ///
    /// Steps: refuse an empty password (an empty-password simple bind is an unauthenticated
    /// bind that many servers accept, RFC 4513 §5.1.2) before any connection; bind as the
    /// service account; search `user_base` with `user_filter` (the name escaped, RFC 4515),
    /// which must match exactly one entry; bind as that entry's DN with `password`; bind as
    /// the service account again and read the groups.
    ///
    /// Errors: [`LdapError::InvalidCredentials`] (empty or wrong password, or the server
    /// refused the user's bind for another reason such as a locked account; the reason is
    /// logged), [`LdapError::UserNotFound`] (answer both the same way: see
    /// [`LdapError::is_authentication_failure`]), [`LdapError::AmbiguousUser`], and the
    /// connection errors of [`Directory::check`].
    pub async fn authenticate(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<DirectoryUser> {
        if password.expose_secret().is_empty() {
            return Err(LdapError::InvalidCredentials);
        }
        if username.is_empty() {
            return Err(LdapError::UserNotFound {
                username: String::new(),
            });
        }
        let mut session = self.service_session().await?;
        let entry = self
            .find_user(&mut session, username)
            .await?
            .ok_or_else(|| LdapError::UserNotFound {
                username: username.to_owned(),
            })?;
        let bind = session.simple_bind(&entry.dn, password).await?;
        if bind.rc != rc::SUCCESS {
            tracing::info!(
                username,
                dn = %entry.dn,
                result = %describe(&bind),
                "the directory refused the user's bind"
            );
            session.close().await;
            return Err(LdapError::InvalidCredentials);
        }
        self.service_bind(&mut session).await?;
        let user = self.user_with_groups(&mut session, username, entry).await?;
        session.close().await;
        Ok(user)
    }

    /// Finds `username` without their password, for sync on demand or on a schedule: `None`
    /// when no entry matches (a user deleted from the directory).
    pub async fn lookup(&self, username: &str) -> Result<Option<DirectoryUser>> {
        if username.is_empty() {
            return Ok(None);
        }
        let mut session = self.service_session().await?;
        let user = match self.find_user(&mut session, username).await? {
            Some(entry) => Some(self.user_with_groups(&mut session, username, entry).await?),
            None => None,
        };
        session.close().await;
        Ok(user)
    }

    /// The console's "test LDAP" button: connects (with TLS as configured), binds as the
    /// service account, and reads the `user_base` (and `group_base`) entries.
    ///
    /// Errors: [`LdapError::Unreachable`], [`LdapError::Tls`], [`LdapError::ServiceBind`],
    /// [`LdapError::Config`] when a base does not exist, [`LdapError::Protocol`].
    pub async fn check(&self) -> Result<()> {
        let mut session = self.service_session().await?;
        let mut bases = vec![("user_base", self.config.user_base())];
        if let Some(group_base) = self.config.group_base() {
            bases.push(("group_base", group_base));
        }
        for (field, base) in bases {
            let found = session
                .search(
                    "base search",
                    base,
                    Scope::Base,
                    "(objectClass=*)",
                    &["1.1"],
                    1,
                )
                .await
                .map_err(|e| match e {
                    LdapError::Protocol { reason, .. } => LdapError::config(field, reason),
                    other => other,
                })?;
            if found.entries.is_empty() {
                return Err(LdapError::config(
                    field,
                    format!("the service account cannot read {base:?}"),
                ));
            }
        }
        session.close().await;
        Ok(())
    }

    async fn service_session(&self) -> Result<Session> {
        let mut session = Session::open(&self.config, self.tls.as_ref()).await?;
        self.service_bind(&mut session).await?;
        Ok(session)
    }

    async fn service_bind(&self, session: &mut Session) -> Result<()> {
        let result = session
            .simple_bind(self.config.bind_dn(), self.config.bind_password())
            .await?;
        if result.rc != rc::SUCCESS {
            return Err(LdapError::ServiceBind {
                bind_dn: self.config.bind_dn().to_owned(),
                reason: describe(&result),
            });
        }
        Ok(())
    }

    /// The one entry `user_filter` selects for `username`, or `None`.
    async fn find_user(
        &self,
        session: &mut Session,
        username: &str,
    ) -> Result<Option<SearchEntry>> {
        let filter = self.config.user_filter().render(username, "");
        let attributes = [
            self.config.username_attribute(),
            self.config.email_attribute(),
        ];
        // Two are enough to know the filter is ambiguous.
        let found = session
            .search(
                "user search",
                self.config.user_base(),
                Scope::Subtree,
                &filter,
                &attributes,
                2,
            )
            .await?;
        let mut entries = found.entries;
        match entries.len() {
            0 => Ok(None),
            1 => Ok(entries.pop()),
            count => Err(LdapError::AmbiguousUser {
                username: username.to_owned(),
                count,
            }),
        }
    }

    async fn user_with_groups(
        &self,
        session: &mut Session,
        typed: &str,
        entry: SearchEntry,
    ) -> Result<DirectoryUser> {
        let username = stored_username(&entry, self.config.username_attribute(), typed);
        let email = values(&entry, self.config.email_attribute())
            .and_then(|v| v.first())
            .cloned();
        let groups = match self.config.group_base() {
            Some(base) => {
                let filter = self.config.group_filter().render(&username, &entry.dn);
                let name_attribute = self.config.group_name_attribute();
                let found = session
                    .search(
                        "group search",
                        base,
                        Scope::Subtree,
                        &filter,
                        &[name_attribute],
                        0,
                    )
                    .await?;
                if found.truncated {
                    tracing::warn!(
                        username,
                        "the directory's size limit cut the group list short"
                    );
                }
                found
                    .entries
                    .iter()
                    .filter_map(|group| values(group, name_attribute)?.first().cloned())
                    .collect()
            }
            None => BTreeSet::new(),
        };
        Ok(DirectoryUser {
            username,
            dn: entry.dn,
            email,
            groups,
        })
    }
}

impl fmt::Debug for Directory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Directory")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// An attribute's values; attribute names compare case-insensitively (RFC 4512 §2.5).
fn values<'a>(entry: &'a SearchEntry, attribute: &str) -> Option<&'a Vec<String>> {
    entry
        .attrs
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
        .map(|(_, values)| values)
}

/// The stored spelling of the name: the value of the username attribute equal to what was
/// typed (ignoring case), else its first value, else what was typed.
fn stored_username(entry: &SearchEntry, attribute: &str, typed: &str) -> String {
    let Some(stored) = values(entry, attribute) else {
        return typed.to_owned();
    };
    stored
        .iter()
        .find(|v| v.eq_ignore_ascii_case(typed))
        .or_else(|| stored.first())
        .cloned()
        .unwrap_or_else(|| typed.to_owned())
}
