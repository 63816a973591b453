//! Engine API errors: one table of the messages and status codes dockerd uses.

use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// An error as the Engine API reports it: a status code and `{"message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Human-readable text; the docker CLI prints it after `Error response from daemon: `.
    pub message: String,
}

impl ApiError {
    /// An error with any status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    /// 401: a registry refused the credentials (`docker login`).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 400: the request is malformed or asks for something invalid.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: the named object does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 403: not allowed (a built-in network, a network in use).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 409: the request conflicts with current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 500: an internal failure (details are logged, not returned).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// 503: the request needs a state this node is not in.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// The node is not in a swarm (cluster-state requests).
    pub fn not_a_manager() -> Self {
        Self::unavailable("This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.")
    }

    /// A worker was asked for cluster state.
    pub fn worker_cannot_view() -> Self {
        Self::unavailable("This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.")
    }

    /// `swarm leave` on a node that is in no swarm.
    pub fn not_in_swarm() -> Self {
        Self::unavailable("This node is not part of a swarm")
    }

    /// `swarm init`/`join` on a node already in a swarm.
    pub fn already_in_swarm() -> Self {
        Self::unavailable("This node is already part of a swarm. Use \"docker swarm leave\" to leave this swarm and join another one.")
    }

    /// Leaving as the last manager without `--force`.
    pub fn last_manager_leave() -> Self {
        Self::unavailable("You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.")
    }

    /// Leaving as a manager whose departure would break quorum, without `--force`.
    pub fn manager_leave_loses_quorum(remaining: usize, total: usize) -> Self {
        Self::unavailable(format!(
            "You are attempting to leave the swarm on a node that is participating as a manager. Removing this node leaves {remaining} managers out of {total}. Without a Raft quorum your swarm will be inaccessible. The only way to restore a swarm that has lost consensus is to reinitialize it with `--force-new-cluster`. Use `--force` to suppress this message."
        ))
    }

    /// 400 with the text dockerd relays from a swarmkit `InvalidArgument` gRPC error.
    pub fn invalid_argument(desc: impl std::fmt::Display) -> Self {
        Self::bad_request(format!("rpc error: code = InvalidArgument desc = {desc}"))
    }

    /// 501: this node does not implement secrets yet (the [`crate::Backend`] default).
    pub fn secrets_unsupported() -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, "secrets are not supported by this node yet")
    }

    /// 501: this node does not implement autolock yet (the [`crate::Backend`] default).
    pub fn unlock_unsupported() -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, "swarm unlock is not supported by this node yet")
    }

    /// No secret matches the reference.
    pub fn secret_not_found(reference: &str) -> Self {
        Self::not_found(format!("secret {reference} not found"))
    }

    /// `POST /secrets/create` with a name already taken (swarmkit `AlreadyExists`).
    pub fn secret_exists(name: &str) -> Self {
        Self::conflict(format!("rpc error: code = AlreadyExists desc = secret {name} already exists"))
    }

    /// `DELETE /secrets/{id}` while services use it (swarmkit `InvalidArgument`).
    pub fn secret_in_use(name: &str, services: &[String]) -> Self {
        let plural = if services.len() > 1 { "s" } else { "" };
        Self::invalid_argument(format!("secret '{name}' is in use by the following service{plural}: {}", services.join(", ")))
    }

    /// The manager is locked (autolock): every cluster-state request gets this until
    /// `POST /swarm/unlock` (moby `errSwarmLocked`, 503).
    pub fn swarm_locked() -> Self {
        Self::unavailable("Swarm is encrypted and needs to be unlocked before it can be used. Please use \"docker swarm unlock\" to unlock it.")
    }

    /// `POST /swarm/unlock` with a wrong key (moby `invalidUnlockKey`, 401).
    pub fn invalid_unlock_key() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "swarm could not be unlocked: invalid key provided")
    }

    /// `POST /swarm/unlock` with text that is not an unlock key at all (moby: 400
    /// `invalid key string` from `ParseHumanReadableKey`).
    pub fn malformed_unlock_key() -> Self {
        Self::bad_request("invalid key string")
    }

    /// `POST /swarm/unlock` on a node that is not locked (moby `notLockedError`, 409).
    pub fn swarm_not_locked() -> Self {
        Self::conflict("swarm is not locked")
    }

    /// No node matches the reference.
    pub fn node_not_found(reference: &str) -> Self {
        Self::not_found(format!("node {reference} not found"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(serde_json::json!({ "message": self.message }))).into_response()
    }
}
