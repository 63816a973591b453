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

    /// 400: the request is malformed or asks for something invalid.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: the named object does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
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
