//! `GET|HEAD|DELETE /v2/<name>/blobs/<digest>` (GET supports a single `Range`).

use axum::body::Body;
use axum::response::Response;
use http::{header, HeaderMap, StatusCode};

use super::body::{inline_reader_body, reader_body};
use super::errors::ApiError;
use super::{blocking, Registry};
use crate::Digest;
use crate::error::Error;
use crate::names::RepoName;

/// Parse `bytes=a-b`, `bytes=a-`, `bytes=-n` against `size` into `(start, len)`.
fn parse_range(value: &str, size: u64) -> Result<(u64, u64), Error> {
    let spec = value.trim().strip_prefix("bytes=").ok_or(Error::RangeNotSatisfiable)?;
    if spec.contains(',') {
        return Err(Error::RangeNotSatisfiable);
    }
    let (a, b) = spec.split_once('-').ok_or(Error::RangeNotSatisfiable)?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| Error::RangeNotSatisfiable);
    let (start, end) = match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, false) => {
            let n = num(b)?.min(size);
            (size - n, size.saturating_sub(1))
        }
        (false, true) => (num(a)?, size.saturating_sub(1)),
        (false, false) => (num(a)?, num(b)?.min(size.saturating_sub(1))),
        (true, true) => return Err(Error::RangeNotSatisfiable),
    };
    if size == 0 || start >= size || end < start {
        return Err(Error::RangeNotSatisfiable);
    }
    Ok((start, end - start + 1))
}

pub(super) async fn get(
    reg: Registry,
    repo: RepoName,
    digest: &str,
    headers: &HeaderMap,
    head_only: bool,
) -> Result<Response, ApiError> {
    let digest: Digest = digest.parse()?;
    let store = reg.store().clone();
    let (r, d) = (repo.clone(), digest.clone());
    let size = blocking(move || store.blob_size(&r, &d)).await?;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(v) if !head_only => Some(parse_range(v, size).map_err(|e| {
            ApiError::from(e).with_header(header::CONTENT_RANGE, &format!("bytes */{size}"))
        })?),
        _ => None,
    };
    let (start, len) = range.unwrap_or((0, size));
    let mut builder = Response::builder()
        .header(header::CONTENT_LENGTH, len)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header("docker-content-digest", digest.to_string())
        .header(header::ETAG, format!("\"{digest}\""))
        .header(header::ACCEPT_RANGES, "bytes");
    if range.is_some() {
        builder = builder
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_RANGE, format!("bytes {start}-{}/{size}", start + len - 1));
    }
    let body = if head_only {
        Body::empty()
    } else {
        let store = reg.store().clone();
        let inline = store.driver().inline_reads();
        let reader = blocking(move || store.open_blob(&digest, start)).await?;
        if inline {
            inline_reader_body(reader, len)
        } else {
            reader_body(reader, len)
        }
    };
    builder.body(body).map_err(|e| Error::Task(e.to_string()).into())
}

pub(super) async fn delete(reg: Registry, repo: RepoName, digest: &str) -> Result<Response, ApiError> {
    let digest: Digest = digest.parse()?;
    let store = reg.store().clone();
    blocking(move || store.unlink_blob(&repo, &digest)).await?;
    Response::builder()
        .status(StatusCode::ACCEPTED)
        .header(header::CONTENT_LENGTH, 0)
        .body(Body::empty())
        .map_err(|e| Error::Task(e.to_string()).into())
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), (0, 10));
        assert_eq!(parse_range("bytes=90-", 100).unwrap(), (90, 10));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), (90, 10));
        assert_eq!(parse_range("bytes=95-200", 100).unwrap(), (95, 5));
        assert!(parse_range("bytes=100-", 100).is_err());
        assert!(parse_range("bytes=5-1", 100).is_err());
        assert!(parse_range("items=0-1", 100).is_err());
    }
}
