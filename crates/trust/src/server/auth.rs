//! Token authentication in front of the trust server, as notary-server's `auth: token` does:
//! every route but health needs a bearer token from the registry's token service
//! ([`TokenVerifier`]) granting the scope [`required_access`] names for it. A missing, invalid
//! or insufficient token is answered `401` with a `WWW-Authenticate: Bearer` challenge naming
//! the realm, service and scope, so notary and docker fetch a token and retry.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use palisade_registry::auth::{Claims, TokenVerifier};

use super::http::{required_access, Access};

/// Who a request's valid token was issued to: the actor of the audit records it leads to.
#[derive(Debug, Clone)]
pub(super) struct TokenSubject(pub(super) String);

/// Checks bearer tokens against the access each route needs.
#[derive(Debug)]
pub struct TokenAuth {
    verifier: TokenVerifier,
    realm: String,
}

impl TokenAuth {
    /// Accept tokens `verifier` accepts; send clients to `realm` (the token endpoint URL).
    pub fn new(verifier: TokenVerifier, realm: impl Into<String>) -> Self {
        Self { verifier, realm: realm.into() }
    }

    /// Wraps `router` so every request is checked first.
    pub fn protect(self: Arc<Self>, router: Router) -> Router {
        router.layer(axum::middleware::from_fn_with_state(self, check))
    }

    fn granted(claims: &Claims, access: &Access) -> bool {
        match access {
            Access::Open | Access::AnyToken => true,
            Access::Catalog => claims.allows("registry", "catalog", "*"),
            Access::Repository { gun, actions } => actions.iter().all(|a| claims.allows("repository", gun, a)),
        }
    }

    fn challenge(&self, access: &Access, error: Option<&str>) -> Response {
        let mut value = format!("Bearer realm=\"{}\",service=\"{}\"", self.realm, self.verifier.service());
        match access {
            Access::Catalog => value.push_str(",scope=\"registry:catalog:*\""),
            Access::Repository { gun, actions } => value.push_str(&format!(",scope=\"repository:{gun}:{}\"", actions.join(","))),
            Access::Open | Access::AnyToken => {}
        }
        if let Some(e) = error {
            value.push_str(&format!(",error=\"{e}\""));
        }
        let body = serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}).to_string();
        let mut response = (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body).into_response();
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        response
    }
}

fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

async fn check(State(auth): State<Arc<TokenAuth>>, request: Request, next: Next) -> Response {
    let access = required_access(request.method(), request.uri().path());
    if access == Access::Open {
        return next.run(request).await;
    }
    let Some(token) = bearer(&request) else {
        return auth.challenge(&access, None);
    };
    let claims = match auth.verifier.verify(token) {
        Ok(claims) => claims,
        Err(e) => {
            tracing::info!(error = %e, "trust request with an invalid token");
            return auth.challenge(&access, Some("invalid_token"));
        }
    };
    if !TokenAuth::granted(&claims, &access) {
        tracing::info!(subject = claims.subject().unwrap_or("<anonymous>"), ?access, "trust request outside the token's scope");
        return auth.challenge(&access, Some("insufficient_scope"));
    }
    // A valid token: the connection leaves the tighter caps of unauthenticated ones.
    if let Some(authenticated) = request.extensions().get::<palisade_serve::Authenticated>() {
        authenticated.mark();
    }
    let mut request = request;
    if let Some(subject) = claims.subject() {
        request.extensions_mut().insert(TokenSubject(subject.to_owned()));
    }
    next.run(request).await
}
