//! Routes of the container and image endpoints: parse, call the [`ContainerBackend`], render.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;

use super::types::{
    query_flag, AuthRequest, AuthResponse, ContainerCreateRequest, ContainerCreateResponse, ContainerInspect, ContainerSummary, CreateQuery, DistributionInspect,
    ImageCreateQuery, ImageDeleteItem, ImagePushQuery, ImageRemoveQuery, ImageSummary, ImageTagQuery, KillQuery, ListQuery, LoadQuery, OutputOptions,
    OutputQuery, RegistryAuth, RemoveQuery, StopQuery, WaitCondition, WaitQuery,
};
use super::{ContainerBackend, OutputStream};
use crate::routes::{JsonBody, QueryArgs};
use crate::ApiError;

type ApiResult<T> = Result<T, ApiError>;

/// Content type of a multiplexed (non-TTY) output stream.
pub(crate) const MULTIPLEXED: &str = "application/vnd.docker.multiplexed-stream";

/// The container and image routes, to be merged into the Engine API router.
pub fn container_routes<C: ContainerBackend>(backend: Arc<C>) -> Router {
    Router::new()
        .route("/containers/create", post(create::<C>))
        .route("/containers/json", get(list::<C>))
        .route("/containers/{reference}/json", get(inspect::<C>))
        .route("/containers/{reference}/start", post(start::<C>))
        .route("/containers/{reference}/wait", post(wait::<C>))
        .route("/containers/{reference}/stop", post(stop::<C>))
        .route("/containers/{reference}/restart", post(restart::<C>))
        .route("/containers/{reference}/kill", post(kill::<C>))
        .route("/containers/{reference}/logs", get(logs::<C>))
        .route("/containers/{reference}", axum::routing::delete(remove::<C>))
        .route("/images/json", get(image_list::<C>))
        .route("/images/get", get(image_save::<C>))
        .route("/images/load", post(image_load::<C>).layer(DefaultBodyLimit::disable()))
        .route("/images/create", post(image_create::<C>))
        .route("/images/{*name}", get(image_inspect::<C>).post(image_tag_or_push::<C>).delete(image_remove::<C>))
        .route("/auth", post(auth::<C>))
        .route("/distribution/{*name}", get(distribution_inspect::<C>))
        .with_state(backend.clone())
        .merge(crate::volumes::volume_routes(backend.clone()))
        .merge(crate::exec::exec_routes(backend.clone()))
        .merge(crate::archive::archive_routes(backend.clone()))
        .merge(crate::events::event_routes(backend.clone()))
        .merge(crate::stats::stats_routes(backend))
}

async fn create<C: ContainerBackend>(
    State(backend): State<Arc<C>>,
    QueryArgs(query): QueryArgs<CreateQuery>,
    JsonBody(request): JsonBody<ContainerCreateRequest>,
) -> ApiResult<(StatusCode, Json<ContainerCreateResponse>)> {
    let name = query.name.filter(|n| !n.is_empty());
    backend.container_create(name, request).await.map(|r| (StatusCode::CREATED, Json(r)))
}

async fn list<C: ContainerBackend>(State(backend): State<Arc<C>>, QueryArgs(query): QueryArgs<ListQuery>) -> ApiResult<Json<Vec<ContainerSummary>>> {
    backend.container_list(query_flag(query.all.as_deref())).await.map(Json)
}

async fn inspect<C: ContainerBackend>(State(backend): State<Arc<C>>, Path(reference): Path<String>) -> ApiResult<Json<ContainerInspect>> {
    backend.container_inspect(reference).await.map(Json)
}

async fn start<C: ContainerBackend>(State(backend): State<Arc<C>>, Path(reference): Path<String>) -> ApiResult<StatusCode> {
    backend.container_start(reference).await.map(|started| if started { StatusCode::NO_CONTENT } else { StatusCode::NOT_MODIFIED })
}

/// Headers go out at once; the body (`{"StatusCode":N}`) when the condition holds.
async fn wait<C: ContainerBackend>(
    State(backend): State<Arc<C>>,
    Path(reference): Path<String>,
    QueryArgs(query): QueryArgs<WaitQuery>,
) -> ApiResult<Response> {
    let condition = WaitCondition::parse(query.condition.as_deref())
        .ok_or_else(|| ApiError::bad_request(format!("invalid condition: {:?}", query.condition.unwrap_or_default())))?;
    let pending = backend.container_wait(reference, condition).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        let response = pending.await;
        let mut body = serde_json::to_vec(&response).unwrap_or_default();
        body.push(b'\n');
        let _ = tx.send(Bytes::from(body)).await;
    });
    Ok(([(header::CONTENT_TYPE, "application/json")], stream_body(rx)).into_response())
}

