//! The network endpoints: the [`NetworkBackend`] a node's engine implements (local networks),
//! the [`SwarmNetworkBackend`] its swarm membership implements (overlay networks, which the
//! managers own), and the routes that send each request to the one it concerns.
//!
//! Routing: `create` goes to the swarm for `-d overlay` (or `Scope: swarm`), to the engine
//! otherwise; list shows both (filtered here, for both alike); inspect and remove look for a local network first, then a
//! swarm one (`?scope=` narrows inspect to one side, as the docker CLI asks when it resolves a
//! service's `--network`).

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::routes::{FiltersQuery, JsonBody, QueryArgs};
use crate::types::{
    ListFilters, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest, NetworkPruneResponse,
    NetworkResource,
};
use crate::ApiError;

type ApiResult<T> = Result<T, ApiError>;

/// What the network endpoints need from a node's engine. References are a full id, a name or
/// a unique id prefix.
pub trait NetworkBackend: Send + Sync + 'static {
    /// `GET /networks`.
    fn network_list(&self) -> impl Future<Output = ApiResult<Vec<NetworkResource>>> + Send;
    /// `GET /networks/{ref}`.
    fn network_inspect(&self, reference: String) -> impl Future<Output = ApiResult<NetworkResource>> + Send;
    /// `POST /networks/create`.
    fn network_create(&self, request: NetworkCreateRequest) -> impl Future<Output = ApiResult<NetworkCreateResponse>> + Send;
    /// `DELETE /networks/{ref}`.
    fn network_remove(&self, reference: String) -> impl Future<Output = ApiResult<()>> + Send;
    /// `POST /networks/{ref}/connect`.
    fn network_connect(&self, reference: String, request: NetworkConnectRequest) -> impl Future<Output = ApiResult<()>> + Send;
    /// `POST /networks/{ref}/disconnect`.
    fn network_disconnect(&self, reference: String, request: NetworkDisconnectRequest) -> impl Future<Output = ApiResult<()>> + Send;
    /// `POST /networks/prune`.
    fn network_prune(&self) -> impl Future<Output = ApiResult<NetworkPruneResponse>> + Send;
}

/// What the network endpoints need from the swarm: its overlay networks. The defaults are a
/// node in no swarm (it shows none and creates none).
pub trait SwarmNetworkBackend: Send + Sync + 'static {
    /// The swarm networks `GET /networks` shows on this node.
    fn swarm_network_list(&self) -> impl Future<Output = ApiResult<Vec<NetworkResource>>> + Send {
        std::future::ready(Ok(Vec::new()))
    }
    /// The swarm network `reference` names (ID, name or unique ID prefix); `None` when none.
    fn swarm_network_inspect(&self, reference: String) -> impl Future<Output = ApiResult<Option<NetworkResource>>> + Send {
        drop(reference);
        std::future::ready(Ok(None))
    }
    /// `POST /networks/create` of an overlay network.
    fn swarm_network_create(&self, request: NetworkCreateRequest) -> impl Future<Output = ApiResult<NetworkCreateResponse>> + Send {
        drop(request);
        std::future::ready(Err(not_a_swarm_manager()))
    }
    /// `DELETE /networks/{id}` of the swarm network with this ID.
    fn swarm_network_remove(&self, id: String) -> impl Future<Output = ApiResult<()>> + Send {
        drop(id);
        std::future::ready(Err(not_a_swarm_manager()))
    }
}

/// dockerd's refusal of an overlay network on a node in no swarm.
pub fn not_a_swarm_manager() -> ApiError {
    ApiError::forbidden(
        "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.",
    )
}

/// Whether a create request asks for a swarm-scope network.
fn is_swarm_request(request: &NetworkCreateRequest) -> bool {
    request.driver == "overlay" || request.other.get("Scope").and_then(|s| s.as_str()) == Some("swarm")
}

/// Both backends, as the routes' state.
struct Backends<N, S> {
    local: Arc<N>,
    swarm: Arc<S>,
}

/// `?scope=` of an inspect: `local`, `swarm`, or either.
#[derive(serde::Deserialize)]
struct ScopeQuery {
    #[serde(default)]
    scope: String,
}

