//! `/services*`, `/tasks*` and `/configs*`: what a swarm runs, and the [`ServiceBackend`] that
//! runs it. The routes parse and validate; the backend decides. (`/distribution/{name}/json`,
//! which the docker CLI asks before it creates or updates a service, is the engine's: see
//! [`crate::containers::ContainerBackend::distribution_inspect`].)

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::containers::types::RegistryAuth;
use crate::containers::{stream_body, OutputStream, MULTIPLEXED};
use crate::routes::{FiltersQuery, JsonBody, QueryArgs, SecretSpecBody};
use crate::types::{
    Config, ConfigSpec, ListFilters, SecretCreateResponse, SecretFilters, Service, ServiceCreateResponse, ServiceLogsOptions,
    ServiceLogsQuery, ServiceSpec, ServiceUpdateResponse, Task, UpdateSecretQuery, UpdateServiceQuery,
};
use crate::ApiError;

type ApiResult<T> = Result<T, ApiError>;

/// Filter keys `GET /services` accepts.
pub const SERVICE_FILTERS: &[&str] = &["id", "name", "label", "mode"];
/// Filter keys `GET /tasks` accepts (`_up-to-date` is the CLI's convergence check).
pub const TASK_FILTERS: &[&str] = &["id", "name", "service", "node", "label", "desired-state", "_up-to-date"];

/// What the service, task and config endpoints need from a manager. Every method defaults to
/// 501, for nodes that do not orchestrate.
pub trait ServiceBackend: Send + Sync + 'static {
    /// `POST /services/create`: `spec` passed [`ServiceSpec::validate`].
    fn service_create(&self, spec: ServiceSpec) -> impl Future<Output = ApiResult<ServiceCreateResponse>> + Send {
        drop(spec);
        std::future::ready(Err(services_unsupported()))
    }
    /// `GET /services[?status=true]`.
    fn service_list(&self, filters: ListFilters, status: bool) -> impl Future<Output = ApiResult<Vec<Service>>> + Send {
        drop(filters);
        let _ = status;
        std::future::ready(Err(services_unsupported()))
    }
    /// `GET /services/{ref}`: by ID, name or unique ID prefix.
    fn service_inspect(&self, reference: String) -> impl Future<Output = ApiResult<Service>> + Send {
        drop(reference);
        std::future::ready(Err(services_unsupported()))
    }
    /// `POST /services/{ref}/update?version=[&rollback=previous]`: `spec` passed validation.
    fn service_update(
        &self,
        reference: String,
        version: u64,
        spec: ServiceSpec,
        rollback: bool,
    ) -> impl Future<Output = ApiResult<ServiceUpdateResponse>> + Send {
        drop((reference, spec));
        let _ = (version, rollback);
        std::future::ready(Err(services_unsupported()))
    }
    /// `DELETE /services/{ref}`.
    fn service_remove(&self, reference: String) -> impl Future<Output = ApiResult<()>> + Send {
        drop(reference);
        std::future::ready(Err(services_unsupported()))
    }
    /// `GET /services/{ref}/logs` (or `/tasks/{id}/logs` when `task` is set): framed
    /// (multiplexed) chunks, each line prefixed with its details when asked.
    fn service_logs(
        &self,
        reference: String,
        task: bool,
        options: ServiceLogsOptions,
    ) -> impl Future<Output = ApiResult<OutputStream>> + Send {
        drop(reference);
        let _ = (task, options);
        std::future::ready(Err(services_unsupported()))
    }
    /// `GET /tasks`.
    fn task_list(&self, filters: ListFilters) -> impl Future<Output = ApiResult<Vec<Task>>> + Send {
        drop(filters);
        std::future::ready(Err(services_unsupported()))
    }
    /// `GET /tasks/{id}`: by ID or unique ID prefix.
    fn task_inspect(&self, reference: String) -> impl Future<Output = ApiResult<Task>> + Send {
        drop(reference);
        std::future::ready(Err(services_unsupported()))
    }
    /// `POST /configs/create`: `spec` passed [`ConfigSpec::validate_config_for_create`].
    fn config_create(&self, spec: ConfigSpec) -> impl Future<Output = ApiResult<String>> + Send {
        drop(spec);
        std::future::ready(Err(services_unsupported()))
    }
    /// `GET /configs` (with data: configs are not secret).
    fn config_list(&self, filters: SecretFilters) -> impl Future<Output = ApiResult<Vec<Config>>> + Send {
        drop(filters);
        std::future::ready(Err(services_unsupported()))
    }
    /// `GET /configs/{ref}`.
    fn config_inspect(&self, reference: String) -> impl Future<Output = ApiResult<Config>> + Send {
        drop(reference);
        std::future::ready(Err(services_unsupported()))
    }
    /// `POST /configs/{ref}/update?version=`: labels only.
    fn config_update(&self, reference: String, version: u64, spec: ConfigSpec) -> impl Future<Output = ApiResult<()>> + Send {
        drop((reference, spec));
        let _ = version;
        std::future::ready(Err(services_unsupported()))
    }
    /// `DELETE /configs/{ref}`.
    fn config_remove(&self, reference: String) -> impl Future<Output = ApiResult<()>> + Send {
        drop(reference);
        std::future::ready(Err(services_unsupported()))
    }
}

