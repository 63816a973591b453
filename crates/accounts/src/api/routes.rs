//! The routes of the JSON API (see the module above for the table).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use base64::Engine as _;
use palisade_reference::RepoName;
use palisade_registry::auth::{Action, Refusal};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, ApiState};
use crate::error::AccountsError;
use crate::model::{Level, Visibility};

/// The `/api/v1/` routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/me", get(me))
        .route("/api/v1/repositories", get(list_repositories).post(create_repository))
        .route("/api/v1/repositories/{*name}", get(repository).patch(set_visibility))
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/organisations", get(list_organisations).post(create_organisation))
        .route("/api/v1/organisations/{org}/owners", post(add_owner))
        .route("/api/v1/organisations/{org}/teams", get(list_teams).post(create_team))
        .route("/api/v1/organisations/{org}/teams/{team}/members", post(add_member))
        .route("/api/v1/organisations/{org}/teams/{team}/members/{user}", delete(remove_member))
        .route("/api/v1/organisations/{org}/teams/{team}/grants", put(grant))
        .route("/api/v1/organisations/{org}/teams/{team}/grants/{*repository}", delete(revoke))
        .route("/api/v1/directory/check", post(directory_check))
        .route("/api/v1/directory/sync", post(directory_sync))
        .with_state(state)
}

type ApiResult<T = Json<Value>> = Result<T, ApiError>;

/// Who sent the request: `None` without credentials; wrong credentials are 401.
async fn caller(state: &ApiState, headers: &HeaderMap, peer: Option<SocketAddr>) -> ApiResult<Option<String>> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else { return Ok(None) };
    let unauthorized = || ApiError::new(StatusCode::UNAUTHORIZED, "wrong user name or password");
    let text = value.to_str().map_err(|_| unauthorized())?;
    let (scheme, rest) = text.split_once(' ').ok_or_else(unauthorized)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(unauthorized());
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).map_err(|_| unauthorized())?;
    let decoded = String::from_utf8(decoded).map_err(|_| unauthorized())?;
    let (user, password) = decoded.split_once(':').ok_or_else(unauthorized)?;
    match state.registry.check_password(user, password, peer.map(|p| p.ip())).await {
        Ok(true) => Ok(Some(user.to_owned())),
        Ok(false) => Err(unauthorized()),
        Err(why) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            match why {
                Refusal::Address => "too many logins from this address; retry later",
                Refusal::User => "too many logins for this user; retry later",
                Refusal::Busy => "too many logins at once; retry later",
            },
        )),
    }
}

/// The caller, who must be logged in.
async fn user(state: &ApiState, headers: &HeaderMap, peer: Option<SocketAddr>) -> ApiResult<String> {
    caller(state, headers, peer).await?.ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "log in first"))
}

/// Runs a blocking change of the model off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, AccountsError> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(ApiError::from)
}

/// The client's address, when the server records it (`ConnectInfo`).
struct Peer(Option<SocketAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| *a)))
    }
}

/// Runs a change of the model as `actor` off the async threads (the model itself records it,
/// and its refusal, in the audit log).
async fn change<T: Send + 'static>(
    s: &ApiState,
    actor: &str,
    f: impl FnOnce(&crate::Accounts, &str) -> Result<T, AccountsError> + Send + 'static,
) -> ApiResult<T> {
    let (accounts, who) = (s.accounts.clone(), actor.to_owned());
    blocking(move || f(&accounts, &who)).await
}

fn peer(Peer(address): Peer) -> Option<SocketAddr> {
    address
}

fn repo_name(name: &str) -> ApiResult<RepoName> {
    name.parse().map_err(|e: palisade_reference::ReferenceError| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))
}

async fn me(State(s): State<ApiState>, c: Peer, headers: HeaderMap) -> ApiResult {
    let name = user(&s, &headers, peer(c)).await?;
    let accounts = s.accounts.clone();
    let record = blocking(move || accounts.user(&name)).await?;
    // Users of a registry without accounts records (never here) would have none.
    let record = record.ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unknown user"))?;
    Ok(Json(json!({ "name": record.name, "admin": record.admin, "email": record.email })))
}

