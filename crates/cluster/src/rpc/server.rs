//! The cluster port's server: TLS termination with peer identities, and the routes.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::middleware;
use axum::routing::{get, post};
use axum::{Json, Router};
use palisade_engine_api::ApiError;
use palisade_pki::{NodeCertInfo, NodeRole};
use palisade_serve::{ConnectionGate, GuardedIo, Limits, Promotion};
use palisade_store::RaftRpc;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::{ControlCall, ControlReply, JoinCertRequest, JoinCertResponse, NodeCall, RootCaResponse};
use super::{CONTROL_PATH, JOIN_PATH, NODE_PATH, RAFT_PATH, ROOT_CA_PATH};
use crate::api::errors::to_api;
use crate::error::Error;
use crate::role::ManagerCore;

/// The largest raft message accepted (snapshot chunks are at most 4 MiB once encoded).
const RAFT_BODY_LIMIT: usize = 16 << 20;

/// Who is calling: the verified client certificate, if one was presented, and the TCP peer.
#[derive(Debug, Clone)]
struct Peer {
    cert: Option<(NodeCertInfo, Vec<u8>)>,
    addr: SocketAddr,
}

impl Peer {
    /// The caller's certificate and its DER; every call outside `/join/` needs one.
    fn node(&self) -> Result<&(NodeCertInfo, Vec<u8>), ApiError> {
        self.cert.as_ref().ok_or_else(|| to_api(Error::Unauthenticated))
    }

    /// The caller's certificate, which must say manager.
    fn manager(&self) -> Result<&NodeCertInfo, ApiError> {
        let (cert, _) = self.node()?;
        if cert.role != NodeRole::Manager {
            return Err(to_api(Error::PermissionDenied("only managers may read or change cluster state".into())));
        }
        Ok(cert)
    }
}

type Shared = Arc<ManagerCore>;