async fn stop<C: ContainerBackend>(
    State(backend): State<Arc<C>>,
    Path(reference): Path<String>,
    QueryArgs(query): QueryArgs<StopQuery>,
) -> ApiResult<StatusCode> {
    backend
        .container_stop(reference, query.t, query.signal.filter(|s| !s.is_empty()))
        .await
        .map(|stopped| if stopped { StatusCode::NO_CONTENT } else { StatusCode::NOT_MODIFIED })
}

async fn restart<C: ContainerBackend>(
    State(backend): State<Arc<C>>,
    Path(reference): Path<String>,
    QueryArgs(query): QueryArgs<StopQuery>,
) -> ApiResult<StatusCode> {
    backend.container_restart(reference, query.t, query.signal.filter(|s| !s.is_empty())).await.map(|()| StatusCode::NO_CONTENT)
}

async fn kill<C: ContainerBackend>(
    State(backend): State<Arc<C>>,
    Path(reference): Path<String>,
    QueryArgs(query): QueryArgs<KillQuery>,
) -> ApiResult<StatusCode> {
    let signal = query.signal.filter(|s| !s.is_empty()).unwrap_or_else(|| "KILL".to_owned());
    backend.container_kill(reference, signal).await.map(|()| StatusCode::NO_CONTENT)
}

async fn remove<C: ContainerBackend>(
    State(backend): State<Arc<C>>,
    Path(reference): Path<String>,
    QueryArgs(query): QueryArgs<RemoveQuery>,
) -> ApiResult<StatusCode> {
    backend
        .container_remove(reference, query_flag(query.force.as_deref()), query_flag(query.v.as_deref()))
        .await
        .map(|()| StatusCode::NO_CONTENT)
}

fn output_options(query: &OutputQuery, follow: bool) -> OutputOptions {
    OutputOptions { stdout: query_flag(query.stdout.as_deref()), stderr: query_flag(query.stderr.as_deref()), follow }
}

async fn logs<C: ContainerBackend>(
    State(backend): State<Arc<C>>,
    Path(reference): Path<String>,
    QueryArgs(query): QueryArgs<OutputQuery>,
) -> ApiResult<Response> {
    let options = output_options(&query, query_flag(query.follow.as_deref()));
    if !options.stdout && !options.stderr {
        return Err(ApiError::bad_request("Bad parameters: you must choose at least one stream"));
    }
    let rx = backend.container_output(reference, options).await?;
    Ok(([(header::CONTENT_TYPE, MULTIPLEXED)], stream_body(rx)).into_response())
}

pub(crate) fn stream_body(rx: OutputStream) -> Body {
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|chunk| (Ok::<_, std::convert::Infallible>(chunk), rx)) });
    Body::from_stream(stream)
}

async fn image_list<C: ContainerBackend>(State(backend): State<Arc<C>>) -> ApiResult<Json<Vec<ImageSummary>>> {
    backend.image_list().await.map(Json)
}

