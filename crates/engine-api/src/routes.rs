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

use secrecy::{ExposeSecret as _, SecretString};

use crate::types::{
    ForceQuery, Info, InitRequest, JoinRequest, Node, NodeSpec, Secret, SecretCreateResponse, SecretFilters, SecretSpec,
    Swarm, SwarmSpec, UnlockKeyResponse, UnlockRequest, UpdateNodeQuery, UpdateSecretQuery, UpdateSwarmQuery, Version,
};
use crate::containers::{container_routes, ContainerBackend};
use crate::networks::{network_routes, NetworkBackend, SwarmNetworkBackend};
use crate::policy::{policy_routes, PolicyBackend};
use crate::services::{service_routes, ServiceBackend};
use crate::ApiError;

/// The highest API version served; the docker CLI negotiates down to it via `_ping`.
pub const API_VERSION: &str = "1.50";
/// The lowest API version served.
pub const MIN_API_VERSION: &str = "1.24";

type ApiResult<T> = Result<T, ApiError>;

/// What the Engine API needs from a node. The daemon implements it; the routes only translate
/// HTTP to these calls.
pub trait Backend: ServiceBackend + PolicyBackend + SwarmNetworkBackend + Send + Sync + 'static {
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

    /// `POST /swarm/unlock`: the route has checked the `SWMKEY-1-` form; a wrong key is
    /// [`ApiError::invalid_unlock_key`], an unlocked node [`ApiError::swarm_not_locked`].
    fn swarm_unlock(&self, key: SecretString) -> impl Future<Output = ApiResult<()>> + Send {
        drop(key);
        std::future::ready(Err(ApiError::unlock_unsupported()))
    }

    /// `POST /secrets/create`: returns the new ID. The route has run
    /// [`SecretSpec::validate_for_create`]; a taken name is [`ApiError::secret_exists`].
    fn secret_create(&self, spec: SecretSpec) -> impl Future<Output = ApiResult<String>> + Send {
        drop(spec);
        std::future::ready(Err(ApiError::secrets_unsupported()))
    }

    /// `GET /secrets`: the secrets passing `filters` ([`SecretFilters::matches`]), each with
    /// `Spec.Data` removed ([`SecretSpec::without_data`]).
    fn secret_list(&self, filters: SecretFilters) -> impl Future<Output = ApiResult<Vec<Secret>>> + Send {
        drop(filters);
        std::future::ready(Err(ApiError::secrets_unsupported()))
    }

    /// `GET /secrets/{ref}`: by ID, name, or unique ID prefix ([`crate::types::resolve_secret`]),
    /// without `Spec.Data`.
    fn secret_inspect(&self, reference: String) -> impl Future<Output = ApiResult<Secret>> + Send {
        drop(reference);
        std::future::ready(Err(ApiError::secrets_unsupported()))
    }

    /// `POST /secrets/{ref}/update?version=`: labels only
    /// ([`SecretSpec::check_label_only_update`] against the stored spec).
    fn secret_update(&self, reference: String, version: u64, spec: SecretSpec) -> impl Future<Output = ApiResult<()>> + Send {
        drop((reference, version, spec));
        std::future::ready(Err(ApiError::secrets_unsupported()))
    }

    /// `DELETE /secrets/{ref}`.
    fn secret_remove(&self, reference: String) -> impl Future<Output = ApiResult<()>> + Send {
        drop(reference);
        std::future::ready(Err(ApiError::secrets_unsupported()))
    }
}

/// The Engine API (swarm half from `backend`; container, image and network half from `containers`) as a
/// tower service. Paths are accepted with or without a `/vX.Y` prefix.
pub fn router<B: Backend, C: ContainerBackend + NetworkBackend>(
    backend: Arc<B>,
    containers: Arc<C>,
    metrics: Option<&palisade_metrics::HttpMetrics>,
) -> impl tower::Service<
    Request,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone + Send + 'static {
    let routes = swarm_routes(backend.clone()).merge(policy_routes(backend.clone())).merge(service_routes(backend.clone())).merge(network_routes(containers.clone(), backend)).merge(container_routes(containers));
    // Route templates as labels; requests no route matched count as `unmatched`.
    let routes = match metrics {
        Some(m) => m.measure(routes, palisade_metrics::matched_path),
        None => routes,
    };
    tower::ServiceBuilder::new().map_request(strip_version_prefix).service(routes)
}

