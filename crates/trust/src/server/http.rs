//! HTTP routes (notary-server 0.7 paths, headers and error envelopes), and serving over TCP/TLS.
//!
//! | route | access needed (token scope) |
//! |---|---|
//! | `GET /_notary_server/health` | open |
//! | `GET /v2/` | any valid token |
//! | `GET /v2/_trust/changefeed` | `registry:catalog:*` |
//! | `GET /v2/<gun>/_trust/changefeed` | `repository:<gun>:pull` |
//! | `GET /v2/<gun>/_trust/tuf/<metadata>.json` | `repository:<gun>:pull` |
//! | `GET /v2/<gun>/_trust/tuf/{timestamp,snapshot}.key` | `repository:<gun>:push,pull` |
//! | `POST /v2/<gun>/_trust/tuf/` | `repository:<gun>:push,pull` |
//! | `POST /v2/<gun>/_trust/tuf/{timestamp,snapshot}.key` | `repository:<gun>:*` |
//! | `DELETE /v2/<gun>/_trust/tuf/` | `repository:<gun>:*` |
//!
//! [`super::TokenAuth::protect`] wraps [`router`]'s result and calls [`required_access`] to learn
//! which scope to demand.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest as _, Multipart, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use tokio::net::TcpListener;

use super::{MetaRequest, ServerError, TrustServer};
use crate::error::{Error, Result};
use crate::names::{Gun, RoleName};

/// Caps on metadata uploads. An upload is held in memory while it is validated, so the memory
/// uploads can take is at most `max_concurrent_uploads × max_upload_bytes`.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest accepted `POST …/_trust/tuf/` body. Default 16 MiB.
    pub max_upload_bytes: usize,
    /// Largest single role in an upload. Default 8 MiB (real roles are KiBs; a targets role
    /// with thousands of tags is well under 1 MiB).
    pub max_role_bytes: usize,
    /// Uploads read and validated at once; others wait up to [`UPLOAD_WAIT`], then get 503.
    /// Default 4.
    pub max_concurrent_uploads: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_upload_bytes: 16 << 20, max_role_bytes: 8 << 20, max_concurrent_uploads: 4 }
    }
}

/// How long an upload waits for one of the `max_concurrent_uploads` slots.
pub const UPLOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The access a request needs (for an auth layer; notary `server/server.go` route ACLs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// No authentication (health).
    Open,
    /// Any valid token (`/v2/` ping).
    AnyToken,
    /// `registry:catalog:*` (global changefeed).
    Catalog,
    /// `repository:<gun>:<actions>`.
    Repository {
        /// The GUN.
        gun: String,
        /// Actions, e.g. `["push", "pull"]` or `["*"]`.
        actions: &'static [&'static str],
    },
}

/// The access `method path` needs; unknown paths need any valid token.
pub fn required_access(method: &Method, path: &str) -> Access {
    if path == "/_notary_server/health" {
        return Access::Open;
    }
    if path == "/v2/_trust/changefeed" {
        return Access::Catalog;
    }
    let Some((gun, rest)) = path.strip_prefix("/v2/").and_then(|p| p.split_once("/_trust/")) else {
        return Access::AnyToken;
    };
    let gun = gun.to_owned();
    let actions: &'static [&'static str] = if rest == "changefeed" {
        &["pull"]
    } else if rest.ends_with(".key") {
        if method == Method::GET {
            &["push", "pull"]
        } else {
            &["*"]
        }
    } else if rest == "tuf/" {
        if method == Method::DELETE {
            &["*"]
        } else {
            &["push", "pull"]
        }
    } else {
        &["pull"]
    };
    Access::Repository { gun, actions }
}

struct Wire(ServerError);

impl From<ServerError> for Wire {
    fn from(e: ServerError) -> Self {
        Self(e)
    }
}

impl IntoResponse for Wire {
    fn into_response(self) -> Response {
        let (status, code, message, detail) = self.0.wire();
        if status >= 500 {
            tracing::error!(error = %self.0, "trust server error");
        } else {
            tracing::info!(error = %self.0, code, "request refused");
        }
        let mut entry = serde_json::json!({"code": code, "message": message});
        if let (Some(d), Some(obj)) = (detail, entry.as_object_mut()) {
            obj.insert("detail".into(), d);
        }
        let body = serde_json::json!({"errors": [entry]}).to_string();
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body).into_response()
    }
}

/// The router's state: the server, the upload caps and the upload slots.
struct App {
    server: Arc<TrustServer>,
    limits: Limits,
    /// Invariant: `limits.max_concurrent_uploads` permits (at least one).
    uploads: Arc<tokio::sync::Semaphore>,
}

type Shared = Arc<App>;

