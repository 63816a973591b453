//! The registry and trust server that `palisade up` runs beside the daemon: TLS with service
//! certificates from the cluster CA, token auth from the registry's token service (the trust
//! server accepts the same tokens). The registry is the trusted registry: users, organisations,
//! teams and repository permissions in the replicated cluster store, its JSON API
//! under `/api/v1/` and the web console under `/console/` (tags with their signers from the
//! trust server beside it and their scan results).

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use palisade_cluster::{Daemon, ServiceCertificate, ServiceNames};
use palisade_accounts::Accounts;
use palisade_registry::{AuthMode, RegistryConfig, StorageKind};
use rand::distributions::{Alphanumeric, DistString as _};
use tokio::net::TcpListener;

/// The user `palisade up` creates on its first start.
pub(crate) const ADMIN_USER: &str = "admin";

use crate::commands::trusted_registry::{describe_storage, ConsoleParts, DirectoryOptions, TrustedRegistry};

/// Where the services keep their state under the data root.
pub(crate) struct ServicePaths {
    /// Where `palisade up` kept its users before they moved to the cluster store.
    htpasswd: PathBuf,
    /// Trust data the console has verified (rollback floors for the signers it shows).
    console_trust: PathBuf,
    registry_storage: PathBuf,
    trust_root: PathBuf,
    /// Scan-on-push results and the advisory database (`palisade scan db import --data-root`).
    pub(crate) scan: PathBuf,
    /// The node's trust bundle (the cluster's root CAs): the trust server's TLS is from it.
    node_ca: PathBuf,
}

impl ServicePaths {
    pub(crate) fn under(data_root: &Path) -> Self {
        Self {
            htpasswd: data_root.join("registry").join("htpasswd"),
            console_trust: data_root.join("registry").join("console-trust"),
            registry_storage: data_root.join("registry").join("storage"),
            trust_root: data_root.join("trust"),
            scan: data_root.join("scan"),
            node_ca: data_root.join("node").join("root-ca.crt"),
        }
    }
}

/// What the first start did about the registry's users.
pub(crate) struct FirstUsers {
    /// The users an earlier `palisade up` kept in its htpasswd file, imported with their
    /// passwords unchanged (that file is not read again).
    pub(crate) imported: Vec<String>,
    /// `admin`'s new random password, to be shown once (when `admin` was not imported).
    pub(crate) admin_password: Option<String>,
}

/// The registry's accounts in the cluster store (replicated to every manager, sealed at rest)
/// and, on the first start (no users yet), what it did: the users of an earlier `up`'s
/// htpasswd file imported (`admin` as the administrator), and `admin`, unless imported, made
/// an administrator with a random password. Only bcrypt hashes are stored.
pub(crate) async fn open_accounts(daemon: &Daemon, paths: &ServicePaths) -> anyhow::Result<(Accounts, Option<FirstUsers>)> {
    let store = daemon.cluster_store().await.map_err(|e| anyhow::anyhow!("the registry keeps its users in the cluster store: {e}"))?;
    let accounts = Accounts::on_cluster_store(store, tokio::runtime::Handle::current());
    let htpasswd = paths.htpasswd.clone();
    // The model blocks on the store: off the async threads.
    tokio::task::spawn_blocking(move || {
        if !accounts.users()?.is_empty() {
            return Ok((accounts, None));
        }
        let imported = match htpasswd.exists() {
            true => import_htpasswd(&accounts, &htpasswd)?,
            false => Vec::new(),
        };
        let admin_password = match imported.iter().any(|u| u == ADMIN_USER) {
            true => None,
            false => {
                let password = Alphanumeric.sample_string(&mut rand::rngs::OsRng, 24);
                accounts.add_local_user("palisade up", ADMIN_USER, &password, true)?;
                Some(password)
            }
        };
        Ok((accounts, Some(FirstUsers { imported, admin_password })))
    })
    .await?
}

