//! `docker exec`, `docker attach` and terminals: the exec endpoints, container attach with
//! stdin, resize, and the hijacked connection they share.
//!
//! A hijacked connection (`POST /exec/{id}/start`, `POST /containers/{ref}/attach`) is
//! answered as dockerd does: `101 Switching Protocols` (`Upgrade: tcp`) when the client asked
//! for an upgrade, then the raw connection carries the process's output one way — multiplexed
//! frames ([`crate::containers::types::frame`]) without a terminal, raw bytes with one — and
//! its stdin the other. The client's half-close is the process's end of input; the server
//! closes its side once the output has ended. A client that asked for no upgrade gets the
//! output as a `200` body and sends no input.

use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::containers::types::query_flag;
use crate::containers::{stream_body, OutputStream, MULTIPLEXED};
use crate::routes::{JsonBody, QueryArgs};
use crate::types::null_as_default;
use crate::ApiError;

type ApiResult<T> = Result<T, ApiError>;

/// Content type of a terminal's raw stream.
const RAW_STREAM: &str = "application/vnd.docker.raw-stream";
/// docker's default detach keys: ctrl-p ctrl-q.
const DETACH_KEYS: [u8; 2] = [0x10, 0x11];
/// How long the client has to close its side after the output ended.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);
/// Largest stdin chunk read at once.
const INPUT_CHUNK: usize = 32 << 10;

/// Body of `POST /containers/{ref}/exec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecCreateRequest {
    /// `-u user[:group]`.
    pub user: String,
    /// `--privileged` (refused: an exec is never more privileged than the container).
    pub privileged: bool,
    /// `-t`.
    pub tty: bool,
    /// Initial terminal size `[rows, columns]`.
    pub console_size: Option<[u16; 2]>,
    /// `-i`.
    pub attach_stdin: bool,
    /// Output wanted on stdout.
    pub attach_stdout: bool,
    /// Output wanted on stderr.
    pub attach_stderr: bool,
    /// `--detach-keys`.
    pub detach_keys: String,
    /// `-e`.
    #[serde(deserialize_with = "null_as_default")]
    pub env: Vec<String>,
    /// `-w`.
    pub working_dir: String,
    /// The command.
    #[serde(deserialize_with = "null_as_default")]
    pub cmd: Vec<String>,
}

/// Answer of `POST /containers/{ref}/exec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecCreateResponse {
    /// The exec instance's id.
    #[serde(rename = "Id")]
    pub id: String,
}

/// Body of `POST /exec/{id}/start`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecStartRequest {
    /// `docker exec -d`: start and answer at once, no streams.
    pub detach: bool,
    /// Must match the create request's.
    pub tty: bool,
    /// Terminal size `[rows, columns]`.
    pub console_size: Option<[u16; 2]>,
}

/// `ProcessConfig` of an exec's inspect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecProcessConfig {
    /// Has a terminal.
    pub tty: bool,
    /// The command.
    pub entrypoint: String,
    /// Its arguments.
    pub arguments: Vec<String>,
    /// Always false.
    pub privileged: bool,
    /// `-u`.
    pub user: String,
}

/// Answer of `GET /exec/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecInspect {
    /// The exec's id.
    #[serde(rename = "ID")]
    pub id: String,
    /// Still running.
    pub running: bool,
    /// `null` until it has exited.
    pub exit_code: Option<i64>,
    /// What runs.
    pub process_config: ExecProcessConfig,
    /// `-i`.
    pub open_stdin: bool,
    /// Output on stderr.
    pub open_stderr: bool,
    /// Output on stdout.
    pub open_stdout: bool,
    /// Whether it can be removed (it goes with its container).
    pub can_remove: bool,
    /// Its container.
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    /// `--detach-keys`.
    pub detach_keys: String,
    /// Host pid while running (0 before and after).
    pub pid: i64,
}

/// `POST /exec/{id}/resize` and `POST /containers/{ref}/resize` (`?h=rows&w=columns`).
#[derive(Debug, Default, Deserialize)]
pub struct ResizeQuery {
    /// Rows.
    pub h: Option<String>,
    /// Columns.
    pub w: Option<String>,
}

/// `POST /containers/{ref}/attach` query.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachQuery {
    /// Forward the client's input to the container's stdin.
    pub stdin: Option<String>,
    /// Send stdout.
    pub stdout: Option<String>,
    /// Send stderr.
    pub stderr: Option<String>,
    /// Keep streaming until the container exits.
    pub stream: Option<String>,
    /// Send what was logged already.
    pub logs: Option<String>,
    /// `--detach-keys`.
    pub detach_keys: Option<String>,
}

/// What `docker attach` asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttachOptions {
    /// Forward input.
    pub stdin: bool,
    /// Send stdout.
    pub stdout: bool,
    /// Send stderr.
    pub stderr: bool,
    /// Follow until the container exits.
    pub stream: bool,
    /// Send past output first.
    pub logs: bool,
}