/// The kind of route a request path names, from a fixed set (a metrics label: never the
/// path itself, which a client chose).
pub fn route_label(path: &str) -> &'static str {
    match path {
        "/_notary_server/health" => "health",
        "/v2/" | "/v2" => "base",
        "/v2/_trust/changefeed" => "changefeed",
        _ => match path.rsplit_once("/_trust/") {
            Some((_, "tuf/" | "tuf")) => "tuf",
            Some((_, tail)) if tail.starts_with("tuf/") && tail.ends_with(".key") => "key",
            Some((_, tail)) if tail.starts_with("tuf/") && tail.ends_with(".json") => "metadata",
            Some((_, "changefeed")) => "changefeed",
            _ => "unknown",
        },
    }
}

/// The notary-server routes over `server`.
pub fn router(server: Arc<TrustServer>, limits: Limits) -> Router {
    let uploads = Arc::new(tokio::sync::Semaphore::new(limits.max_concurrent_uploads.max(1)));
    Router::new()
        .route("/_notary_server/health", get(json_ok))
        .route("/v2/", get(json_ok))
        .route("/v2/_trust/changefeed", get(global_changefeed))
        .route("/v2/{*rest}", any(dispatch))
        .layer(DefaultBodyLimit::max(limits.max_upload_bytes))
        .with_state(Arc::new(App { server, limits, uploads }))
}

/// The audit record of a change of `gun`'s trust data by `actor`, with its outcome.
fn trust_event<T, E: std::fmt::Display>(actor: &str, action: &str, gun: &Gun, result: &std::result::Result<T, E>) -> palisade_audit::Event {
    let event = palisade_audit::Event::new(actor, action, gun.as_str(), palisade_audit::Outcome::of(result.is_ok()));
    match result {
        Err(e) => event.detail("error", e.to_string()),
        Ok(_) => event,
    }
}

/// Reads the multipart parts `(filename, bytes)` of an upload, each at most
/// `limits.max_role_bytes` (the body as a whole is capped by the router's body limit).
async fn read_parts(req: Request, limits: &Limits) -> Result<Vec<(Option<String>, Vec<u8>)>, ServerError> {
    let failed = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ServerError::TooLarge(format!("upload larger than {} bytes", limits.max_upload_bytes))
        } else {
            ServerError::MalformedUpload(e.body_text())
        }
    };
    let mut multipart = Multipart::from_request(req, &()).await.map_err(|e| ServerError::MalformedUpload(e.body_text()))?;
    let mut parts = Vec::new();
    while let Some(mut field) = multipart.next_field().await.map_err(failed)? {
        let name = field.file_name().map(str::to_owned);
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(failed)? {
            if bytes.len() + chunk.len() > limits.max_role_bytes {
                let role = name.as_deref().unwrap_or("a role");
                return Err(ServerError::TooLarge(format!("{role} larger than {} bytes", limits.max_role_bytes)));
            }
            bytes.extend_from_slice(&chunk);
        }
        parts.push((name, bytes));
    }
    Ok(parts)
}

async fn json_ok() -> Response {
    ([(header::CONTENT_TYPE, "application/json; charset=utf-8")], "{}").into_response()
}

fn query_param(req: &Request, name: &str) -> String {
    req.uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default()
}

async fn global_changefeed(State(app): State<Shared>, req: Request) -> Response {
    let server = app.server.clone();
    let (id, records) = (query_param(&req, "change_id"), query_param(&req, "records"));
    blocking(move || server.changefeed(None, &id, &records).map(|v| Json(v.to_string()))).await
}

struct Json(String);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "application/json; charset=utf-8")], self.0).into_response()
    }
}

/// How long caches may keep a response (notary's defaults).
#[derive(Clone, Copy)]
enum Cache {
    /// `<role>.json`: 5 minutes, revalidated.
    Current,
    /// Checksum or version addressed: immutable, 30 days.
    Consistent,
    /// Server key answers: never cached (a rotation must be seen at once).
    NoStore,
}

struct Meta {
    bytes: Vec<u8>,
    cache: Cache,
}

impl IntoResponse for Meta {
    fn into_response(self) -> Response {
        let cache = match self.cache {
            Cache::Current => "public, max-age=300, s-maxage=300, must-revalidate",
            Cache::Consistent => "public, max-age=2592000, s-maxage=2592000",
            Cache::NoStore => "no-store",
        };
        let mut resp = Response::new(Body::from(self.bytes));
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        resp
    }
}

async fn blocking<T: IntoResponse + Send + 'static>(
    f: impl FnOnce() -> Result<T, ServerError> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => v.into_response(),
        Ok(Err(e)) => Wire(e).into_response(),
        Err(_) => Wire(ServerError::Internal(Error::ApiMisuse("request task failed"))).into_response(),
    }
}

fn empty_ok() -> Response {
    StatusCode::OK.into_response()
}

