//! The middleware every console request passes: it finds the session, refuses forged POSTs,
//! and adds the security headers to every answer.
//!
//! | request | without a live session | with one |
//! |---|---|---|
//! | `GET` login page, stylesheet | served | served |
//! | other `GET` | 303 to the login page | served, as the session's user |
//! | `POST /console/login` | cross-site: 403 | cross-site: 403 |
//! | other `POST` | 403 | cross-site or without the session's CSRF token: 403 |

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::csrf;
use crate::error::blocking;
use crate::session::Session;
use crate::state::AppState;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "palisade_session";
/// Largest form body accepted (the forms are a few short fields).
const MAX_FORM: usize = 64 * 1024;

/// The logged-in user of a request, put in its extensions by [`guard`].
#[derive(Debug, Clone)]
pub(crate) struct Authed {
    /// The session (user and CSRF token).
    pub(crate) session: Session,
    /// The session id from the cookie (to log out).
    pub(crate) id: String,
    /// Whether the user is a platform administrator (read from the accounts on this request).
    pub(crate) admin: bool,
}

impl Authed {
    /// The 403 page saying `why`, unless the user is an administrator.
    pub(crate) fn refuse_unless_admin(&self, why: &str) -> Option<Response> {
        (!self.admin).then(|| crate::layout::error_page(StatusCode::FORBIDDEN, why))
    }
}

/// The `Set-Cookie` value for a new session.
pub(crate) fn session_cookie(id: &str) -> String {
    format!("{COOKIE}={id}; HttpOnly; Secure; SameSite=Strict; Path=/console")
}

/// The `Set-Cookie` value that deletes the session cookie.
pub(crate) fn cleared_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/console; Max-Age=0")
}

/// The session id in the request's cookies, if any.
pub(crate) fn cookie_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

fn is_public(method: &Method, path: &str) -> bool {
    match *method {
        Method::GET | Method::HEAD => matches!(path, "/console/login" | "/console/static/console.css"),
        Method::POST => path == "/console/login",
        _ => false,
    }
}

fn forbidden(why: &str) -> Response {
    crate::layout::error_page(StatusCode::FORBIDDEN, why)
}

/// See the module docs.
pub(crate) async fn guard(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = check_and_run(app, request, next).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; form-action 'self'"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn check_and_run(app: AppState, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let is_get = method == Method::GET || method == Method::HEAD;
    let host = csrf::request_host(request.headers(), request.uri());
    if !is_get && !csrf::same_origin(request.headers(), host.as_deref()) {
        return forbidden("This request came from another site and was refused.");
    }
    if is_public(&method, &path) {
        return next.run(request).await;
    }
    let found = cookie_id(request.headers()).and_then(|id| app.sessions.touch(&id, Instant::now()).map(|s| (id, s)));
    let Some((id, session)) = found else {
        return if is_get {
            Redirect::to("/console/login").into_response()
        } else {
            forbidden("Your session has ended; log in again.")
        };
    };
    let (parts, body) = request.into_parts();
    let body = if is_get {
        body
    } else {
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM).await else {
            return crate::layout::error_page(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.");
        };
        let given = csrf::token_in_form(&bytes).unwrap_or_default();
        if !csrf::token_matches(&session.csrf, &given) {
            tracing::warn!(user = %session.user, path = %path, "console POST without the session's CSRF token refused");
            return forbidden("This form is out of date or was not sent by the console. Reload the page and try again.");
        }
        Body::from(bytes)
    };
    let accounts = app.console.accounts.clone();
    let user = session.user.clone();
    let admin = blocking(move || Ok(palisade_accounts::is_admin(&accounts, &user)?)).await.unwrap_or(false);
    let mut request = Request::from_parts(parts, body);
    request.extensions_mut().insert(Authed { session, id, admin });
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; palisade_session=abc; b=2"));
        assert_eq!(cookie_id(&h).as_deref(), Some("abc"));
        h.insert(header::COOKIE, HeaderValue::from_static("xpalisade_session=abc"));
        assert_eq!(cookie_id(&h), None);
    }

    #[test]
    fn the_cookie_is_http_only_secure_strict_and_scoped_to_the_console() {
        let c = session_cookie("id");
        for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/console"] {
            assert!(c.contains(attribute), "{c}");
        }
    }
}
