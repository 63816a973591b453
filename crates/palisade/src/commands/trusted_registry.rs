//! The trusted registry that `palisade registry serve --accounts` and `palisade up` both run:
//! the registry with its users, organisations, teams and repository permissions from the
//! accounts model, optionally an LDAP directory, the JSON API under `/api/v1/`, and the web
//! console under `/console/`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use palisade_accounts::Accounts;
use palisade_registry::driver::StorageDriver;
use palisade_registry::{Registry, RegistryConfig};

/// A registry whose access decisions come from an accounts model.
pub(crate) struct TrustedRegistry {
    pub(crate) registry: Registry,
    pub(crate) accounts: Arc<Accounts>,
    pub(crate) directory: Option<Arc<palisade_ldap::Directory>>,
}

/// The directory users log in against, if any.
pub(crate) struct DirectoryOptions<'a> {
    /// The `--ldap` TOML file.
    pub(crate) file: &'a Path,
    /// How often every directory user's groups are read again.
    pub(crate) sync_every: Duration,
}

/// What the console shows beside the accounts and the registry.
pub(crate) struct ConsoleParts {
    pub(crate) storage: String,
    pub(crate) tls_certificate: palisade_console::TlsCertificate,
    pub(crate) audit: Option<Arc<palisade_audit::AuditLog>>,
    pub(crate) signers: Option<Arc<dyn palisade_console::SignerLookup>>,
    pub(crate) scans: Option<Arc<dyn palisade_console::ScanLookup>>,
}

impl TrustedRegistry {
    /// The registry on `driver` with `config` (whose auth mode must not be `none`), its access
    /// model `accounts`, changes of which are recorded in `audit`. A config with
    /// `[[repository]]` rules is refused: with accounts they would silently not apply.
    pub(crate) fn open(
        driver: Arc<dyn StorageDriver>,
        config: &RegistryConfig,
        accounts: Accounts,
        directory: Option<DirectoryOptions<'_>>,
        audit: Option<&Arc<palisade_audit::AuditLog>>,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            config.repository.is_empty(),
            "the registry config has [[repository]] rules, but with an accounts database repository permissions come from \
             its organisations, teams and repository records (the console or /api/v1/); remove the rules"
        );
        let accounts = Arc::new(accounts);
        if let Some(log) = audit {
            accounts.set_audit(log.clone());
        }
        let directory = match directory {
            Some(options) => {
                let directory = Arc::new(load_directory(options.file)?);
                spawn_directory_sync(accounts.clone(), directory.clone(), options.sync_every);
                Some(directory)
            }
            None => None,
        };
        let login = directory.clone().map(|d| {
            Arc::new(palisade_accounts::LdapLogin::new(d, tokio::runtime::Handle::current())) as Arc<dyn palisade_accounts::DirectoryLogin>
        });
        let credentials = palisade_accounts::AccountCredentials::new(accounts.clone(), login)?;
        let seam = palisade_registry::auth::Accounts {
            credentials: Arc::new(credentials),
            authorizer: Arc::new(palisade_accounts::AccountsAuthorizer(accounts.clone())),
        };
        let registry = Registry::with_accounts(driver, config, seam)?;
        Ok(Self { registry, accounts, directory })
    }

    /// The JSON API under `/api/v1/`.
    pub(crate) fn api(&self) -> Router {
        palisade_accounts::api::router(palisade_accounts::api::ApiState {
            accounts: self.accounts.clone(),
            registry: self.registry.clone(),
            directory: self.directory.clone(),
        })
    }

    /// The web console under `/console/`, and `/` redirecting to it.
    pub(crate) fn console(&self, parts: ConsoleParts) -> Router {
        let console = palisade_console::Console {
            accounts: self.accounts.clone(),
            registry: self.registry.clone(),
            directory: self.directory.clone(),
            storage: parts.storage,
            tls_certificate: parts.tls_certificate,
            audit: parts.audit.map(|log| log as Arc<dyn palisade_console::AuditView>),
            signers: parts.signers,
            scans: parts.scans,
            session_limits: palisade_console::SessionLimits::default(),
        };
        palisade_console::router(console).route("/", axum::routing::get(|| async { axum::response::Redirect::to("/console/") }))
    }

    /// Tag signers for the console from the trust server at `server` (which takes this
    /// registry's tokens), its TLS verified with `ca_files`, verified data kept in `cache`.
    pub(crate) fn signers(&self, server: String, ca_files: Vec<PathBuf>, cache: PathBuf) -> Arc<dyn palisade_console::SignerLookup> {
        Arc::new(palisade_console::TrustSigners { registry: self.registry.clone(), server, ca_files, cache })
    }
}

/// The storage as the console's settings page names it.
pub(crate) fn describe_storage(storage: &palisade_registry::StorageConfig, root: Option<&Path>) -> String {
    match storage.kind {
        palisade_registry::StorageKind::Filesystem => {
            let root = root.or(storage.root.as_deref()).map_or_else(|| "(default)".to_owned(), |r| r.display().to_string());
            format!("filesystem {root}")
        }
        palisade_registry::StorageKind::S3 => format!(
            "S3 bucket {} ({}{})",
            storage.bucket.as_deref().unwrap_or("?"),
            storage.endpoint.as_deref().unwrap_or("AWS"),
            storage.prefix.as_deref().map(|p| format!(", prefix {p}")).unwrap_or_default()
        ),
    }
}

/// The LDAP directory a `--ldap` file describes (checked whole; nothing connects yet).
fn load_directory(file: &Path) -> anyhow::Result<palisade_ldap::Directory> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let config: palisade_ldap::DirectoryConfig = toml::from_str(&text).with_context(|| format!("{}", file.display()))?;
    Ok(palisade_ldap::Directory::new(config)?)
}

/// Reads every directory user's groups again every `interval`, for as long as the process runs.
fn spawn_directory_sync(accounts: Arc<Accounts>, directory: Arc<palisade_ldap::Directory>, interval: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            match palisade_accounts::sync_directory_users(&accounts, &directory).await {
                Ok(report) => tracing::info!(synced = report.synced.len(), gone = report.gone.len(), failed = report.failed.len(), "directory sync"),
                Err(e) => tracing::warn!("directory sync: {e}"),
            }
        }
    });
}