async fn dispatch(State(app): State<Shared>, req: Request) -> Response {
    let server = app.server.clone();
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let Some((gun, rest)) = path.strip_prefix("/v2/").and_then(|p| p.split_once("/_trust/")) else {
        return Wire(ServerError::MetadataNotFound).into_response();
    };
    let Ok(gun) = Gun::new(gun) else { return Wire(ServerError::InvalidGun).into_response() };
    let rest = rest.to_owned();
    if rest == "changefeed" && method == Method::GET {
        let (id, records) = (query_param(&req, "change_id"), query_param(&req, "records"));
        return blocking(move || server.changefeed(Some(&gun), &id, &records).map(|v| Json(v.to_string()))).await;
    }
    let Some(file) = rest.strip_prefix("tuf/") else {
        return Wire(ServerError::MetadataNotFound).into_response();
    };
    let file = file.to_owned();
    let actor = req.extensions().get::<super::auth::TokenSubject>().map_or_else(|| "anonymous".to_owned(), |s| s.0.clone());
    match (method, file.as_str()) {
        (Method::POST, "") => {
            // The slot is held until the update is validated and stored (the parts live as long).
            let Ok(Ok(_slot)) = tokio::time::timeout(UPLOAD_WAIT, app.uploads.clone().acquire_owned()).await else {
                return Wire(ServerError::Busy).into_response();
            };
            let parts = match read_parts(req, &app.limits).await {
                Ok(parts) => parts,
                Err(e) => return Wire(e).into_response(),
            };
            blocking(move || {
                let roles: Vec<String> = parts.iter().filter_map(|(name, _)| name.clone()).collect();
                let result = server.update(&gun, parts);
                server.record(trust_event(&actor, palisade_audit::action::TRUST_PUBLISH, &gun, &result).detail("roles", roles.join(",")));
                result.map(|()| empty_ok())
            })
            .await
        }
        (Method::DELETE, "") => blocking(move || {
            let result = server.delete(&gun);
            server.record(trust_event(&actor, "trust.delete", &gun, &result));
            result.map(|()| empty_ok())
        })
        .await,
        (method @ (Method::GET | Method::POST), f) if f.ends_with(".key") => {
            let role = f.trim_end_matches(".key");
            let Ok(role) = RoleName::new(role) else {
                return Wire(ServerError::InvalidRole(role.to_owned())).into_response();
            };
            blocking(move || {
                let key = if method == Method::GET {
                    server.public_key(&gun, &role)?
                } else {
                    server.rotate_key(&gun, &role)?
                };
                let body = serde_json::to_vec(&key).map_err(|e| Error::Storage(e.to_string()))?;
                Ok(Meta { bytes: body, cache: Cache::NoStore })
            })
            .await
        }
        (Method::GET | Method::HEAD, f) => {
            let Some(req) = MetaRequest::parse(f) else { return Wire(ServerError::MetadataNotFound).into_response() };
            blocking(move || {
                let cache = if matches!(req, MetaRequest::Current(_)) { Cache::Current } else { Cache::Consistent };
                server.metadata(&gun, &req).map(|bytes| Meta { bytes, cache })
            })
            .await
        }
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

/// A rustls server config from PEM certificate chain and private key files (ring provider,
/// TLS 1.2+, HTTP/1.1 via ALPN).
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    palisade_pki::tls::server_config_from_pem_files(cert, key, &[b"http/1.1"])
        .map(Arc::new)
        .map_err(|e| Error::BadKey(e.to_string()))
}

/// Serves `app` on `listener` until the task is dropped; TLS when `tls` is given. Connections
/// are capped per peer and in total (tighter before a token is accepted) and time out when
/// headers, bodies or the connection stall ([`palisade_serve::Limits::default`]).
pub async fn serve(listener: TcpListener, app: Router, tls: Option<Arc<rustls::ServerConfig>>) -> Result<()> {
    palisade_serve::serve(listener, app, tls, palisade_serve::Limits::default())
        .await
        .map_err(|source| Error::Io { op: "serve", path: "listener".into(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_acls_match_notary() {
        let repo = |actions| Access::Repository { gun: "a/b".into(), actions };
        assert_eq!(required_access(&Method::GET, "/_notary_server/health"), Access::Open);
        assert_eq!(required_access(&Method::GET, "/v2/"), Access::AnyToken);
        assert_eq!(required_access(&Method::GET, "/v2/_trust/changefeed"), Access::Catalog);
        assert_eq!(required_access(&Method::GET, "/v2/a/b/_trust/changefeed"), repo(&["pull"]));
        assert_eq!(required_access(&Method::GET, "/v2/a/b/_trust/tuf/root.json"), repo(&["pull"]));
        assert_eq!(required_access(&Method::GET, "/v2/a/b/_trust/tuf/timestamp.key"), repo(&["push", "pull"]));
        assert_eq!(required_access(&Method::POST, "/v2/a/b/_trust/tuf/timestamp.key"), repo(&["*"]));
        assert_eq!(required_access(&Method::POST, "/v2/a/b/_trust/tuf/"), repo(&["push", "pull"]));
        assert_eq!(required_access(&Method::DELETE, "/v2/a/b/_trust/tuf/"), repo(&["*"]));
    }
}
