//! One connection to the directory, every step bounded by the configured timeout.
//!
//! A session is opened per call of [`Directory`](crate::Directory)'s methods and closed at its
//! end, so a user's bind never outlives the call and no connection state is shared between
//! logins. The `ldap3` connection driver runs in its own task, aborted when the session drops.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapResult, Scope, SearchEntry, SearchOptions};
use rustls::ClientConfig;
use secrecy::{ExposeSecret, SecretString};
use tokio::task::JoinHandle;

use crate::config::{DirectoryConfig, TransportSecurity};
use crate::error::{LdapError, Result};

/// LDAP result codes this crate tells apart (RFC 4511 appendix A).
pub(crate) mod rc {
    /// success
    pub(crate) const SUCCESS: u32 = 0;
    /// sizeLimitExceeded: the entries returned so far are valid.
    pub(crate) const SIZE_LIMIT_EXCEEDED: u32 = 4;
    /// noSuchObject: the search base does not exist.
    pub(crate) const NO_SUCH_OBJECT: u32 = 32;
}

/// An open connection.
pub(crate) struct Session {
    ldap: Ldap,
    driver: JoinHandle<()>,
    url: String,
    timeout: Duration,
}

/// The outcome of a search: the entries (referrals left out) and whether the server cut the
/// list short at the size limit.
pub(crate) struct Found {
    pub(crate) entries: Vec<SearchEntry>,
    pub(crate) truncated: bool,
}

impl Session {
    /// Connects (and, for StartTLS, upgrades) within the timeout.
    pub(crate) async fn open(
        config: &DirectoryConfig,
        tls: Option<&Arc<ClientConfig>>,
    ) -> Result<Self> {
        let url = config.url().to_string();
        let timeout = config.timeout();
        let mut settings = LdapConnSettings::new()
            .set_starttls(config.security() == TransportSecurity::StartTls)
            .set_conn_timeout(timeout);
        if let Some(tls) = tls {
            settings = settings.set_config(Arc::clone(tls));
        }
        let connect = LdapConnAsync::from_url_with_settings(settings, config.url());
        let (conn, ldap) = match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => return Err(connect_error(&url, timeout, e)),
            Err(_elapsed) => return Err(no_answer(&url, timeout)),
        };
        let driver = tokio::spawn(async move {
            if let Err(error) = conn.drive().await {
                tracing::debug!(%error, "LDAP connection closed with an error");
            }
        });
        Ok(Self {
            ldap,
            driver,
            url,
            timeout,
        })
    }

    /// A simple bind (RFC 4513 §5.1.3). Returns the server's result, whatever its code.
    ///
    /// The caller must have refused an empty password: with one, the bind is unauthenticated
    /// and succeeds on many servers.
    pub(crate) async fn simple_bind(
        &mut self,
        dn: &str,
        password: &SecretString,
    ) -> Result<LdapResult> {
        debug_assert!(!password.expose_secret().is_empty());
        let (timeout, url) = (self.timeout, self.url.clone());
        let result = bounded(
            timeout,
            &url,
            self.ldap.simple_bind(dn, password.expose_secret()),
        )
        .await?;
        result.map_err(|e| self.op_error("bind", e))
    }

    /// A search; sizelimit 0 means the server's limit.
    pub(crate) async fn search(
        &mut self,
        operation: &'static str,
        base: &str,
        scope: Scope,
        filter: &str,
        attributes: &[&str],
        sizelimit: i32,
    ) -> Result<Found> {
        let (timeout, url) = (self.timeout, self.url.clone());
        let search = self
            .ldap
            .with_search_options(SearchOptions::new().sizelimit(sizelimit))
            .search(base, scope, filter, attributes.to_vec());
        let result = bounded(timeout, &url, search)
            .await?
            .map_err(|e| self.op_error(operation, e))?;
        let (entries, status) = (result.0, result.1);
        match status.rc {
            rc::SUCCESS | rc::SIZE_LIMIT_EXCEEDED => Ok(Found {
                entries: entries
                    .into_iter()
                    .filter(|entry| !entry.is_ref())
                    .map(SearchEntry::construct)
                    .collect(),
                truncated: status.rc == rc::SIZE_LIMIT_EXCEEDED,
            }),
            rc::NO_SUCH_OBJECT => Err(LdapError::Protocol {
                operation,
                reason: format!("the base {base:?} does not exist ({})", describe(&status)),
            }),
            _ => Err(LdapError::Protocol {
                operation,
                reason: describe(&status),
            }),
        }
    }

    /// Unbinds (best effort, bounded) and closes the connection.
    pub(crate) async fn close(mut self) {
        let _ = tokio::time::timeout(self.timeout, self.ldap.unbind()).await;
    }

    fn op_error(&self, operation: &'static str, error: ldap3::LdapError) -> LdapError {
        match error {
            ldap3::LdapError::Io { source } => LdapError::Unreachable {
                url: self.url.clone(),
                reason: format!("connection lost during {operation}: {source}"),
            },
            ldap3::LdapError::Timeout { .. } => no_answer(&self.url, self.timeout),
            other => LdapError::Protocol {
                operation,
                reason: other.to_string(),
            },
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// `"invalidCredentials (49): <server text>"`-style text for a result.
pub(crate) fn describe(result: &LdapResult) -> String {
    let name = match result.rc {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        4 => "sizeLimitExceeded",
        8 => "strongerAuthRequired",
        13 => "confidentialityRequired",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        _ => "result code",
    };
    if result.text.is_empty() {
        format!("{name} ({})", result.rc)
    } else {
        format!("{name} ({}): {}", result.rc, result.text)
    }
}

async fn bounded<T>(timeout: Duration, url: &str, op: impl Future<Output = T>) -> Result<T> {
    tokio::time::timeout(timeout, op)
        .await
        .map_err(|_elapsed| no_answer(url, timeout))
}

fn no_answer(url: &str, timeout: Duration) -> LdapError {
    LdapError::Unreachable {
        url: url.to_owned(),
        reason: format!("no answer within {} s", timeout.as_secs()),
    }
}

/// Sorts a connect failure into TLS, unreachable or protocol.
fn connect_error(url: &str, timeout: Duration, error: ldap3::LdapError) -> LdapError {
    let tls = |reason: String| LdapError::Tls {
        url: url.to_owned(),
        reason,
    };
    match error {
        ldap3::LdapError::Io { source } => {
            // tokio-rustls reports a failed handshake as an I/O error wrapping rustls' error.
            match source
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                Some(rustls_error) => tls(rustls_error.to_string()),
                None => LdapError::Unreachable {
                    url: url.to_owned(),
                    reason: source.to_string(),
                },
            }
        }
        ldap3::LdapError::Rustls { source } => tls(source.to_string()),
        ldap3::LdapError::DNSName { source } => tls(format!("invalid server name: {source}")),
        ldap3::LdapError::LdapResult { result } => tls(format!(
            "the server refused StartTLS: {}",
            describe(&result)
        )),
        ldap3::LdapError::Timeout { .. } => no_answer(url, timeout),
        other => LdapError::Protocol {
            operation: "connect",
            reason: other.to_string(),
        },
    }
}
