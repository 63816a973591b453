//! The volume endpoints (`docker volume …`): typed bodies ([`types`]), the [`VolumeBackend`]
//! a node's engine implements, and the routes.

pub mod types;

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::containers::types::query_flag;
use crate::routes::{JsonBody, QueryArgs};
use crate::ApiError;
use types::{FiltersQuery, Volume, VolumeCreateRequest, VolumeFilters, VolumeListResponse, VolumePruneResponse, VolumeRemoveQuery};

type ApiResult<T> = Result<T, ApiError>;

/// What the volume endpoints need from a node's engine.
pub trait VolumeBackend: Send + Sync + 'static {
    /// `POST /volumes/create`: an existing volume of that name is returned as it is, as
    /// dockerd does.
    fn volume_create(&self, request: VolumeCreateRequest) -> impl Future<Output = ApiResult<Volume>> + Send;
    /// `GET /volumes`.
    fn volume_list(&self, filters: VolumeFilters) -> impl Future<Output = ApiResult<Vec<Volume>>> + Send;
    /// `GET /volumes/{name}`.
    fn volume_inspect(&self, name: String) -> impl Future<Output = ApiResult<Volume>> + Send;
    /// `DELETE /volumes/{name}`: refused while a container uses it; with `force`, a missing
    /// volume is not an error.
    fn volume_remove(&self, name: String, force: bool) -> impl Future<Output = ApiResult<()>> + Send;
    /// `POST /volumes/prune`: removes the unused volumes passing `filters` (anonymous ones
    /// only, unless `all`).
    fn volume_prune(&self, filters: VolumeFilters) -> impl Future<Output = ApiResult<VolumePruneResponse>> + Send;
}

/// The volume routes, to be merged into the Engine API router.
pub fn volume_routes<V: VolumeBackend>(backend: Arc<V>) -> Router {
    Router::new()
        .route("/volumes", get(list::<V>))
        .route("/volumes/create", post(create::<V>))
        .route("/volumes/prune", post(prune::<V>))
        .route("/volumes/{name}", get(inspect::<V>).delete(remove::<V>))
        .with_state(backend)
}

fn filters(query: &FiltersQuery) -> ApiResult<VolumeFilters> {
    VolumeFilters::parse(query.filters.as_deref()).map_err(ApiError::bad_request)
}

async fn create<V: VolumeBackend>(State(backend): State<Arc<V>>, JsonBody(request): JsonBody<VolumeCreateRequest>) -> ApiResult<(StatusCode, Json<Volume>)> {
    backend.volume_create(request).await.map(|v| (StatusCode::CREATED, Json(v)))
}

async fn list<V: VolumeBackend>(State(backend): State<Arc<V>>, QueryArgs(query): QueryArgs<FiltersQuery>) -> ApiResult<Json<VolumeListResponse>> {
    let volumes = backend.volume_list(filters(&query)?).await?;
    Ok(Json(VolumeListResponse { volumes, warnings: Vec::new() }))
}

async fn inspect<V: VolumeBackend>(State(backend): State<Arc<V>>, Path(name): Path<String>) -> ApiResult<Json<Volume>> {
    backend.volume_inspect(name).await.map(Json)
}

async fn remove<V: VolumeBackend>(
    State(backend): State<Arc<V>>,
    Path(name): Path<String>,
    QueryArgs(query): QueryArgs<VolumeRemoveQuery>,
) -> ApiResult<StatusCode> {
    backend.volume_remove(name, query_flag(query.force.as_deref())).await.map(|()| StatusCode::NO_CONTENT)
}

async fn prune<V: VolumeBackend>(State(backend): State<Arc<V>>, QueryArgs(query): QueryArgs<FiltersQuery>) -> ApiResult<Json<VolumePruneResponse>> {
    backend.volume_prune(filters(&query)?).await.map(Json)
}
