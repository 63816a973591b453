//! `docker top` (`GET /containers/{ref}/top?ps_args=`) and `docker stats`
//! (`GET /containers/{ref}/stats?stream=&one-shot=`), with dockerd's field names.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::containers::types::query_flag;
use crate::containers::{stream_body, OutputStream};
use crate::routes::QueryArgs;
use crate::ApiError;

type ApiResult<T> = Result<T, ApiError>;

/// Answer of `GET /containers/{ref}/top`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TopResponse {
    /// Column names (`ps -ef`'s).
    pub titles: Vec<String>,
    /// One row per process.
    pub processes: Vec<Vec<String>>,
}

/// `cpu_stats.cpu_usage`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuUsage {
    /// CPU time of the container, nanoseconds.
    pub total_usage: u64,
}

/// `cpu_stats` and `precpu_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuStats {
    /// The container's usage.
    pub cpu_usage: CpuUsage,
    /// The host's CPU time, nanoseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_cpu_usage: Option<u64>,
    /// Online CPUs of the host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online_cpus: Option<u32>,
}

/// `memory_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Bytes in use (page cache included; the CLI subtracts `stats.cache`/`inactive_file`).
    pub usage: u64,
    /// The limit (the host's memory when unlimited).
    pub limit: u64,
    /// The cgroup's `memory.stat`.
    pub stats: BTreeMap<String, u64>,
}

/// `pids_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidsStats {
    /// Tasks in the container.
    pub current: u64,
    /// Its pids limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// One `GET /containers/{ref}/stats` sample.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsResponse {
    /// `/name`.
    pub name: String,
    /// Container id.
    pub id: String,
    /// When this sample was read (RFC 3339).
    pub read: String,
    /// When the previous one was.
    pub preread: String,
    /// Tasks.
    pub pids_stats: PidsStats,
    /// CPU now.
    pub cpu_stats: CpuStats,
    /// CPU at `preread`.
    pub precpu_stats: CpuStats,
    /// Memory.
    pub memory_stats: MemoryStats,
    /// Block I/O (not collected: empty).
    pub blkio_stats: serde_json::Value,
}

/// Query of `GET /containers/{ref}/top`.
#[derive(Debug, Default, Deserialize)]
pub struct TopQuery {
    /// Only `-ef` (the default) is served.
    pub ps_args: Option<String>,
}

/// Query of `GET /containers/{ref}/stats`.
#[derive(Debug, Default, Deserialize)]
pub struct StatsQuery {
    /// One sample when false; default true.
    pub stream: Option<String>,
    /// With `stream=false`: no second sample for `precpu_stats`.
    #[serde(rename = "one-shot")]
    pub one_shot: Option<String>,
}

/// What the top and stats endpoints need from a node's engine.
pub trait StatsBackend: Send + Sync + 'static {
    /// `GET /containers/{ref}/top`.
    fn container_top(&self, reference: String) -> impl Future<Output = ApiResult<TopResponse>> + Send;
    /// `GET /containers/{ref}/stats`: newline-terminated [`StatsResponse`] lines, one only
    /// unless `stream`; `one_shot` leaves `precpu_stats` empty rather than waiting a second.
    fn container_stats(&self, reference: String, stream: bool, one_shot: bool) -> impl Future<Output = ApiResult<OutputStream>> + Send;
}

/// The top and stats routes.
pub fn stats_routes<S: StatsBackend>(backend: Arc<S>) -> Router {
    Router::new()
        .route("/containers/{reference}/top", get(top::<S>))
        .route("/containers/{reference}/stats", get(stats::<S>))
        .with_state(backend)
}

async fn top<S: StatsBackend>(State(backend): State<Arc<S>>, Path(reference): Path<String>, QueryArgs(query): QueryArgs<TopQuery>) -> ApiResult<Json<TopResponse>> {
    match query.ps_args.as_deref() {
        None | Some("" | "-ef") => backend.container_top(reference).await.map(Json),
        Some(other) => Err(ApiError::bad_request(format!("ps options {other:?} are not supported: docker top shows ps -ef's columns"))),
    }
}

async fn stats<S: StatsBackend>(State(backend): State<Arc<S>>, Path(reference): Path<String>, QueryArgs(query): QueryArgs<StatsQuery>) -> ApiResult<Response> {
    let stream = query.stream.as_deref().is_none_or(|s| query_flag(Some(s)));
    let rx = backend.container_stats(reference, stream, query_flag(query.one_shot.as_deref())).await?;
    let mut response = stream_body(rx).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}
