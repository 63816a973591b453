//! `palisade registry …`: the standalone OCI registry.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use palisade_registry::storage::{GcMode, Store};
use palisade_registry::{AuthMode, Registry, RegistryConfig};

use super::trusted_registry::{describe_storage, ConsoleParts, DirectoryOptions, TrustedRegistry};

/// `palisade registry` subcommands.
#[derive(clap::Subcommand)]
#[command(defer = true)]
pub(crate) enum RegistryCommand {
    /// Serve the registry.
    Serve(Box<ServeArgs>),
    /// Delete blobs no manifest references, and stale uploads. Run it while no server writes
    /// to the storage root.
    Gc(GcArgs),
    /// Add a local user to an accounts database (the first administrator, say) while no
    /// registry serves it; once one does, use its API (`POST /api/v1/users`).
    AddUser(AddUserArgs),
}

/// `palisade registry add-user` flags.
#[derive(clap::Args)]
pub(crate) struct AddUserArgs {
    /// The accounts database (`serve --accounts`).
    #[arg(long)]
    accounts: PathBuf,
    /// Make the user a platform administrator.
    #[arg(long)]
    admin: bool,
    /// The user name.
    name: String,
    /// Read the password from standard input (one line) instead of asking for it.
    #[arg(long)]
    password_stdin: bool,
}

/// `palisade registry gc` flags.
#[derive(clap::Args)]
pub(crate) struct GcArgs {
    /// Storage root directory (filesystem storage; else `[storage]` in the config).
    #[arg(long, required_unless_present = "config")]
    root: Option<PathBuf>,
    /// registry.toml whose `[storage]` section names the storage (e.g. an S3 bucket).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Report what would be deleted without deleting anything.
    #[arg(long)]
    dry_run: bool,
    /// Uploads started longer ago than this many hours are removed.
    #[arg(long, default_value_t = 24)]
    upload_max_age_hours: u32,
}

/// `palisade registry serve` flags (override the config file).
#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the actual address is printed).
    #[arg(long, default_value = "127.0.0.1:5000")]
    addr: SocketAddr,
    /// Storage root directory (filesystem storage; else `[storage]` in the config).
    #[arg(long)]
    root: Option<PathBuf>,
    /// PEM certificate chain for TLS.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for TLS.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// htpasswd file (bcrypt entries); enables Basic auth unless the config selects token auth.
    #[arg(long)]
    htpasswd: Option<PathBuf>,
    /// registry.toml (auth mode, token service, repository rules, limits, storage).
    #[arg(long)]
    config: Option<PathBuf>,
    /// A trusted registry: users, organisations, teams and repository permissions from this
    /// accounts database (created if missing) instead of the htpasswd file and the
    /// `[[repository]]` rules, managed through the JSON API under `/api/v1/`. Token auth unless
    /// the config says otherwise.
    #[arg(long, conflicts_with = "htpasswd")]
    accounts: Option<PathBuf>,
    /// With --accounts: users not kept locally log in against this LDAP / Active Directory
    /// (a TOML file: url, bind_dn, bind_password, user_base, group_base, filters, ca_file).
    #[arg(long, requires = "accounts")]
    ldap: Option<PathBuf>,
    /// How often every directory user's groups are read again (minutes).
    #[arg(long, default_value_t = 15, requires = "ldap")]
    ldap_sync_minutes: u64,
    /// Record logins, pushes, deletes and permission changes in a tamper-evident audit log in
    /// this directory (`palisade audit ls|verify --dir DIR`). Default with --accounts: `audit`
    /// beside the accounts database.
    #[arg(long)]
    audit: Option<PathBuf>,
    /// With --accounts: serve the web console at `/console/` (and redirect `/` to it).
    #[arg(long, requires = "accounts")]
    console: bool,
    /// With --console: show each tag's signers from this Notary-compatible trust server
    /// (`https://host[:port]`), which must take this registry's tokens.
    #[arg(long, requires = "console")]
    console_trust_server: Option<String>,
    /// PEM CA file for the trust server's TLS (default: the system roots).
    #[arg(long, requires = "console_trust_server")]
    console_trust_ca: Option<PathBuf>,
    #[command(flatten)]
    metrics: super::metrics::MetricsArg,
}

pub(crate) async fn run(command: RegistryCommand) -> anyhow::Result<ExitCode> {
    match command {
        RegistryCommand::Serve(args) => serve(*args).await,
        RegistryCommand::Gc(args) => gc(args).await,
        RegistryCommand::AddUser(args) => add_user(args),
    }
}

