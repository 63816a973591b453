//! Blob uploads: monolithic (`POST ?digest=`), chunked (`POST` → `PATCH`… → `PUT ?digest=`),
//! status (`GET`), cancel (`DELETE`), and cross-repository mount (`POST ?mount=&from=`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use axum::body::Body;
use axum::response::Response;
use http::{header, HeaderMap, StatusCode};

use super::body::body_to_writer;
use super::errors::ApiError;
use super::{blocking, query_param, Registry};
use crate::auth::Action;
use crate::{Digest, DigestAlgorithm, DigestHasher};
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

/// Per-upload state kept in memory by this process: a lock serialising the requests that change
/// an upload (PATCH, PUT, DELETE), so chunks never interleave and a completion sees exactly the
/// chunks acknowledged before it; and the running hash of each upload's bytes so far, so that
/// completing it needs no second read of the data (distribution keeps such "hash states" too).
/// A hash state is used only while the upload's size still equals the bytes it has hashed;
/// anything else (a restart, another process, a failed chunk) falls back to re-reading.
#[derive(Default)]
pub(super) struct UploadTracker {
    locks: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
    hashes: Mutex<HashMap<String, (u64, DigestHasher)>>,
}

/// Running hashes kept at most (a hash state is ~100 bytes).
const MAX_TRACKED_HASHES: usize = 4096;

impl UploadTracker {
    async fn lock(&self, id: &UploadId) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            map.retain(|_, weak| weak.strong_count() > 0);
            match map.get(id.as_str()).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    map.insert(id.as_str().to_owned(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }

    /// The running hash of `id` if it covers exactly `size` bytes.
    fn take_hash(&self, id: &UploadId, size: u64) -> Option<DigestHasher> {
        let mut map = self.hashes.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(id.as_str()).filter(|(hashed, _)| *hashed == size).map(|(_, h)| h)
    }

    fn keep_hash(&self, id: &UploadId, size: u64, hasher: DigestHasher) {
        let mut map = self.hashes.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_TRACKED_HASHES {
            // Abandoned uploads leave states behind; dropping them all costs re-reads only.
            map.clear();
        }
        map.insert(id.as_str().to_owned(), (size, hasher));
    }

    fn forget(&self, id: &UploadId) {
        self.hashes.lock().unwrap_or_else(|e| e.into_inner()).remove(id.as_str());
    }
}

/// Append the request body to the upload after checking `Content-Range` continuity, extending
/// the upload's running hash (one in `algorithm` is started when the upload is empty). Returns
/// the new size and the running hash when it covers the whole upload. Call with the upload's
/// lock held.
async fn append(
    reg: &Registry,
    repo: &RepoName,
    id: &UploadId,
    headers: &HeaderMap,
    body: Body,
    algorithm: DigestAlgorithm,
) -> Result<(u64, Option<DigestHasher>), ApiError> {
    let range = content_range(headers)?;
    let store = reg.store().clone();
    let (r, i) = (repo.clone(), id.clone());
    let (before, writer) = blocking(move || {
        let size = store.upload_size(&r, &i)?;
        if let Some((start, _)) = range {
            if start != size {
                return Err(Error::RangeInvalid { start, size });
            }
        }
        Ok((size, store.upload_writer(&r, &i)?))
    })
    .await
    .map_err(|e| match e {
        Error::RangeInvalid { .. } => ApiError::from(e)
            .with_header(header::LOCATION, &format!("/v2/{repo}/blobs/uploads/{id}"))
            .with_header(http::HeaderName::from_static("docker-upload-uuid"), id.as_str()),
        other => other.into(),
    })?;
    let hasher = reg.uploads().take_hash(id, before).or_else(|| (before == 0).then(|| algorithm.hasher()));
    let (size, hasher) = body_to_writer(body, writer, hasher).await?;
    if let Some((start, end)) = range {
        if size != end + 1 {
            tracing::debug!(start, end, size, "chunk length differs from Content-Range");
        }
    }
    Ok((size, hasher))
}

pub(super) async fn start(
    reg: Registry,
    repo: RepoName,
    query: &str,
    headers: &HeaderMap,
    body: Body,
    base: String,
    peer: Option<std::net::IpAddr>,
) -> Result<Response, ApiError> {
    if let (Some(mount), Some(from)) = (query_param(query, "mount"), query_param(query, "from")) {
        let digest: Digest = mount.parse()?;
        if let Ok(from) = from.parse::<RepoName>() {
            if reg.authorize(headers, vec![(from.clone(), Action::Pull)], base, peer).await.is_ok() {
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
    let _serialised = reg.uploads().lock(&id).await;
    let done = complete_locked(&reg, &repo, &id, digest, headers, body).await;
    discard_if_full(&reg, &repo, &id, done).await
}

/// [`complete`] with the upload's lock held.
async fn complete_locked(
    reg: &Registry,
    repo: &RepoName,
    id: &UploadId,
    digest: Digest,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let hasher = if has_body(headers) {
        append(reg, repo, id, headers, body, digest.algorithm()).await?.1
    } else {
        let store = reg.store().clone();
        let (r, i) = (repo.clone(), id.clone());
        let size = blocking(move || store.upload_size(&r, &i)).await?;
        reg.uploads().take_hash(id, size)
    };
    let hashed = hasher.filter(|h| h.algorithm() == digest.algorithm()).map(DigestHasher::finish);
    let store = reg.store().clone();
    let (r, i, d) = (repo.clone(), id.clone(), digest.clone());
    match hashed {
        Some(actual) => blocking(move || store.complete_hashed_upload(&r, &i, &d, &actual)).await?,
        None => blocking(move || store.complete_upload(&r, &i, &d).map(drop)).await?,
    }
    created(repo, &digest)
}

/// Passes `result` through; when it failed because the storage is full, first discards the
/// whole upload. Its bytes would only hold space that other pushes need, and clients restart a
/// push that failed this way rather than resume it. Call with the upload's lock held.
async fn discard_if_full(
    reg: &Registry,
    repo: &RepoName,
    id: &UploadId,
    result: Result<Response, ApiError>,
) -> Result<Response, ApiError> {
    if let Err(e) = &result {
        if e.status() == StatusCode::INSUFFICIENT_STORAGE {
            reg.uploads().forget(id);
            let store = reg.store().clone();
            let (r, i) = (repo.clone(), id.clone());
            if let Err(err) = blocking(move || store.cancel_upload(&r, &i)).await {
                tracing::warn!(upload = %id, error = %err, "cannot discard the upload after a full storage");
            }
        }
    }
    result
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
    let _serialised = reg.uploads().lock(&id).await;
    // The digest is not known before the final PUT; sha256 is what clients use.
    let appended = append(&reg, &repo, &id, headers, body, DigestAlgorithm::Sha256).await;
    let done = appended.and_then(|(size, hasher)| {
        if let Some(hasher) = hasher {
            reg.uploads().keep_hash(&id, size, hasher);
        }
        in_progress(StatusCode::ACCEPTED, &repo, &id, size)
    });
    discard_if_full(&reg, &repo, &id, done).await
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
    let _serialised = reg.uploads().lock(&id).await;
    reg.uploads().forget(&id);
    let store = reg.store().clone();
    blocking(move || store.cancel_upload(&repo, &id)).await?;
    build(Response::builder().status(StatusCode::NO_CONTENT))
}
