//! `/palisade/policy*`: Palisade's image-policy endpoints, beside the Engine API on the same
//! socket (the docker CLI never calls them; `palisade policy` does). Managers serve them;
//! every method of [`PolicyBackend`] defaults to 501.

use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
pub use palisade_policy::Decision;
use serde::{Deserialize, Serialize};

use crate::routes::JsonBody;
use crate::ApiError;

type ApiResult<T> = Result<T, ApiError>;

/// The stored policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDocument {
    /// Its version (changes with every `policy set`).
    #[serde(rename = "Version")]
    pub version: u64,
    /// The TOML document as it was set.
    #[serde(rename = "Text")]
    pub text: String,
    /// RFC 3339.
    #[serde(rename = "UpdatedAt")]
    pub updated_at: String,
}

/// `POST /palisade/policy`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicySetRequest {
    /// The TOML document.
    #[serde(rename = "Text")]
    pub text: String,
}

/// `POST /palisade/policy/test`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyTestRequest {
    /// The image reference to judge.
    #[serde(rename = "Image")]
    pub image: String,
}

/// One entry of the policy log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyLogEntry {
    /// RFC 3339.
    #[serde(rename = "Time")]
    pub time: String,
    /// `changed`, `refused` or `audited`.
    #[serde(rename = "Kind")]
    pub kind: String,
    /// The node that decided.
    #[serde(rename = "Node")]
    pub node: String,
    /// What asked (`service create web`, `container create`, `policy set`).
    #[serde(rename = "Action")]
    pub action: String,
    /// The decision's words.
    #[serde(rename = "Message")]
    pub message: String,
}

fn unsupported() -> ApiError {
    ApiError::new(http::StatusCode::NOT_IMPLEMENTED, "image policies are kept by swarm managers")
}

/// What the policy endpoints need from a manager.
pub trait PolicyBackend: Send + Sync + 'static {
    /// `GET /palisade/policy`: `None` when no policy is set.
    fn policy_inspect(&self) -> impl Future<Output = ApiResult<Option<PolicyDocument>>> + Send {
        std::future::ready(Err(unsupported()))
    }
    /// `POST /palisade/policy`: validates and stores a new policy.
    fn policy_set(&self, text: String) -> impl Future<Output = ApiResult<PolicyDocument>> + Send {
        drop(text);
        std::future::ready(Err(unsupported()))
    }
    /// `POST /palisade/policy/test`: how the current policy judges `image`, rule by rule.
    fn policy_test(&self, image: String) -> impl Future<Output = ApiResult<Decision>> + Send {
        drop(image);
        std::future::ready(Err(unsupported()))
    }
    /// `GET /palisade/policy/log`: oldest first.
    fn policy_log(&self) -> impl Future<Output = ApiResult<Vec<PolicyLogEntry>>> + Send {
        std::future::ready(Err(unsupported()))
    }
}

/// The routes, to be merged into the Engine API router.
pub(crate) fn policy_routes<B: PolicyBackend>(backend: Arc<B>) -> Router {
    Router::new()
        .route("/palisade/policy", get(inspect::<B>).post(set::<B>))
        .route("/palisade/policy/test", post(test::<B>))
        .route("/palisade/policy/log", get(log::<B>))
        .with_state(backend)
}

async fn inspect<B: PolicyBackend>(State(backend): State<Arc<B>>) -> ApiResult<Json<PolicyDocument>> {
    backend.policy_inspect().await?.map(Json).ok_or_else(|| ApiError::not_found("no image policy is set"))
}

async fn set<B: PolicyBackend>(State(backend): State<Arc<B>>, JsonBody(request): JsonBody<PolicySetRequest>) -> ApiResult<Json<PolicyDocument>> {
    if request.text.len() > palisade_policy::MAX_POLICY_BYTES {
        return Err(ApiError::bad_request(format!("the policy is larger than {} bytes", palisade_policy::MAX_POLICY_BYTES)));
    }
    backend.policy_set(request.text).await.map(Json)
}

async fn test<B: PolicyBackend>(State(backend): State<Arc<B>>, JsonBody(request): JsonBody<PolicyTestRequest>) -> ApiResult<Json<Decision>> {
    if request.image.trim().is_empty() {
        return Err(ApiError::bad_request("no image to test"));
    }
    backend.policy_test(request.image).await.map(Json)
}

async fn log<B: PolicyBackend>(State(backend): State<Arc<B>>) -> ApiResult<Json<Vec<PolicyLogEntry>>> {
    backend.policy_log().await.map(Json)
}