/// A running cluster port. The TLS configuration can be replaced (certificate renewal) without
/// dropping the listener.
pub(crate) struct ClusterServer {
    tls: Arc<RwLock<Arc<ServerConfig>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ClusterServer {
    /// Serves a manager's cluster calls on a bound listener.
    pub(crate) fn start(listener: TcpListener, tls: ServerConfig, core: Shared) -> Self {
        let tls = Arc::new(RwLock::new(Arc::new(tls)));
        // Every route but the join calls sits behind the certificate check, which runs before
        // anything of the request is read.
        let members = Router::new()
            .route(NODE_PATH, post(node))
            .route(CONTROL_PATH, post(control))
            // Snapshot chunks are a few MiB; nothing else comes near this.
            .route(RAFT_PATH, post(raft).layer(DefaultBodyLimit::max(RAFT_BODY_LIMIT)))
            .route_layer(middleware::from_fn(require_client_certificate));
        let routes = Router::new()
            .route(ROOT_CA_PATH, get(root_ca))
            .route(JOIN_PATH, post(join))
            .merge(members)
            .with_state(core);
        let task = tokio::spawn(accept_loop(listener, tls.clone(), routes));
        tracing::info!("cluster port listening (mutual TLS)");
        Self { tls, task }
    }

    /// Uses `config` for new connections from now on.
    pub(crate) fn replace_tls(&self, config: ServerConfig) {
        *self.tls.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    }
}

impl ClusterServer {
    /// Closes the port. Aborting the accept loop drops its JoinSet, which aborts every open
    /// connection.
    pub(crate) fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for ClusterServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Accepts connections within [`Limits::default`]'s caps and timeouts (`palisade-serve`: per
/// peer and in total, tighter before authentication; idle, header and handshake timeouts).
/// A connection is authenticated by its verified node certificate, at the handshake; one
/// without (a node asking to join) stays under the tighter caps however it is answered.
async fn accept_loop(listener: TcpListener, tls: Arc<RwLock<Arc<ServerConfig>>>, routes: Router) {
    let limits = Limits::default();
    let gate = Arc::new(ConnectionGate::new(limits));
    let mut connections = JoinSet::new();
    loop {
        let (tcp, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!("cluster port accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(ticket) = gate.admit(addr.ip()) else {
            tracing::debug!(%addr, "cluster connection refused: over the connection caps");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        while connections.try_join_next().is_some() {}
        let config = tls.read().unwrap_or_else(|e| e.into_inner()).clone();
        let routes = routes.clone();
        connections.spawn(async move {
            let ticket = Arc::new(ticket);
            let io = GuardedIo::new(tcp, ticket.clone(), limits);
            let stream = match tokio::time::timeout(limits.tls_handshake_timeout, TlsAcceptor::from(config).accept(io)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return tracing::debug!(%addr, "TLS handshake refused: {e}"),
                Err(_) => return tracing::debug!(%addr, "TLS handshake timed out"),
            };
            let cert = match stream.get_ref().1.peer_certificates().and_then(|chain| chain.first()) {
                None => None,
                // The chain was verified against the cluster root during the handshake; a
                // verified certificate without node subject fields is refused outright.
                Some(leaf) => match NodeCertInfo::from_der(leaf) {
                    Ok(info) => Some((info, leaf.to_vec())),
                    Err(e) => return tracing::info!(%addr, "refused a certificate that is not a node certificate: {e}"),
                },
            };
            if cert.is_some() {
                ticket.promote();
            }
            let service = routes.layer(Extension(Peer { cert, addr }));
            palisade_serve::serve_connection(stream, service, addr, ticket, true, limits, Promotion::Explicit).await;
        });
    }
}

async fn require_client_certificate(
    Extension(peer): Extension<Peer>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> Result<axum::response::Response, ApiError> {
    peer.node()?;
    Ok(next.run(request).await)
}

async fn root_ca(State(core): State<Shared>) -> Result<Json<RootCaResponse>, ApiError> {
    Ok(Json(RootCaResponse { root_ca_pem: core.manager.trust_pem().map_err(to_api)? }))
}

async fn join(
    State(core): State<Shared>,
    Extension(peer): Extension<Peer>,
    Json(request): Json<JoinCertRequest>,
) -> Result<Json<JoinCertResponse>, ApiError> {
    match core.dispatch(ControlCall::Join { request, peer_ip: peer.addr.ip().to_string() }).await.map_err(to_api)? {
        ControlReply::Join(response) => Ok(Json(response)),
        other => Err(to_api(Error::internal("join", format!("unexpected reply {other:?}")))),
    }
}

/// A node's own call: passed to the leader with the certificate verified here.
async fn node(
    State(core): State<Shared>,
    Extension(peer): Extension<Peer>,
    Json(call): Json<NodeCall>,
) -> Result<Json<ControlReply>, ApiError> {
    let (_, der) = peer.node()?;
    core.dispatch(ControlCall::Node { peer_cert_der: der.clone(), call }).await.map(Json).map_err(to_api)
}

/// A call from another manager: runs here only if this manager leads; it is never passed on
/// again, so a call cannot travel in circles while leadership moves.
async fn control(
    State(core): State<Shared>,
    Extension(peer): Extension<Peer>,
    Json(call): Json<ControlCall>,
) -> Result<Json<ControlReply>, ApiError> {
    let cert = peer.manager()?;
    // Both the certificate and the cluster's current view must say manager: a demoted node's
    // older manager certificate stops working at once.
    core.authorize_manager(cert).map_err(to_api)?;
    core.run_as_leader(call).await.map(Json).map_err(to_api)
}

/// A raft message from another manager.
async fn raft(State(core): State<Shared>, Extension(peer): Extension<Peer>, body: Bytes) -> Result<Vec<u8>, ApiError> {
    let cert = peer.manager()?;
    core.authorize_raft_peer(cert).map_err(to_api)?;
    let rpc = RaftRpc::decode(&body).map_err(|e| to_api(Error::invalid(format!("raft message: {e}"))))?;
    let reply = core.manager.store().handle(rpc).await.map_err(|e| to_api(Error::internal("raft", e)))?;
    reply.encode().map_err(|e| to_api(Error::internal("raft", e)))
}