/// 501: this node does not run services.
fn services_unsupported() -> ApiError {
    ApiError::new(StatusCode::NOT_IMPLEMENTED, "services are not supported by this node")
}

/// The routes, to be merged into the Engine API router.
pub(crate) fn service_routes<B: ServiceBackend>(backend: Arc<B>) -> Router {
    Router::new()
        .route("/services", get(service_list::<B>))
        .route("/services/create", post(service_create::<B>))
        .route("/services/{reference}", get(service_inspect::<B>).delete(service_remove::<B>))
        .route("/services/{reference}/update", post(service_update::<B>))
        .route("/services/{reference}/logs", get(service_logs::<B>))
        .route("/tasks", get(task_list::<B>))
        .route("/tasks/{reference}", get(task_inspect::<B>))
        .route("/tasks/{reference}/logs", get(task_logs::<B>))
        .route("/configs", get(config_list::<B>))
        .route("/configs/create", post(config_create::<B>))
        .route("/configs/{reference}", get(config_inspect::<B>).delete(config_remove::<B>))
        .route("/configs/{reference}/update", post(config_update::<B>))
        .with_state(backend)
}

/// `status=true`.
#[derive(serde::Deserialize)]
struct ServiceListQuery {
    filters: Option<String>,
    status: Option<String>,
}

async fn service_list<B: ServiceBackend>(
    State(backend): State<Arc<B>>,
    QueryArgs(query): QueryArgs<ServiceListQuery>,
) -> ApiResult<Json<Vec<Service>>> {
    let filters = ListFilters::parse(query.filters.as_deref(), SERVICE_FILTERS)?;
    let status = crate::containers::types::query_flag(query.status.as_deref());
    backend.service_list(filters, status).await.map(Json)
}