/// The network routes, to be merged into the Engine API router.
pub fn network_routes<N: NetworkBackend, S: SwarmNetworkBackend>(local: Arc<N>, swarm: Arc<S>) -> Router {
    Router::new()
        .route("/networks", get(list::<N, S>))
        .route("/networks/create", post(create::<N, S>))
        .route("/networks/prune", post(prune::<N, S>))
        .route("/networks/{reference}", get(inspect::<N, S>).delete(remove::<N, S>))
        .route("/networks/{reference}/connect", post(connect::<N, S>))
        .route("/networks/{reference}/disconnect", post(disconnect::<N, S>))
        .with_state(Arc::new(Backends { local, swarm }))
}

type Shared<N, S> = State<Arc<Backends<N, S>>>;

/// Filter keys `GET /networks` accepts.
pub const NETWORK_FILTERS: &[&str] = &["driver", "id", "label", "name", "scope", "type"];
/// Networks every daemon has (`type=builtin`).
const BUILTIN: &[&str] = &["bridge", "host", "none"];

async fn list<N: NetworkBackend, S: SwarmNetworkBackend>(
    State(b): Shared<N, S>,
    QueryArgs(query): QueryArgs<FiltersQuery>,
) -> ApiResult<Json<Vec<NetworkResource>>> {
    let filters = ListFilters::parse(query.filters.as_deref(), NETWORK_FILTERS)?;
    let mut networks = b.local.network_list().await?;
    networks.extend(b.swarm.swarm_network_list().await?);
    networks.retain(|n| network_matches(&filters, n));
    Ok(Json(networks))
}

/// dockerd's network filters: driver and scope exactly, name as a substring, id as a prefix,
/// type `builtin` or `custom`, labels.
fn network_matches(filters: &ListFilters, n: &NetworkResource) -> bool {
    filters.allows("driver", |d| d == n.driver)
        && filters.allows("scope", |s| s == n.scope)
        && filters.allows("name", |s| n.name.contains(s))
        && filters.allows("id", |s| n.id.starts_with(s))
        && filters.allows("type", |t| (t == "builtin") == BUILTIN.contains(&n.name.as_str()))
        && filters.labels_match(&n.labels)
}