/// One side of a hijacked connection, as the engine provides it.
#[derive(Debug)]
pub struct Session {
    /// What goes to the client: multiplexed frames, or raw bytes when `tty`. The connection
    /// is closed when it ends.
    pub output: OutputStream,
    /// Where the client's input goes; dropped (end of input) on the client's half-close.
    pub input: Option<tokio::sync::mpsc::Sender<Bytes>>,
    /// A terminal session (raw stream).
    pub tty: bool,
}

/// What the exec, attach and resize endpoints need from a node's engine.
pub trait ExecBackend: Send + Sync + 'static {
    /// `POST /containers/{ref}/exec`: returns the exec id.
    fn exec_create(&self, reference: String, request: ExecCreateRequest) -> impl Future<Output = ApiResult<String>> + Send;
    /// `POST /exec/{id}/start`: `None` when detached (already started, nothing to stream).
    fn exec_start(&self, id: String, request: ExecStartRequest) -> impl Future<Output = ApiResult<Option<Session>>> + Send;
    /// `GET /exec/{id}/json`.
    fn exec_inspect(&self, id: String) -> impl Future<Output = ApiResult<ExecInspect>> + Send;
    /// `POST /exec/{id}/resize`.
    fn exec_resize(&self, id: String, rows: u16, columns: u16) -> impl Future<Output = ApiResult<()>> + Send;
    /// `POST /containers/{ref}/attach`.
    fn container_attach(&self, reference: String, options: AttachOptions) -> impl Future<Output = ApiResult<Session>> + Send;
    /// `POST /containers/{ref}/resize`.
    fn container_resize(&self, reference: String, rows: u16, columns: u16) -> impl Future<Output = ApiResult<()>> + Send;
}

/// The exec, attach and resize routes.
pub fn exec_routes<E: ExecBackend>(backend: Arc<E>) -> Router {
    Router::new()
        .route("/containers/{reference}/exec", post(exec_create::<E>))
        .route("/containers/{reference}/attach", post(attach::<E>))
        .route("/containers/{reference}/resize", post(container_resize::<E>))
        .route("/exec/{id}/start", post(exec_start::<E>))
        .route("/exec/{id}/json", get(exec_inspect::<E>))
        .route("/exec/{id}/resize", post(exec_resize::<E>))
        .with_state(backend)
}