async fn service_create<B: ServiceBackend>(
    State(backend): State<Arc<B>>,
    headers: HeaderMap,
    JsonBody(spec): JsonBody<ServiceSpec>,
) -> ApiResult<(StatusCode, Json<ServiceCreateResponse>)> {
    refuse_registry_auth(&headers)?;
    spec.validate()?;
    let created = backend.service_create(spec).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Credentials for pulling on the nodes are not distributed yet: refuse rather than ignore
/// them (`--with-registry-auth`). A malformed header is refused as well.
fn refuse_registry_auth(headers: &HeaderMap) -> ApiResult<()> {
    match RegistryAuth::from_headers(headers).map_err(ApiError::bad_request)? {
        None => Ok(()),
        Some(_) => Err(ApiError::bad_request("--with-registry-auth is not supported by Palisade yet: nodes pull anonymously")),
    }
}

async fn service_inspect<B: ServiceBackend>(State(backend): State<Arc<B>>, Path(reference): Path<String>) -> ApiResult<Json<Service>> {
    backend.service_inspect(reference).await.map(Json)
}

async fn service_update<B: ServiceBackend>(
    State(backend): State<Arc<B>>,
    Path(reference): Path<String>,
    QueryArgs(query): QueryArgs<UpdateServiceQuery>,
    headers: HeaderMap,
    JsonBody(spec): JsonBody<ServiceSpec>,
) -> ApiResult<Json<ServiceUpdateResponse>> {
    let version = query.version.ok_or_else(|| ApiError::bad_request("invalid service version"))?;
    let rollback = match query.rollback.as_deref() {
        None | Some("") => false,
        Some("previous") => true,
        Some(other) => return Err(ApiError::bad_request(format!("unrecognized rollback option {other}"))),
    };
    refuse_registry_auth(&headers)?;
    spec.validate()?;
    backend.service_update(reference, version, spec, rollback).await.map(Json)
}

async fn service_remove<B: ServiceBackend>(State(backend): State<Arc<B>>, Path(reference): Path<String>) -> ApiResult<StatusCode> {
    backend.service_remove(reference).await.map(|()| StatusCode::OK)
}

async fn service_logs<B: ServiceBackend>(
    State(backend): State<Arc<B>>,
    Path(reference): Path<String>,
    QueryArgs(query): QueryArgs<ServiceLogsQuery>,
) -> ApiResult<Response> {
    logs(backend, reference, false, &query).await
}

async fn task_logs<B: ServiceBackend>(
    State(backend): State<Arc<B>>,
    Path(reference): Path<String>,
    QueryArgs(query): QueryArgs<ServiceLogsQuery>,
) -> ApiResult<Response> {
    logs(backend, reference, true, &query).await
}

async fn logs<B: ServiceBackend>(backend: Arc<B>, reference: String, task: bool, query: &ServiceLogsQuery) -> ApiResult<Response> {
    let rx = backend.service_logs(reference, task, query.options()?).await?;
    Ok(([(header::CONTENT_TYPE, MULTIPLEXED)], stream_body(rx)).into_response())
}

async fn task_list<B: ServiceBackend>(State(backend): State<Arc<B>>, QueryArgs(query): QueryArgs<FiltersQuery>) -> ApiResult<Json<Vec<Task>>> {
    let filters = ListFilters::parse(query.filters.as_deref(), TASK_FILTERS)?;
    backend.task_list(filters).await.map(Json)
}

async fn task_inspect<B: ServiceBackend>(State(backend): State<Arc<B>>, Path(reference): Path<String>) -> ApiResult<Json<Task>> {
    backend.task_inspect(reference).await.map(Json)
}

async fn config_create<B: ServiceBackend>(
    State(backend): State<Arc<B>>,
    SecretSpecBody(spec): SecretSpecBody,
) -> ApiResult<(StatusCode, Json<SecretCreateResponse>)> {
    spec.validate_config_for_create()?;
    let id = backend.config_create(spec).await?;
    Ok((StatusCode::CREATED, Json(SecretCreateResponse { id })))
}

async fn config_list<B: ServiceBackend>(State(backend): State<Arc<B>>, QueryArgs(query): QueryArgs<FiltersQuery>) -> ApiResult<Json<Vec<Config>>> {
    let filters = SecretFilters::parse(query.filters.as_deref())?;
    backend.config_list(filters).await.map(Json)
}

async fn config_inspect<B: ServiceBackend>(State(backend): State<Arc<B>>, Path(reference): Path<String>) -> ApiResult<Json<Config>> {
    backend.config_inspect(reference).await.map(Json)
}

async fn config_update<B: ServiceBackend>(
    State(backend): State<Arc<B>>,
    Path(reference): Path<String>,
    QueryArgs(query): QueryArgs<UpdateSecretQuery>,
    SecretSpecBody(spec): SecretSpecBody,
) -> ApiResult<StatusCode> {
    let version = query.version.ok_or_else(|| ApiError::bad_request("invalid config version"))?;
    backend.config_update(reference, version, spec).await.map(|()| StatusCode::OK)
}

async fn config_remove<B: ServiceBackend>(State(backend): State<Arc<B>>, Path(reference): Path<String>) -> ApiResult<StatusCode> {
    backend.config_remove(reference).await.map(|()| StatusCode::NO_CONTENT)
}
