//! Issue #21 item 5: a hostile registry cannot make `pull` read without bound. Manifests and
//! indexes are capped at 4 MiB (docker's limit), configs at 8 MiB, blobs at their descriptor's
//! size, token and error bodies at a few KiB. Each case serves an endless body and checks that
//! the pull fails and that the server produced only a little more than the cap (what the
//! sockets buffer), never the whole stream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use palisade_registry::client::{pull, ClientOptions, ImageRef, LocalImage, Progress, ProgressEvent};
use palisade_registry::Digest;

/// What the fake registry stops at: far beyond every cap.
const ENDLESS: u64 = 512 << 20;
/// Most bytes a capped read may leave the server producing (cap + socket buffers).
const SLACK: u64 = 48 << 20;

struct Hostile {
    sent: AtomicU64,
    addr: std::sync::OnceLock<String>,
}

/// A body of `ENDLESS` spaces, produced 64 KiB at a time and counted.
fn endless(state: &Arc<Hostile>) -> Body {
    let state = state.clone();
    let chunk = Bytes::from(vec![b' '; 64 << 10]);
    let stream = futures::stream::unfold(0u64, move |n| {
        let (state, chunk) = (state.clone(), chunk.clone());
        async move {
            if n >= ENDLESS {
                return None;
            }
            state.sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            Some((Ok::<_, std::io::Error>(chunk.clone()), n + chunk.len() as u64))
        }
    });
    Body::from_stream(stream)
}

fn json(value: serde_json::Value, media: &str) -> Response {
    let mut r = Response::new(Body::from(value.to_string()));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_str(media).unwrap());
    r
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn manifest(config_size: u64, layer_size: u64) -> serde_json::Value {
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::sha256_of(b"config").to_string(), "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": Digest::sha256_of(b"layer").to_string(), "size": layer_size}],
    })
}

async fn route(State(state): State<Arc<Hostile>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let addr = state.addr.get().cloned().unwrap_or_default();
    match path.as_str() {
        "/v2/endless-manifest/manifests/latest" => {
            let mut r = Response::new(endless(&state));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(OCI_MANIFEST));
            r
        }
        "/v2/endless-error/manifests/latest" => (StatusCode::INTERNAL_SERVER_ERROR, endless(&state)).into_response(),
        "/v2/endless-token/manifests/latest" => {
            let challenge = format!("Bearer realm=\"http://{addr}/token\",service=\"hostile\"");
            (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, challenge)]).into_response()
        }
        "/token" => endless(&state).into_response(),
        "/v2/endless-blob/manifests/latest" => json(manifest(6, 5), OCI_MANIFEST),
        "/v2/huge-config/manifests/latest" => json(manifest(1 << 30, 5), OCI_MANIFEST),
        p if p.starts_with("/v2/endless-blob/blobs/") || p.starts_with("/v2/huge-config/blobs/") => {
            endless(&state).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

struct Quiet;

impl Progress for Quiet {
    fn event(&self, _: ProgressEvent) {}
}

/// Pulls `repo:latest` from a fresh hostile registry: (the error, bytes the server produced).
async fn pull_from_hostile(repo: &str) -> (String, u64) {
    let state = Arc::new(Hostile { sent: AtomicU64::new(0), addr: std::sync::OnceLock::new() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    state.addr.set(addr.clone()).unwrap();
    let app = axum::Router::new().fallback(route).with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    let image: ImageRef = format!("{addr}/{repo}:latest").parse().unwrap();
    let opts = ClientOptions { insecure: true, ..ClientOptions::default() };
    let dest = LocalImage::Oci { dir: dir.path().join("out"), tag: None };
    let pulled = tokio::time::timeout(std::time::Duration::from_secs(120), pull(&image, &dest, &opts, Arc::new(Quiet)))
        .await
        .expect("pull hung");
    let err = pulled.expect_err("a hostile registry must not be pulled from").to_string();
    (err, state.sent.load(Ordering::Relaxed))
}

#[tokio::test]
async fn endless_manifest_is_cut_at_the_manifest_cap() {
    let (err, sent) = pull_from_hostile("endless-manifest").await;
    assert!(err.contains("larger than"), "{err}");
    assert!(sent < SLACK, "the client read {sent} bytes of manifest");
}

#[tokio::test]
async fn endless_error_body_is_cut() {
    let (err, sent) = pull_from_hostile("endless-error").await;
    assert!(err.contains("HTTP 500"), "{err}");
    assert!(err.len() < 2048, "error message of {} bytes", err.len());
    assert!(sent < SLACK, "the client read {sent} bytes of error body");
}

#[tokio::test]
async fn endless_token_body_is_cut() {
    let (err, sent) = pull_from_hostile("endless-token").await;
    assert!(err.contains("larger than"), "{err}");
    assert!(sent < SLACK, "the client read {sent} bytes of token answer");
}

#[tokio::test]
async fn blob_longer_than_its_descriptor_is_cut() {
    let (err, sent) = pull_from_hostile("endless-blob").await;
    assert!(err.contains("larger than"), "{err}");
    assert!(sent < SLACK, "the client read {sent} bytes of blob");
}

#[tokio::test]
async fn config_over_the_cap_is_refused_before_download() {
    let (err, sent) = pull_from_hostile("huge-config").await;
    assert!(err.contains("config"), "{err}");
    assert!(sent < SLACK, "the client read {sent} bytes of config");
}
