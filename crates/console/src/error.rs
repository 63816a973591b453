//! The crate's error type.

use axum::http::StatusCode;
use palisade_accounts::AccountsError;

/// Result alias for this crate.
pub type Result<T, E = ConsoleError> = std::result::Result<T, E>;

/// What can go wrong answering a console request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// The access model refused or failed (its own status: 400, 403, 404, 409, 503, 500).
    #[error(transparent)]
    Accounts(#[from] AccountsError),
    /// The request is malformed (a name that does not parse, a missing field).
    #[error("{0}")]
    BadRequest(String),
    /// A page that does not exist, or a repository the user may not see.
    #[error("{0} was not found")]
    NotFound(String),
    /// The registry's storage failed.
    #[error("storage: {0}")]
    Storage(String),
    /// A background task failed (a panic or cancellation in `spawn_blocking`).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ConsoleError {
    /// The HTTP status the error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Accounts(AccountsError::Invalid { .. }) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Accounts(AccountsError::NotFound { .. }) | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Accounts(AccountsError::Exists { .. }) => StatusCode::CONFLICT,
            Self::Accounts(AccountsError::Forbidden { .. }) => StatusCode::FORBIDDEN,
            // Busy, or the cluster store has no quorum: the same request may work later.
            Self::Accounts(e) if e.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Runs blocking work (redb, storage) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ConsoleError::Internal(e.to_string()))?
}