/// Imports every user of `file` (`admin` as an administrator), or, if one cannot be imported
/// (a name that is no valid namespace, say), none: those imported are removed again and the
/// error names the user.
fn import_htpasswd(accounts: &Accounts, file: &Path) -> anyhow::Result<Vec<String>> {
    let users = palisade_registry::auth::Htpasswd::load(file)?;
    let mut imported: Vec<String> = Vec::new();
    for (name, hash) in users.entries() {
        if let Err(e) = accounts.import_local_user("palisade up", name, hash, name == ADMIN_USER) {
            for done in &imported {
                accounts.remove_user(done)?;
            }
            anyhow::bail!("importing {name} from {}: {e}; rename or remove that entry, then start again", file.display());
        }
        imported.push(name.to_owned());
    }
    Ok(imported)
}

/// The names the service certificates carry: loopback, the listen addresses when specific,
/// and `localhost`.
fn service_names(common_name: &str, addrs: &[SocketAddr]) -> ServiceNames {
    let mut ip_addresses: Vec<IpAddr> = vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])];
    for addr in addrs {
        if !addr.ip().is_unspecified() && !ip_addresses.contains(&addr.ip()) {
            ip_addresses.push(addr.ip());
        }
    }
    ServiceNames { common_name: common_name.to_owned(), dns_names: vec!["localhost".to_owned()], ip_addresses }
}

/// Makes the daemon trust its own registry for pulls, as dockerd reads
/// `certs.d/<host:port>/ca.crt`: a link to the node's trust bundle, so it follows CA rotations.
pub(crate) fn trust_own_registry(data_root: &Path, registry: SocketAddr) -> anyhow::Result<()> {
    let dir = data_root.join("certs.d").join(client_host(registry));
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let link = dir.join("ca.crt");
    match std::fs::remove_file(&link) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("replacing {}", link.display())),
    }
    let bundle = std::fs::canonicalize(data_root)?.join("node").join("root-ca.crt");
    std::os::unix::fs::symlink(bundle, &link).with_context(|| format!("linking {}", link.display()))
}

/// The host clients use for a listen address (loopback when it listens everywhere).
fn client_host(addr: SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() { IpAddr::from([127, 0, 0, 1]) } else { addr.ip() };
    SocketAddr::new(ip, addr.port()).to_string()
}