async fn exec_create<E: ExecBackend>(
    State(backend): State<Arc<E>>,
    Path(reference): Path<String>,
    JsonBody(request): JsonBody<ExecCreateRequest>,
) -> ApiResult<(StatusCode, Json<ExecCreateResponse>)> {
    if request.privileged {
        return Err(ApiError::bad_request(
            "--privileged is not supported by Palisade: an exec runs with its container's own capabilities",
        ));
    }
    if request.cmd.is_empty() {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    let id = backend.exec_create(reference, request).await?;
    Ok((StatusCode::CREATED, Json(ExecCreateResponse { id })))
}

async fn exec_start<E: ExecBackend>(
    State(backend): State<Arc<E>>,
    Path(id): Path<String>,
    request: Request,
) -> ApiResult<Response> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.map_err(|e| ApiError::bad_request(format!("cannot read request body: {e}")))?;
    let start: ExecStartRequest = if bytes.iter().all(u8::is_ascii_whitespace) {
        ExecStartRequest::default()
    } else {
        serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    match backend.exec_start(id, start).await? {
        None => Ok(StatusCode::OK.into_response()),
        Some(session) => Ok(hijack(Request::from_parts(parts, Body::empty()), session)),
    }
}

async fn exec_inspect<E: ExecBackend>(State(backend): State<Arc<E>>, Path(id): Path<String>) -> ApiResult<Json<ExecInspect>> {
    backend.exec_inspect(id).await.map(Json)
}

fn size(query: &ResizeQuery) -> ApiResult<(u16, u16)> {
    let parse = |v: &Option<String>| v.as_deref().unwrap_or("0").parse::<u16>();
    match (parse(&query.h), parse(&query.w)) {
        (Ok(h), Ok(w)) => Ok((h, w)),
        _ => Err(ApiError::bad_request(format!("invalid terminal size h={:?} w={:?}", query.h, query.w))),
    }
}

async fn exec_resize<E: ExecBackend>(
    State(backend): State<Arc<E>>,
    Path(id): Path<String>,
    QueryArgs(query): QueryArgs<ResizeQuery>,
) -> ApiResult<StatusCode> {
    let (rows, columns) = size(&query)?;
    backend.exec_resize(id, rows, columns).await.map(|()| StatusCode::OK)
}

async fn container_resize<E: ExecBackend>(
    State(backend): State<Arc<E>>,
    Path(reference): Path<String>,
    QueryArgs(query): QueryArgs<ResizeQuery>,
) -> ApiResult<StatusCode> {
    let (rows, columns) = size(&query)?;
    backend.container_resize(reference, rows, columns).await.map(|()| StatusCode::OK)
}

async fn attach<E: ExecBackend>(
    State(backend): State<Arc<E>>,
    Path(reference): Path<String>,
    QueryArgs(query): QueryArgs<AttachQuery>,
    request: Request,
) -> ApiResult<Response> {
    let flag = |v: &Option<String>| query_flag(v.as_deref());
    let options = AttachOptions {
        stdin: flag(&query.stdin),
        stdout: flag(&query.stdout),
        stderr: flag(&query.stderr),
        stream: flag(&query.stream),
        logs: flag(&query.logs),
    };
    let session = backend.container_attach(reference, options).await?;
    Ok(hijack(request, session))
}

/// Answers `request` with `session` on a hijacked connection (see the module docs).
fn hijack(mut request: Request, session: Session) -> Response {
    let content_type = if session.tty { RAW_STREAM } else { MULTIPLEXED };
    if request.headers().get(header::UPGRADE).is_none() {
        return ([(header::CONTENT_TYPE, content_type)], stream_body(session.output)).into_response();
    }
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else { return };
        let (mut reader, mut writer) = tokio::io::split(TokioIo::new(upgraded));
        let Session { mut output, input, .. } = session;
        let mut forward = tokio::spawn(async move { forward_input(&mut reader, input).await });
        let mut input_ended = false;
        loop {
            tokio::select! {
                chunk = output.recv() => match chunk {
                    Some(chunk) => if writer.write_all(&chunk).await.is_err() { break },
                    None => break,
                },
                ended = &mut forward, if !input_ended => {
                    input_ended = true;
                    // The client typed the detach keys: leave the process running.
                    if matches!(ended, Ok(Forwarded::Detached)) {
                        break;
                    }
                }
            }
        }
        let _ = writer.shutdown().await;
        // Let the client close its side first: closing with its input unread would reset
        // the connection under the output it is still reading.
        if !input_ended && tokio::time::timeout(CLOSE_GRACE, &mut forward).await.is_err() {
            forward.abort();
        }
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    response
}

/// Copies the client's input to `input` (if any) until the client's half-close (then drops
/// `input`: end of input for the process) or its detach keys (keeping the process's input
/// open for a later attach). Input nobody takes is read and dropped, so that the connection
/// ends cleanly.
async fn forward_input(reader: &mut (impl tokio::io::AsyncRead + Unpin), mut input: Option<tokio::sync::mpsc::Sender<Bytes>>) -> Forwarded {
    let mut buf = vec![0u8; INPUT_CHUNK];
    let mut after_first_key = false;
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return Forwarded::Closed,
            Ok(n) => n,
        };
        let Some(to) = &input else { continue };
        let chunk = &buf[..n];
        if let Some(at) = detach_keys_at(chunk, after_first_key) {
            if at > 0 {
                let _ = to.send(Bytes::copy_from_slice(&chunk[..at])).await;
            }
            return Forwarded::Detached;
        }
        after_first_key = chunk.last() == Some(&DETACH_KEYS[0]);
        if to.send(Bytes::copy_from_slice(chunk)).await.is_err() {
            input = None;
        }
    }
}

/// How the input ended.
#[derive(Debug, PartialEq, Eq)]
enum Forwarded {
    Closed,
    Detached,
}

/// Where the detach sequence starts in `chunk` (0 when it began in the previous chunk).
fn detach_keys_at(chunk: &[u8], after_first_key: bool) -> Option<usize> {
    if after_first_key && chunk.first() == Some(&DETACH_KEYS[1]) {
        return Some(0);
    }
    chunk.windows(2).position(|w| w == DETACH_KEYS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_are_found_within_and_across_chunks() {
        assert_eq!(detach_keys_at(b"ab\x10\x11cd", false), Some(2));
        assert_eq!(detach_keys_at(b"\x11", true), Some(0));
        assert_eq!(detach_keys_at(b"\x11", false), None);
        assert_eq!(detach_keys_at(b"a\x10b\x11", false), None);
    }

    #[test]
    fn the_clis_exec_create_body_parses() {
        let body = r#"{"User":"nobody","Privileged":false,"Tty":true,"ConsoleSize":[24,80],"AttachStdin":true,
"AttachStderr":true,"AttachStdout":true,"Detach":false,"DetachKeys":"","Env":null,"WorkingDir":"/tmp","Cmd":["sh"]}"#;
        let r: ExecCreateRequest = serde_json::from_str(body).unwrap();
        assert_eq!((r.tty, r.console_size, r.cmd.as_slice(), r.env.len()), (true, Some([24, 80]), &["sh".to_owned()][..], 0));
    }
}
