//! The engine's error type and its Engine-API rendering.

use palisade_engine_api::ApiError;

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Every failure of the engine, by whose fault it was.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No container matches the reference.
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// No exec instance has this id.
    #[error("No such exec instance: {0}")]
    NoSuchExec(String),
    /// The runtime could not start an exec's process (bad command, bad user...).
    #[error("OCI runtime exec failed: {0}")]
    ExecFailed(String),
    /// No image matches the reference.
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// Something else the request names does not exist (the message says what).
    #[error("{0}")]
    NotFound(String),
    /// No volume has the name (dockerd's wording).
    #[error("get {0}: no such volume")]
    NoSuchVolume(String),
    /// Containers use the volume.
    #[error("remove {name}: volume is in use - [{}]", containers.join(", "))]
    VolumeInUse {
        /// The volume.
        name: String,
        /// The containers using it.
        containers: Vec<String>,
    },
    /// The name is taken.
    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse {
        /// The name.
        name: String,
        /// The container holding it.
        id: String,
    },
    /// A running container cannot be removed without force.
    #[error("cannot remove container \"/{0}\": container is running: stop the container before removing or force remove")]
    RemoveRunning(String),
    /// A request option is not valid or not supported (caller's fault).
    #[error("{0}")]
    InvalidArgument(String),
    /// The operation does not fit the container's state.
    #[error("{0}")]
    Conflict(String),
    /// The container's process could not be started (bad command, bad user...).
    #[error("failed to start the container: {0}")]
    StartFailed(String),
    /// The runtime library failed.
    #[error(transparent)]
    Runtime(#[from] palisade_runtime::Error),
    /// Networking failed or refused.
    #[error(transparent)]
    Net(#[from] palisade_net::Error),
    /// A filesystem operation of the engine failed.
    #[error("{op}: {source}")]
    Io {
        /// What was attempted.
        op: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A registry refused the credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// A registry could not be reached or failed.
    #[error("{0}")]
    Registry(String),
    /// The image gate (the cluster's image policy) refused the image.
    #[error("{0}")]
    Refused(String),
    /// Something the request needs cannot answer now; retrying may succeed.
    #[error("{0}")]
    Unavailable(String),
    /// A blocking task panicked or was cancelled.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        use palisade_runtime::Error as R;
        match &e {
            Error::NoSuchContainer(_) | Error::NoSuchImage(_) | Error::NoSuchVolume(_) | Error::NoSuchExec(_) | Error::NotFound(_) => ApiError::not_found(e.to_string()),
            Error::NameInUse { .. } | Error::RemoveRunning(_) | Error::Conflict(_) | Error::VolumeInUse { .. } => {
                ApiError::conflict(e.to_string())
            }
            Error::InvalidArgument(_) | Error::StartFailed(_) | Error::ExecFailed(_) => ApiError::bad_request(e.to_string()),
            Error::Unauthorized(_) => ApiError::unauthorized(e.to_string()),
            Error::Refused(_) => ApiError::new(http::StatusCode::FORBIDDEN, e.to_string()),
            Error::Unavailable(_) => ApiError::unavailable(e.to_string()),
            Error::Registry(_) => ApiError::internal(e.to_string()),
            Error::Runtime(R::ImageNotFound(name)) => ApiError::not_found(format!("No such image: {name}")),
            Error::Runtime(R::ImageDigestDiffers { .. }) => ApiError::not_found(format!("No such image: {e}")),
            Error::Runtime(R::InvalidOption { .. } | R::InvalidReference(_) | R::AppArmorUnavailable { .. }) => {
                ApiError::bad_request(e.to_string())
            }
            Error::Runtime(R::PathNotFound(_)) => ApiError::not_found(e.to_string()),
            Error::Runtime(R::ArchiveFormat { .. } | R::DigestMismatch { .. } | R::CopyRefused { .. }) => ApiError::bad_request(e.to_string()),
            Error::Runtime(R::InvalidState { .. } | R::ImageInUse { .. }) => ApiError::conflict(e.to_string()),
            Error::Net(n) => crate::networks::api_error(n),
            _ => {
                tracing::warn!("engine error: {e}");
                ApiError::internal(e.to_string())
            }
        }
    }
}
