//! HTTP layer: routing of `/v2/…` paths (names may contain `/`), auth checks, and handlers that
//! call [`crate::storage::Store`].

mod blobs;
mod body;
pub mod errors;
mod listing;
mod manifests;
mod token;
mod uploads;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{header, HeaderMap, HeaderValue, Method};

use crate::auth::{Action, Authenticator, Denial, Endpoint, Identity, LoginGate, Refusal};
use crate::config::{Deletes, Limits, RegistryConfig};
use crate::driver::StorageDriver;
use crate::error::{Error, Result};
use crate::names::RepoName;
use crate::storage::Store;
use errors::{ApiError, ErrorCode};

/// Marks a connection as TLS, so challenges advertise `https://` realms. Inserted by
/// [`crate::serve`] as a request extension.
pub use palisade_serve::TlsConnection;

/// A registry: storage + auth + limits, cheap to clone.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    auth: Authenticator,
    limits: Limits,
    deletes: Deletes,
    /// Admission of password checks (rate per address and per user, bounded check slots).
    logins: LoginGate,
    uploads: uploads::UploadTracker,
    observer: std::sync::OnceLock<Arc<dyn crate::observer::ManifestObserver>>,
    /// Where logins, pushes and deletes are recorded, if anywhere.
    audit: std::sync::OnceLock<Arc<palisade_audit::AuditLog>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("auth", &self.inner.auth).finish_non_exhaustive()
    }
}

impl Registry {
    /// Build from a driver and configuration (loads htpasswd and token key).
    pub fn new(driver: Arc<dyn StorageDriver>, config: &RegistryConfig) -> Result<Self> {
        Ok(Self::with_authenticator(driver, config, Authenticator::from_config(config)?))
    }

    /// [`Self::new`] with users and rules from `accounts` (a trusted registry's) instead of the
    /// htpasswd file and the `[[repository]]` rules.
    pub fn with_accounts(driver: Arc<dyn StorageDriver>, config: &RegistryConfig, accounts: crate::auth::Accounts) -> Result<Self> {
        Ok(Self::with_authenticator(driver, config, Authenticator::with_accounts(config, accounts)?))
    }

