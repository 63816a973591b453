//! HTTP routes of the Engine API. Every route parses its input into typed structs, calls the
//! [`Backend`], and renders the result or an [`ApiError`].

use std::future::Future;
use std::sync::Arc;

use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;

use crate::types::{
    ForceQuery, Info, InitRequest, JoinRequest, Node, NodeSpec, Swarm, SwarmSpec, UnlockKeyResponse,
    UpdateNodeQuery, UpdateSwarmQuery, Version,
};
use crate::containers::{container_routes, ContainerBackend};
use crate::ApiError;

/// The highest API version served; the docker CLI negotiates down to it via `_ping`.
pub const API_VERSION: &str = "1.50";
/// The lowest API version served.
pub const MIN_API_VERSION: &str = "1.24";

type ApiResult<T> = Result<T, ApiError>;

/// What the Engine API needs from a node. The daemon implements it; the routes only translate
/// HTTP to these calls.
pub trait Backend: Send + Sync + 'static {
    /// `GET /version`.
    fn version(&self) -> Version;
    /// `Swarm` header of `_ping`: `inactive`, `active/manager` or `active/worker`.
    fn swarm_status(&self) -> String;
    /// `GET /info`.
    fn info(&self) -> impl Future<Output = ApiResult<Info>> + Send;
    /// `POST /swarm/init`: returns the new node ID.
    fn swarm_init(&self, request: InitRequest) -> impl Future<Output = ApiResult<String>> + Send;
    /// `POST /swarm/join`.
    fn swarm_join(&self, request: JoinRequest) -> impl Future<Output = ApiResult<()>> + Send;
    /// `POST /swarm/leave`.
    fn swarm_leave(&self, force: bool) -> impl Future<Output = ApiResult<()>> + Send;
    /// `GET /swarm`.
    fn swarm_inspect(&self) -> impl Future<Output = ApiResult<Swarm>> + Send;
    /// `POST /swarm/update`.
    fn swarm_update(&self, spec: SwarmSpec, query: UpdateSwarmQuery) -> impl Future<Output = ApiResult<()>> + Send;
    /// `GET /swarm/unlockkey`.
    fn swarm_unlock_key(&self) -> impl Future<Output = ApiResult<UnlockKeyResponse>> + Send;
    /// `GET /nodes`.
    fn node_list(&self) -> impl Future<Output = ApiResult<Vec<Node>>> + Send;
    /// `GET /nodes/{ref}`: by ID, unique ID prefix, or hostname.
    fn node_inspect(&self, reference: String) -> impl Future<Output = ApiResult<Node>> + Send;
    /// `POST /nodes/{ref}/update?version=`.
    fn node_update(&self, reference: String, version: u64, spec: NodeSpec) -> impl Future<Output = ApiResult<()>> + Send;
    /// `DELETE /nodes/{ref}`.
    fn node_remove(&self, reference: String, force: bool) -> impl Future<Output = ApiResult<()>> + Send;
}

/// The Engine API (swarm half from `backend`, container and image half from `containers`) as a
/// tower service. Paths are accepted with or without a `/vX.Y` prefix.
pub fn router<B: Backend, C: ContainerBackend>(backend: Arc<B>, containers: Arc<C>) -> impl tower::Service<
    Request,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone + Send + 'static {
    let routes = Router::new()
        .route("/_ping", get(ping::<B>).head(ping::<B>))
        .route("/version", get(version::<B>))
        .route("/info", get(info::<B>))
        .route("/swarm", get(swarm_inspect::<B>))
        .route("/swarm/init", post(swarm_init::<B>))
        .route("/swarm/join", post(swarm_join::<B>))
        .route("/swarm/leave", post(swarm_leave::<B>))
        .route("/swarm/update", post(swarm_update::<B>))
        .route("/swarm/unlockkey", get(swarm_unlock_key::<B>))
        .route("/nodes", get(node_list::<B>))
        .route("/nodes/{reference}", get(node_inspect::<B>).delete(node_remove::<B>))
        .route("/nodes/{reference}/update", post(node_update::<B>))
        .fallback(not_found)
        .with_state(backend)
        .merge(container_routes(containers));
    tower::ServiceBuilder::new().map_request(strip_version_prefix).service(routes)
}

/// `/v1.50/info` → `/info`. Anything that is not `v<digits>.<digits>` is left alone.
fn strip_version_prefix(mut request: Request) -> Request {
    let path = request.uri().path();
    let Some(rest) = path.strip_prefix("/v") else { return request };
    let Some((version, tail)) = rest.split_once('/') else { return request };
    let is_version = version.split_once('.').is_some_and(|(major, minor)| {
        !major.is_empty() && !minor.is_empty() && major.bytes().chain(minor.bytes()).all(|b| b.is_ascii_digit())
    });
    if !is_version {
        return request;
    }
    let new_path = format!("/{tail}");
    let path_and_query = match request.uri().query() {
        Some(query) => format!("{new_path}?{query}"),
        None => new_path,
    };
    if let Ok(uri) = Uri::builder().path_and_query(path_and_query).build() {
        *request.uri_mut() = uri;
    }
    request
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("page not found: {}", uri.path()))
}

