//! `GET /token?service=…&scope=…`: the Docker token endpoint (token auth mode only).

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use super::errors::ApiError;
use super::{denial_response, Registry};
use crate::auth::{Endpoint, Scope};
use crate::error::Error;

pub(super) async fn token(State(reg): State<Registry>, req: Request) -> Response {
    if reg.auth().token_service().is_none() {
        return (StatusCode::NOT_FOUND, "404 page not found\n").into_response();
    }
    let query = req.uri().query().unwrap_or("").to_owned();
    let scopes: Vec<Scope> = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').filter_map(Scope::parse).collect::<Vec<_>>())
        .collect();
    let headers = req.headers().clone();
    let peer = super::peer_ip(req.extensions());
    let slot = match reg.admit_login(&headers, Endpoint::Token, peer).await {
        Ok(slot) => slot,
        Err(e) => return e.into_response(),
    };
    let checked = slot.is_some().then(|| reg.auth().password_check(&headers, Endpoint::Token)).flatten();
    let this = reg.clone();
    let issued = tokio::task::spawn_blocking(move || this.auth().issue_token(&headers, &scopes)).await;
    drop(slot);
    if let Some(user) = checked {
        let ok = !matches!(issued, Ok(Err(crate::auth::Denial::Unauthorized { .. })));
        reg.record_login(&user, ok, peer).await;
    }
    match issued {
        Ok(Ok(t)) => axum::Json(t).into_response(),
        Ok(Err(d)) => denial_response(d).into_response(),
        Err(e) => ApiError::from(Error::Task(e.to_string())).into_response(),
    }
}
