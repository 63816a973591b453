//! The one mapping from cluster errors to the Engine API's statuses and dockerd's texts.
//! Internal failures say what failed, never secret material (none is ever put in an error).

use palisade_engine_api::ApiError;

use crate::error::Error;

/// swarmkit renders gRPC errors as `rpc error: code = <Code> desc = <text>`; the docker CLI
/// prints them after `Error response from daemon: `.
fn rpc(code: &str, desc: impl std::fmt::Display) -> String {
    format!("rpc error: code = {code} desc = {desc}")
}

/// The Engine-API error for a cluster error.
pub(crate) fn to_api(error: Error) -> ApiError {
    match error {
        Error::InvalidArgument(desc) => ApiError::bad_request(rpc("InvalidArgument", desc)),
        Error::FailedPrecondition(desc) => ApiError::bad_request(rpc("FailedPrecondition", desc)),
        Error::NotFound { kind: "node", reference } => ApiError::node_not_found(&reference),
        Error::NotFound { kind: "secret", reference } => ApiError::secret_not_found(&reference),
        e @ Error::NotFound { .. } => ApiError::not_found(e.to_string()),
        e @ Error::Ambiguous { .. } => ApiError::bad_request(e.to_string()),
        Error::AlreadyExists { kind: "secret", name } => ApiError::secret_exists(&name),
        e @ Error::AlreadyExists { .. } => ApiError::conflict(rpc("AlreadyExists", e)),
        Error::InUse { kind: "secret", name, services } => ApiError::secret_in_use(&name, &services),
        Error::InUse { kind, name, services } => {
            let plural = if services.len() > 1 { "s" } else { "" };
            ApiError::invalid_argument(format!("{kind} '{name}' is in use by the following service{plural}: {}", services.join(", ")))
        }
        Error::OutOfSequence => ApiError::internal(rpc("Unknown", "update out of sequence")),
        e @ Error::InvalidJoinToken => ApiError::bad_request(rpc("InvalidArgument", e)),
        e @ Error::Unauthenticated => ApiError::new(http::StatusCode::UNAUTHORIZED, e.to_string()),
        Error::PermissionDenied(message) | Error::PolicyRefused(message) => ApiError::new(http::StatusCode::FORBIDDEN, message),
        Error::Unavailable(message) => ApiError::unavailable(message),
        // Its own status, so that a manager passing a call on knows nothing was done.
        e @ Error::NotLeader => ApiError::new(http::StatusCode::MISDIRECTED_REQUEST, rpc("Unavailable", e)),
        Error::Locked => ApiError::swarm_locked(),
        Error::WrongUnlockKey => ApiError::invalid_unlock_key(),
        Error::NotLocked => ApiError::swarm_not_locked(),
        Error::NotInSwarm => ApiError::not_in_swarm(),
        Error::NotAManager => ApiError::not_a_manager(),
        Error::AlreadyInSwarm => ApiError::already_in_swarm(),
        Error::WorkerCannotView => ApiError::worker_cannot_view(),
        Error::LastManagerLeave => ApiError::last_manager_leave(),
        Error::LeaveLosesQuorum { remaining, total } => ApiError::manager_leave_loses_quorum(remaining, total),
        Error::ManagerLeaveNeedsForce => ApiError::unavailable(
            "You are attempting to leave the swarm on a node that is participating as a manager. The only way to restore a swarm that has lost consensus is to reinitialize it with `--force-new-cluster`. Use `--force` to suppress this message.",
        ),
        Error::Remote { status, message } => {
            ApiError::new(http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR), message)
        }
        e @ (Error::Internal { .. } | Error::DataPlane(_)) => ApiError::internal(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_party_gets_its_status() {
        assert_eq!(to_api(Error::invalid("x")).status, http::StatusCode::BAD_REQUEST);
        assert_eq!(to_api(Error::Locked).status, http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(to_api(Error::WrongUnlockKey).status, http::StatusCode::UNAUTHORIZED);
        assert_eq!(to_api(Error::Remote { status: 403, message: "no".into() }).status, http::StatusCode::FORBIDDEN);
        assert!(to_api(Error::InvalidJoinToken).message.contains("A valid join token is necessary"));
    }
}
