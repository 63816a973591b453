//! The `[auth.ldap]` configuration: parsed and checked in one step, so an invalid or insecure
//! configuration never exists as a [`DirectoryConfig`].

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::{Host, Url};

use crate::error::LdapError;
use crate::filter::{FilterTemplate, Placeholder};

/// Default `user_filter` (OpenLDAP `inetOrgPerson`/`posixAccount`).
pub const DEFAULT_USER_FILTER: &str = "(uid={username})";
/// Default `group_filter`: `groupOfNames`/`groupOfUniqueNames`-style `member` DNs and
/// `posixGroup` `memberUid` names.
pub const DEFAULT_GROUP_FILTER: &str = "(|(member={dn})(memberUid={username}))";
/// Default `timeout_seconds`: the bound on connecting and on each operation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest accepted `timeout_seconds`: a login should not wait longer than this for a server.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(120);

/// How the connection to the directory is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportSecurity {
    /// `ldaps://`: TLS from the first byte.
    Ldaps,
    /// `ldap://` without TLS: only to a loopback host, or with `allow_insecure = true`.
    Plaintext,
    /// `ldap://` upgraded with the StartTLS extended operation (RFC 4513 §3) before any bind.
    StartTls,
}

impl TransportSecurity {
    /// True when the connection uses TLS.
    pub fn is_tls(self) -> bool {
        !matches!(self, Self::Plaintext)
    }
}

/// The `[auth.ldap]` section of the registry's configuration.
///
/// ```toml
/// [auth.ldap]
/// url = "ldaps://ldap.example.com"          # or ldap://host with start_tls = true
/// ca_file = "/etc/palisade/ldap-ca.pem"     # optional; the system roots otherwise
/// bind_dn = "cn=registry,ou=services,dc=example,dc=com"
/// bind_password = "…"
/// user_base = "ou=people,dc=example,dc=com"
/// group_base = "ou=groups,dc=example,dc=com"  # optional; no groups without it
/// ```
///
/// Deserializing checks everything (unknown keys are errors, see the field list on
/// [`DirectoryConfig::url`] and its siblings), so a value of this type is always valid:
/// - `url` is `ldap://host[:port]` or `ldaps://host[:port]`, with no DN, filter or user info;
/// - `start_tls = true` with `ldaps://` is an error (it would be TLS twice);
/// - plain `ldap://` without `start_tls` is refused unless the host is loopback (127.0.0.0/8,
///   `::1`, `localhost`) or `allow_insecure = true`: passwords would cross the network in clear;
/// - `ca_file` needs TLS and must hold at least one PEM certificate (read by
///   [`Directory::new`](crate::Directory::new));
/// - `bind_dn` and `bind_password` are not empty: an empty password makes a simple bind
///   anonymous (RFC 4513 §5.1.2), which is not a service account;
/// - `user_filter` uses `{username}`, `group_filter` uses `{username}` and/or `{dn}`, and both
///   are valid RFC 4515 filters; values are escaped when substituted;
/// - attribute names are attribute descriptions (letters, digits, `-`, `;`, `.`);
/// - `timeout_seconds` is 1 to 120.
///
/// `bind_password` is a [`SecretString`]: `Debug` prints it as redacted and nothing in this
/// crate logs it.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "RawConfig")]
pub struct DirectoryConfig {
    url: Url,
    security: TransportSecurity,
    ca_file: Option<PathBuf>,
    bind_dn: String,
    bind_password: SecretString,
    user_base: String,
    user_filter: FilterTemplate,
    username_attribute: String,
    email_attribute: String,
    group_base: Option<String>,
    group_filter: FilterTemplate,
    group_name_attribute: String,
    timeout: Duration,
}

impl DirectoryConfig {
    /// The server's URL, e.g. `ldaps://ldap.example.com:636`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// How the connection is protected.
    pub fn security(&self) -> TransportSecurity {
        self.security
    }

    /// The PEM file of CA certificates trusted for the server's certificate; `None` means the
    /// system's roots.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// The service account's DN.
    pub fn bind_dn(&self) -> &str {
        &self.bind_dn
    }

    /// The base DN of the user search (subtree).
    pub fn user_base(&self) -> &str {
        &self.user_base
    }

    /// The base DN of the group search (subtree); `None` when groups are not read.
    pub fn group_base(&self) -> Option<&str> {
        self.group_base.as_deref()
    }

    /// The bound on connecting and on each operation.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn bind_password(&self) -> &SecretString {
        &self.bind_password
    }

    pub(crate) fn user_filter(&self) -> &FilterTemplate {
        &self.user_filter
    }

    pub(crate) fn username_attribute(&self) -> &str {
        &self.username_attribute
    }

    pub(crate) fn email_attribute(&self) -> &str {
        &self.email_attribute
    }

    pub(crate) fn group_filter(&self) -> &FilterTemplate {
        &self.group_filter
    }

    pub(crate) fn group_name_attribute(&self) -> &str {
        &self.group_name_attribute
    }
}