/// A JSON body whose parse errors are Engine-API errors (400, `{"message"}`).
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("cannot read request body: {e}")))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("request body is empty"));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
    }
}

/// A query string whose parse errors are Engine-API errors.
pub(crate) struct QueryArgs<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for QueryArgs<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| QueryArgs(q))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

async fn ping<B: Backend>(State(backend): State<Arc<B>>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    headers.insert("Docker-Experimental", HeaderValue::from_static("false"));
    headers.insert("Ostype", HeaderValue::from_static("linux"));
    headers.insert("Cache-Control", HeaderValue::from_static("no-cache, no-store, must-revalidate"));
    if let Ok(status) = HeaderValue::from_str(&backend.swarm_status()) {
        headers.insert("Swarm", status);
    }
    (StatusCode::OK, headers, "OK").into_response()
}

async fn version<B: Backend>(State(backend): State<Arc<B>>) -> Json<Version> {
    Json(backend.version())
}

async fn info<B: Backend>(State(backend): State<Arc<B>>) -> ApiResult<Json<Info>> {
    backend.info().await.map(Json)
}

async fn swarm_init<B: Backend>(State(backend): State<Arc<B>>, JsonBody(request): JsonBody<InitRequest>) -> ApiResult<Json<String>> {
    backend.swarm_init(request).await.map(Json)
}

async fn swarm_join<B: Backend>(State(backend): State<Arc<B>>, JsonBody(request): JsonBody<JoinRequest>) -> ApiResult<StatusCode> {
    backend.swarm_join(request).await.map(|()| StatusCode::OK)
}

async fn swarm_leave<B: Backend>(State(backend): State<Arc<B>>, QueryArgs(query): QueryArgs<ForceQuery>) -> ApiResult<StatusCode> {
    backend.swarm_leave(query.is_forced()).await.map(|()| StatusCode::OK)
}

async fn swarm_inspect<B: Backend>(State(backend): State<Arc<B>>) -> ApiResult<Json<Swarm>> {
    backend.swarm_inspect().await.map(Json)
}

async fn swarm_update<B: Backend>(
    State(backend): State<Arc<B>>,
    QueryArgs(query): QueryArgs<UpdateSwarmQuery>,
    JsonBody(spec): JsonBody<SwarmSpec>,
) -> ApiResult<StatusCode> {
    backend.swarm_update(spec, query).await.map(|()| StatusCode::OK)
}

async fn swarm_unlock_key<B: Backend>(State(backend): State<Arc<B>>) -> ApiResult<Json<UnlockKeyResponse>> {
    backend.swarm_unlock_key().await.map(Json)
}

async fn node_list<B: Backend>(State(backend): State<Arc<B>>) -> ApiResult<Json<Vec<Node>>> {
    backend.node_list().await.map(Json)
}

async fn node_inspect<B: Backend>(State(backend): State<Arc<B>>, Path(reference): Path<String>) -> ApiResult<Json<Node>> {
    backend.node_inspect(reference).await.map(Json)
}

async fn node_update<B: Backend>(
    State(backend): State<Arc<B>>,
    Path(reference): Path<String>,
    QueryArgs(query): QueryArgs<UpdateNodeQuery>,
    JsonBody(spec): JsonBody<NodeSpec>,
) -> ApiResult<StatusCode> {
    let version = query.version.ok_or_else(|| ApiError::bad_request("invalid node version: a version query parameter is required"))?;
    backend.node_update(reference, version, spec).await.map(|()| StatusCode::OK)
}

async fn node_remove<B: Backend>(
    State(backend): State<Arc<B>>,
    Path(reference): Path<String>,
    QueryArgs(query): QueryArgs<ForceQuery>,
) -> ApiResult<StatusCode> {
    backend.node_remove(reference, query.is_forced()).await.map(|()| StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_after(uri: &str) -> String {
        let request = Request::builder().uri(uri).body(axum::body::Body::empty()).unwrap();
        strip_version_prefix(request).uri().to_string()
    }

    #[test]
    fn version_prefixes_are_stripped_and_nothing_else() {
        assert_eq!(path_after("/v1.50/info"), "/info");
        assert_eq!(path_after("/v1.44/swarm/update?version=3"), "/swarm/update?version=3");
        assert_eq!(path_after("/info"), "/info");
        assert_eq!(path_after("/volumes/x"), "/volumes/x");
        assert_eq!(path_after("/v1/info"), "/v1/info");
    }
}
