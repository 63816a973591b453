//! The console's pages, one module per navigation entry.

pub(crate) mod audit;
pub(crate) mod login;
pub(crate) mod organisations;
pub(crate) mod repositories;
pub(crate) mod repository;
pub(crate) mod settings;
pub(crate) mod users;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use crate::error::ConsoleError;
use crate::layout::{error_page, STYLESHEET};

/// `/console/`: the repositories.
pub(crate) async fn home() -> Redirect {
    Redirect::to("/console/repositories")
}

/// The stylesheet (cacheable for an hour; it changes only with the binary).
pub(crate) async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], STYLESHEET).into_response()
}

/// Any other console path.
pub(crate) async fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "There is no such page in the console.")
}

/// The page for an error of a GET.
pub(crate) fn failed(e: &ConsoleError) -> Response {
    error_page(e.status(), &e.to_string())
}

/// A 303 to `path` after a change.
pub(crate) fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}
