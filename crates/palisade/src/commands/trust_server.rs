//! `palisade trust-server …`: the standalone Notary-compatible trust server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use palisade_trust::server::TrustServerConfig;

/// `palisade trust-server` subcommands.
#[derive(clap::Subcommand)]
#[command(defer = true)]
pub(crate) enum TrustServerCommand {
    /// Serve the Notary v1 API (`notary -s https://ADDR`).
    Serve(ServeArgs),
}

#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:4443")]
    addr: SocketAddr,
    /// Directory holding the trust database and the sealed server keys.
    #[arg(long)]
    root: PathBuf,
    /// TLS certificate chain (PEM). Without it the server speaks plain HTTP.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// trust-server.toml (`[auth] mode = "token"` with the registry's token key). Without it the
    /// server is open, for local use.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Record publishes and deletes of trust data in a tamper-evident audit log in this
    /// directory (`palisade audit ls|verify --dir DIR`).
    #[arg(long)]
    audit: Option<PathBuf>,
    #[command(flatten)]
    metrics: super::metrics::MetricsArg,
}

pub(crate) async fn run(command: TrustServerCommand) -> anyhow::Result<ExitCode> {
    match command {
        TrustServerCommand::Serve(args) => serve(args).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(path) => TrustServerConfig::load(path)?,
        None => TrustServerConfig::default(),
    };
    let auth = config.token_auth()?;
    if auth.is_none() {
        eprintln!("palisade: WARNING: trust server authentication is off; anyone can publish trust data");
    }
    let server = palisade_trust::server::TrustServer::open(&args.root, Arc::new(palisade_pki::SystemClock))
        .with_context(|| format!("opening trust server root {}", args.root.display()))?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(palisade_trust::server::tls_config(cert, key)?),
        _ => None,
    };
    if let Some(dir) = &args.audit {
        let log = palisade_audit::AuditLog::open(dir, None).with_context(|| format!("opening the audit log in {}", dir.display()))?;
        let log = Arc::new(log);
        super::audit::spawn_head_signing(log.clone());
        server.set_audit(log);
        println!("audit log in {}", dir.display());
    }
    let mut app = palisade_trust::server::router(Arc::new(server), palisade_trust::server::Limits::default());
    if let Some(auth) = auth {
        app = Arc::new(auth).protect(app);
    }
    let metrics = palisade_metrics::Metrics::new();
    let app = metrics.http("trust").measure(app, super::metrics::trust_route);
    let listener = tokio::net::TcpListener::bind(args.addr).await.with_context(|| format!("binding {}", args.addr))?;
    let local = listener.local_addr()?;
    if let Some(at) = args.metrics.serve(&metrics).await? {
        println!("metrics at http://{at}/metrics");
    }
    println!("trust server listening on {local}");
    palisade_trust::server::serve(listener, app, tls).await?;
    Ok(ExitCode::SUCCESS)
}
