//! `palisade daemon`: one node.

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use palisade_cluster::{Daemon, DaemonConfig, DataRoot};
use palisade_engine::{DefaultBridge, Engine, EngineConfig, NetConfig, ProtectedPaths};
use palisade_runtime::OciRuntimeKind;

use super::tasks::EngineTasks;
use super::DEFAULT_DATA_ROOT;

#[derive(clap::Args, Debug)]
pub(crate) struct DaemonArgs {
    /// Directory for this node's state.
    #[arg(long, default_value = DEFAULT_DATA_ROOT)]
    pub(crate) data_root: PathBuf,
    /// Engine API socket (unix:///path.sock) [default: <data-root>/palisade.sock].
    #[arg(short = 'H', long = "host")]
    pub(crate) host: Option<String>,
    /// Cluster port address used when `swarm init`/`join` name none.
    #[arg(long)]
    pub(crate) listen_addr: Option<SocketAddr>,
    /// Address advertised to other nodes when `swarm init`/`join` name none.
    #[arg(long)]
    pub(crate) advertise_addr: Option<IpAddr>,
    /// Group that may use the Engine API socket (mode 0660); without it only the daemon's
    /// user may (0600). Anyone who can use the socket controls the host.
    #[arg(short = 'G', long)]
    pub(crate) group: Option<String>,
    /// OCI runtime for containers that name none (`docker run --runtime` overrides it).
    #[arg(long, value_enum, default_value_t = RuntimeArg::Crun)]
    pub(crate) runtime: RuntimeArg,
    /// Let containers bind-mount the daemon's data root, its runtime state or its API socket
    /// (refused by default: a container that reaches them controls the daemon and the host).
    #[arg(long)]
    pub(crate) allow_daemon_binds: bool,
    /// Let containers on the default bridge network reach each other. Off by default, unlike
    /// Docker: there they are isolated (bridge port isolation); user networks connect theirs.
    #[arg(long)]
    pub(crate) icc: bool,
    /// Linux bridge of the default `bridge` network; `none` disables it (`docker run` without
    /// `--network` then gets no network).
    #[arg(short = 'b', long, default_value = "palisade0")]
    pub(crate) bridge: String,
    /// Address and prefix of the default bridge (e.g. 172.17.0.1/16) [default: 172.17.0.1/16,
    /// or the first docker pool the host does not route].
    #[arg(long)]
    pub(crate) bip: Option<String>,
    #[command(flatten)]
    pub(crate) metrics: super::metrics::MetricsArg,
}

/// `--runtime crun|runc`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum RuntimeArg {
    /// crun.
    Crun,
    /// runc.
    Runc,
}

impl DaemonArgs {
    /// Opens the engine, starts the node on it (resuming swarm membership; the node runs its
    /// tasks on the engine) and returns both with the socket path.
    pub(crate) async fn start(&self) -> anyhow::Result<(Arc<Daemon>, Arc<Engine>, PathBuf)> {
        let data_root = DataRoot::create(&self.data_root).with_context(|| format!("creating data root {}", self.data_root.display()))?;
        let socket = match &self.host {
            Some(host) => PathBuf::from(
                host.strip_prefix("unix://").with_context(|| format!("--host {host}: only unix:// sockets are supported"))?,
            ),
            None => data_root.default_socket(),
        };
        let engine = self.engine(&socket)?;
        // Beside the containers' namespaces, on the runtime's tmpfs state directory.
        let overlay_netns_dir = palisade_runtime::state_dir_for(&self.data_root.join("runtime")).context("the runtime's state directory")?.join("overlay");
        let config = DaemonConfig {
            data_root,
            listen_addr: self.listen_addr,
            advertise_addr: self.advertise_addr,
            clock: Arc::new(palisade_pki::SystemClock),
            executor: Some(Arc::new(EngineTasks(engine.clone()))),
            overlay_netns_dir: Some(overlay_netns_dir),
        };
        let daemon = Arc::new(Daemon::start(config).await.map_err(|e| anyhow::anyhow!(e.to_string()))?);
        super::audit::spawn_head_signing(daemon.audit_log());
        engine.set_image_gate(Box::new(super::image_gate::PolicyGate(Arc::downgrade(&daemon))))?;
        engine.set_cluster_networks(Box::new(super::swarm_networks::SwarmNetworks(Arc::downgrade(&daemon))))?;
        Ok((daemon, engine, socket))
    }

    /// The group ID `--group` names.
    pub(crate) fn socket_group(&self) -> anyhow::Result<Option<u32>> {
        self.group.as_deref().map(group_id).transpose()
    }