/// The repositories `who` may pull, from storage and from the records, with visibility.
async fn list_repositories(State(s): State<ApiState>, c: Peer, headers: HeaderMap) -> ApiResult {
    let who = caller(&s, &headers, peer(c)).await?;
    let (accounts, store) = (s.accounts.clone(), s.registry.store().clone());
    let rows = blocking(move || crate::visible_repositories(&accounts, &store, who.as_deref())).await?;
    Ok(Json(json!({ "repositories": rows })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRepository {
    name: String,
    #[serde(default = "private")]
    visibility: Visibility,
}

fn private() -> Visibility {
    Visibility::Private
}

async fn create_repository(State(s): State<ApiState>, c: Peer, headers: HeaderMap, Json(body): Json<NewRepository>) -> ApiResult<(StatusCode, Json<Value>)> {
    let actor = user(&s, &headers, peer(c)).await?;
    let r = change(&s, &actor, move |a, who| a.create_repository(who, &body.name, body.visibility)).await?;
    Ok((StatusCode::CREATED, Json(json!(r))))
}

async fn repository(State(s): State<ApiState>, c: Peer, headers: HeaderMap, Path(name): Path<String>) -> ApiResult {
    let who = caller(&s, &headers, peer(c)).await?;
    let repo = repo_name(&name)?;
    let (accounts, store) = (s.accounts.clone(), s.registry.store().clone());
    blocking(move || {
        if !accounts.allows(who.as_deref(), &repo, Action::Pull)? {
            // Not found rather than forbidden: a private repository's existence is not told.
            return Err(AccountsError::NotFound { kind: "repository", name: repo.to_string() });
        }
        let record = accounts.repository(repo.as_str())?;
        let tags = store.tags(&repo).unwrap_or_default();
        let visibility = record.as_ref().map_or(Visibility::Private, |r| r.visibility);
        Ok(Json(json!({ "name": repo.as_str(), "visibility": visibility, "record": record, "tags": tags })))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VisibilityChange {
    visibility: Visibility,
}

async fn set_visibility(State(s): State<ApiState>, c: Peer, headers: HeaderMap, Path(name): Path<String>, Json(body): Json<VisibilityChange>) -> ApiResult {
    let actor = user(&s, &headers, peer(c)).await?;
    change(&s, &actor, move |a, who| a.set_visibility(who, &name, body.visibility)).await?;
    Ok(Json(json!({ "visibility": body.visibility })))
}

/// Administrators only.
async fn admin(s: &ApiState, headers: &HeaderMap, c: Peer) -> ApiResult<String> {
    let actor = user(s, headers, peer(c)).await?;
    let accounts = s.accounts.clone();
    let who = actor.clone();
    let is_admin = blocking(move || crate::is_admin(&accounts, &who)).await?;
    if !is_admin {
        return Err(ApiError::new(StatusCode::FORBIDDEN, format!("{actor:?} is not an administrator")));
    }
    Ok(actor)
}

async fn list_users(State(s): State<ApiState>, c: Peer, headers: HeaderMap) -> ApiResult {
    admin(&s, &headers, c).await?;
    let accounts = s.accounts.clone();
    let users = blocking(move || accounts.users()).await?;
    let rows: Vec<Value> = users
        .into_iter()
        .map(|u| {
            let source = match u.source {
                crate::UserSource::Local { .. } => "local",
                crate::UserSource::Directory { .. } => "directory",
            };
            json!({ "name": u.name, "admin": u.admin, "email": u.email, "source": source })
        })
        .collect();
    Ok(Json(json!({ "users": rows })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    password: String,
    #[serde(default)]
    admin: bool,
}

async fn create_user(State(s): State<ApiState>, c: Peer, headers: HeaderMap, Json(body): Json<NewUser>) -> ApiResult<(StatusCode, Json<Value>)> {
    let actor = admin(&s, &headers, c).await?;
    let u = change(&s, &actor, move |a, who| a.add_local_user(who, &body.name, &body.password, body.admin)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "name": u.name, "admin": u.admin }))))
}

async fn list_organisations(State(s): State<ApiState>, c: Peer, headers: HeaderMap) -> ApiResult {
    user(&s, &headers, peer(c)).await?;
    let accounts = s.accounts.clone();
    let orgs = blocking(move || accounts.organisations()).await?;
    Ok(Json(json!({ "organisations": orgs })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Named {
    name: String,
    #[serde(default)]
    directory_group: Option<String>,
}

async fn create_organisation(State(s): State<ApiState>, c: Peer, headers: HeaderMap, Json(body): Json<Named>) -> ApiResult<(StatusCode, Json<Value>)> {
    let actor = user(&s, &headers, peer(c)).await?;
    if body.directory_group.is_some() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "an organisation has no directory group (its teams do)"));
    }
    let o = change(&s, &actor, move |a, who| a.create_organisation(who, &body.name)).await?;
    Ok((StatusCode::CREATED, Json(json!(o))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserRef {
    user: String,
}

async fn add_owner(State(s): State<ApiState>, c: Peer, headers: HeaderMap, Path(org): Path<String>, Json(body): Json<UserRef>) -> ApiResult {
    let actor = user(&s, &headers, peer(c)).await?;
    change(&s, &actor, move |a, who| a.add_owner(who, &org, &body.user)).await?;
    Ok(Json(json!({})))
}

async fn list_teams(State(s): State<ApiState>, c: Peer, headers: HeaderMap, Path(org): Path<String>) -> ApiResult {
    let actor = user(&s, &headers, peer(c)).await?;
    let accounts = s.accounts.clone();
    let teams = blocking(move || crate::teams_of(&accounts, &actor, &org)).await?;
    Ok(Json(json!({ "teams": teams })))
}

async fn create_team(State(s): State<ApiState>, c: Peer, headers: HeaderMap, Path(org): Path<String>, Json(body): Json<Named>) -> ApiResult<(StatusCode, Json<Value>)> {
    let actor = user(&s, &headers, peer(c)).await?;
    let t = change(&s, &actor, move |a, who| a.create_team(who, &org, &body.name, body.directory_group.as_deref())).await?;
    Ok((StatusCode::CREATED, Json(json!(t))))
}

async fn add_member(State(s): State<ApiState>, c: Peer, headers: HeaderMap, Path((org, team)): Path<(String, String)>, Json(body): Json<UserRef>) -> ApiResult {
    let actor = user(&s, &headers, peer(c)).await?;
    change(&s, &actor, move |a, who| a.add_member(who, &org, &team, &body.user)).await?;
    Ok(Json(json!({})))
}

async fn remove_member(State(s): State<ApiState>, c: Peer, headers: HeaderMap, Path((org, team, member)): Path<(String, String, String)>) -> ApiResult {
    let actor = user(&s, &headers, peer(c)).await?;
    change(&s, &actor, move |a, who| a.remove_member(who, &org, &team, &member)).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    repository: String,
    level: Level,
}

async fn grant(State(s): State<ApiState>, c: Peer, headers: HeaderMap, Path((org, team)): Path<(String, String)>, Json(body): Json<GrantBody>) -> ApiResult {
    let actor = user(&s, &headers, peer(c)).await?;
    change(&s, &actor, move |a, who| a.grant(who, &org, &team, &body.repository, body.level)).await?;
    Ok(Json(json!({ "level": body.level })))
}

async fn revoke(State(s): State<ApiState>, c: Peer, headers: HeaderMap, Path((org, team, repository)): Path<(String, String, String)>) -> ApiResult {
    let actor = user(&s, &headers, peer(c)).await?;
    change(&s, &actor, move |a, who| a.revoke(who, &org, &team, &repository)).await?;
    Ok(Json(json!({})))
}

fn directory(s: &ApiState) -> ApiResult<std::sync::Arc<palisade_ldap::Directory>> {
    s.directory.clone().ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "this registry has no LDAP directory"))
}

async fn directory_check(State(s): State<ApiState>, c: Peer, headers: HeaderMap) -> ApiResult {
    admin(&s, &headers, c).await?;
    let directory = directory(&s)?;
    match directory.check().await {
        Ok(()) => Ok(Json(json!({ "ok": true, "url": directory.config().url().to_string() }))),
        Err(e) => Err(ApiError::new(StatusCode::BAD_GATEWAY, format!("the LDAP directory: {e}"))),
    }
}

async fn directory_sync(State(s): State<ApiState>, c: Peer, headers: HeaderMap) -> ApiResult {
    admin(&s, &headers, c).await?;
    let directory = directory(&s)?;
    let report = crate::sync_directory_users(&s.accounts, &directory).await?;
    Ok(Json(json!(report)))
}