/// The section as written, before any check.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    url: String,
    #[serde(default)]
    start_tls: bool,
    #[serde(default)]
    ca_file: Option<PathBuf>,
    #[serde(default)]
    allow_insecure: bool,
    bind_dn: String,
    bind_password: SecretString,
    user_base: String,
    #[serde(default = "default_user_filter")]
    user_filter: String,
    #[serde(default = "default_username_attribute")]
    username_attribute: String,
    #[serde(default = "default_email_attribute")]
    email_attribute: String,
    #[serde(default)]
    group_base: Option<String>,
    #[serde(default = "default_group_filter")]
    group_filter: String,
    #[serde(default = "default_group_name_attribute")]
    group_name_attribute: String,
    #[serde(default = "default_timeout_seconds")]
    timeout_seconds: u64,
}

fn default_user_filter() -> String {
    DEFAULT_USER_FILTER.to_owned()
}

fn default_username_attribute() -> String {
    "uid".to_owned()
}

fn default_email_attribute() -> String {
    "mail".to_owned()
}

fn default_group_filter() -> String {
    DEFAULT_GROUP_FILTER.to_owned()
}

fn default_group_name_attribute() -> String {
    "cn".to_owned()
}

fn default_timeout_seconds() -> u64 {
    DEFAULT_TIMEOUT.as_secs()
}

impl TryFrom<RawConfig> for DirectoryConfig {
    type Error = LdapError;

    fn try_from(raw: RawConfig) -> Result<Self, LdapError> {
        let url = parse_url(&raw.url)?;
        let security = match (url.scheme(), raw.start_tls) {
            ("ldaps", true) => {
                return Err(LdapError::config(
                    "start_tls",
                    "start_tls = true needs an ldap:// url; ldaps:// is TLS already",
                ))
            }
            ("ldaps", false) => TransportSecurity::Ldaps,
            (_, true) => TransportSecurity::StartTls,
            (_, false) if raw.allow_insecure || is_loopback(&url) => TransportSecurity::Plaintext,
            (_, false) => {
                return Err(LdapError::config(
                    "url",
                    format!(
                        "{} would send passwords in clear text; use ldaps://, or \
                         start_tls = true, or (only on a trusted network) allow_insecure = true",
                        raw.url
                    ),
                ))
            }
        };
        if raw.ca_file.is_some() && !security.is_tls() {
            return Err(LdapError::config(
                "ca_file",
                "a CA file needs TLS: use ldaps:// or start_tls = true",
            ));
        }
        let bind_dn = non_empty("bind_dn", raw.bind_dn)?;
        if raw.bind_password.expose_secret().is_empty() {
            return Err(LdapError::config(
                "bind_password",
                "is empty; an empty password makes the bind anonymous",
            ));
        }
        let user_base = non_empty("user_base", raw.user_base)?;
        let group_base = match raw.group_base {
            Some(base) => Some(non_empty("group_base", base)?),
            None => None,
        };
        let user_filter = FilterTemplate::parse(&raw.user_filter, &[Placeholder::Username])
            .map_err(|reason| LdapError::config("user_filter", reason))?;
        let group_filter =
            FilterTemplate::parse(&raw.group_filter, &[Placeholder::Dn, Placeholder::Username])
                .map_err(|reason| LdapError::config("group_filter", reason))?;
        let timeout = Duration::from_secs(raw.timeout_seconds);
        if timeout.is_zero() || timeout > MAX_TIMEOUT {
            return Err(LdapError::config(
                "timeout_seconds",
                format!("must be 1 to {}", MAX_TIMEOUT.as_secs()),
            ));
        }
        Ok(Self {
            url,
            security,
            ca_file: raw.ca_file,
            bind_dn,
            bind_password: raw.bind_password,
            user_base,
            user_filter,
            username_attribute: attribute("username_attribute", raw.username_attribute)?,
            email_attribute: attribute("email_attribute", raw.email_attribute)?,
            group_base,
            group_filter,
            group_name_attribute: attribute("group_name_attribute", raw.group_name_attribute)?,
            timeout,
        })
    }
}

fn parse_url(text: &str) -> Result<Url, LdapError> {
    let bad = |reason: String| LdapError::config("url", reason);
    let url = Url::parse(text).map_err(|e| bad(format!("{text:?}: {e}")))?;
    if !matches!(url.scheme(), "ldap" | "ldaps") {
        return Err(bad(format!(
            "{text:?}: the scheme must be ldap:// or ldaps://"
        )));
    }
    match url.host() {
        None => return Err(bad(format!("{text:?} names no host"))),
        Some(Host::Domain("")) => return Err(bad(format!("{text:?} names no host"))),
        // The client hands the bracketed form to TLS as a server name, which fails.
        Some(Host::Ipv6(_)) if url.scheme() == "ldaps" => {
            return Err(bad(format!(
                "{text:?}: TLS to an IPv6 literal is not supported; use a host name"
            )))
        }
        Some(_) => {}
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(format!(
            "{text:?} carries user info; use bind_dn and bind_password"
        )));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(bad(format!(
            "{text:?} has a DN, filter or other LDAP URL parts; use user_base, user_filter …"
        )));
    }
    Ok(url)
}