    /// The container engine on `<data-root>/runtime`, with the containers of the previous
    /// run brought back. Registry CAs for pulls: `<data-root>/certs.d/<host[:port]>/ca.crt`.
    /// No container may bind the data root or `socket`, unless `--allow-daemon-binds`.
    fn engine(&self, socket: &Path) -> anyhow::Result<Arc<Engine>> {
        let default_runtime = match self.runtime {
            RuntimeArg::Crun => OciRuntimeKind::Crun,
            RuntimeArg::Runc => OciRuntimeKind::Runc,
        };
        let root = self.data_root.join("runtime");
        let protected = vec![self.data_root.clone(), socket.to_owned()];
        let netns_dir = palisade_runtime::state_dir_for(&root).context("the runtime's state directory")?.join("netns");
        let default_bridge = (self.bridge != "none").then(|| DefaultBridge { name: self.bridge.clone(), bip: self.bip.clone() });
        let net = NetConfig { root: self.data_root.join("net"), netns_dir, default_bridge, icc: self.icc };
        let config = EngineConfig {
            root: root.clone(),
            default_runtime,
            registry_certs: self.data_root.join("certs.d"),
            protected_paths: ProtectedPaths::new(protected, self.allow_daemon_binds),
            networks: Some(net),
        };
        let engine = Engine::open(config).with_context(|| format!("opening the container engine in {}", root.display()))?;
        Ok(Arc::new(engine))
    }
}

pub(crate) async fn run(args: DaemonArgs) -> anyhow::Result<ExitCode> {
    let (daemon, engine, socket) = args.start().await?;
    let metrics = palisade_metrics::Metrics::new();
    super::metrics::node_gauges(&metrics, &daemon);
    args.metrics.serve(&metrics).await?;
    let listener = bind_socket(&socket, args.socket_group()?)?;
    serve(daemon, engine, listener, &socket, &metrics).await?;
    Ok(ExitCode::SUCCESS)
}

/// Binds the Engine API socket, replacing a stale one. The socket is made in a private
/// directory (0700) beside it, given its final mode (0600, or 0660 and `group` with `--group`)
/// and only then renamed into place: at no moment can anyone else connect to it, whatever the
/// umask. Clients can connect as soon as this returns; their calls are answered once
/// [`serve`] runs.
pub(crate) fn bind_socket(socket: &Path, group: Option<u32>) -> anyhow::Result<tokio::net::UnixListener> {
    match std::fs::remove_file(socket) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing stale socket {}", socket.display())),
    }
    let parent = socket.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let staging = tempfile::Builder::new()
        .prefix(".palisade-sock-")
        .tempdir_in(parent)
        .with_context(|| format!("making a private directory in {}", parent.display()))?;
    std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o700))?;
    let staged = staging.path().join("s");
    let listener = tokio::net::UnixListener::bind(&staged).with_context(|| format!("binding {}", socket.display()))?;
    let mode = if group.is_some() { 0o660 } else { 0o600 };
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(mode))?;
    if let Some(gid) = group {
        std::os::unix::fs::chown(&staged, None, Some(gid)).with_context(|| format!("giving {} to group {gid}", socket.display()))?;
    }
    std::fs::rename(&staged, socket).with_context(|| format!("moving the socket to {}", socket.display()))?;
    Ok(listener)
}

/// The group ID of `--group` (a name in `/etc/group`, or a number).
fn group_id(group: &str) -> anyhow::Result<u32> {
    if let Ok(gid) = group.parse() {
        return Ok(gid);
    }
    let groups = std::fs::read_to_string("/etc/group").context("reading /etc/group")?;
    groups
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let gid = fields.nth(1)?.parse().ok()?;
            (name == group).then_some(gid)
        })
        .next()
        .with_context(|| format!("--group {group}: no such group"))
}

/// Serves the Engine API on `listener` (bound at `socket`) until SIGINT or SIGTERM.
pub(crate) async fn serve(
    daemon: Arc<Daemon>,
    engine: Arc<Engine>,
    listener: tokio::net::UnixListener,
    socket: &Path,
    metrics: &palisade_metrics::Metrics,
) -> anyhow::Result<()> {
    tracing::info!("Engine API listening on unix://{}", socket.display());
    let resumed = engine.clone();
    tokio::spawn(async move { resumed.resume().await });
    let app = palisade_engine_api::router(daemon, engine.clone(), Some(&metrics.http("engine")));
    let app = axum::Router::new().fallback_service(app);
    // After a signal, open connections (an attached `docker run`, a following `logs -f`) get a
    // grace period to finish; then the daemon exits regardless.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
        std::future::pending::<()>().await;
    });
    if !palisade_serve::serve_unix(listener, app, palisade_serve::Limits::default(), stop_rx, SHUTDOWN_GRACE).await {
        tracing::warn!("connections still open after {SHUTDOWN_GRACE:?}; exiting");
    }
    let _ = std::fs::remove_file(socket);
    engine.shutdown().await;
    Ok(())
}

/// How long open Engine-API connections may keep a stopping daemon alive.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::warn!("cannot watch SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
