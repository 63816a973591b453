//! The node daemon: the Engine-API backend for swarm membership and cluster state.
//!
//! Membership is a two-state machine guarded by one async mutex, so `init`, `join` and `leave`
//! never interleave:
//!
//! | state    | entered by                       | left by          |
//! |----------|----------------------------------|------------------|
//! | inactive | start without identity, `leave`  | `init`, `join`   |
//! | active   | `init`, `join`, start with one   | `leave`          |
//!
//! An active node is the leader (it created the cluster, holds the store, serves the cluster
//! port) or a member that heartbeats to the leader. Cluster-state calls run on the leader:
//! directly there, forwarded over mutual TLS from other managers, refused on workers.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};

use palisade_engine_api::types::{
    Component, Info, InitRequest, JoinRequest, Node, NodeSpec, PeerNode, Platform, Runtime, Swarm, SwarmInfo, SwarmSpec,
    UnlockKeyResponse, UpdateSwarmQuery, Version,
};
use palisade_engine_api::{ApiError, Backend, API_VERSION, MIN_API_VERSION};
use palisade_pki::{tls, Clock, ClusterId, IssuedCertificate, JoinToken, NodeId, NodeKey, NodeRole, RootCa, RootDigest};
use palisade_store::{Kek, Store};
use tokio::net::TcpListener;

use crate::describe::{cpus, hostname, local_description, memory_bytes};
use crate::error::{internal, invalid_join_token};
use crate::identity::{tls_info_of, Membership, NodeIdentity};
use crate::manager::{cert_expiry, InitParams, Manager};
use crate::paths::DataRoot;
use crate::service_cert::ServiceNames;
use crate::rpc::{ClusterServer, ClusterSummary, ControlCall, ControlReply, JoinCertRequest, ManagerClient};

/// The cluster port Docker uses by default.
const DEFAULT_CLUSTER_PORT: u16 = 2377;
/// What the docker CLI sends as `ListenAddr` when `--listen-addr` is not given.
const CLI_DEFAULT_LISTEN_ADDR: &str = "0.0.0.0:2377";

/// How a daemon is started.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Where state lives.
    pub data_root: DataRoot,
    /// Cluster listen address used when `swarm init`/`join` do not name one.
    pub listen_addr: Option<SocketAddr>,
    /// Advertised address used when `swarm init`/`join` do not name one.
    pub advertise_addr: Option<IpAddr>,
    /// Time source for certificate decisions.
    pub clock: Arc<dyn Clock>,
}

/// One node's daemon.
pub struct Daemon {
    config: DaemonConfig,
    active: tokio::sync::Mutex<Option<Arc<ActiveNode>>>,
}

/// A node in a swarm.
pub(crate) struct ActiveNode {
    data: DataRoot,
    identity: RwLock<Arc<NodeIdentity>>,
    membership: Mutex<Membership>,
    /// Present on the leader.
    manager: Option<Arc<Manager>>,
    /// The cluster port (leader).
    server: Option<ClusterServer>,
    /// Set when the cluster refused this node (removed).
    error: Mutex<Option<String>>,
    agent: Mutex<Option<tokio::task::JoinHandle<()>>>,
    pub(crate) clock: Arc<dyn Clock>,
    /// When the current certificate (by serial) is due for renewal.
    renew_at: Mutex<Option<(String, time::OffsetDateTime)>>,
}

