//! Logging in and out.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use palisade_registry::auth::Refusal;
use serde::Deserialize;

use crate::error::blocking;
use crate::guard::{cleared_cookie, cookie_id, session_cookie, Authed};
use crate::layout::{login_page, respond};
use crate::state::AppState;

/// `GET /console/login`; a user still logged in goes on to the repositories.
pub(crate) async fn form(State(app): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if cookie_id(&headers).is_some_and(|id| app.sessions.touch(&id, Instant::now()).is_some()) {
        return Redirect::to("/console/repositories").into_response();
    }
    respond(StatusCode::OK, login_page(None, ""))
}

#[derive(Deserialize)]
pub(crate) struct Login {
    user: String,
    password: String,
}

/// `POST /console/login`: checked by the registry's login gate (rates per user and address).
pub(crate) async fn submit(State(app): State<AppState>, peer: Option<Extension<ConnectInfo<SocketAddr>>>, Form(login): Form<Login>) -> Response {
    let peer = peer.map(|Extension(ConnectInfo(a))| a.ip());
    let user = login.user.trim().to_owned();
    let refused = |status, message: &str| respond(status, login_page(Some(message), &user));
    if user.is_empty() || login.password.is_empty() {
        return refused(StatusCode::BAD_REQUEST, "Enter your user name and password.");
    }
    match app.console.registry.check_password(&user, &login.password, peer).await {
        Ok(true) => {}
        Ok(false) => return refused(StatusCode::UNAUTHORIZED, "Wrong user name or password."),
        Err(why) => {
            let message = match why {
                Refusal::Address => "Too many attempts from your address. Wait a minute and try again.",
                Refusal::User => "Too many attempts for this user. Wait a minute and try again.",
                Refusal::Busy => "Too many attempts at once. Wait a moment and try again.",
            };
            return refused(StatusCode::TOO_MANY_REQUESTS, message);
        }
    }
    // A valid password of a user without a record (never with accounts) gets no session.
    let accounts = app.console.accounts.clone();
    let name = user.clone();
    match blocking(move || Ok(accounts.user(&name)?.is_some())).await {
        Ok(true) => {}
        Ok(false) => return refused(StatusCode::UNAUTHORIZED, "Wrong user name or password."),
        Err(e) => return refused(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
    let (id, _) = app.sessions.create(&user, Instant::now());
    tracing::info!(user = %user, "console login");
    ([(header::SET_COOKIE, session_cookie(&id))], Redirect::to("/console/repositories")).into_response()
}

/// `POST /console/logout`: the session ends here and the cookie is cleared.
pub(crate) async fn logout(State(app): State<AppState>, Extension(authed): Extension<Authed>) -> Response {
    app.sessions.remove(&authed.id);
    ([(header::SET_COOKIE, cleared_cookie())], Redirect::to("/console/login")).into_response()
}