/// A JSON message stream: `{"stream":"Loaded image: x:latest\n"}` per image.
async fn image_load<C: ContainerBackend>(
    State(backend): State<Arc<C>>,
    QueryArgs(_query): QueryArgs<LoadQuery>,
    archive: Bytes,
) -> ApiResult<Response> {
    let lines = backend.image_load(archive).await?;
    let mut body = Vec::new();
    for line in lines {
        body.extend(serde_json::to_vec(&serde_json::json!({ "stream": format!("{line}\n") })).unwrap_or_default());
        body.push(b'\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `docker pull`: a JSON progress stream, as dockerd sends it.
async fn image_create<C: ContainerBackend>(
    State(backend): State<Arc<C>>,
    QueryArgs(query): QueryArgs<ImageCreateQuery>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    if query.from_src.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::bad_request("importing a filesystem tarball (fromSrc) is not supported: use docker load"));
    }
    let image = query.from_image.filter(|i| !i.is_empty()).ok_or_else(|| ApiError::bad_request("fromImage is required"))?;
    let auth = RegistryAuth::from_headers(&headers).map_err(ApiError::bad_request)?;
    let rx = backend.image_pull(image, query.tag.unwrap_or_default(), auth).await?;
    let mut response = stream_body(rx).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// `GET /images/{name}/json` (inspect) and `GET /images/{name}/get` (save), which share the
/// route's wildcard.
async fn image_inspect<C: ContainerBackend>(State(backend): State<Arc<C>>, Path(path): Path<String>) -> ApiResult<Response> {
    if let Some(name) = path.strip_suffix("/get") {
        return saved(backend.image_save(vec![name.to_owned()]).await?);
    }
    let name = path.strip_suffix("/json").ok_or_else(|| ApiError::not_found(format!("page not found: /images/{path}")))?;
    backend.image_inspect(name.to_owned()).await.map(|i| Json(i).into_response())
}

/// `GET /images/get?names=a&names=b`: the names are repeated query keys.
async fn image_save<C: ContainerBackend>(State(backend): State<Arc<C>>, uri: axum::http::Uri) -> ApiResult<Response> {
    let names: Vec<String> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| *key == "names")
        .map(|(_, value)| percent_decode(value))
        .collect::<ApiResult<_>>()?;
    if names.is_empty() {
        return Err(ApiError::bad_request("names is required"));
    }
    saved(backend.image_save(names).await?)
}

fn saved(rx: OutputStream) -> ApiResult<Response> {
    let mut response = stream_body(rx).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    Ok(response)
}

/// A query value's `%XX` escapes and `+` decoded.
fn percent_decode(value: &str) -> ApiResult<String> {
    let bad = || ApiError::bad_request(format!("invalid query value {value:?}"));
    let mut out = Vec::with_capacity(value.len());
    let mut bytes = value.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hex = [bytes.next().ok_or_else(bad)?, bytes.next().ok_or_else(bad)?];
                let hex = std::str::from_utf8(&hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// `POST /images/{name}/tag?repo=&tag=` (201 Created) and `POST /images/{name}/push?tag=`
/// (a progress stream), which share the route's wildcard.
async fn image_tag_or_push<C: ContainerBackend>(
    State(backend): State<Arc<C>>,
    Path(path): Path<String>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let parse = |e: axum::extract::rejection::QueryRejection| ApiError::bad_request(e.body_text());
    if let Some(name) = path.strip_suffix("/push") {
        let axum::extract::Query(query) = axum::extract::Query::<ImagePushQuery>::try_from_uri(&uri).map_err(parse)?;
        let auth = RegistryAuth::from_headers(&headers).map_err(ApiError::bad_request)?;
        let rx = backend.image_push(name.to_owned(), query.tag.unwrap_or_default(), auth).await?;
        let mut response = stream_body(rx).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return Ok(response);
    }
    let source = path.strip_suffix("/tag").ok_or_else(|| ApiError::not_found(format!("page not found: /images/{path}")))?;
    let axum::extract::Query(query) = axum::extract::Query::<ImageTagQuery>::try_from_uri(&uri).map_err(parse)?;
    let repo = query.repo.filter(|r| !r.is_empty()).ok_or_else(|| ApiError::bad_request("repo is required"))?;
    backend.image_tag(source.to_owned(), repo, query.tag.unwrap_or_default()).await?;
    Ok(StatusCode::CREATED.into_response())
}

/// `GET /distribution/{name}/json`. The credentials are the `X-Registry-Auth` the CLI sends for
/// the image's registry; as in dockerd, a header that does not decode means none.
async fn distribution_inspect<C: ContainerBackend>(
    State(backend): State<Arc<C>>,
    Path(path): Path<String>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Json<DistributionInspect>> {
    let name = path
        .strip_suffix("/json")
        .filter(|name| !name.is_empty())
        .ok_or_else(|| ApiError::not_found(format!("page not found: /distribution/{path}")))?;
    let auth = RegistryAuth::from_headers(&headers).ok().flatten();
    backend.distribution_inspect(name.to_owned(), auth).await.map(Json)
}

/// `POST /auth`: 200 with `Login Succeeded`, or the registry's refusal.
async fn auth<C: ContainerBackend>(State(backend): State<Arc<C>>, JsonBody(request): JsonBody<AuthRequest>) -> ApiResult<Json<AuthResponse>> {
    backend.auth_login(request).await.map(Json)
}

async fn image_remove<C: ContainerBackend>(
    State(backend): State<Arc<C>>,
    Path(name): Path<String>,
    QueryArgs(query): QueryArgs<ImageRemoveQuery>,
) -> ApiResult<Json<Vec<ImageDeleteItem>>> {
    backend.image_remove(name, query_flag(query.force.as_deref())).await.map(Json)
}
