//! `GET|HEAD|PUT|DELETE /v2/<name>/manifests/<reference>`.

use axum::body::Body;
use axum::response::Response;
use http::{header, HeaderMap, StatusCode};

use super::errors::{ApiError, ErrorCode};
use super::{blocking, Registry};
use crate::error::Error;
use crate::names::{Reference, RepoName, Tag};

/// Most `tag` parameters one `PUT /manifests/<digest>?tag=…` may carry (distribution-spec: at
/// least 10 must be accepted; more may be answered 414).
const MAX_PUSH_TAGS: usize = 32;

fn build(builder: http::response::Builder, body: Body) -> Result<Response, ApiError> {
    builder.body(body).map_err(|e| Error::Task(e.to_string()).into())
}

pub(super) async fn get(reg: Registry, repo: RepoName, reference: &str, head_only: bool) -> Result<Response, ApiError> {
    // A malformed tag names no manifest: 404 MANIFEST_UNKNOWN, as distribution and the OCI
    // conformance suite (v1.1.1) expect, not 400.
    let reference: Reference = reference.parse().map_err(|e| match e {
        Error::TagInvalid { value } => Error::ManifestUnknown { reference: value },
        other => other,
    })?;
    let store = reg.store().clone();
    let m = blocking(move || store.get_manifest(&repo, &reference)).await?;
    let len = m.bytes.len();
    let body = if head_only { Body::empty() } else { Body::from(m.bytes) };
    build(
        Response::builder()
            .header(header::CONTENT_TYPE, m.media_type)
            .header(header::CONTENT_LENGTH, len)
            .header("docker-content-digest", m.digest.to_string())
            .header(header::ETAG, format!("\"{}\"", m.digest)),
        body,
    )
}

pub(super) async fn put(
    reg: Registry,
    repo: RepoName,
    reference: &str,
    query: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let reference: Reference = reference.parse()?;
    let tags = push_tags(&reference, query)?;
    let max = reg.limits().max_manifest_bytes;
    let too_big = || {
        ApiError::new(ErrorCode::ManifestInvalid)
            .with_status(StatusCode::PAYLOAD_TOO_LARGE)
            .with_message(format!("manifest exceeds the {max}-byte limit"))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > DRAIN_FACTOR * max) {
        return Err(too_big());
    }
    let bytes = read_capped(body, max).await.ok_or_else(too_big)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let store = reg.store().clone();
    let r = repo.clone();
    let applied = tags.clone();
    let put =
        blocking(move || store.put_manifest_tagged(&r, &reference, &bytes, content_type.as_deref(), &applied)).await?;
    if let Some(observer) = reg.observer() {
        observer.manifest_pushed(&crate::observer::PushedManifest { repo: repo.clone(), digest: put.digest.clone() });
    }
    let mut b = Response::builder()
        .status(StatusCode::CREATED)
        .header(header::LOCATION, format!("/v2/{repo}/manifests/{}", put.digest))
        .header("docker-content-digest", put.digest.to_string())
        .header(header::CONTENT_LENGTH, 0);
    if let Some(subject) = put.subject {
        b = b.header("oci-subject", subject.to_string());
    }
    for tag in &tags {
        b = b.header("oci-tag", tag.as_str());
    }
    build(b, Body::empty())
}

/// The `tag` query parameters of a manifest push (distribution-spec, next version: push by
/// digest and tag in one request). Only a digest reference takes them; every tag must parse,
/// or nothing is stored.
fn push_tags(reference: &Reference, query: &str) -> Result<Vec<Tag>, ApiError> {
    let values: Vec<String> =
        form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k == "tag").map(|(_, v)| v.into_owned()).collect();
    if values.is_empty() {
        return Ok(Vec::new());
    }
    if values.len() > MAX_PUSH_TAGS {
        return Err(ApiError::new(ErrorCode::TagInvalid)
            .with_status(StatusCode::URI_TOO_LONG)
            .with_message(format!("at most {MAX_PUSH_TAGS} tag parameters")));
    }
    if matches!(reference, Reference::Tag(_)) {
        return Err(ApiError::new(ErrorCode::TagInvalid).with_message("tag parameters need a digest reference"));
    }
    Ok(values.iter().map(|v| v.parse()).collect::<Result<_, palisade_reference::ReferenceError>>()?)
}

/// How much of an oversized body is read (and discarded) so the client sees the 413 instead
/// of a reset connection; beyond this the connection is simply dropped.
const DRAIN_FACTOR: usize = 4;

/// Collect at most `max` bytes; `None` if the body is larger (it is drained up to
/// `DRAIN_FACTOR * max`) or fails.
async fn read_capped(body: Body, max: usize) -> Option<bytes::Bytes> {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.ok()?;
        seen += chunk.len();
        if seen > max {
            if seen > DRAIN_FACTOR * max {
                return None;
            }
            continue;
        }
        buf.extend_from_slice(&chunk);
    }
    (seen <= max).then(|| buf.freeze())
}

pub(super) async fn delete(reg: Registry, repo: RepoName, reference: &str) -> Result<Response, ApiError> {
    let reference: Reference = reference.parse()?;
    let store = reg.store().clone();
    blocking(move || store.delete_manifest(&repo, &reference)).await?;
    build(Response::builder().status(StatusCode::ACCEPTED).header(header::CONTENT_LENGTH, 0), Body::empty())
}