/// True when the URL's host is this machine: 127.0.0.0/8, `::1` or `localhost`.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        // ldap:// is not a WHATWG "special" scheme, so an IPv4 address arrives as a domain.
        Some(Host::Domain(name)) => {
            if let Ok(ip) = name.parse::<IpAddr>() {
                return ip.is_loopback();
            }
            let name = name.trim_end_matches('.');
            name.eq_ignore_ascii_case("localhost")
                || name.to_ascii_lowercase().ends_with(".localhost")
        }
        None => false,
    }
}

fn non_empty(field: &'static str, value: String) -> Result<String, LdapError> {
    if value.trim().is_empty() {
        return Err(LdapError::config(field, "must not be empty"));
    }
    Ok(value)
}

/// An attribute description (RFC 4512 §2.5): a name or OID with options.
fn attribute(field: &'static str, value: String) -> Result<String, LdapError> {
    let valid = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | ';' | '.'));
    if !valid {
        return Err(LdapError::config(
            field,
            format!("{value:?} is not an attribute name"),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Result<DirectoryConfig, String> {
        let text = format!(
            "bind_dn = \"cn=reader,dc=t\"\nbind_password = \"pw\"\nuser_base = \"dc=t\"\n{extra}"
        );
        toml::from_str::<DirectoryConfig>(&text).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let c = config("url = \"ldaps://ldap.example.com\"").unwrap();
        assert_eq!(c.security(), TransportSecurity::Ldaps);
        assert_eq!(c.timeout(), DEFAULT_TIMEOUT);
        assert_eq!(c.username_attribute(), "uid");
        assert_eq!(c.email_attribute(), "mail");
        assert_eq!(c.group_name_attribute(), "cn");
        assert_eq!(c.group_base(), None);
        assert_eq!(c.user_filter().render("a", ""), "(uid=a)");
        assert_eq!(
            c.group_filter().render("a", "uid=a,dc=t"),
            "(|(member=uid=a,dc=t)(memberUid=a))"
        );
    }

    #[test]
    fn start_tls_with_ldaps_is_refused() {
        let e = config("url = \"ldaps://ldap.example.com\"\nstart_tls = true").unwrap_err();
        assert!(e.contains("start_tls"), "{e}");
    }

    #[test]
    fn plaintext_only_to_loopback_or_when_allowed() {
        let e = config("url = \"ldap://ldap.example.com\"").unwrap_err();
        assert!(e.contains("clear text"), "{e}");
        for url in [
            "ldap://127.0.0.1:389",
            "ldap://127.8.9.10",
            "ldap://localhost",
            "ldap://[::1]:1389",
        ] {
            let c = config(&format!("url = \"{url}\"")).unwrap();
            assert_eq!(c.security(), TransportSecurity::Plaintext, "{url}");
        }
        let c = config("url = \"ldap://ldap.example.com\"\nallow_insecure = true").unwrap();
        assert_eq!(c.security(), TransportSecurity::Plaintext);
        let c = config("url = \"ldap://ldap.example.com\"\nstart_tls = true").unwrap();
        assert_eq!(c.security(), TransportSecurity::StartTls);
    }

    #[test]
    fn bad_values_are_refused() {
        let cases = [
            ("url = \"http://ldap.example.com\"", "scheme"),
            ("url = \"ldaps://\"", "host"),
            ("url = \"ldaps://u:p@ldap.example.com\"", "user info"),
            ("url = \"ldaps://ldap.example.com/dc=t??sub\"", "DN"),
            (
                "url = \"ldap://127.0.0.1\"\nca_file = \"/ca.pem\"",
                "needs TLS",
            ),
            (
                "url = \"ldaps://h\"\nuser_filter = \"(uid=alice)\"",
                "placeholder",
            ),
            (
                "url = \"ldaps://h\"\ngroup_filter = \"(member={x})\"",
                "unknown",
            ),
            (
                "url = \"ldaps://h\"\nemail_attribute = \"ma il\"",
                "attribute",
            ),
            (
                "url = \"ldaps://h\"\ntimeout_seconds = 0",
                "timeout_seconds",
            ),
            ("url = \"ldaps://h\"\nbogus = 1", "unknown field"),
        ];
        for (extra, needle) in cases {
            let e = config(extra).unwrap_err();
            assert!(e.contains(needle), "{extra}: {e}");
        }
        let e = toml::from_str::<DirectoryConfig>(
            "url = \"ldaps://h\"\nbind_dn = \"cn=r\"\nbind_password = \"\"\nuser_base = \"dc=t\"",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("anonymous"), "{e}");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let text = "url = \"ldaps://h\"\nbind_dn = \"cn=r\"\nbind_password = \"hunter2-secret\"\n\
                    user_base = \"dc=t\"";
        let c: DirectoryConfig = toml::from_str(text).unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("cn=r"), "{debug}");
    }
}
