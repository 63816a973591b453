//! `docker cp`: `HEAD`/`GET /containers/{ref}/archive?path=` (stat, and a tar of the path)
//! and `PUT /containers/{ref}/archive?path=` (a tar extracted into a directory).
//!
//! The stat travels base64-encoded in the `X-Docker-Container-Path-Stat` header, as dockerd
//! sends it; the docker CLI reads it to decide how to name what it copies.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};

use crate::containers::types::query_flag;
use crate::containers::{stream_body, OutputStream};
use crate::routes::QueryArgs;
use crate::ApiError;

type ApiResult<T> = Result<T, ApiError>;

/// The header carrying a [`PathStat`].
pub const PATH_STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

/// dockerd's `ContainerPathStat`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathStat {
    /// Last component of the path.
    pub name: String,
    /// Size in bytes.
    pub size: i64,
    /// Go `os.FileMode` bits.
    pub mode: u32,
    /// Modification time (RFC 3339).
    pub mtime: String,
    /// A symlink's absolute target in the container, else empty.
    pub link_target: String,
}

impl PathStat {
    /// Go's `os.ModeDir`.
    pub const MODE_DIR: u32 = 1 << 31;
    /// Go's `os.ModeSymlink`.
    pub const MODE_SYMLINK: u32 = 1 << 27;

    /// Whether the path is a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & Self::MODE_DIR != 0
    }

    /// Whether the path is a symbolic link (then [`Self::link_target`] names its target).
    pub fn is_symlink(&self) -> bool {
        self.mode & Self::MODE_SYMLINK != 0
    }

    /// Decodes the value of a [`PATH_STAT_HEADER`] (base64 of the JSON).
    pub fn from_header(value: &[u8]) -> Result<Self, String> {
        let json = base64::engine::general_purpose::STANDARD.decode(value).map_err(|e| format!("invalid {PATH_STAT_HEADER}: {e}"))?;
        serde_json::from_slice(&json).map_err(|e| format!("invalid {PATH_STAT_HEADER}: {e}"))
    }
}

/// Query of the archive endpoints.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveQuery {
    /// The path in the container (absolute).
    pub path: Option<String>,
    /// `PUT`: refuse to replace a directory by a non-directory or the reverse.
    pub no_overwrite_dir_non_dir: Option<String>,
    /// `PUT`: keep the archive's owners (`docker cp -a`).
    #[serde(rename = "copyUIDGID")]
    pub copy_uid_gid: Option<String>,
}

/// What `PUT /containers/{ref}/archive` asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractRequest {
    /// `noOverwriteDirNonDir`.
    pub no_overwrite_dir_non_dir: bool,
    /// `copyUIDGID`.
    pub copy_uid_gid: bool,
}

/// The request body of a `PUT`: the tar, chunk by chunk.
pub type InputStream = Pin<Box<dyn futures::Stream<Item = Result<Bytes, String>> + Send>>;

/// What the archive endpoints need from a node's engine.
pub trait ArchiveBackend: Send + Sync + 'static {
    /// `HEAD /containers/{ref}/archive?path=`.
    fn archive_stat(&self, reference: String, path: String) -> impl Future<Output = ApiResult<PathStat>> + Send;
    /// `GET /containers/{ref}/archive?path=`: the stat and the tar stream.
    fn archive_get(&self, reference: String, path: String) -> impl Future<Output = ApiResult<(PathStat, OutputStream)>> + Send;
    /// `PUT /containers/{ref}/archive?path=`: extracts the tar into the directory `path`.
    fn archive_put(&self, reference: String, path: String, request: ExtractRequest, archive: InputStream) -> impl Future<Output = ApiResult<()>> + Send;
}

/// The archive routes.
pub fn archive_routes<A: ArchiveBackend>(backend: Arc<A>) -> Router {
    Router::new()
        .route("/containers/{reference}/archive", get(get_or_head::<A>).put(put::<A>))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(backend)
}

