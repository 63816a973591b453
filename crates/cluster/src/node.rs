//! A node in a swarm: its identity, membership, and — while it is a manager — its manager
//! role. Every node reaches the leader the same way: a manager through its own role (which
//! passes calls on), a worker through any manager it knows.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use palisade_pki::{Clock, NodeRole};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::daemon::DaemonConfig;
use crate::dataplane::DataPlane;
use crate::error::{Error, Result};
use crate::identity::{IdentityCell, Membership, NodeIdentity};
use crate::manager::LeaderRef;
use crate::paths::DataRoot;
use crate::role::{ManagerKeys, ManagerRole};
use crate::rpc::{ControlCall, ControlReply, ManagerClients, NodeCall};

/// The node's overlay data plane, on its advertised address; `None` (logged) when it cannot
/// have one: its tasks on overlay networks are then rejected.
fn open_dataplane(
    data: &DataRoot,
    netns_dir: &std::path::Path,
    advertise_addr: &str,
    state: tokio::sync::watch::Receiver<crate::overlay::OverlayState>,
) -> Option<Arc<DataPlane>> {
    let Ok(address) = advertise_addr.parse::<std::net::Ipv4Addr>() else {
        tracing::warn!(advertise_addr, "overlay networks need an IPv4 advertised address: this node will run no task on one");
        return None;
    };
    match DataPlane::open(&data.overlay_key(), netns_dir.to_owned(), address, state) {
        Ok(dataplane) => Some(Arc::new(dataplane)),
        Err(e) => {
            tracing::error!("the overlay data plane cannot start ({e}): this node will run no task on an overlay network");
            None
        }
    }
}

