//! LDAP / Active Directory authentication for the trusted registry.
//!
//! The registry authenticates users the way Harbor does:
//! 1. bind as a service account (`bind_dn`);
//! 2. search `user_base` with `user_filter` (`(uid={username})`, or
//!    `(sAMAccountName={username})` for Active Directory): exactly one entry must match;
//! 3. bind as that entry's DN with the user's password;
//! 4. read the user's groups (`group_filter` under `group_base`) to map them to teams.
//!
//! [`Directory::lookup`] does steps 1, 2 and 4 for sync on demand and on a schedule, and
//! [`Directory::check`] is the console's "test LDAP" button.
//!
//! Security properties:
//! - the connection uses TLS (`ldaps://` or StartTLS, rustls, the server's certificate
//!   verified against `ca_file` or the system's roots) unless the server is on loopback or the
//!   operator wrote `allow_insecure = true`;
//! - an empty password is refused before any bind (it would be an unauthenticated bind);
//! - every value put into a filter is escaped (RFC 4515), so `*` or `alice)(uid=*` match
//!   nothing but a user of that literal name;
//! - wrong password and unknown user are separate errors for logs, and
//!   [`LdapError::is_authentication_failure`] tells callers to answer both the same way;
//! - passwords are [`secrecy::SecretString`]s: never in `Debug` output, errors or logs;
//! - connecting and every operation are bounded by `timeout_seconds`.
//!
//! ```no_run
//! # async fn demo(text: &str) -> Result<(), Box<dyn std::error::Error>> {
//! use palisade_ldap::{Directory, DirectoryConfig};
//! use secrecy::SecretString;
//!
//! let config: DirectoryConfig = toml::from_str(text)?; // the [auth.ldap] table
//! let directory = Directory::new(config)?;
//! let user = directory
//!     .authenticate("alice", &SecretString::from("alice's password"))
//!     .await?;
//! println!("{} is in {:?}", user.username, user.groups);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod directory;
mod error;
mod filter;
mod session;
mod tls;

pub use config::{
    DirectoryConfig, TransportSecurity, DEFAULT_GROUP_FILTER, DEFAULT_TIMEOUT, DEFAULT_USER_FILTER,
    MAX_TIMEOUT,
};
pub use directory::{Directory, DirectoryUser};
pub use error::{LdapError, Result};
