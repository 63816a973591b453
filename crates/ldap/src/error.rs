//! The crate's one error type.

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, LdapError>;

/// Why a directory operation failed.
///
/// Whose fault it was:
/// - the person logging in: [`InvalidCredentials`](Self::InvalidCredentials),
///   [`UserNotFound`](Self::UserNotFound);
/// - the operator's configuration or directory: [`AmbiguousUser`](Self::AmbiguousUser),
///   [`Config`](Self::Config), [`ServiceBind`](Self::ServiceBind), [`Tls`](Self::Tls);
/// - the environment or the server: [`Unreachable`](Self::Unreachable),
///   [`Protocol`](Self::Protocol).
///
/// **Callers must answer [`InvalidCredentials`](Self::InvalidCredentials) and
/// [`UserNotFound`](Self::UserNotFound) the same way** (same message, same status, see
/// [`LdapError::is_authentication_failure`]), or a login form tells anyone which user names
/// exist. The two stay apart so that logs and the console's sync can tell them apart.
///
/// No variant ever carries a password: neither the service account's nor a user's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LdapError {
    /// The user filter matched more than one entry: the filter or the directory is wrong.
    #[error(
        "{count} directory entries match user {username:?}; user_filter must select exactly one"
    )]
    AmbiguousUser {
        /// The name that was looked up.
        username: String,
        /// How many entries matched (at least 2; the search stops at 2).
        count: usize,
    },

    /// The `[auth.ldap]` configuration is invalid (also a CA file that cannot be read).
    #[error("invalid [auth.ldap] setting `{field}`: {reason}")]
    Config {
        /// The setting at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The user exists but the directory refused the password (or the password was empty).
    /// Its message deliberately says no more than "invalid username or password".
    #[error("invalid username or password")]
    InvalidCredentials,

    /// The server answered something this crate cannot use (an unexpected result code, a
    /// missing base entry, a dropped connection in the middle of an operation).
    #[error("LDAP {operation} failed: {reason}")]
    Protocol {
        /// The operation that failed, e.g. "user search".
        operation: &'static str,
        /// The server's result code and text, or the client's error.
        reason: String,
    },

    /// The directory refused the service account (`bind_dn` / `bind_password`).
    #[error(
        "the directory refused the service account bind as {bind_dn:?} ({reason}); \
         check bind_dn and bind_password"
    )]
    ServiceBind {
        /// The configured `bind_dn`.
        bind_dn: String,
        /// The server's result code and text.
        reason: String,
    },

    /// The TLS handshake (ldaps:// or StartTLS) failed, or the server refused StartTLS.
    #[error("TLS with the directory at {url} failed: {reason}")]
    Tls {
        /// The configured URL.
        url: String,
        /// Why, e.g. the certificate's issuer is unknown (wrong `ca_file`).
        reason: String,
    },

    /// The server could not be reached or did not answer within `timeout_seconds`.
    #[error("the directory at {url} is unreachable: {reason}")]
    Unreachable {
        /// The configured URL.
        url: String,
        /// Why: the connect error, or the timeout that ran out.
        reason: String,
    },

    /// No directory entry matches the user filter. Show it to the person logging in exactly
    /// as [`InvalidCredentials`](Self::InvalidCredentials).
    #[error("no directory user matches {username:?}")]
    UserNotFound {
        /// The name that was looked up.
        username: String,
    },
}

impl LdapError {
    /// The message for the person logging in when [`is_authentication_failure`] is true: it
    /// does not say whether the user exists.
    ///
    /// [`is_authentication_failure`]: Self::is_authentication_failure
    pub const AUTHENTICATION_FAILED: &'static str = "invalid username or password";

    /// True for the failures that are the login's fault and must be answered identically
    /// (HTTP 401 with [`AUTHENTICATION_FAILED`](Self::AUTHENTICATION_FAILED)):
    /// [`InvalidCredentials`](Self::InvalidCredentials) and
    /// [`UserNotFound`](Self::UserNotFound).
    pub fn is_authentication_failure(&self) -> bool {
        matches!(self, Self::InvalidCredentials | Self::UserNotFound { .. })
    }

    /// True when trying again later may succeed (the server was unreachable or slow).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }

    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Config {
            field,
            reason: reason.into(),
        }
    }
}