/// The swarm network `reference` names, when no local network does (`Err`: the local answer).
async fn swarm_only<N: NetworkBackend, S: SwarmNetworkBackend>(b: &Backends<N, S>, reference: &str) -> ApiResult<Option<NetworkResource>> {
    match b.local.network_inspect(reference.to_owned()).await {
        Ok(_) => Ok(None),
        Err(e) if e.status == StatusCode::NOT_FOUND => match b.swarm.swarm_network_inspect(reference.to_owned()).await? {
            Some(found) => Ok(Some(found)),
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}

async fn inspect<N: NetworkBackend, S: SwarmNetworkBackend>(
    State(b): Shared<N, S>,
    Path(reference): Path<String>,
    Query(query): Query<ScopeQuery>,
) -> ApiResult<Json<NetworkResource>> {
    match query.scope.as_str() {
        "swarm" => b.swarm.swarm_network_inspect(reference.clone()).await?.map(Json).ok_or_else(|| network_not_found(&reference)),
        "local" => b.local.network_inspect(reference).await.map(Json),
        _ => match swarm_only(&b, &reference).await? {
            Some(found) => Ok(Json(found)),
            None => b.local.network_inspect(reference).await.map(Json),
        },
    }
}

/// dockerd's 404 for a network.
fn network_not_found(reference: &str) -> ApiError {
    ApiError::not_found(format!("network {reference} not found"))
}

async fn create<N: NetworkBackend, S: SwarmNetworkBackend>(
    State(b): Shared<N, S>,
    JsonBody(request): JsonBody<NetworkCreateRequest>,
) -> ApiResult<(StatusCode, Json<NetworkCreateResponse>)> {
    let created = if is_swarm_request(&request) {
        b.swarm.swarm_network_create(request).await?
    } else {
        b.local.network_create(request).await?
    };
    Ok((StatusCode::CREATED, Json(created)))
}

async fn remove<N: NetworkBackend, S: SwarmNetworkBackend>(State(b): Shared<N, S>, Path(reference): Path<String>) -> ApiResult<StatusCode> {
    match swarm_only(&b, &reference).await? {
        Some(swarm) => b.swarm.swarm_network_remove(swarm.id).await?,
        None => b.local.network_remove(reference).await?,
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Containers outside services do not join swarm networks yet: a swarm network is refused.
/// Anything else (a network nobody knows too) is the local backend's to answer, in dockerd's
/// order (the container is looked up before the network).
async fn refuse_swarm<N: NetworkBackend, S: SwarmNetworkBackend>(b: &Backends<N, S>, reference: &str) -> ApiResult<()> {
    match swarm_only(b, reference).await {
        Ok(Some(swarm)) => Err(ApiError::forbidden(format!(
            "network {}: connecting containers to swarm networks is not supported by Palisade yet",
            swarm.name
        ))),
        Ok(None) => Ok(()),
        Err(e) if e.status == StatusCode::NOT_FOUND => Ok(()),
        Err(e) => Err(e),
    }
}

async fn connect<N: NetworkBackend, S: SwarmNetworkBackend>(
    State(b): Shared<N, S>,
    Path(reference): Path<String>,
    JsonBody(request): JsonBody<NetworkConnectRequest>,
) -> ApiResult<StatusCode> {
    refuse_swarm(&b, &reference).await?;
    b.local.network_connect(reference, request).await.map(|()| StatusCode::OK)
}

async fn disconnect<N: NetworkBackend, S: SwarmNetworkBackend>(
    State(b): Shared<N, S>,
    Path(reference): Path<String>,
    JsonBody(request): JsonBody<NetworkDisconnectRequest>,
) -> ApiResult<StatusCode> {
    refuse_swarm(&b, &reference).await?;
    b.local.network_disconnect(reference, request).await.map(|()| StatusCode::OK)
}

/// Local networks only: swarm networks are removed by name, on a manager.
async fn prune<N: NetworkBackend, S: SwarmNetworkBackend>(State(b): Shared<N, S>) -> ApiResult<Json<NetworkPruneResponse>> {
    b.local.network_prune().await.map(Json)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use axum::extract::Request;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use super::*;

    fn network(name: &str, scope: &str) -> NetworkResource {
        let driver = if scope == "swarm" { "overlay" } else { "bridge" };
        NetworkResource { name: name.into(), id: format!("{name}-id"), scope: scope.into(), driver: driver.into(), ..NetworkResource::default() }
    }

    /// One side's networks, and the creates and removals it was asked for.
    #[derive(Default)]
    struct Side {
        networks: Mutex<Vec<NetworkResource>>,
        calls: Mutex<Vec<String>>,
    }

    impl Side {
        fn with(network: NetworkResource) -> Arc<Self> {
            Arc::new(Self { networks: Mutex::new(vec![network]), calls: Mutex::default() })
        }
        fn find(&self, reference: &str) -> Option<NetworkResource> {
            self.networks.lock().unwrap().iter().find(|n| n.name == reference || n.id == reference).cloned()
        }
        fn called(&self, call: String) {
            self.calls.lock().unwrap().push(call);
        }
    }

    impl NetworkBackend for Side {
        async fn network_list(&self) -> ApiResult<Vec<NetworkResource>> {
            Ok(self.networks.lock().unwrap().clone())
        }
        async fn network_inspect(&self, reference: String) -> ApiResult<NetworkResource> {
            self.find(&reference).ok_or_else(|| network_not_found(&reference))
        }
        async fn network_create(&self, request: NetworkCreateRequest) -> ApiResult<NetworkCreateResponse> {
            self.called(format!("local create {}", request.name));
            Ok(NetworkCreateResponse::default())
        }
        async fn network_remove(&self, reference: String) -> ApiResult<()> {
            self.called(format!("local remove {reference}"));
            Ok(())
        }
        async fn network_connect(&self, reference: String, _: NetworkConnectRequest) -> ApiResult<()> {
            self.called(format!("local connect {reference}"));
            Ok(())
        }
        async fn network_disconnect(&self, reference: String, _: NetworkDisconnectRequest) -> ApiResult<()> {
            self.called(format!("local disconnect {reference}"));
            Ok(())
        }
        async fn network_prune(&self) -> ApiResult<NetworkPruneResponse> {
            Ok(NetworkPruneResponse::default())
        }
    }

    impl SwarmNetworkBackend for Side {
        async fn swarm_network_list(&self) -> ApiResult<Vec<NetworkResource>> {
            Ok(self.networks.lock().unwrap().clone())
        }
        async fn swarm_network_inspect(&self, reference: String) -> ApiResult<Option<NetworkResource>> {
            Ok(self.find(&reference))
        }
        async fn swarm_network_create(&self, request: NetworkCreateRequest) -> ApiResult<NetworkCreateResponse> {
            self.called(format!("swarm create {}", request.name));
            Ok(NetworkCreateResponse::default())
        }
        async fn swarm_network_remove(&self, id: String) -> ApiResult<()> {
            self.called(format!("swarm remove {id}"));
            Ok(())
        }
    }

    /// Percent-encodes a query value.
    fn urlencode(text: &str) -> String {
        text.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
    }

    async fn call(routes: &Router, method: &str, uri: &str, body: &str) -> (u16, serde_json::Value) {
        let request = Request::builder().method(method).uri(uri).header("Content-Type", "application/json").body(axum::body::Body::from(body.to_owned())).unwrap();
        let response = routes.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, if bytes.is_empty() { serde_json::Value::Null } else { serde_json::from_slice(&bytes).unwrap() })
    }

    #[tokio::test]
    async fn each_request_goes_to_the_side_that_holds_the_network() {
        let (local, swarm) = (Side::with(network("front", "local")), Side::with(network("dbnet", "swarm")));
        let routes = network_routes(local.clone(), swarm.clone());

        let (status, listed) = call(&routes, "GET", "/networks", "").await;
        assert_eq!(status, 200);
        let names: Vec<&str> = listed.as_array().unwrap().iter().map(|n| n["Name"].as_str().unwrap()).collect();
        assert_eq!(names, ["front", "dbnet"]);
        for (filter, expected) in [
            (r#"{"driver":{"overlay":true}}"#, vec!["dbnet"]),
            (r#"{"scope":["local"]}"#, vec!["front"]),
            (r#"{"name":{"ron":true}}"#, vec!["front"]),
            (r#"{"type":{"custom":true}}"#, vec!["front", "dbnet"]),
            (r#"{"type":{"builtin":true}}"#, vec![]),
        ] {
            let uri = format!("/networks?filters={}", urlencode(filter));
            let (status, listed) = call(&routes, "GET", &uri, "").await;
            assert_eq!(status, 200, "{filter}: {listed}");
            let names: Vec<&str> = listed.as_array().unwrap().iter().map(|n| n["Name"].as_str().unwrap()).collect();
            assert_eq!(names, expected, "{filter}");
        }
        assert_eq!(call(&routes, "GET", &format!("/networks?filters={}", urlencode(r#"{"dangling":{"true":true}}"#)), "").await.0, 400);

        assert_eq!(call(&routes, "GET", "/networks/dbnet", "").await.1["Scope"], "swarm");
        assert_eq!(call(&routes, "GET", "/networks/front", "").await.1["Scope"], "local");
        assert_eq!(call(&routes, "GET", "/networks/front?scope=swarm", "").await.0, 404, "the CLI resolving a service's --network");
        assert_eq!(call(&routes, "GET", "/networks/dbnet?scope=local", "").await.0, 404);
        assert_eq!(call(&routes, "GET", "/networks/nosuch", "").await.0, 404);

        assert_eq!(call(&routes, "POST", "/networks/create", r#"{"Name":"o","Driver":"overlay"}"#).await.0, 201);
        assert_eq!(call(&routes, "POST", "/networks/create", r#"{"Name":"b","Driver":"bridge"}"#).await.0, 201);
        assert_eq!(call(&routes, "POST", "/networks/create", r#"{"Name":"s","Scope":"swarm"}"#).await.0, 201);
        assert_eq!(call(&routes, "DELETE", "/networks/dbnet", "").await.0, 204);
        assert_eq!(call(&routes, "DELETE", "/networks/front", "").await.0, 204);
        let (status, refused) = call(&routes, "POST", "/networks/dbnet/connect", r#"{"Container":"c"}"#).await;
        assert_eq!(status, 403, "{refused}");
        assert_eq!(call(&routes, "POST", "/networks/front/connect", r#"{"Container":"c"}"#).await.0, 200);

        assert_eq!(*swarm.calls.lock().unwrap(), ["swarm create o", "swarm create s", "swarm remove dbnet-id"]);
        assert_eq!(*local.calls.lock().unwrap(), ["local create b", "local remove front", "local connect front"]);
    }

    #[tokio::test]
    async fn outside_a_swarm_an_overlay_create_gets_dockerd_s_refusal() {
        struct NoSwarm;
        impl SwarmNetworkBackend for NoSwarm {}
        let routes = network_routes(Side::with(network("front", "local")), Arc::new(NoSwarm));
        let (status, refused) = call(&routes, "POST", "/networks/create", r#"{"Name":"o","Driver":"overlay"}"#).await;
        assert_eq!(status, 403);
        assert_eq!(refused["message"], not_a_swarm_manager().message);
    }
}