/// The swarm half of the API (everything the [`Backend`] serves).
fn swarm_routes<B: Backend>(backend: Arc<B>) -> Router {
    Router::new()
        .route("/_ping", get(ping::<B>).head(ping::<B>))
        .route("/version", get(version::<B>))
        .route("/info", get(info::<B>))
        .route("/swarm", get(swarm_inspect::<B>))
        .route("/swarm/init", post(swarm_init::<B>))
        .route("/swarm/join", post(swarm_join::<B>))
        .route("/swarm/leave", post(swarm_leave::<B>))
        .route("/swarm/update", post(swarm_update::<B>))
        .route("/swarm/unlockkey", get(swarm_unlock_key::<B>))
        .route("/swarm/unlock", post(swarm_unlock::<B>))
        .route("/secrets", get(secret_list::<B>))
        .route("/secrets/create", post(secret_create::<B>))
        .route("/secrets/{reference}", get(secret_inspect::<B>).delete(secret_remove::<B>))
        .route("/secrets/{reference}/update", post(secret_update::<B>))
        .route("/nodes", get(node_list::<B>))
        .route("/nodes/{reference}", get(node_inspect::<B>).delete(node_remove::<B>))
        .route("/nodes/{reference}/update", post(node_update::<B>))
        .fallback(not_found)
        .with_state(backend)
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

async fn swarm_unlock<B: Backend>(State(backend): State<Arc<B>>, JsonBody(request): JsonBody<UnlockRequest>) -> ApiResult<StatusCode> {
    // The form check of swarmkit's ParseHumanReadableKey; the key itself is the backend's.
    if !request.unlock_key.expose_secret().starts_with("SWMKEY-1-") {
        return Err(ApiError::malformed_unlock_key());
    }
    backend.swarm_unlock(request.unlock_key).await.map(|()| StatusCode::OK)
}

/// The `filters` query parameter (JSON), as list endpoints take it.
#[derive(serde::Deserialize)]
pub(crate) struct FiltersQuery {
    pub(crate) filters: Option<String>,
}

async fn secret_list<B: Backend>(State(backend): State<Arc<B>>, QueryArgs(query): QueryArgs<FiltersQuery>) -> ApiResult<Json<Vec<Secret>>> {
    let filters = SecretFilters::parse(query.filters.as_deref())?;
    let mut secrets = backend.secret_list(filters).await?;
    for secret in &mut secrets {
        secret.spec.data = None;
    }
    Ok(Json(secrets))
}

async fn secret_create<B: Backend>(State(backend): State<Arc<B>>, SecretSpecBody(spec): SecretSpecBody) -> ApiResult<(StatusCode, Json<SecretCreateResponse>)> {
    spec.validate_for_create()?;
    let id = backend.secret_create(spec).await?;
    Ok((StatusCode::CREATED, Json(SecretCreateResponse { id })))
}

async fn secret_inspect<B: Backend>(State(backend): State<Arc<B>>, Path(reference): Path<String>) -> ApiResult<Json<Secret>> {
    let mut secret = backend.secret_inspect(reference).await?;
    secret.spec.data = None;
    Ok(Json(secret))
}

async fn secret_update<B: Backend>(
    State(backend): State<Arc<B>>,
    Path(reference): Path<String>,
    QueryArgs(query): QueryArgs<UpdateSecretQuery>,
    SecretSpecBody(spec): SecretSpecBody,
) -> ApiResult<StatusCode> {
    let version = query.version.ok_or_else(|| ApiError::bad_request("invalid secret version"))?;
    backend.secret_update(reference, version, spec).await.map(|()| StatusCode::OK)
}

async fn secret_remove<B: Backend>(State(backend): State<Arc<B>>, Path(reference): Path<String>) -> ApiResult<StatusCode> {
    backend.secret_remove(reference).await.map(|()| StatusCode::NO_CONTENT)
}

/// A `SecretSpec` body. Like [`JsonBody`], except that a bad `Data` gets Go's own text
/// (`illegal base64 data at input byte N`), as dockerd answers, and the raw body is zeroed.
pub(crate) struct SecretSpecBody(pub(crate) SecretSpec);

impl<S: Send + Sync> FromRequest<S> for SecretSpecBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("cannot read request body: {e}")))?;
        let body = zeroize::Zeroizing::new(bytes.to_vec());
        drop(bytes);
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("request body is empty"));
        }
        serde_json::from_slice(&body).map(SecretSpecBody).map_err(|e| {
            let text = e.to_string();
            let message = text.rsplit_once(" at line ").map_or(text.as_str(), |(message, _)| message);
            if message.starts_with("illegal base64 data") {
                ApiError::bad_request(message)
            } else {
                ApiError::bad_request(format!("invalid JSON: {e}"))
            }
        })
    }
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
    use std::sync::Mutex;

    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use crate::types::{resolve_secret, ObjectVersion, SwarmInfo};

    /// The methods every Backend must have, answered with an error the tests never expect.
    macro_rules! required_methods {
        () => {
            fn version(&self) -> Version {
                Version::default()
            }
            fn swarm_status(&self) -> String {
                "active/manager".into()
            }
            async fn info(&self) -> ApiResult<Info> {
                Ok(Info { swarm: SwarmInfo { local_node_state: "locked".into(), ..SwarmInfo::default() }, ..Info::default() })
            }
            async fn swarm_init(&self, _: InitRequest) -> ApiResult<String> {
                Err(ApiError::internal("unused"))
            }
            async fn swarm_join(&self, _: JoinRequest) -> ApiResult<()> {
                Err(ApiError::internal("unused"))
            }
            async fn swarm_leave(&self, _: bool) -> ApiResult<()> {
                Err(ApiError::internal("unused"))
            }
            async fn swarm_inspect(&self) -> ApiResult<Swarm> {
                Err(ApiError::swarm_locked())
            }
            async fn swarm_update(&self, _: SwarmSpec, _: UpdateSwarmQuery) -> ApiResult<()> {
                Err(ApiError::internal("unused"))
            }
            async fn swarm_unlock_key(&self) -> ApiResult<UnlockKeyResponse> {
                Ok(UnlockKeyResponse { unlock_key: "SWMKEY-1-abc".into() })
            }
            async fn node_list(&self) -> ApiResult<Vec<Node>> {
                Err(ApiError::internal("unused"))
            }
            async fn node_inspect(&self, _: String) -> ApiResult<Node> {
                Err(ApiError::internal("unused"))
            }
            async fn node_update(&self, _: String, _: u64, _: NodeSpec) -> ApiResult<()> {
                Err(ApiError::internal("unused"))
            }
            async fn node_remove(&self, _: String, _: bool) -> ApiResult<()> {
                Err(ApiError::internal("unused"))
            }
        };
    }

    /// A node with no secrets or autolock support: the trait's defaults.
    struct Bare;
    impl crate::services::ServiceBackend for Bare {}
    impl crate::networks::SwarmNetworkBackend for Bare {}
    impl crate::policy::PolicyBackend for Bare {}
    impl Backend for Bare {
        required_methods!();
    }

    /// An in-memory secret store, storing specs with their data as a backend would.
    #[derive(Default)]
    struct Fake {
        secrets: Mutex<Vec<(Secret, SecretSpec)>>,
        unlocked_with: Mutex<Option<String>>,
    }
    impl crate::services::ServiceBackend for Fake {}
    impl crate::networks::SwarmNetworkBackend for Fake {}
    impl crate::policy::PolicyBackend for Fake {}
    impl Backend for Fake {
        required_methods!();
        async fn swarm_unlock(&self, key: SecretString) -> ApiResult<()> {
            if key.expose_secret() != "SWMKEY-1-right" {
                return Err(ApiError::invalid_unlock_key());
            }
            *self.unlocked_with.lock().unwrap() = Some(key.expose_secret().to_owned());
            Ok(())
        }
        async fn secret_create(&self, spec: SecretSpec) -> ApiResult<String> {
            let mut secrets = self.secrets.lock().unwrap();
            if secrets.iter().any(|(s, _)| s.spec.name == spec.name) {
                return Err(ApiError::secret_exists(&spec.name));
            }
            let id = format!("id{}", secrets.len() + 1);
            // A careless backend that keeps Data in the listed object: the routes must strip it.
            secrets.push((Secret { id: id.clone(), version: ObjectVersion { index: 1 }, spec: spec.clone(), ..Secret::default() }, spec));
            Ok(id)
        }
        async fn secret_list(&self, filters: SecretFilters) -> ApiResult<Vec<Secret>> {
            Ok(self.secrets.lock().unwrap().iter().map(|(s, _)| s.clone()).filter(|s| filters.matches(s)).collect())
        }
        async fn secret_inspect(&self, reference: String) -> ApiResult<Secret> {
            let all: Vec<Secret> = self.secrets.lock().unwrap().iter().map(|(s, _)| s.clone()).collect();
            resolve_secret(&all, &reference).cloned()
        }
        async fn secret_update(&self, reference: String, version: u64, spec: SecretSpec) -> ApiResult<()> {
            let mut secrets = self.secrets.lock().unwrap();
            let all: Vec<Secret> = secrets.iter().map(|(s, _)| s.clone()).collect();
            let id = resolve_secret(&all, &reference)?.id.clone();
            let Some((secret, stored)) = secrets.iter_mut().find(|(s, _)| s.id == id) else { return Err(ApiError::secret_not_found(&reference)) };
            spec.check_label_only_update(stored)?;
            if version != secret.version.index {
                return Err(ApiError::internal("update out of sequence"));
            }
            stored.labels = spec.labels.clone();
            secret.spec.labels = spec.labels;
            secret.version.index += 1;
            Ok(())
        }
        async fn secret_remove(&self, reference: String) -> ApiResult<()> {
            let mut secrets = self.secrets.lock().unwrap();
            let all: Vec<Secret> = secrets.iter().map(|(s, _)| s.clone()).collect();
            let id = resolve_secret(&all, &reference)?.id.clone();
            secrets.retain(|(s, _)| s.id != id);
            Ok(())
        }
    }

    async fn call<B: Backend>(backend: &Arc<B>, method: &str, uri: &str, body: &str) -> (u16, serde_json::Value) {
        let service = tower::ServiceBuilder::new().map_request(strip_version_prefix).service(swarm_routes(backend.clone()));
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("Content-Type", "application/json")
            .body(axum::body::Body::from(body.to_owned()))
            .unwrap();
        let response = service.oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = if bytes.is_empty() { serde_json::Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        (status, json)
    }

    #[tokio::test]
    async fn secrets_round_trip_as_the_docker_cli_drives_them() {
        let backend = Arc::new(Fake::default());
        // `docker secret create db_pw FILE` (file "s3cr3t"), verbatim body.
        let (status, body) = call(&backend, "POST", "/v1.47/secrets/create", "{\"Name\":\"db_pw\",\"Labels\":{},\"Data\":\"czNjcjN0\"}\n").await;
        assert_eq!((status, body["ID"].as_str()), (201, Some("id1")));
        assert_eq!(backend.secrets.lock().unwrap()[0].1.data.as_ref().unwrap().expose(), b"s3cr3t");
        call(&backend, "POST", "/secrets/create", r#"{"Name":"other","Labels":{"env":"prod"},"Data":"eA=="}"#).await;

        let (status, body) = call(&backend, "POST", "/v1.50/secrets/create", r#"{"Name":"db_pw","Data":"eA=="}"#).await;
        assert_eq!((status, body["message"].as_str().unwrap()), (409, "rpc error: code = AlreadyExists desc = secret db_pw already exists"));

        let (status, list) = call(&backend, "GET", "/v1.50/secrets", "").await;
        assert_eq!(status, 200);
        assert_eq!(list.as_array().unwrap().len(), 2);
        assert!(list.to_string().find("Data").is_none(), "{list}");

        // `docker service create --secret db_pw` looks the secret up this way.
        let (_, list) = call(&backend, "GET", "/v1.50/secrets?filters=%7B%22name%22%3A%7B%22db_pw%22%3Atrue%7D%7D", "").await;
        assert_eq!(list.as_array().unwrap().iter().map(|s| s["Spec"]["Name"].as_str().unwrap()).collect::<Vec<_>>(), ["db_pw"]);
        let (_, list) = call(&backend, "GET", "/secrets?filters=%7B%22label%22%3A%5B%22env%3Dprod%22%5D%7D", "").await;
        assert_eq!(list[0]["Spec"]["Name"], "other");
        let (status, body) = call(&backend, "GET", "/secrets?filters=%7B%22nope%22%3A%7B%22x%22%3Atrue%7D%7D", "").await;
        assert_eq!((status, body["message"].as_str().unwrap()), (400, "invalid filter 'nope'"));

        let (status, secret) = call(&backend, "GET", "/v1.50/secrets/db_pw", "").await;
        assert_eq!((status, secret["ID"].as_str()), (200, Some("id1")));
        assert_eq!(secret["Spec"], serde_json::json!({"Name": "db_pw", "Labels": {}}));
        let (status, body) = call(&backend, "GET", "/secrets/nosuch", "").await;
        assert_eq!((status, body["message"].as_str().unwrap()), (404, "secret nosuch not found"));

        // Label update: allowed; data change: refused with docker's text; no version: 400.
        let (status, _) = call(&backend, "POST", "/secrets/id1/update?version=1", r#"{"Name":"db_pw","Labels":{"a":"b"}}"#).await;
        assert_eq!(status, 200);
        let (_, secret) = call(&backend, "GET", "/secrets/id1", "").await;
        assert_eq!((secret["Spec"]["Labels"]["a"].as_str(), secret["Version"]["Index"].as_u64()), (Some("b"), Some(2)));
        let (status, body) = call(&backend, "POST", "/secrets/db_pw/update?version=2", r#"{"Name":"db_pw","Data":"eHg="}"#).await;
        assert_eq!((status, body["message"].as_str().unwrap()), (400, "rpc error: code = InvalidArgument desc = only updates to Labels are allowed"));
        let (status, _) = call(&backend, "POST", "/secrets/db_pw/update", r#"{"Name":"db_pw"}"#).await;
        assert_eq!(status, 400);

        let (status, _) = call(&backend, "DELETE", "/v1.50/secrets/db_pw", "").await;
        assert_eq!(status, 204);
        let (status, _) = call(&backend, "DELETE", "/secrets/db_pw", "").await;
        assert_eq!(status, 404);
        assert_eq!(backend.secrets.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn bad_secret_specs_are_refused_before_the_backend() {
        let backend = Arc::new(Fake::default());
        let cases = [
            (r#"{"Name":"db pw","Data":"eA=="}"#, "rpc error: code = InvalidArgument desc = invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]"),
            (r#"{"Data":"eA=="}"#, "rpc error: code = InvalidArgument desc = name must be provided"),
            (r#"{"Name":"a","Data":""}"#, "rpc error: code = InvalidArgument desc = secret data must be larger than 0 and less than 512000 bytes"),
            (r#"{"Name":"a"}"#, "rpc error: code = InvalidArgument desc = secret data must be larger than 0 and less than 512000 bytes"),
            (r#"{"Name":"a","Data":"e!A="}"#, "illegal base64 data at input byte 1"),
        ];
        for (body, message) in cases {
            let (status, answer) = call(&backend, "POST", "/secrets/create", body).await;
            assert_eq!((status, answer["message"].as_str().unwrap()), (400, message), "{body}");
        }
        let big = format!(r#"{{"Name":"big","Data":"{}"}}"#, base64::Engine::encode(&base64::engine::general_purpose::STANDARD, vec![1u8; 500 * 1024]));
        let (status, _) = call(&backend, "POST", "/secrets/create", &big).await;
        assert_eq!(status, 400);
        assert!(backend.secrets.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn without_overrides_secrets_and_unlock_answer_501() {
        let backend = Arc::new(Bare);
        for (method, uri, body) in [
            ("POST", "/secrets/create", r#"{"Name":"a","Data":"eA=="}"#),
            ("GET", "/secrets", ""),
            ("GET", "/secrets/a", ""),
            ("POST", "/secrets/a/update?version=1", r#"{"Name":"a"}"#),
            ("DELETE", "/secrets/a", ""),
        ] {
            let (status, answer) = call(&backend, method, uri, body).await;
            assert_eq!((status, answer["message"].as_str().unwrap()), (501, "secrets are not supported by this node yet"), "{method} {uri}");
        }
        let (status, _) = call(&backend, "POST", "/swarm/unlock", r#"{"UnlockKey":"SWMKEY-1-x"}"#).await;
        assert_eq!(status, 501);
    }

    #[tokio::test]
    async fn unlock_takes_docker_s_body_and_checks_the_key_form() {
        let backend = Arc::new(Fake::default());
        let (status, body) = call(&backend, "POST", "/v1.50/swarm/unlock", r#"{"UnlockKey":"not-a-key"}"#).await;
        assert_eq!((status, body["message"].as_str().unwrap()), (400, "invalid key string"));
        let (status, body) = call(&backend, "POST", "/v1.50/swarm/unlock", r#"{"UnlockKey":"SWMKEY-1-wrong"}"#).await;
        assert_eq!((status, body["message"].as_str().unwrap()), (401, "swarm could not be unlocked: invalid key provided"));
        assert!(backend.unlocked_with.lock().unwrap().is_none());
        let (status, _) = call(&backend, "POST", "/v1.50/swarm/unlock", "{\"UnlockKey\":\"SWMKEY-1-right\"}\n").await;
        assert_eq!(status, 200);
        assert_eq!(backend.unlocked_with.lock().unwrap().as_deref(), Some("SWMKEY-1-right"));
    }

    #[tokio::test]
    async fn locked_state_and_unlock_key_render_as_docker_reads_them() {
        let backend = Arc::new(Fake::default());
        let (_, info) = call(&backend, "GET", "/info", "").await;
        assert_eq!(info["Swarm"]["LocalNodeState"], "locked");
        let (status, body) = call(&backend, "GET", "/swarm", "").await;
        assert_eq!(
            (status, body["message"].as_str().unwrap()),
            (503, "Swarm is encrypted and needs to be unlocked before it can be used. Please use \"docker swarm unlock\" to unlock it.")
        );
        let (_, key) = call(&backend, "GET", "/swarm/unlockkey", "").await;
        assert_eq!(key, serde_json::json!({"UnlockKey": "SWMKEY-1-abc"}));
        assert!(!format!("{:?}", UnlockKeyResponse { unlock_key: "SWMKEY-1-abc".into() }).contains("abc"));
        let request: UnlockRequest = serde_json::from_str(r#"{"UnlockKey":"SWMKEY-1-abc"}"#).unwrap();
        assert!(!format!("{request:?}").contains("abc"));
        assert_eq!(serde_json::to_value(&request).unwrap(), serde_json::json!({"UnlockKey": "SWMKEY-1-abc"}));
    }

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
