//! Blob uploads: monolithic (`POST ?digest=`), chunked (`POST` → `PATCH`… → `PUT ?digest=`),
//! status (`GET`), cancel (`DELETE`), and cross-repository mount (`POST ?mount=&from=`).

use axum::body::Body;
use axum::response::Response;
use http::{header, HeaderMap, StatusCode};

use super::body::body_to_writer;
use super::errors::ApiError;
use super::{blocking, query_param, Registry};
use crate::auth::Action;
use crate::digest::Digest;
use crate::error::Error;
use crate::names::RepoName;
use crate::storage::UploadId;

fn build(builder: http::response::Builder) -> Result<Response, ApiError> {
    builder
        .header(header::CONTENT_LENGTH, 0)
        .body(Body::empty())
        .map_err(|e| Error::Task(e.to_string()).into())
}

fn range_header(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

fn in_progress(status: StatusCode, repo: &RepoName, id: &UploadId, size: u64) -> Result<Response, ApiError> {
    build(
        Response::builder()
            .status(status)
            .header(header::LOCATION, format!("/v2/{repo}/blobs/uploads/{id}"))
            .header(header::RANGE, range_header(size))
            .header("docker-upload-uuid", id.as_str()),
    )
}

fn created(repo: &RepoName, digest: &Digest) -> Result<Response, ApiError> {
    build(
        Response::builder()
            .status(StatusCode::CREATED)
            .header(header::LOCATION, format!("/v2/{repo}/blobs/{digest}"))
            .header("docker-content-digest", digest.to_string()),
    )
}

/// `Content-Range: <start>-<end>` (an optional `bytes ` / `bytes=` prefix is tolerated).
fn content_range(headers: &HeaderMap) -> Result<Option<(u64, u64)>, Error> {
    let Some(v) = headers.get(header::CONTENT_RANGE) else { return Ok(None) };
    let bad = || Error::UploadInvalid { reason: "malformed Content-Range".into() };
    let s = v.to_str().map_err(|_| bad())?.trim();
    let s = s.strip_prefix("bytes=").or_else(|| s.strip_prefix("bytes ")).unwrap_or(s);
    let s = s.split('/').next().unwrap_or(s);
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let (a, b) = (a.trim().parse::<u64>().map_err(|_| bad())?, b.trim().parse::<u64>().map_err(|_| bad())?);
    if b < a {
        return Err(bad());
    }
    Ok(Some((a, b)))
}

fn has_body(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()) {
        Some(len) => len.trim() != "0",
        None => headers.contains_key(header::TRANSFER_ENCODING),
    }
}

/// Append the request body to the upload after checking `Content-Range` continuity.
async fn append(reg: &Registry, repo: &RepoName, id: &UploadId, headers: &HeaderMap, body: Body) -> Result<u64, ApiError> {
    let range = content_range(headers)?;
    let store = reg.store().clone();
    let (r, i) = (repo.clone(), id.clone());
    let writer = blocking(move || {
        let size = store.upload_size(&r, &i)?;
        if let Some((start, _)) = range {
            if start != size {
                return Err(Error::RangeInvalid { start, size });
            }
        }
        store.upload_writer(&r, &i)
    })
    .await
    .map_err(|e| match e {
        Error::RangeInvalid { .. } => ApiError::from(e)
            .with_header(header::LOCATION, &format!("/v2/{repo}/blobs/uploads/{id}"))
            .with_header(http::HeaderName::from_static("docker-upload-uuid"), id.as_str()),
        other => other.into(),
    })?;
    let size = body_to_writer(body, writer).await?;
    if let Some((start, end)) = range {
        if size != end + 1 {
            tracing::debug!(start, end, size, "chunk length differs from Content-Range");
        }
    }
    Ok(size)
}

pub(super) async fn start(
    reg: Registry,
    repo: RepoName,
    query: &str,
    headers: &HeaderMap,
    body: Body,
    base: String,
) -> Result<Response, ApiError> {
    if let (Some(mount), Some(from)) = (query_param(query, "mount"), query_param(query, "from")) {
        let digest: Digest = mount.parse()?;
        if let Ok(from) = from.parse::<RepoName>() {
            if reg.authorize(headers, vec![(from.clone(), Action::Pull)], base).await.is_ok() {
                let store = reg.store().clone();
                let (r, d) = (repo.clone(), digest.clone());
                if blocking(move || store.mount_blob(&r, &from, &d)).await? {
                    return created(&repo, &digest);
                }
            }
        }
    }
    let digest = match query_param(query, "digest") {
        Some(d) => Some(d.parse::<Digest>()?),
        None => None,
    };
    let store = reg.store().clone();
    let r = repo.clone();
    let id = blocking(move || store.start_upload(&r)).await?;
    let Some(digest) = digest else {
        return in_progress(StatusCode::ACCEPTED, &repo, &id, 0);
    };
    complete(reg, repo, id, digest, headers, body).await
}

async fn complete(
    reg: Registry,
    repo: RepoName,
    id: UploadId,
    digest: Digest,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if has_body(headers) {
        append(&reg, &repo, &id, headers, body).await?;
    }
    let store = reg.store().clone();
    let (r, i, d) = (repo.clone(), id, digest.clone());
    blocking(move || store.complete_upload(&r, &i, &d)).await?;
    created(&repo, &digest)
}

fn upload_id(id: &str) -> Result<UploadId, ApiError> {
    id.parse::<UploadId>().map_err(ApiError::from)
}

pub(super) async fn patch(
    reg: Registry,
    repo: RepoName,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let id = upload_id(id)?;
    let size = append(&reg, &repo, &id, headers, body).await?;
    in_progress(StatusCode::ACCEPTED, &repo, &id, size)
}

pub(super) async fn finish(
    reg: Registry,
    repo: RepoName,
    id: &str,
    query: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let id = upload_id(id)?;
    let digest: Digest = query_param(query, "digest")
        .ok_or(Error::DigestInvalid { value: String::new(), reason: "missing digest parameter" })?
        .parse()?;
    complete(reg, repo, id, digest, headers, body).await
}

pub(super) async fn status(reg: Registry, repo: RepoName, id: &str) -> Result<Response, ApiError> {
    let id = upload_id(id)?;
    let store = reg.store().clone();
    let (r, i) = (repo.clone(), id.clone());
    let size = blocking(move || store.upload_size(&r, &i)).await?;
    in_progress(StatusCode::NO_CONTENT, &repo, &id, size)
}

pub(super) async fn cancel(reg: Registry, repo: RepoName, id: &str) -> Result<Response, ApiError> {
    let id = upload_id(id)?;
    let store = reg.store().clone();
    blocking(move || store.cancel_upload(&repo, &id)).await?;
    build(Response::builder().status(StatusCode::NO_CONTENT))
}
