//! Registry configuration (the `registry.toml` file), all fields optional with safe defaults.
//!
//! ```toml
//! [auth]
//! mode = "token"                  # "none" | "basic" | "token"; default: basic if htpasswd is set
//! realm = "palisade-registry"
//! htpasswd = "/etc/palisade/htpasswd"   # bcrypt entries only (`htpasswd -Bbn user pass`)
//! [auth.token]
//! service = "palisade-registry"
//! issuer = "palisade-registry"
//! ttl_seconds = 300
//! key = "/etc/palisade/token-key.pem"   # PKCS#8 P-256 key; generated at startup when absent
//! realm = "https://registry.example/token"  # default: <scheme>://<Host>/token
//!
//! [[repository]]                  # first matching rule wins
//! name = "public/*"               # exact name, "prefix/*" or "*"
//! public = true                   # anonymous pull
//! pull = ["*"]                    # users ("*" = any authenticated user)
//! push = ["alice"]
//!
//! [limits]
//! max_manifest_bytes = 4194304
//! max_page_entries = 1000
//! ```
//! A repository matching no rule can be pulled and pushed by any authenticated user (or by
//! anyone when auth mode is `none`).

use std::path::PathBuf;

use serde::Deserialize;

use crate::error::{Error, Result};

/// Whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// Authentication.
    pub auth: AuthConfig,
    /// Per-repository access rules, first match wins.
    pub repository: Vec<RepositoryRule>,
    /// Size and count caps.
    pub limits: Limits,
}

impl RegistryConfig {
    /// Parse TOML text.
    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::Config { reason: e.to_string() })
    }

    /// Read and parse a TOML file.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::ConfigRead { path: path.to_owned(), source })?;
        Self::from_toml(&text)
    }
}

/// How clients authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// No authentication: everyone may pull and push (local development only).
    None,
    /// HTTP Basic with the htpasswd file on every request.
    Basic,
    /// Docker token protocol: Basic at the embedded `/token` endpoint, Bearer JWTs elsewhere.
    Token,
}

/// `[auth]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Mode; default: `basic` when `htpasswd` is set, otherwise `none`.
    pub mode: Option<AuthMode>,
    /// Realm for Basic challenges.
    pub realm: String,
    /// htpasswd file with bcrypt entries.
    pub htpasswd: Option<PathBuf>,
    /// Token service settings.
    pub token: TokenConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { mode: None, realm: "palisade-registry".into(), htpasswd: None, token: TokenConfig::default() }
    }
}

impl AuthConfig {
    /// The effective mode.
    pub fn effective_mode(&self) -> AuthMode {
        self.mode.unwrap_or(if self.htpasswd.is_some() { AuthMode::Basic } else { AuthMode::None })
    }
}

/// `[auth.token]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// `service` (JWT audience).
    pub service: String,
    /// JWT issuer.
    pub issuer: String,
    /// Token lifetime in seconds.
    pub ttl_seconds: u64,
    /// PKCS#8 PEM P-256 signing key; generated at startup when absent.
    pub key: Option<PathBuf>,
    /// Token endpoint URL announced in challenges; default `<scheme>://<Host>/token`.
    pub realm: Option<String>,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            service: "palisade-registry".into(),
            issuer: "palisade-registry".into(),
            ttl_seconds: 300,
            key: None,
            realm: None,
        }
    }
}

/// `[[repository]]`: who may do what on matching repositories.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryRule {
    /// Exact name, `prefix/*`, or `*`.
    pub name: String,
    /// Anonymous pull allowed.
    #[serde(default)]
    pub public: bool,
    /// Users who may pull (`*` = any authenticated user).
    #[serde(default)]
    pub pull: Vec<String>,
    /// Users who may push (and delete).
    #[serde(default)]
    pub push: Vec<String>,
}

impl RepositoryRule {
    /// Whether the rule applies to `repo`.
    pub fn matches(&self, repo: &str) -> bool {
        if self.name == "*" {
            return true;
        }
        match self.name.strip_suffix("/*") {
            Some(prefix) => repo.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/')),
            None => self.name == repo,
        }
    }
}

/// Size and count caps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest accepted manifest (default 4 MiB, like distribution).
    pub max_manifest_bytes: usize,
    /// Cap on `n` for tag and catalog pages (default 1000).
    pub max_page_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_manifest_bytes: 4 * 1024 * 1024, max_page_entries: 1000 }
    }
}
