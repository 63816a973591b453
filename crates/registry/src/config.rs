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
//!
//! [storage]
//! kind = "filesystem"             # "filesystem" (default) | "s3"
//! root = "/var/lib/palisade/registry"   # filesystem; `--root` overrides
//! # kind = "s3"
//! # bucket = "registry"           # must exist
//! # region = "us-east-1"
//! # endpoint = "http://127.0.0.1:9000"  # S3-compatible services (path-style); omit for AWS
//! # prefix = "palisade"           # key prefix inside the bucket
//! # access_key_id / secret_access_key / session_token: default from AWS_* environment
//! delete = true                   # false: DELETE of blobs and manifests answers 405 UNSUPPORTED
//! ```
//! A repository matching no rule can be pulled and pushed by any authenticated user (or by
//! anyone when auth mode is `none`). A name whose first component is a host name (it has a `.`
//! or a `:`, is `localhost`, or has upper case — as docker's reference parser decides), such as
//! the trust GUN `registry.example.com/app`, is governed by the rule of the repository after the
//! host (`app`); a name with no valid repository after the host is refused.

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
    /// Where blobs and metadata live.
    pub storage: StorageConfig,
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

/// Storage backend kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// A local directory ([`crate::driver::FsDriver`]).
    #[default]
    Filesystem,
    /// An S3 bucket ([`crate::driver::S3Driver`]).
    S3,
}

/// `[storage]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Backend.
    pub kind: StorageKind,
    /// Filesystem root.
    pub root: Option<PathBuf>,
    /// S3 bucket.
    pub bucket: Option<String>,
    /// S3 region (default `us-east-1`).
    pub region: Option<String>,
    /// S3 endpoint URL (S3-compatible services).
    pub endpoint: Option<String>,
    /// Key prefix inside the bucket.
    pub prefix: Option<String>,
    /// S3 access key id (default: `AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// S3 secret access key (default: `AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<String>,
    /// S3 session token (default: `AWS_SESSION_TOKEN`).
    pub session_token: Option<String>,
    /// Whether blobs and manifests may be deleted (distribution's `storage.delete.enabled`).
    pub delete: Deletes,
}

/// `[storage] delete = true|false`: whether `DELETE` of blobs, manifests and tags is served.
/// Enabled by default (Palisade always served deletes); when disabled they answer 405
/// `UNSUPPORTED`, as distribution does. Cancelling an upload is not a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(from = "bool")]
pub enum Deletes {
    /// Deletes are served.
    #[default]
    Enabled,
    /// Deletes answer 405.
    Disabled,
}

impl From<bool> for Deletes {
    fn from(enabled: bool) -> Self {
        if enabled {
            Self::Enabled
        } else {
            Self::Disabled
        }
    }
}

impl StorageConfig {
    /// Open the configured driver; `root` (the `--root` flag) overrides `storage.root`.
    pub fn open(&self, root: Option<&std::path::Path>) -> Result<std::sync::Arc<dyn crate::driver::StorageDriver>> {
        let bad = |reason: &str| Error::Config { reason: format!("[storage]: {reason}") };
        match self.kind {
            StorageKind::Filesystem => {
                let root = root.map(PathBuf::from).or_else(|| self.root.clone()).ok_or_else(|| {
                    bad("filesystem storage needs a root (`root = ...` or --root)")
                })?;
                Ok(std::sync::Arc::new(crate::driver::FsDriver::new(root)?))
            }
            StorageKind::S3 => {
                if root.is_some() || self.root.is_some() {
                    return Err(bad("`root` / --root do not apply to s3 storage"));
                }
                let bucket = self.bucket.clone().ok_or_else(|| bad("s3 storage needs `bucket`"))?;
                let opts = crate::driver::S3Options {
                    bucket,
                    region: self.region.clone().unwrap_or_else(|| "us-east-1".into()),
                    endpoint: self.endpoint.clone(),
                    prefix: self.prefix.clone(),
                    access_key_id: self.access_key_id.clone(),
                    secret_access_key: self.secret_access_key.clone(),
                    session_token: self.session_token.clone(),
                };
                Ok(std::sync::Arc::new(crate::driver::S3Driver::new(&opts)?))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{RegistryConfig, StorageKind};

    #[test]
    fn storage_section_parses_and_rejects_unknown_fields() {
        let c = RegistryConfig::from_toml(
            "[storage]\nkind = \"s3\"\nbucket = \"b\"\nendpoint = \"http://127.0.0.1:1\"\n",
        )
        .unwrap();
        assert_eq!(c.storage.kind, StorageKind::S3);
        assert_eq!(c.storage.delete, super::Deletes::Enabled);
        let off = RegistryConfig::from_toml("[storage]\ndelete = false\n").unwrap();
        assert_eq!(off.storage.delete, super::Deletes::Disabled);
        assert!(c.storage.open(None).is_ok());
        assert!(c.storage.open(Some(std::path::Path::new("/tmp"))).is_err());
        assert!(RegistryConfig::from_toml("[storage]\nkind = \"s3\"\nbukket = \"b\"\n").is_err());
        assert!(RegistryConfig::from_toml("[storage]\nkind = \"gcs\"\n").is_err());
        assert!(RegistryConfig::default().storage.open(None).is_err());
    }
}
