//! The cluster port's server: TLS termination with peer identities, and the routes.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{Extension, State};
use axum::middleware;
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use palisade_engine_api::ApiError;
use palisade_pki::{NodeCertInfo, NodeRole};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::{
    ControlCall, ControlReply, HeartbeatRequest, HeartbeatResponse, JoinCertRequest, JoinCertResponse, RenewRequest,
    RenewResponse, RootCaResponse, CONTROL_PATH, HEARTBEAT_PATH, JOIN_PATH, RENEW_PATH, ROOT_CA_PATH,
};
use crate::manager::Manager;

/// A TLS handshake that takes longer than this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Who is calling: the verified client certificate, if one was presented, and the TCP peer.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub(crate) cert: Option<NodeCertInfo>,
    pub(crate) addr: SocketAddr,
}

impl Peer {
    /// The caller's certificate; every call outside `/join/` needs one.
    fn node(&self) -> Result<&NodeCertInfo, ApiError> {
        self.cert
            .as_ref()
            .ok_or_else(|| ApiError::new(http::StatusCode::UNAUTHORIZED, "a client certificate issued by this cluster is required"))
    }
}

/// A running cluster port. The TLS configuration can be replaced (certificate renewal) without
/// dropping the listener.
pub(crate) struct ClusterServer {
    tls: Arc<RwLock<Arc<ServerConfig>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ClusterServer {
    /// Serves `manager`'s cluster calls on a bound listener.
    pub(crate) fn start(listener: TcpListener, tls: ServerConfig, manager: Arc<Manager>) -> Self {
        let tls = Arc::new(RwLock::new(Arc::new(tls)));
        // Every route but the join calls sits behind the certificate check, which runs before
        // anything of the request is read.
        let members = Router::new()
            .route(HEARTBEAT_PATH, post(heartbeat))
            .route(RENEW_PATH, post(renew))
            .route(CONTROL_PATH, post(control))
            .route_layer(middleware::from_fn(require_client_certificate));
        let routes = Router::new()
            .route(ROOT_CA_PATH, get(root_ca))
            .route(JOIN_PATH, post(join))
            .merge(members)
            .with_state(manager);
        let task = tokio::spawn(accept_loop(listener, tls.clone(), routes));
        tracing::info!("cluster port listening (mutual TLS)");
        Self { tls, task }
    }

    /// Uses `config` for new connections from now on.
    pub(crate) fn replace_tls(&self, config: ServerConfig) {
        *self.tls.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    }
}

impl Drop for ClusterServer {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every open connection.
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, tls: Arc<RwLock<Arc<ServerConfig>>>, routes: Router) {
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
        while connections.try_join_next().is_some() {}
        let config = tls.read().unwrap_or_else(|e| e.into_inner()).clone();
        let routes = routes.clone();
        connections.spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, TlsAcceptor::from(config).accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return tracing::debug!(%addr, "TLS handshake refused: {e}"),
                Err(_) => return tracing::debug!(%addr, "TLS handshake timed out"),
            };
            let cert = match stream.get_ref().1.peer_certificates().and_then(|chain| chain.first()) {
                None => None,
                // The chain was verified against the cluster root during the handshake; a
                // verified certificate without node subject fields is refused outright.
                Some(leaf) => match NodeCertInfo::from_der(leaf) {
                    Ok(info) => Some(info),
                    Err(e) => return tracing::info!(%addr, "refused a certificate that is not a node certificate: {e}"),
                },
            };
            let service = routes.layer(Extension(Peer { cert, addr }));
            let served = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .http1_only()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .await;
            if let Err(e) = served {
                tracing::debug!(%addr, "cluster connection ended: {e}");
            }
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

async fn root_ca(State(manager): State<Arc<Manager>>) -> Json<RootCaResponse> {
    Json(RootCaResponse { root_ca_pem: manager.root_ca_pem() })
}

async fn join(
    State(manager): State<Arc<Manager>>,
    Extension(peer): Extension<Peer>,
    Json(request): Json<JoinCertRequest>,
) -> Result<Json<JoinCertResponse>, ApiError> {
    manager.join(request, peer.addr.ip().to_string()).await.map(Json)
}

async fn heartbeat(
    State(manager): State<Arc<Manager>>,
    Extension(peer): Extension<Peer>,
    Json(request): Json<HeartbeatRequest>,
) -> Result<Json<HeartbeatResponse>, ApiError> {
    manager.heartbeat(peer.node()?, request).map(Json)
}

async fn renew(
    State(manager): State<Arc<Manager>>,
    Extension(peer): Extension<Peer>,
    Json(request): Json<RenewRequest>,
) -> Result<Json<RenewResponse>, ApiError> {
    manager.renew(peer.node()?, &request.csr_pem).await.map(Json)
}

async fn control(
    State(manager): State<Arc<Manager>>,
    Extension(peer): Extension<Peer>,
    Json(call): Json<ControlCall>,
) -> Result<Json<ControlReply>, ApiError> {
    let cert = peer.node()?;
    let node = manager.authorize(cert)?;
    // Both the certificate and the cluster's current view must say manager: a demoted node's
    // older manager certificate stops working at once.
    if cert.role != NodeRole::Manager || node.role != NodeRole::Manager {
        return Err(ApiError::new(http::StatusCode::FORBIDDEN, "only managers may read or change cluster state"));
    }
    manager.control(call).map(Json)
}