/// The running services (serving until dropped).
pub(crate) struct Services {
    pub(crate) registry_addr: SocketAddr,
    pub(crate) trust_addr: SocketAddr,
    _cert: ServiceCertificate,
    _scan: Arc<palisade_scan::ScanService>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Services {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Binds both listeners, then serves the registry and the trust server over TLS.
/// What `palisade up` was told about its registry.
pub(crate) struct RegistryOptions<'a> {
    pub(crate) addr: SocketAddr,
    /// A registry.toml (limits, storage, token settings; never an auth mode other than token).
    pub(crate) config: Option<&'a Path>,
    /// Users not kept locally log in against this LDAP directory.
    pub(crate) ldap: Option<DirectoryOptions<'a>>,
}

pub(crate) async fn start(
    daemon: Arc<Daemon>,
    paths: &ServicePaths,
    accounts: Accounts,
    registry: RegistryOptions<'_>,
    trust_addr: SocketAddr,
    metrics: &palisade_metrics::Metrics,
) -> anyhow::Result<Services> {
    let registry_addr = registry.addr;
    let registry_listener = TcpListener::bind(registry_addr).await.with_context(|| format!("registry: cannot listen on {registry_addr}"))?;
    let trust_listener = TcpListener::bind(trust_addr).await.with_context(|| format!("trust server: cannot listen on {trust_addr}"))?;
    let (registry_addr, trust_addr) = (registry_listener.local_addr()?, trust_listener.local_addr()?);

    let names = service_names("palisade-services", &[registry_addr, trust_addr]);
    let audit = daemon.audit_log();
    let cert = ServiceCertificate::start(daemon, names, Arc::new(palisade_pki::SystemClock))
        .await
        .map_err(|e| anyhow::anyhow!("service certificate: {e}"))?;
    let registry_tls = Arc::new(palisade_pki::tls::server_config_with_cert(cert.cert(), &[b"h2", b"http/1.1"])?);
    let trust_tls = Arc::new(palisade_pki::tls::server_config_with_cert(cert.cert(), &[b"http/1.1"])?);

    // The registry: token auth always (a config file may add rules and storage, not open it).
    let mut config = match registry.config {
        Some(path) => RegistryConfig::load(path)?,
        None => RegistryConfig::default(),
    };
    anyhow::ensure!(
        config.auth.mode.is_none_or(|m| m == AuthMode::Token),
        "palisade up runs the registry with token auth; remove `mode` from [auth] in the registry config"
    );
    anyhow::ensure!(
        config.auth.htpasswd.is_none(),
        "palisade up keeps its users in the cluster store; remove `htpasswd` from [auth] in the registry config"
    );
    config.auth.mode = Some(AuthMode::Token);
    let realm = format!("https://{}/token", client_host(registry_addr));
    config.auth.token.realm.get_or_insert_with(|| realm.clone());
    if config.storage.kind == StorageKind::Filesystem {
        config.storage.root.get_or_insert_with(|| paths.registry_storage.clone());
    }
    let driver = config.storage.open(None)?;
    // One audit log for the node and its services: the daemon's.
    let trusted = TrustedRegistry::open(driver, &config, accounts, registry.ldap, Some(&audit))?;
    let registry = trusted.registry.clone();
    registry.set_audit(audit.clone());
    let scan = super::scan::start(&registry, &paths.scan)?;
    let console = trusted.console(ConsoleParts {
        storage: describe_storage(&config.storage, None),
        tls_certificate: palisade_console::TlsCertificate::Live(cert.cert()),
        audit: Some(audit.clone()),
        signers: Some(trusted.signers(
            format!("https://{}", client_host(trust_addr)),
            vec![paths.node_ca.clone()],
            paths.console_trust.clone(),
        )),
        scans: Some(Arc::new(super::scan::Summaries(scan.clone()))),
    });
    let tokens = registry.auth().token_service().context("registry token service")?;
    let auth = Arc::new(palisade_trust::server::TokenAuth::new(tokens.verifier(), realm));

    let trust = palisade_trust::server::TrustServer::open(&paths.trust_root, Arc::new(palisade_pki::SystemClock))
        .with_context(|| format!("opening trust server root {}", paths.trust_root.display()))?;
    trust.set_audit(audit);
    let trust_app = auth.protect(palisade_trust::server::router(Arc::new(trust), palisade_trust::server::Limits::default()));
    let trust_app = metrics.http("trust").measure(trust_app, crate::commands::metrics::trust_route);

    let registry_app = registry.router().merge(super::scan::routes(registry.clone(), scan.clone())).merge(trusted.api()).merge(console);
    let registry_app = metrics.http("registry").measure(registry_app, crate::commands::metrics::registry_route);
    let queued = scan.clone();
    metrics.gauge_fn("registry_scan_queue_depth", "Pushed manifests waiting for or in the scanner", move || {
        Some(queued.queue_depth() as f64)
    });
    let tasks = vec![
        tokio::spawn(async move {
            if let Err(e) = palisade_registry::serve(registry_listener, registry_app, Some(registry_tls)).await {
                tracing::error!("registry stopped: {e}");
            }
        }),
        tokio::spawn(async move {
            if let Err(e) = palisade_trust::server::serve(trust_listener, trust_app, Some(trust_tls)).await {
                tracing::error!("trust server stopped: {e}");
            }
        }),
    ];
    Ok(Services { registry_addr, trust_addr, _cert: cert, _scan: scan, tasks })
}