impl ActiveNode {
    pub(crate) fn identity(&self) -> Arc<NodeIdentity> {
        self.identity.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn membership(&self) -> Membership {
        self.membership.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn leader_addr(&self) -> Result<String, ApiError> {
        self.membership().managers.first().cloned().ok_or_else(|| ApiError::unavailable("no manager address is known"))
    }

    pub(crate) fn set_error(&self, error: Option<String>) {
        *self.error.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }

    fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_managers(&self, managers: Vec<String>) {
        let mut membership = self.membership.lock().unwrap_or_else(|e| e.into_inner());
        if !managers.is_empty() && membership.managers != managers {
            membership.managers = managers;
            if let Err(e) = membership.save(&self.data) {
                tracing::warn!("saving manager addresses: {}", e.message);
            }
        }
    }

    /// Persists, then switches to, a renewed identity (and the leader's TLS with it).
    pub(crate) fn replace_identity(&self, identity: NodeIdentity) -> Result<(), ApiError> {
        identity.save(&self.data)?;
        if let Some(server) = &self.server {
            server.replace_tls(tls::server_config(&identity.root, &identity.cert_pem, &identity.key, self.clock.clone()).map_err(|e| internal("TLS", e))?);
        }
        *self.identity.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(identity);
        Ok(())
    }

    fn role(&self) -> NodeRole {
        self.identity().role()
    }

    pub(crate) fn manager(&self) -> Option<&Arc<Manager>> {
        self.manager.as_ref()
    }

    /// Whether the current certificate has reached its (randomly drawn, once per certificate)
    /// renewal time.
    pub(crate) fn renewal_due(&self) -> bool {
        let cert = self.identity().cert.clone();
        let mut renew_at = self.renew_at.lock().unwrap_or_else(|e| e.into_inner());
        let due = match &*renew_at {
            Some((serial, at)) if *serial == cert.serial_hex => *at,
            _ => {
                let at = palisade_pki::renewal_time(&cert, &mut rand::rngs::OsRng);
                tracing::debug!(serial = %cert.serial_hex, %at, "certificate renewal scheduled");
                *renew_at = Some((cert.serial_hex.clone(), at));
                at
            }
        };
        self.clock.now() >= due
    }

    fn stop(&self) {
        if let Some(agent) = self.agent.lock().unwrap_or_else(|e| e.into_inner()).take() {
            agent.abort();
        }
    }

    fn start_agent(self: &Arc<Self>) {
        let task = tokio::spawn(crate::agent::run(self.clone()));
        *self.agent.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    }

    /// Runs a cluster-state call on the leader.
    async fn control(&self, call: ControlCall) -> Result<ControlReply, ApiError> {
        if self.role() != NodeRole::Manager {
            return Err(ApiError::worker_cannot_view());
        }
        if let Some(manager) = &self.manager {
            return manager.control(call);
        }
        let identity = self.identity();
        let client = ManagerClient::new(&self.leader_addr()?, &identity.root, Some((&identity.cert_pem, &identity.key)), self.clock.clone()).await?;
        client.control(&call).await
    }
}

impl Drop for ActiveNode {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Daemon {
    /// Starts a daemon on `config.data_root`, resuming swarm membership if it has any.
    pub async fn start(config: DaemonConfig) -> Result<Self, ApiError> {
        let active = match NodeIdentity::load(&config.data_root)? {
            None => None,
            Some((identity, membership)) => Some(resume(&config, identity, membership).await?),
        };
        Ok(Self { config, active: tokio::sync::Mutex::new(active) })
    }

    /// Signs `csr_pem` as a server certificate for a service this node runs. Only the leader
    /// holds the CA, so elsewhere this is refused.
    pub async fn issue_service_certificate(&self, csr_pem: &str, names: &ServiceNames) -> Result<IssuedCertificate, ApiError> {
        let node = self.require_active().await?;
        let manager = node.manager().ok_or_else(|| ApiError::unavailable("only the leader issues service certificates"))?;
        manager.issue_service(csr_pem, names)
    }

    /// The cluster's trust bundle (PEM) as this node holds it, if it is in a swarm.
    pub async fn trust_bundle_pem(&self) -> Option<String> {
        Some(self.current().await?.identity().root.certs_pem().to_owned())
    }

    async fn current(&self) -> Option<Arc<ActiveNode>> {
        self.active.lock().await.clone()
    }

    async fn require_active(&self) -> Result<Arc<ActiveNode>, ApiError> {
        self.current().await.ok_or_else(ApiError::not_a_manager)
    }

    async fn control(&self, call: ControlCall) -> Result<ControlReply, ApiError> {
        self.require_active().await?.control(call).await
    }

    /// The listen address for `init`/`join`: the request's, unless it is the CLI's default and
    /// the daemon was configured with another.
    fn listen_addr(&self, requested: &str) -> Result<SocketAddr, ApiError> {
        if requested.is_empty() || requested == CLI_DEFAULT_LISTEN_ADDR {
            if let Some(addr) = self.config.listen_addr {
                return Ok(addr);
            }
        }
        let requested = if requested.is_empty() { CLI_DEFAULT_LISTEN_ADDR } else { requested };
        parse_addr(requested, DEFAULT_CLUSTER_PORT).map_err(|e| ApiError::bad_request(format!("invalid listen address {requested:?}: {e}")))
    }

    /// The advertised IP: the request's, the daemon's, or the listen IP when it is specific.
    fn advertise_ip(&self, requested: &str, listen: SocketAddr) -> Result<Option<IpAddr>, ApiError> {
        if !requested.is_empty() {
            let ip = parse_addr(requested, DEFAULT_CLUSTER_PORT)
                .map(|a| a.ip())
                .map_err(|e| ApiError::bad_request(format!("invalid advertise address {requested:?}: {e}")))?;
            return Ok(Some(ip));
        }
        Ok(self.config.advertise_addr.or((!listen.ip().is_unspecified()).then(|| listen.ip())))
    }
}

/// Brings a persisted membership back up.
async fn resume(config: &DaemonConfig, identity: NodeIdentity, membership: Membership) -> Result<Arc<ActiveNode>, ApiError> {
    let data = config.data_root.clone();
    let (manager, server) = if membership.leader {
        let kek = std::fs::read(data.kek()).map_err(|e| internal("read key-encryption key", e))?;
        let kek = Kek::from_bytes(&kek).map_err(|e| internal("read key-encryption key", e))?;
        let store = Store::open(&data.store_dir(), &kek).map_err(|e| internal("open cluster store", e))?;
        let manager = Arc::new(Manager::open(store, config.clock.clone(), identity.cert.node_id.clone())?);
        let listen = membership.listen_addr.ok_or_else(|| internal("resume", "leader without a listen address"))?;
        let listener = TcpListener::bind(listen).await.map_err(|e| internal(&format!("listen on {listen}"), e))?;
        let tls = tls::server_config(&identity.root, &identity.cert_pem, &identity.key, config.clock.clone()).map_err(|e| internal("TLS", e))?;
        (Some(manager.clone()), Some(ClusterServer::start(listener, tls, manager)))
    } else {
        (None, None)
    };
    let node = new_active(data, identity, membership, manager, server, config.clock.clone());
    node.start_agent();
    tracing::info!(node = %node.identity().cert.node_id, role = %node.role(), "resumed swarm membership");
    Ok(node)
}

fn new_active(
    data: DataRoot,
    identity: NodeIdentity,
    membership: Membership,
    manager: Option<Arc<Manager>>,
    server: Option<ClusterServer>,
    clock: Arc<dyn Clock>,
) -> Arc<ActiveNode> {
    Arc::new(ActiveNode {
        data,
        identity: RwLock::new(Arc::new(identity)),
        membership: Mutex::new(membership),
        manager,
        server,
        error: Mutex::new(None),
        agent: Mutex::new(None),
        clock,
        renew_at: Mutex::new(None),
    })
}

/// `IP:PORT`, `IP` (default port) or `:PORT` (all addresses).
fn parse_addr(text: &str, default_port: u16) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    if let Some(port) = text.strip_prefix(':') {
        let port = port.parse::<u16>().map_err(|e| e.to_string())?;
        return Ok(SocketAddr::new(IpAddr::from([0, 0, 0, 0]), port));
    }
    Err("expected IP:PORT (interface names are not supported)".to_owned())
}

/// Fills the defaults dockerd substitutes for zero values, and checks the spec.
fn init_spec(mut spec: SwarmSpec) -> Result<SwarmSpec, ApiError> {
    if spec.name.is_empty() {
        spec.name = "default".to_owned();
    }
    spec.orchestration.task_history_retention_limit.get_or_insert(5);
    if spec.raft.snapshot_interval == 0 {
        spec.raft.snapshot_interval = 10_000;
    }
    spec.raft.keep_old_snapshots.get_or_insert(0);
    if spec.raft.log_entries_for_slow_followers == 0 {
        spec.raft.log_entries_for_slow_followers = 500;
    }
    if spec.raft.election_tick == 0 {
        spec.raft.election_tick = 10;
    }
    if spec.raft.heartbeat_tick == 0 {
        spec.raft.heartbeat_tick = 1;
    }
    if spec.dispatcher.heartbeat_period.is_none_or(|p| p == 0) {
        spec.dispatcher.heartbeat_period = Some(5_000_000_000);
    }
    if spec.ca_config.node_cert_expiry.is_none_or(|e| e == 0) {
        spec.ca_config.node_cert_expiry = Some(i64::try_from(palisade_pki::DEFAULT_NODE_CERT_EXPIRY.as_nanos()).unwrap_or(i64::MAX));
    }
    cert_expiry(&spec)?;
    if !spec.ca_config.signing_ca_cert.is_empty() {
        return Err(crate::error::invalid_argument("a CA certificate cannot be given at init; rotate to it with `swarm ca --rotate`"));
    }
    if spec.encryption_config.auto_lock_managers {
        return Err(crate::error::invalid_argument("autolock is not supported by this version of Palisade"));
    }
    if spec.dispatcher.heartbeat_period.is_some_and(|p| p < 1_000_000) {
        return Err(crate::error::invalid_argument("heartbeat period must be at least 1ms"));
    }
    Ok(spec)
}

fn availability(requested: &str) -> Result<String, ApiError> {
    match requested {
        "" => Ok("active".to_owned()),
        "active" | "pause" | "drain" => Ok(requested.to_owned()),
        other => Err(ApiError::bad_request(format!("invalid availability {other:?}, only active, pause and drain are supported"))),
    }
}

impl Backend for Daemon {
    fn version(&self) -> Version {
        let details = [
            ("ApiVersion", API_VERSION),
            ("MinAPIVersion", MIN_API_VERSION),
            ("GitCommit", "palisade"),
            ("GoVersion", "rust"),
            ("Os", std::env::consts::OS),
            ("Arch", arch()),
            ("BuildTime", "2026-11-23T00:00:00.000000000+00:00"),
            ("Experimental", "false"),
        ];
        Version {
            platform: Platform { name: "Palisade".to_owned() },
            components: vec![Component {
                name: "Engine".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                details: details.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            }],
            version: env!("CARGO_PKG_VERSION").to_owned(),
            api_version: API_VERSION.to_owned(),
            min_api_version: MIN_API_VERSION.to_owned(),
            git_commit: "palisade".to_owned(),
            go_version: "rust".to_owned(),
            os: std::env::consts::OS.to_owned(),
            arch: arch().to_owned(),
            kernel_version: kernel_version(),
            build_time: "2026-11-23T00:00:00.000000000+00:00".to_owned(),
        }
    }

    fn swarm_status(&self) -> String {
        match self.active.try_lock().ok().and_then(|a| a.clone()) {
            None => "inactive".to_owned(),
            Some(node) => format!("active/{}", node.role()),
        }
    }

    async fn info(&self) -> Result<Info, ApiError> {
        let swarm = match self.current().await {
            None => SwarmInfo { local_node_state: "inactive".to_owned(), ..SwarmInfo::default() },
            Some(node) => swarm_info(&node).await,
        };
        Ok(Info {
            id: swarm.node_id.clone(),
            driver: "overlayfs".to_owned(),
            logging_driver: "json-file".to_owned(),
            cgroup_driver: "cgroupfs".to_owned(),
            cgroup_version: if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() { "2" } else { "1" }.to_owned(),
            kernel_version: kernel_version(),
            operating_system: "Palisade".to_owned(),
            os_version: env!("CARGO_PKG_VERSION").to_owned(),
            os_type: std::env::consts::OS.to_owned(),
            architecture: arch().to_owned(),
            ncpu: cpus().unsigned_abs(),
            mem_total: memory_bytes().unsigned_abs(),
            docker_root_dir: self.config.data_root.path().display().to_string(),
            name: hostname(),
            server_version: env!("CARGO_PKG_VERSION").to_owned(),
            default_runtime: "crun".to_owned(),
            runtimes: [("crun", "crun"), ("runc", "runc")]
                .into_iter()
                .map(|(name, path)| (name.to_owned(), Runtime { path: path.to_owned() }))
                .collect(),
            security_options: vec!["name=seccomp,profile=builtin".to_owned(), "name=no-new-privileges".to_owned()],
            swarm,
            isolation: String::new(),
            init_binary: String::new(),
            ..Info::default()
        })
    }

    async fn swarm_init(&self, request: InitRequest) -> Result<String, ApiError> {
        let mut active = self.active.lock().await;
        if active.is_some() {
            return Err(ApiError::already_in_swarm());
        }
        // Validate everything before any state exists.
        if request.force_new_cluster {
            return Err(ApiError::bad_request("--force-new-cluster needs existing swarm state, and this node has none"));
        }
        let listen = self.listen_addr(&request.listen_addr)?;
        let advertise = self.advertise_ip(&request.advertise_addr, listen)?.ok_or_else(|| {
            ApiError::bad_request("could not choose an IP address to advertise since this system has multiple addresses")
        })?;
        let mut spec = request.spec.clone();
        spec.encryption_config.auto_lock_managers |= request.auto_lock_managers;
        let spec = init_spec(spec)?;
        let availability = availability(&request.availability)?;
        let listener = TcpListener::bind(listen).await.map_err(|e| ApiError::bad_request(format!("cannot listen on {listen}: {e}")))?;
        let listen = listener.local_addr().map_err(|e| internal("listen", e))?;

        let data = self.config.data_root.clone();
        let created = create_cluster(&self.config, &data, spec, availability, advertise, listen).await;
        let (identity, membership, manager) = match created {
            Ok(created) => created,
            Err(e) => {
                // Nothing half-made survives a failed init.
                let _ = data.wipe_swarm_state();
                return Err(e);
            }
        };
        let tls = tls::server_config(&identity.root, &identity.cert_pem, &identity.key, self.config.clock.clone()).map_err(|e| internal("TLS", e))?;
        let server = ClusterServer::start(listener, tls, manager.clone());
        let node_id = identity.cert.node_id.to_string();
        let node = new_active(data, identity, membership, Some(manager), Some(server), self.config.clock.clone());
        node.start_agent();
        *active = Some(node);
        tracing::info!(node = %node_id, %listen, "swarm initialised");
        Ok(node_id)
    }

    async fn swarm_join(&self, request: JoinRequest) -> Result<(), ApiError> {
        let mut active = self.active.lock().await;
        if active.is_some() {
            return Err(ApiError::already_in_swarm());
        }
        let token: JoinToken = request.join_token.parse().map_err(|_| invalid_join_token())?;
        let availability = availability(&request.availability)?;
        let listen = self.listen_addr(&request.listen_addr)?;
        let advertise = self.advertise_ip(&request.advertise_addr, listen)?;
        let remote = request.remote_addrs.first().ok_or_else(|| ApiError::bad_request("at least 1 RemoteAddr is required to join"))?;
        let remote = if remote.contains(':') { remote.clone() } else { format!("{remote}:{DEFAULT_CLUSTER_PORT}") };

        // Authenticate the manager's root CA against the token before trusting or sending anything.
        let root_pem = ManagerClient::bootstrap(&remote).await?.root_ca().await?;
        if RootDigest::of_pem(&root_pem) != token.digest() {
            return Err(ApiError::bad_request(format!("remote CA does not match fingerprint. Expected: {}", token.digest().hex())));
        }
        let root = RootCa::from_pem(&root_pem, None).map_err(|e| ApiError::bad_request(format!("the manager sent an invalid root CA: {e}")))?;

        // The key is made here and never leaves this node; only its CSR is sent.
        let key = NodeKey::generate().map_err(|e| internal("generate node key", e))?;
        let csr_pem = key.csr_pem().map_err(|e| internal("make CSR", e))?;
        let client = ManagerClient::new(&remote, &root, None, self.config.clock.clone()).await?;
        let response = client
            .join(&JoinCertRequest {
                token: token.expose(),
                csr_pem,
                description: local_description(tls_info_of(&root)),
                advertise_addr: advertise.map(|ip| ip.to_string()).unwrap_or_default(),
                listen_port: listen.port(),
                availability,
            })
            .await?;
        let identity = NodeIdentity::new(key, response.cert_pem, &root_pem).map_err(|e| internal("joined identity", e))?;
        if identity.cert.node_id != response.node_id || identity.cert.cluster_id != response.cluster_id || identity.cert.issuer_common_name.is_empty() {
            return Err(internal("join", "the issued certificate does not match the join response"));
        }
        let mut managers = response.managers;
        if managers.is_empty() {
            managers.push(remote.clone());
        }
        let membership = Membership {
            cluster_id: response.cluster_id,
            node_id: response.node_id,
            leader: false,
            listen_addr: None,
            advertise_addr: response.addr,
            managers,
        };
        let data = self.config.data_root.clone();
        if let Err(e) = identity.save(&data).and_then(|()| membership.save(&data)) {
            let _ = data.wipe_swarm_state();
            return Err(e);
        }
        let node = new_active(data, identity, membership, None, None, self.config.clock.clone());
        node.start_agent();
        tracing::info!(node = %node.identity().cert.node_id, role = %node.role(), "joined swarm");
        *active = Some(node);
        Ok(())
    }

    async fn swarm_leave(&self, force: bool) -> Result<(), ApiError> {
        let mut active = self.active.lock().await;
        let node = active.clone().ok_or_else(ApiError::not_in_swarm)?;
        if !force && node.role() == NodeRole::Manager {
            let managers = match node.control(ControlCall::Summary).await {
                Ok(ControlReply::Summary(summary)) => summary.managers as usize,
                _ => 1,
            };
            if managers <= 1 {
                return Err(ApiError::last_manager_leave());
            }
            // Without raft, the leader's departure always loses the cluster; another manager's
            // does while the remaining managers would not be a majority of the current ones.
            let remaining = managers - 1;
            if node.manager.is_some() || remaining < managers / 2 + 1 {
                return Err(ApiError::manager_leave_loses_quorum(remaining, managers));
            }
        }
        node.stop();
        *active = None;
        drop(node);
        self.config.data_root.wipe_swarm_state()?;
        tracing::info!("left the swarm");
        Ok(())
    }

    async fn swarm_inspect(&self) -> Result<Swarm, ApiError> {
        match self.control(ControlCall::SwarmInspect).await? {
            ControlReply::Swarm(swarm) => Ok(*swarm),
            other => Err(unexpected(&other)),
        }
    }

    async fn swarm_update(&self, spec: SwarmSpec, query: UpdateSwarmQuery) -> Result<(), ApiError> {
        if query.rotate_manager_unlock_key {
            return Err(crate::error::invalid_argument("autolock is not supported by this version of Palisade"));
        }
        let call = ControlCall::SwarmUpdate {
            spec: Box::new(spec),
            version: query.version,
            rotate_worker_token: query.rotate_worker_token,
            rotate_manager_token: query.rotate_manager_token,
        };
        self.control(call).await.map(drop)
    }

    async fn swarm_unlock_key(&self) -> Result<UnlockKeyResponse, ApiError> {
        // Autolock is not offered yet, so there is no key; still only managers may ask.
        self.control(ControlCall::Summary).await?;
        Ok(UnlockKeyResponse::default())
    }

    async fn node_list(&self) -> Result<Vec<Node>, ApiError> {
        match self.control(ControlCall::NodeList).await? {
            ControlReply::Nodes(nodes) => Ok(nodes),
            other => Err(unexpected(&other)),
        }
    }

    async fn node_inspect(&self, reference: String) -> Result<Node, ApiError> {
        match self.control(ControlCall::NodeInspect { reference }).await? {
            ControlReply::Node(node) => Ok(*node),
            other => Err(unexpected(&other)),
        }
    }

    async fn node_update(&self, reference: String, version: u64, spec: NodeSpec) -> Result<(), ApiError> {
        self.control(ControlCall::NodeUpdate { reference, version, spec }).await.map(drop)
    }

    async fn node_remove(&self, reference: String, force: bool) -> Result<(), ApiError> {
        self.control(ControlCall::NodeRemove { reference, force }).await.map(drop)
    }
}

/// Creates the cluster state of a new swarm: store, root CA, this node's identity.
async fn create_cluster(
    config: &DaemonConfig,
    data: &DataRoot,
    spec: SwarmSpec,
    availability: String,
    advertise: IpAddr,
    listen: SocketAddr,
) -> Result<(NodeIdentity, Membership, Arc<Manager>), ApiError> {
    let mut rng = rand::rngs::OsRng;
    let node_id = NodeId::generate(&mut rng);
    let cluster_id = ClusterId::generate(&mut rng);
    let key = NodeKey::generate().map_err(|e| internal("generate node key", e))?;
    let csr_pem = key.csr_pem().map_err(|e| internal("make CSR", e))?;
    crate::paths::create_private_dir(&data.node_dir()).map_err(|e| internal("create node directory", e))?;
    let kek = Kek::generate();
    palisade_pki::write_private_file(&data.kek(), kek.as_bytes()).map_err(|e| internal("save key-encryption key", e))?;
    let store = Store::open(&data.store_dir(), &kek).map_err(|e| internal("create cluster store", e))?;
    let init = InitParams {
        cluster_id: cluster_id.clone(),
        node_id: node_id.clone(),
        spec,
        csr_pem,
        description: local_description(Default::default()),
        advertise_addr: advertise.to_string(),
        listen_port: listen.port(),
        availability,
    };
    let (manager, cert_pem) = Manager::create(store, config.clock.clone(), init).await?;
    let identity = NodeIdentity::new(key, cert_pem, &manager.root_ca_pem()).map_err(|e| internal("node identity", e))?;
    identity.save(data)?;
    let membership = Membership {
        cluster_id,
        node_id,
        leader: true,
        listen_addr: Some(listen),
        advertise_addr: advertise.to_string(),
        managers: vec![SocketAddr::new(advertise, listen.port()).to_string()],
    };
    membership.save(data)?;
    Ok((identity, membership, Arc::new(manager)))
}

/// `Info.Swarm` of an active node.
async fn swarm_info(node: &ActiveNode) -> SwarmInfo {
    let identity = node.identity();
    let membership = node.membership();
    let is_manager = identity.role() == NodeRole::Manager;
    let mut info = SwarmInfo {
        node_id: identity.cert.node_id.to_string(),
        node_addr: membership.advertise_addr.clone(),
        local_node_state: "active".to_owned(),
        control_available: is_manager,
        remote_managers: Some(membership.managers.iter().map(|addr| PeerNode { node_id: String::new(), addr: addr.clone() }).collect()),
        ..SwarmInfo::default()
    };
    if let Some(error) = node.error() {
        info.local_node_state = "error".to_owned();
        info.error = error;
        return info;
    }
    if is_manager {
        match node.control(ControlCall::Summary).await {
            Ok(ControlReply::Summary(ClusterSummary { cluster, nodes, managers, remote_managers })) => {
                info.cluster = Some(cluster);
                info.nodes = Some(nodes);
                info.managers = Some(managers);
                info.remote_managers = Some(remote_managers);
            }
            Ok(other) => info.error = unexpected(&other).message,
            Err(e) => info.error = e.message,
        }
    }
    info
}

fn unexpected(reply: &ControlReply) -> ApiError {
    internal("cluster call", format!("unexpected reply {reply:?}"))
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()).unwrap_or_default()
}
