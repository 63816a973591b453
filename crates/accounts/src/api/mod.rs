//! The accounts' JSON API, served beside the registry under `/api/v1/`, with the registry's
//! own authentication (HTTP Basic, checked through the registry's login gate): every console
//! action has its call here, so that everything can be scripted.
//!
//! | call | body | who |
//! |---|---|---|
//! | `GET /api/v1/me` | | any user |
//! | `GET /api/v1/repositories` | | anyone: the repositories they may pull |
//! | `POST /api/v1/repositories` | `{"name","visibility"}` | the namespace's managers |
//! | `GET /api/v1/repositories/{name}` | | who may pull it: record and tags |
//! | `PATCH /api/v1/repositories/{name}` | `{"visibility"}` | its managers |
//! | `GET /api/v1/users`, `POST /api/v1/users` | `{"name","password","admin"}` | administrators |
//! | `GET /api/v1/organisations`, `POST` | `{"name"}` | any user (becomes its owner) |
//! | `POST /api/v1/organisations/{org}/owners` | `{"user"}` | its owners |
//! | `GET /api/v1/organisations/{org}/teams`, `POST` | `{"name","directory_group"}` | its owners |
//! | `POST /api/v1/organisations/{org}/teams/{team}/members` | `{"user"}` | its owners |
//! | `DELETE /api/v1/organisations/{org}/teams/{team}/members/{user}` | | its owners |
//! | `PUT /api/v1/organisations/{org}/teams/{team}/grants` | `{"repository","level"}` | its owners |
//! | `DELETE /api/v1/organisations/{org}/teams/{team}/grants/{repository}` | | its owners |
//! | `POST /api/v1/directory/check` | | administrators: connect and bind to the LDAP directory |
//! | `POST /api/v1/directory/sync` | | administrators: read every directory user's groups again |
//!
//! Errors are `{"error": "…"}` with 400 (bad input), 401 (no or wrong credentials), 403
//! (not allowed), 404, 409 (exists), 429 (too many logins) or 503 (the cluster store has no
//! quorum, or the model was too busy: try again).

mod routes;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use palisade_registry::Registry;

use crate::error::AccountsError;
use crate::store::Accounts;

pub use routes::router;

/// What the API serves from.
#[derive(Clone)]
pub struct ApiState {
    /// The access model.
    pub accounts: Arc<Accounts>,
    /// The registry (its login gate and credentials; its storage for tags).
    pub registry: Registry,
    /// The LDAP directory, if users come from one.
    pub directory: Option<Arc<palisade_ldap::Directory>>,
}

/// An API error: a status and a message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
}

impl From<AccountsError> for ApiError {
    fn from(e: AccountsError) -> Self {
        let status = match &e {
            AccountsError::Invalid { .. } => StatusCode::BAD_REQUEST,
            AccountsError::NotFound { .. } => StatusCode::NOT_FOUND,
            AccountsError::Exists { .. } => StatusCode::CONFLICT,
            AccountsError::Forbidden { .. } => StatusCode::FORBIDDEN,
            e if e.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(serde_json::json!({ "error": self.message }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Basic realm=\"palisade\""));
        }
        response
    }
}