fn required_path(query: &ArchiveQuery) -> ApiResult<String> {
    match query.path.as_deref() {
        Some(p) if p.starts_with('/') => Ok(p.to_owned()),
        Some(p) if !p.is_empty() => Err(ApiError::bad_request(format!("path {p:?} is not absolute"))),
        _ => Err(ApiError::bad_request("path is required")),
    }
}

fn stat_header(stat: &PathStat) -> ApiResult<HeaderValue> {
    let json = serde_json::to_vec(stat).map_err(|e| ApiError::internal(e.to_string()))?;
    HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(json)).map_err(|e| ApiError::internal(e.to_string()))
}

/// axum answers `HEAD` with the `GET` route: the method decides whether a tar is made.
async fn get_or_head<A: ArchiveBackend>(
    State(backend): State<Arc<A>>,
    Path(reference): Path<String>,
    method: Method,
    QueryArgs(query): QueryArgs<ArchiveQuery>,
) -> ApiResult<Response> {
    let path = required_path(&query)?;
    if method == Method::HEAD {
        let stat = backend.archive_stat(reference, path).await?;
        return Ok(([(PATH_STAT_HEADER, stat_header(&stat)?)], StatusCode::OK).into_response());
    }
    let (stat, rx) = backend.archive_get(reference, path).await?;
    let mut response = stream_body(rx).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    headers.insert(PATH_STAT_HEADER, stat_header(&stat)?);
    Ok(response)
}

async fn put<A: ArchiveBackend>(
    State(backend): State<Arc<A>>,
    Path(reference): Path<String>,
    QueryArgs(query): QueryArgs<ArchiveQuery>,
    body: Body,
) -> ApiResult<StatusCode> {
    let path = required_path(&query)?;
    let request = ExtractRequest {
        no_overwrite_dir_non_dir: query_flag(query.no_overwrite_dir_non_dir.as_deref()),
        copy_uid_gid: query_flag(query.copy_uid_gid.as_deref()),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let feeder = tokio::spawn(feed(body, tx));
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let put = backend.archive_put(reference, path, request, Box::pin(stream)).await;
    if put.is_err() {
        // Refused before the whole archive was read: the rest is read (and dropped) before
        // the answer goes, or the client, still writing, would see its connection closed
        // ("broken pipe") instead of the reason.
        let _ = tokio::time::timeout(DRAIN_TIME, feeder).await;
    }
    put.map(|()| StatusCode::OK)
}

/// The most of a refused archive read and dropped so that the client gets the answer.
const DRAIN_BYTES: u64 = 256 << 20;
/// The longest a refused archive's answer waits for that.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Passes `body`'s chunks to `tx`; once the receiver is gone (the archive was refused), reads
/// on and drops up to [`DRAIN_BYTES`].
async fn feed(body: Body, tx: tokio::sync::mpsc::Sender<Result<Bytes, String>>) {
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        if tx.send(chunk.map_err(|e| e.to_string())).await.is_err() {
            let mut dropped = 0u64;
            while let Some(Ok(chunk)) = chunks.next().await {
                dropped += chunk.len() as u64;
                if dropped > DRAIN_BYTES {
                    return;
                }
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stat_header_is_base64_json_with_dockers_field_names() {
        let stat = PathStat { name: "x".into(), size: 3, mode: 1 << 27 | 0o777, mtime: "2024-01-01T00:00:00Z".into(), link_target: "/etc".into() };
        let value = stat_header(&stat).unwrap();
        let json = base64::engine::general_purpose::STANDARD.decode(value.as_bytes()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["linkTarget"], "/etc");
        assert_eq!(v["mode"], 134218239u32);
        let back = PathStat::from_header(value.as_bytes()).unwrap();
        assert_eq!(back, stat);
        assert!(back.is_symlink() && !back.is_dir());
        assert!(PathStat::from_header(b"not base64!").is_err());
    }
}
