//! The network endpoints: the [`NetworkBackend`] a node's engine implements, and its routes.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::routes::JsonBody;
use crate::types::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest, NetworkPruneResponse,
    NetworkResource,
};
use crate::ApiError;

type ApiResult<T> = Result<T, ApiError>;

/// What the network endpoints need from a node's engine. References are a full id, a name or
/// a unique id prefix.
pub trait NetworkBackend: Send + Sync + 'static {
    /// `GET /networks`.
    fn network_list(&self) -> impl Future<Output = ApiResult<Vec<NetworkResource>>> + Send;
    /// `GET /networks/{ref}`.
    fn network_inspect(&self, reference: String) -> impl Future<Output = ApiResult<NetworkResource>> + Send;
    /// `POST /networks/create`.
    fn network_create(&self, request: NetworkCreateRequest) -> impl Future<Output = ApiResult<NetworkCreateResponse>> + Send;
    /// `DELETE /networks/{ref}`.
    fn network_remove(&self, reference: String) -> impl Future<Output = ApiResult<()>> + Send;
    /// `POST /networks/{ref}/connect`.
    fn network_connect(&self, reference: String, request: NetworkConnectRequest) -> impl Future<Output = ApiResult<()>> + Send;
    /// `POST /networks/{ref}/disconnect`.
    fn network_disconnect(&self, reference: String, request: NetworkDisconnectRequest) -> impl Future<Output = ApiResult<()>> + Send;
    /// `POST /networks/prune`.
    fn network_prune(&self) -> impl Future<Output = ApiResult<NetworkPruneResponse>> + Send;
}

/// The network routes, to be merged into the Engine API router.
pub fn network_routes<N: NetworkBackend>(backend: Arc<N>) -> Router {
    Router::new()
        .route("/networks", get(list::<N>))
        .route("/networks/create", post(create::<N>))
        .route("/networks/prune", post(prune::<N>))
        .route("/networks/{reference}", get(inspect::<N>).delete(remove::<N>))
        .route("/networks/{reference}/connect", post(connect::<N>))
        .route("/networks/{reference}/disconnect", post(disconnect::<N>))
        .with_state(backend)
}

async fn list<N: NetworkBackend>(State(b): State<Arc<N>>) -> ApiResult<Json<Vec<NetworkResource>>> {
    b.network_list().await.map(Json)
}

async fn inspect<N: NetworkBackend>(State(b): State<Arc<N>>, Path(reference): Path<String>) -> ApiResult<Json<NetworkResource>> {
    b.network_inspect(reference).await.map(Json)
}

async fn create<N: NetworkBackend>(
    State(b): State<Arc<N>>,
    JsonBody(request): JsonBody<NetworkCreateRequest>,
) -> ApiResult<(StatusCode, Json<NetworkCreateResponse>)> {
    b.network_create(request).await.map(|r| (StatusCode::CREATED, Json(r)))
}

async fn remove<N: NetworkBackend>(State(b): State<Arc<N>>, Path(reference): Path<String>) -> ApiResult<StatusCode> {
    b.network_remove(reference).await.map(|()| StatusCode::NO_CONTENT)
}

async fn connect<N: NetworkBackend>(
    State(b): State<Arc<N>>,
    Path(reference): Path<String>,
    JsonBody(request): JsonBody<NetworkConnectRequest>,
) -> ApiResult<StatusCode> {
    b.network_connect(reference, request).await.map(|()| StatusCode::OK)
}

async fn disconnect<N: NetworkBackend>(
    State(b): State<Arc<N>>,
    Path(reference): Path<String>,
    JsonBody(request): JsonBody<NetworkDisconnectRequest>,
) -> ApiResult<StatusCode> {
    b.network_disconnect(reference, request).await.map(|()| StatusCode::OK)
}

async fn prune<N: NetworkBackend>(State(b): State<Arc<N>>) -> ApiResult<Json<NetworkPruneResponse>> {
    b.network_prune().await.map(Json)
}
