//! Token auth in front of the trust server (`trust-server serve --config`): the attacks it
//! refuses — no token, a token signed by another key, a token for another GUN, a pull token used
//! to publish or delete, an expired token — each answered 401 with a `Bearer` challenge naming
//! the scope; health stays open.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use palisade_registry::auth::{AccessEntry, TokenService};
use palisade_trust::server::{router, Limits, TrustServer, TrustServerConfig};
use tower::ServiceExt as _;

const GUN: &str = "127.0.0.1:5000/app";

struct Fixture {
    _dir: tempfile::TempDir,
    app: axum::Router,
    tokens: TokenService,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let tokens = TokenService::new("palisade-registry", "palisade-registry", 300, None).unwrap();
    let key = dir.path().join("token-key.pub");
    std::fs::write(&key, tokens.public_key_pem()).unwrap();
    let config = dir.path().join("trust-server.toml");
    std::fs::write(
        &config,
        format!(
            "[auth]\nmode = \"token\"\nrealm = \"https://127.0.0.1:5000/token\"\nservice = \"palisade-registry\"\nissuer = \"palisade-registry\"\npublic_key = \"{}\"\n",
            key.display()
        ),
    )
    .unwrap();
    let auth = TrustServerConfig::load(&config).unwrap().token_auth().unwrap().expect("token mode");
    let server = TrustServer::open(&dir.path().join("root"), Arc::new(palisade_pki::SystemClock)).unwrap();
    let app = Arc::new(auth).protect(router(Arc::new(server), Limits::default()));
    Fixture { _dir: dir, app, tokens }
}

fn token(service: &TokenService, gun: &str, actions: &[&str]) -> String {
    service.issue(Some("alice"), vec![AccessEntry::repository(gun, actions)]).unwrap().token
}

/// (status, WWW-Authenticate) of `method path` with an optional bearer token.
async fn call(app: &axum::Router, method: Method, path: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (response.status(), challenge)
}

fn meta() -> String {
    format!("/v2/{GUN}/_trust/tuf/root.json")
}

#[tokio::test]
async fn health_is_open_and_everything_else_needs_a_token() {
    let f = fixture();
    assert_eq!(call(&f.app, Method::GET, "/_notary_server/health", None).await.0, StatusCode::OK);
    let (status, challenge) = call(&f.app, Method::GET, &meta(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge,
        format!("Bearer realm=\"https://127.0.0.1:5000/token\",service=\"palisade-registry\",scope=\"repository:{GUN}:pull\"")
    );
    let (status, challenge) = call(&f.app, Method::GET, "/v2/_trust/changefeed", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("scope=\"registry:catalog:*\""), "{challenge}");
}

#[tokio::test]
async fn a_pull_token_reads_but_cannot_publish_or_delete() {
    let f = fixture();
    let pull = token(&f.tokens, GUN, &["pull"]);
    // Authorised: the request reaches the server, which has no such metadata yet.
    assert_eq!(call(&f.app, Method::GET, &meta(), Some(&pull)).await.0, StatusCode::NOT_FOUND);
    for (method, path, scope) in [
        (Method::POST, format!("/v2/{GUN}/_trust/tuf/"), "push,pull"),
        (Method::DELETE, format!("/v2/{GUN}/_trust/tuf/"), "*"),
        (Method::POST, format!("/v2/{GUN}/_trust/tuf/snapshot.key"), "*"),
    ] {
        let (status, challenge) = call(&f.app, method.clone(), &path, Some(&pull)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert!(challenge.contains(&format!("scope=\"repository:{GUN}:{scope}\"")), "{challenge}");
        assert!(challenge.contains("error=\"insufficient_scope\""), "{challenge}");
    }
    let all = token(&f.tokens, GUN, &["*"]);
    assert_eq!(call(&f.app, Method::DELETE, &format!("/v2/{GUN}/_trust/tuf/"), Some(&all)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn foreign_expired_and_other_gun_tokens_are_refused() {
    let f = fixture();
    let foreign = TokenService::new("palisade-registry", "palisade-registry", 300, None).unwrap();
    let (status, challenge) = call(&f.app, Method::GET, &meta(), Some(&token(&foreign, GUN, &["pull"]))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let expired = f.tokens.issue_at(Some("alice"), vec![AccessEntry::repository(GUN, &["pull"])], now - 3600).unwrap().token;
    assert_eq!(call(&f.app, Method::GET, &meta(), Some(&expired)).await.0, StatusCode::UNAUTHORIZED);

    let other = token(&f.tokens, "127.0.0.1:5000/other", &["*"]);
    let (status, challenge) = call(&f.app, Method::GET, &meta(), Some(&other)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert_eq!(call(&f.app, Method::GET, &meta(), Some("not-a-jwt")).await.0, StatusCode::UNAUTHORIZED);
}

#[test]
fn a_config_naming_a_missing_or_bad_key_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    let write = |key: &str| {
        std::fs::write(&config, format!("[auth]\nmode = \"token\"\nrealm = \"r\"\nservice = \"s\"\nissuer = \"i\"\npublic_key = \"{key}\"\n")).unwrap();
        TrustServerConfig::load(&config).unwrap().token_auth()
    };
    let missing = write(&dir.path().join("absent.pem").display().to_string()).unwrap_err();
    assert!(missing.to_string().contains("absent.pem"), "{missing}");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a key").unwrap();
    assert!(write(&junk.display().to_string()).is_err());
}