/// How long a `swarm update` waits for this manager to reseal its data key (a write of a
/// few hundred bytes; this only bounds a failing disk).
const RESEAL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A node in a swarm.
pub(crate) struct ActiveNode {
    pub(crate) data: DataRoot,
    pub(crate) identity: Arc<IdentityCell>,
    membership: Mutex<Membership>,
    pub(crate) clients: Arc<ManagerClients>,
    /// Present while this node is a manager.
    role: Mutex<Option<Arc<ManagerRole>>>,
    /// Set when the cluster refused this node (removed).
    error: Mutex<Option<String>>,
    agent: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Runs assigned tasks, when the node has an engine.
    executor: Option<Arc<dyn crate::exec::TaskExecutor>>,
    worker: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Wakes the agent before its next heartbeat is due.
    pub(crate) nudge: Notify,
    /// The cluster's image policy as this node holds it.
    pub(crate) policy: Arc<crate::node_policy::NodePolicy>,
    pub(crate) clock: Arc<dyn Clock>,
    /// When the current certificate (by serial) is due for renewal.
    renew_at: Mutex<Option<(String, time::OffsetDateTime)>>,
    /// The overlay networks this node should set up, as its worker last heard from the leader
    /// (in memory only: it holds network keys). Closed when the node leaves the swarm.
    pub(crate) overlay: tokio::sync::watch::Sender<crate::overlay::OverlayState>,
    /// Builds the overlay networks and connects tasks to them, when the node has an engine
    /// and a place for their namespaces.
    pub(crate) dataplane: Option<Arc<DataPlane>>,
    dataplane_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl ActiveNode {
    pub(crate) fn new(data: DataRoot, identity: NodeIdentity, membership: Membership, config: &DaemonConfig) -> Arc<Self> {
        let identity = Arc::new(IdentityCell::new(identity));
        let clock = config.clock.clone();
        let policy = Arc::new(crate::node_policy::NodePolicy::load(&data, clock.clone()));
        let overlay = tokio::sync::watch::Sender::new(crate::overlay::OverlayState::default());
        let dataplane = match (&config.executor, &config.overlay_netns_dir) {
            (Some(_), Some(dir)) => open_dataplane(&data, dir, &membership.advertise_addr, overlay.subscribe()),
            _ => None,
        };
        Arc::new(Self {
            policy,
            clients: Arc::new(ManagerClients::new(identity.clone(), clock.clone())),
            data,
            identity,
            membership: Mutex::new(membership),
            role: Mutex::new(None),
            error: Mutex::new(None),
            agent: Mutex::new(None),
            executor: config.executor.clone(),
            worker: Mutex::new(None),
            nudge: Notify::new(),
            clock,
            renew_at: Mutex::new(None),
            overlay,
            dataplane,
            dataplane_task: Mutex::new(None),
        })
    }

    pub(crate) fn identity(&self) -> Arc<NodeIdentity> {
        self.identity.get()
    }

    pub(crate) fn membership(&self) -> Membership {
        self.membership.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn update_membership(&self, change: impl FnOnce(&mut Membership)) -> Result<()> {
        let mut membership = self.membership.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut membership);
        membership.save(&self.data)
    }

    pub(crate) fn role(&self) -> NodeRole {
        self.identity().role()
    }

    pub(crate) fn manager_role(&self) -> Option<Arc<ManagerRole>> {
        self.role.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_error(&self, error: Option<String>) {
        *self.error.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }

    pub(crate) fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_managers(&self, managers: Vec<String>) {
        if managers.is_empty() || self.membership().managers == managers {
            return;
        }
        if let Err(e) = self.update_membership(|m| m.managers = managers) {
            tracing::warn!("saving manager addresses: {e}");
        }
    }

    /// Persists, then switches to, a renewed identity (and the cluster port's TLS with it).
    pub(crate) fn replace_identity(&self, identity: NodeIdentity) -> Result<()> {
        identity.save(&self.data)?;
        if let Some(role) = self.manager_role() {
            role.replace_tls(&identity, self.clock.clone())?;
        }
        self.identity.set(identity);
        Ok(())
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

    pub(crate) fn start_agent(self: &Arc<Self>) {
        let task = tokio::spawn(crate::agent::run(self.clone()));
        *self.agent.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        if let Some(executor) = &self.executor {
            let worker = tokio::spawn(crate::worker::run(self.clone(), executor.clone()));
            *self.worker.lock().unwrap_or_else(|e| e.into_inner()) = Some(worker);
        }
        if let Some(dataplane) = &self.dataplane {
            let task = tokio::spawn(dataplane.clone().run());
            *self.dataplane_task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        }
    }

    /// Stops the agent and the manager role.
    pub(crate) async fn stop(&self) {
        for task in [&self.agent, &self.worker, &self.dataplane_task] {
            if let Some(task) = task.lock().unwrap_or_else(|e| e.into_inner()).take() {
                task.abort();
            }
        }
        if let Some(dataplane) = &self.dataplane {
            dataplane.close().await;
        }
        let role = self.role.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(role) = role {
            role.shutdown().await;
        }
    }

    /// Runs a cluster-state call on the leader.
    pub(crate) async fn control(&self, call: ControlCall) -> Result<ControlReply> {
        if self.role() != NodeRole::Manager {
            return Err(Error::WorkerCannotView);
        }
        let role =
            self.manager_role().ok_or_else(|| Error::Unavailable("this manager is still starting; retry".into()))?;
        // An update may rotate the unlock key or turn autolock on or off: answered only once
        // this manager's data key is sealed accordingly.
        let reseals = matches!(call, ControlCall::SwarmUpdate(_));
        let reply = role.core.dispatch(call).await?;
        if reseals {
            role.sealed_as_applied(RESEAL_WAIT).await;
        }
        Ok(reply)
    }

    /// One of this node's own calls, answered by the leader: directly when this manager leads,
    /// else sent as this node (`/node/`) to the leader it knows, or to any manager it knows.
    pub(crate) async fn node_call(&self, call: NodeCall) -> Result<ControlReply> {
        if let Some(role) = self.manager_role() {
            match role.manager().leader() {
                Some(LeaderRef::Local) => {
                    let peer_cert_der = self.identity().cert_der()?;
                    return role.manager().control(ControlCall::Node { peer_cert_der, call }).await;
                }
                Some(LeaderRef::Remote(leader)) => match self.clients.get(&leader.addr).await {
                    Ok(client) => match client.node(&call).await {
                        Err(Error::Unavailable(_) | Error::Remote { status: 421 | 503, .. }) => {}
                        other => return other,
                    },
                    Err(e) => tracing::debug!("leader {}: {e}", leader.addr),
                },
                None => {}
            }
        }
        self.call_managers(&call).await
    }

    /// Sends `call` to the first manager in the membership list that answers (not this node).
    pub(crate) async fn call_managers(&self, call: &NodeCall) -> Result<ControlReply> {
        let own = self.own_cluster_addr();
        let mut last = Error::Unavailable("no manager address is known".into());
        for addr in self.membership().managers.iter().filter(|a| Some(a.as_str()) != own.as_deref()) {
            let client = match self.clients.get(addr).await {
                Ok(client) => client,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            match client.node(call).await {
                // Unreachable or without a leader: try the next one.
                Err(e @ (Error::Unavailable(_) | Error::Remote { status: 421 | 503, .. })) => last = e,
                other => return other,
            }
        }
        Err(last)
    }

    fn own_cluster_addr(&self) -> Option<String> {
        let membership = self.membership();
        let listen = membership.listen_addr?;
        Some(ManagerRole::member(&self.identity(), &membership.advertise_addr, listen).addr)
    }

    /// Takes on the manager role: keys, store, cluster port; then asks the leader to make this
    /// node a raft voter (unless `bootstrapped`, when it is the only one).
    pub(crate) async fn start_manager_role(
        &self,
        raft_id: u64,
        keys: ManagerKeys,
        listener: Option<TcpListener>,
    ) -> Result<Arc<ManagerRole>> {
        let membership = self.membership();
        let listen =
            membership.listen_addr.ok_or_else(|| Error::internal("manager role", "no listen address is recorded"))?;
        let listener = match listener {
            Some(listener) => listener,
            None => TcpListener::bind(listen)
                .await
                .map_err(|e| Error::Unavailable(format!("cannot listen on {listen}: {e}")))?,
        };
        let role = Arc::new(
            ManagerRole::start(
                &self.data,
                &self.identity,
                self.clients.clone(),
                self.clock.clone(),
                listener,
                raft_id,
                keys,
            )
            .await?,
        );
        *self.role.lock().unwrap_or_else(|e| e.into_inner()) = Some(role.clone());
        if membership.raft_id != Some(raft_id) {
            self.update_membership(|m| m.raft_id = Some(raft_id))?;
        }
        tracing::info!(raft_id, %listen, "manager role started");
        Ok(role)
    }

    /// Gives up the manager role (demotion): closes the port and the store, removes both.
    pub(crate) async fn stop_manager_role(&self) -> Result<()> {
        let role = self.role.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(role) = role {
            role.shutdown().await;
        }
        self.data.wipe_manager_state()?;
        self.update_membership(|m| m.raft_id = None)?;
        tracing::info!("manager role stopped");
        Ok(())
    }

    /// The address this node listens on as a manager.
    pub(crate) fn listen_addr(&self) -> Option<SocketAddr> {
        self.membership().listen_addr
    }
}

impl Drop for ActiveNode {
    fn drop(&mut self) {
        for task in [&self.agent, &self.worker, &self.dataplane_task] {
            if let Some(task) = task.lock().unwrap_or_else(|e| e.into_inner()).take() {
                task.abort();
            }
        }
        // The data plane's networks go when it is dropped (each removes its namespace).
    }
}