fn add_user(args: AddUserArgs) -> anyhow::Result<ExitCode> {
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        rpassword::prompt_password(format!("Password for {}: ", args.name)).context("reading the password")?
    };
    let accounts = palisade_accounts::Accounts::open(&args.accounts)
        .with_context(|| format!("opening {} (is a registry serving it? then use its API)", args.accounts.display()))?;
    // Offline, before any registry serves the database: the operator at the console.
    accounts.add_local_user("palisade registry add-user", &args.name, &password, args.admin)?;
    println!("added {}{}", args.name, if args.admin { " (administrator)" } else { "" });
    Ok(ExitCode::SUCCESS)
}

async fn gc(args: GcArgs) -> anyhow::Result<ExitCode> {
    if let Some(root) = &args.root {
        // A mistyped root must not be created (and reported clean) by the driver.
        anyhow::ensure!(root.is_dir(), "{} is not a directory", root.display());
    }
    let storage = match &args.config {
        Some(path) => RegistryConfig::load(path)?.storage,
        None => palisade_registry::StorageConfig::default(),
    };
    let store = Store::new(storage.open(args.root.as_deref())?);
    let mode = if args.dry_run { GcMode::DryRun } else { GcMode::Delete };
    let cutoff = time::OffsetDateTime::now_utc() - time::Duration::hours(i64::from(args.upload_max_age_hours));
    let report = tokio::task::spawn_blocking(move || store.collect_garbage(mode, cutoff)).await??;
    let verb = if args.dry_run { "would delete" } else { "deleted" };
    for d in &report.blobs_deleted {
        println!("{verb} blob {d}");
    }
    for id in &report.uploads_deleted {
        println!("{verb} upload {id}");
    }
    println!(
        "gc: {} blobs kept, {} blobs {verb}, {} uploads {verb}",
        report.blobs_kept,
        report.blobs_deleted.len(),
        report.uploads_deleted.len()
    );
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = match &args.config {
        Some(path) => RegistryConfig::load(path)?,
        None => RegistryConfig::default(),
    };
    if let Some(h) = args.htpasswd {
        config.auth.htpasswd = Some(h);
    }
    if args.accounts.is_some() && config.auth.mode.is_none() {
        config.auth.mode = Some(AuthMode::Token);
    }
    if config.auth.effective_mode() == AuthMode::None {
        eprintln!("palisade: WARNING: registry authentication is off; anyone can pull and push");
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(palisade_registry::load_tls_config(cert, key)?),
        _ => None,
    };
    let audit_dir = args.audit.clone().or_else(|| args.accounts.as_ref().map(|db| db.with_file_name("audit")));
    let audit = match audit_dir {
        Some(dir) => {
            let log = palisade_audit::AuditLog::open(&dir, None).with_context(|| format!("opening the audit log in {}", dir.display()))?;
            println!("audit log in {}", dir.display());
            Some(std::sync::Arc::new(log))
        }
        None => None,
    };
    let driver = config.storage.open(args.root.as_deref())?;
    let (registry, api) = match &args.accounts {
        Some(path) => {
            let accounts = palisade_accounts::Accounts::open(path)
                .with_context(|| format!("opening the accounts database {}", path.display()))?;
            let directory = args.ldap.as_deref().map(|file| DirectoryOptions {
                file,
                sync_every: std::time::Duration::from_secs(args.ldap_sync_minutes.max(1) * 60),
            });
            let trusted = TrustedRegistry::open(driver, &config, accounts, directory, audit.as_ref())?;
            let mut api = trusted.api();
            if args.console {
                let signers = args.console_trust_server.clone().map(|server| {
                    trusted.signers(server, args.console_trust_ca.iter().cloned().collect(), path.with_file_name("console-trust"))
                });
                let tls_certificate = match &args.tls_cert {
                    Some(file) => palisade_console::TlsCertificate::File(file.clone()),
                    None => palisade_console::TlsCertificate::None,
                };
                api = api.merge(trusted.console(ConsoleParts {
                    storage: describe_storage(&config.storage, args.root.as_deref()),
                    tls_certificate,
                    audit: audit.clone(),
                    signers,
                    scans: None,
                }));
            }
            (trusted.registry, Some(api))
        }
        None => (Registry::new(driver, &config)?, None),
    };
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let local = listener.local_addr()?;
    let metrics = palisade_metrics::Metrics::new();
    if let Some(at) = args.metrics.serve(&metrics).await? {
        println!("metrics at http://{at}/metrics");
    }
    println!("registry listening on {local}");
    tracing::info!(addr = %local, tls = tls.is_some(), "registry ready");
    if let Some(log) = audit {
        super::audit::spawn_head_signing(log.clone());
        registry.set_audit(log);
    }
    let router = match api {
        Some(api) => registry.router().merge(api),
        None => registry.router(),
    };
    let app = metrics.http("registry").measure(router, super::metrics::registry_route);
    tokio::select! {
        result = palisade_registry::serve(listener, app, tls) => result?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(ExitCode::SUCCESS)
}
