//! Error helpers. Cluster operations report [`ApiError`]s — the Engine API's error table — since
//! every one of them ends at the docker CLI; these helpers keep the internal ones uniform.

use std::fmt::Display;

use palisade_engine_api::ApiError;

/// An internal failure: logged in full, reported with its context.
pub(crate) fn internal(context: &str, err: impl Display) -> ApiError {
    tracing::error!("{context}: {err}");
    ApiError::internal(format!("{context}: {err}"))
}

/// swarmkit's `InvalidArgument` rendering.
pub(crate) fn invalid_argument(desc: impl Display) -> ApiError {
    ApiError::bad_request(format!("rpc error: code = InvalidArgument desc = {desc}"))
}

/// swarmkit's `FailedPrecondition` rendering.
pub(crate) fn failed_precondition(desc: impl Display) -> ApiError {
    ApiError::bad_request(format!("rpc error: code = FailedPrecondition desc = {desc}"))
}

/// The join call's refusal: the same text whatever was wrong with the token, so a caller learns
/// nothing about which part failed.
pub(crate) fn invalid_join_token() -> ApiError {
    invalid_argument("A valid join token is necessary to join this cluster")
}