    fn with_authenticator(driver: Arc<dyn StorageDriver>, config: &RegistryConfig, auth: Authenticator) -> Self {
        Self {
            inner: Arc::new(Inner {
                store: Store::new(driver),
                auth,
                limits: config.limits.clone(),
                deletes: config.storage.delete,
                logins: LoginGate::default(),
                uploads: uploads::UploadTracker::default(),
                observer: std::sync::OnceLock::new(),
                audit: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The storage layer.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The authenticator (and through it the token service).
    pub fn auth(&self) -> &Authenticator {
        &self.inner.auth
    }

    /// Tells `observer` of every manifest push from now on (scan-on-push). One observer per
    /// registry; returns `false` if one was already set.
    pub fn set_observer(&self, observer: Arc<dyn crate::observer::ManifestObserver>) -> bool {
        self.inner.observer.set(observer).is_ok()
    }

    pub(crate) fn observer(&self) -> Option<&Arc<dyn crate::observer::ManifestObserver>> {
        self.inner.observer.get()
    }

    /// Records logins (password checks), pushes and deletes in `log` from now on. One log per
    /// registry; returns `false` if one was already set.
    pub fn set_audit(&self, log: Arc<palisade_audit::AuditLog>) -> bool {
        self.inner.audit.set(log).is_ok()
    }

    /// Appends `event` to the audit log, if one is set, off the async threads (an append
    /// waits for its fsync). A failure to record is logged, never the client's error.
    pub async fn record(&self, event: palisade_audit::Event) {
        let Some(log) = self.inner.audit.get().cloned() else { return };
        if let Err(e) = tokio::task::spawn_blocking(move || log.record(event)).await {
            tracing::error!("audit log: {e}");
        }
    }

    /// Records a password check of `user` that ran (`ok`: it passed).
    pub(crate) async fn record_login(&self, user: &str, ok: bool, peer: Option<std::net::IpAddr>) {
        use palisade_audit::{action, Event, Outcome};
        let mut event = Event::new(user, action::REGISTRY_LOGIN, "registry", Outcome::of(ok));
        if let Some(peer) = peer {
            event = event.source(peer.to_string());
        }
        self.record(event).await;
    }

    fn uploads(&self) -> &uploads::UploadTracker {
        &self.inner.uploads
    }

    /// The axum router serving `/v2/…` and `/token`.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/token", get(token::token))
            .fallback(dispatch)
            .layer(axum::middleware::map_response(api_version_header))
            .with_state(self.clone())
    }
}

async fn api_version_header(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert("docker-distribution-api-version", HeaderValue::from_static("registry/2.0"));
    resp
}

/// Run blocking storage/auth work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Task(e.to_string()))?
}

/// The kind of route a request path names, from a fixed set (a metrics label: never the
/// path itself, which a client chose).
pub fn route_label(path: &str) -> &'static str {
    if path == "/token" {
        return "token";
    }
    match parse_route(path) {
        Some(Ok(Route::Base)) => "base",
        Some(Ok(Route::Catalog)) => "catalog",
        Some(Ok(Route::Tags(_))) => "tags",
        Some(Ok(Route::Manifest(..))) => "manifest",
        Some(Ok(Route::UploadStart(_))) => "upload_start",
        Some(Ok(Route::Upload(..))) => "upload",
        Some(Ok(Route::Blob(..))) => "blob",
        Some(Ok(Route::Referrers(..))) => "referrers",
        Some(Err(_)) => "invalid",
        None => "unknown",
    }
}

/// A parsed `/v2/` route.
#[derive(Debug)]
pub(crate) enum Route {
    Base,
    Catalog,
    Tags(RepoName),
    Manifest(RepoName, String),
    UploadStart(RepoName),
    Upload(RepoName, String),
    Blob(RepoName, String),
    Referrers(RepoName, String),
}

fn parse_route(path: &str) -> Option<std::result::Result<Route, ApiError>> {
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() || rest == "/" {
        return Some(Ok(Route::Base));
    }
    let rest = rest.strip_prefix('/')?;
    if rest == "_catalog" {
        return Some(Ok(Route::Catalog));
    }
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    let name = |k: usize| -> std::result::Result<RepoName, ApiError> {
        let joined = segs.get(..n.saturating_sub(k)).unwrap_or_default().join("/");
        joined.parse::<RepoName>().map_err(ApiError::from)
    };
    let tail = |i: usize| segs.get(n.wrapping_sub(i)).copied().unwrap_or("");
    let route = if n >= 3 && tail(3) == "blobs" && tail(2) == "uploads" {
        if tail(1).is_empty() {
            name(3).map(Route::UploadStart)
        } else {
            name(3).map(|r| Route::Upload(r, tail(1).to_owned()))
        }
    } else if n >= 3 && tail(2) == "blobs" && tail(1) == "uploads" {
        name(2).map(Route::UploadStart)
    } else if n >= 3 && tail(2) == "tags" && tail(1) == "list" {
        name(2).map(Route::Tags)
    } else if n >= 2 && tail(2) == "blobs" {
        name(2).map(|r| Route::Blob(r, tail(1).to_owned()))
    } else if n >= 2 && tail(2) == "manifests" {
        name(2).map(|r| Route::Manifest(r, tail(1).to_owned()))
    } else if n >= 2 && tail(2) == "referrers" {
        name(2).map(|r| Route::Referrers(r, tail(1).to_owned()))
    } else {
        return None;
    };
    Some(route)
}

fn unsupported() -> ApiError {
    ApiError::new(ErrorCode::Unsupported)
}

fn required_access(route: &Route, method: &Method) -> std::result::Result<Vec<(RepoName, Action)>, ApiError> {
    let read = method == Method::GET || method == Method::HEAD;
    let need = |r: &RepoName, a| Ok(vec![(r.clone(), a)]);
    match route {
        Route::Base | Route::Catalog => {
            if method == Method::GET || method == Method::HEAD {
                Ok(Vec::new())
            } else {
                Err(unsupported())
            }
        }
        Route::Tags(r) | Route::Referrers(r, _) => {
            if method == Method::GET {
                need(r, Action::Pull)
            } else {
                Err(unsupported())
            }
        }
        Route::Manifest(r, _) | Route::Blob(r, _) => {
            if read {
                need(r, Action::Pull)
            } else if method == Method::DELETE {
                need(r, Action::Delete)
            } else if method == Method::PUT && matches!(route, Route::Manifest(..)) {
                need(r, Action::Push)
            } else {
                Err(unsupported())
            }
        }
        Route::UploadStart(r) | Route::Upload(r, _) => need(r, Action::Push),
    }
}

fn base_url(parts: &http::request::Parts) -> String {
    let scheme = if parts.extensions.get::<TlsConnection>().is_some() { "https" } else { "http" };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

pub(crate) fn denial_response(d: Denial) -> ApiError {
    match d {
        Denial::Unauthorized { challenge } => {
            ApiError::new(ErrorCode::Unauthorized).with_header(header::WWW_AUTHENTICATE, &challenge)
        }
        Denial::Denied => ApiError::new(ErrorCode::Denied),
    }
}

impl Registry {
    /// Admits the password check a request to `endpoint` needs, if any (see
    /// [`Authenticator::password_check`]); the slot is held while the check runs.
    pub(crate) async fn admit_login(
        &self,
        headers: &HeaderMap,
        endpoint: Endpoint,
        peer: Option<std::net::IpAddr>,
    ) -> std::result::Result<Option<crate::auth::CheckSlot>, ApiError> {
        let Some(user) = self.inner.auth.password_check(headers, endpoint) else { return Ok(None) };
        match self.inner.logins.admit(peer, &user).await {
            Ok(slot) => Ok(Some(slot)),
            Err(why) => {
                tracing::info!(?peer, ?why, "password check refused: too many");
                let what = match why {
                    Refusal::Address => "too many logins from this address",
                    Refusal::User => "too many logins for this user",
                    Refusal::Busy => "too many logins at once",
                };
                Err(ApiError::new(ErrorCode::TooManyRequests)
                    .with_message(format!("{what}; retry later"))
                    .with_header(header::RETRY_AFTER, "1"))
            }
        }
    }

    /// Checks a user's password as this registry's API does — admitted through its login gate
    /// (rates per address and user), the check off the async threads, recorded in the audit
    /// log — for other surfaces of the same registry (the accounts API, the console). `Err`
    /// when refused for too many attempts.
    pub async fn check_password(&self, user: &str, password: &str, peer: Option<std::net::IpAddr>) -> std::result::Result<bool, Refusal> {
        if self.inner.auth.recently_verified(user, password) {
            return Ok(true);
        }
        let slot = self.inner.logins.admit(peer, user).await?;
        let (this, name, password) = (self.clone(), user.to_owned(), password.to_owned());
        let ok = tokio::task::spawn_blocking(move || this.inner.auth.verify_password(&name, &password)).await.unwrap_or(false);
        drop(slot);
        self.record_login(user, ok, peer).await;
        Ok(ok)
    }

    pub(crate) async fn authorize(
        &self,
        headers: &HeaderMap,
        required: Vec<(RepoName, Action)>,
        base: String,
        peer: Option<std::net::IpAddr>,
    ) -> std::result::Result<Identity, ApiError> {
        let slot = self.admit_login(headers, Endpoint::Api, peer).await?;
        let checked = slot.is_some().then(|| self.inner.auth.password_check(headers, Endpoint::Api)).flatten();
        let this = self.clone();
        let headers = headers.clone();
        let decided = tokio::task::spawn_blocking(move || this.inner.auth.authorize(&headers, &required, &base))
            .await
            .map_err(|e| ApiError::from(Error::Task(e.to_string())))?;
        drop(slot);
        if let Some(user) = checked {
            // A refusal other than 401 means the password was right.
            self.record_login(&user, !matches!(decided, Err(Denial::Unauthorized { .. })), peer).await;
        }
        decided.map_err(denial_response)
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.inner.limits
    }
}

async fn dispatch(State(reg): State<Registry>, req: Request) -> Response {
    match handle(reg, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(reg: Registry, req: Request) -> std::result::Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let route = match parse_route(parts.uri.path()) {
        None => return Ok((http::StatusCode::NOT_FOUND, "404 page not found\n").into_response()),
        Some(r) => r?,
    };
    let required = required_access(&route, &parts.method)?;
    if parts.method == Method::DELETE
        && matches!(route, Route::Manifest(..) | Route::Blob(..))
        && reg.inner.deletes == Deletes::Disabled
    {
        return Err(unsupported().with_message("deletes are disabled on this registry"));
    }
    let base = base_url(&parts);
    let peer = peer_ip(&parts.extensions);
    let audited = audited_action(&route, &parts.method);
    let who = match reg.authorize(&parts.headers, required, base.clone(), peer).await {
        Ok(who) => who,
        Err(e) => {
            // A refusal of someone who said who they are. The 401 challenge every client meets
            // before it fetches a token is no refusal worth a record.
            if let (Some(a), Some(claimed)) = (&audited, reg.auth().claimed_user(&parts.headers)) {
                reg.record_write(Some(&claimed), a.action, &a.target, false, peer, None).await;
            }
            return Err(e);
        }
    };
    // Allowed: the connection leaves the tighter caps of unauthenticated ones.
    if let Some(authenticated) = parts.extensions.get::<palisade_serve::Authenticated>() {
        authenticated.mark();
    }
    let query = parts.uri.query().unwrap_or("").to_owned();
    let method = parts.method.clone();
    let headers = parts.headers;
    let body: Body = body;
    let actor = who.user().map(str::to_owned);
    let result = serve_route(reg.clone(), route, method, who, &query, headers, body, base, peer).await;
    if let Some(a) = audited.filter(|a| a.success || result.is_err()) {
        let digest = result.as_ref().ok().and_then(|r| r.headers().get("docker-content-digest")).and_then(|v| v.to_str().ok()).map(str::to_owned);
        reg.record_write(actor.as_deref(), a.action, &a.target, result.is_ok(), peer, digest).await;
    }
    result
}

/// What the audit log records of a request that changes a repository's content.
struct Audited {
    action: &'static str,
    target: String,
    /// Whether a success is recorded too (a push is recorded once, at its manifest; its blob
    /// uploads only when refused).
    success: bool,
}

/// The audit record of a request, if it changes a repository's content.
fn audited_action(route: &Route, method: &Method) -> Option<Audited> {
    use palisade_audit::action;
    let (action, target, success) = match (route, method) {
        (Route::Manifest(repo, reference), &Method::PUT) => {
            let at = if reference.contains(':') { '@' } else { ':' };
            (action::REGISTRY_PUSH, format!("{repo}{at}{reference}"), true)
        }
        (Route::Manifest(repo, reference), &Method::DELETE) => (action::REGISTRY_DELETE, format!("{repo}@{reference}"), true),
        (Route::Blob(repo, digest), &Method::DELETE) => (action::REGISTRY_DELETE, format!("{repo}@{digest}"), true),
        (Route::UploadStart(repo), &Method::POST) => (action::REGISTRY_PUSH, repo.to_string(), false),
        _ => return None,
    };
    Some(Audited { action, target, success })
}

impl Registry {
    /// Records a push or delete of `target` by `actor` (`None`: anonymous).
    async fn record_write(&self, actor: Option<&str>, action: &str, target: &str, ok: bool, peer: Option<std::net::IpAddr>, digest: Option<String>) {
        use palisade_audit::{Event, Outcome};
        let mut event = Event::new(actor.unwrap_or("anonymous"), action, target, Outcome::of(ok));
        if let Some(peer) = peer {
            event = event.source(peer.to_string());
        }
        if let Some(digest) = digest {
            event = event.detail("digest", digest);
        }
        self.record(event).await;
    }
}

/// Serves an authorized request.
#[allow(clippy::too_many_arguments)]
async fn serve_route(
    reg: Registry,
    route: Route,
    method: Method,
    who: Identity,
    query: &str,
    headers: HeaderMap,
    body: Body,
    base: String,
    peer: Option<std::net::IpAddr>,
) -> Result<Response, ApiError> {
    let query = query.to_owned();
    match route {
        Route::Base => Ok(axum::Json(serde_json::json!({})).into_response()),
        Route::Catalog => listing::catalog(reg, who, &query).await,
        Route::Tags(repo) => listing::tags(reg, repo, &query).await,
        Route::Referrers(repo, digest) => listing::referrers(reg, repo, &digest, &query).await,
        Route::Manifest(repo, reference) => match method {
            Method::GET => manifests::get(reg, repo, &reference, false).await,
            Method::HEAD => manifests::get(reg, repo, &reference, true).await,
            Method::PUT => manifests::put(reg, repo, &reference, &query, &headers, body).await,
            Method::DELETE => manifests::delete(reg, repo, &reference).await,
            _ => Err(unsupported()),
        },
        Route::Blob(repo, digest) => match method {
            Method::GET => blobs::get(reg, repo, &digest, &headers, false).await,
            Method::HEAD => blobs::get(reg, repo, &digest, &headers, true).await,
            Method::DELETE => blobs::delete(reg, repo, &digest).await,
            _ => Err(unsupported()),
        },
        Route::UploadStart(repo) => {
            if method != Method::POST {
                return Err(unsupported());
            }
            uploads::start(reg, repo, &query, &headers, body, base, peer).await
        }
        Route::Upload(repo, id) => match method {
            Method::GET => uploads::status(reg, repo, &id).await,
            Method::PATCH => uploads::patch(reg, repo, &id, &headers, body).await,
            Method::PUT => uploads::finish(reg, repo, &id, &query, &headers, body).await,
            Method::DELETE => uploads::cancel(reg, repo, &id).await,
            _ => Err(unsupported()),
        },
    }
}

/// The client's address, when the server put it in the request ([`crate::serve`] does).
pub(crate) fn peer_ip(extensions: &http::Extensions) -> Option<std::net::IpAddr> {
    extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip())
}

/// Query-string lookup (first value).
pub(crate) fn query_param(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(p: &str) -> String {
        match parse_route(p) {
            None => "none".into(),
            Some(Err(e)) => format!("err {}", e.code().as_str()),
            Some(Ok(r)) => format!("{r:?}"),
        }
    }

    #[test]
    fn route_labels_come_from_a_fixed_set() {
        assert_eq!(route_label("/v2/a/b/blobs/uploads/abc"), "upload");
        assert_eq!(route_label("/v2/a/manifests/latest"), "manifest");
        assert_eq!(route_label("/token"), "token");
        assert_eq!(route_label("/anything/at/all"), "unknown");
    }

    #[test]
    fn routes_names_with_slashes() {
        assert_eq!(route("/v2/"), "Base");
        assert_eq!(route("/v2/_catalog"), "Catalog");
        assert!(route("/v2/a/b/c/manifests/latest").contains("\"a/b/c\""));
        assert!(route("/v2/a/blobs/uploads/").starts_with("UploadStart"));
        assert!(route("/v2/a/b/blobs/uploads/abc").starts_with("Upload("));
        assert!(route("/v2/a/tags/list").starts_with("Tags"));
        assert!(route("/v2/x/referrers/sha256:1").starts_with("Referrers"));
        assert_eq!(route("/v2/a/../b/manifests/latest"), "err NAME_INVALID");
        assert_eq!(route("/v2/Upper/manifests/latest"), "err NAME_INVALID");
        assert_eq!(route("/v3/x"), "none");
        assert_eq!(route("/v2/x/unknown"), "none");
    }
}
