//! The spec's error codes, their HTTP statuses, and the one table mapping library errors to them.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use serde_json::json;

use crate::error::Error;

/// Error codes of the distribution spec (plus distribution's `TAG_INVALID` and `UNKNOWN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// Blob unknown to registry.
    BlobUnknown,
    /// Blob upload invalid.
    BlobUploadInvalid,
    /// Blob upload unknown to registry.
    BlobUploadUnknown,
    /// Provided digest did not match uploaded content.
    DigestInvalid,
    /// Manifest references a manifest or blob unknown to registry.
    ManifestBlobUnknown,
    /// Manifest invalid.
    ManifestInvalid,
    /// Manifest unknown to registry.
    ManifestUnknown,
    /// Invalid repository name.
    NameInvalid,
    /// Repository name not known to registry.
    NameUnknown,
    /// Provided length did not match content length.
    SizeInvalid,
    /// Authentication required.
    Unauthorized,
    /// Requested access to the resource is denied.
    Denied,
    /// The operation is unsupported.
    Unsupported,
    /// Invalid number of results requested.
    PaginationNumberInvalid,
    /// Invalid tag.
    TagInvalid,
    /// Too many requests (distribution's `TOOMANYREQUESTS`): a login flood is refused.
    TooManyRequests,
    /// Internal error.
    Unknown,
}

/// `(code, wire name, default status, default message)` — the single mapping table.
const TABLE: &[(ErrorCode, &str, u16, &str)] = &[
    (ErrorCode::BlobUnknown, "BLOB_UNKNOWN", 404, "blob unknown to registry"),
    (ErrorCode::BlobUploadInvalid, "BLOB_UPLOAD_INVALID", 400, "blob upload invalid"),
    (ErrorCode::BlobUploadUnknown, "BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry"),
    (ErrorCode::DigestInvalid, "DIGEST_INVALID", 400, "provided digest did not match uploaded content"),
    (ErrorCode::ManifestBlobUnknown, "MANIFEST_BLOB_UNKNOWN", 400, "manifest references a manifest or blob unknown to registry"),
    (ErrorCode::ManifestInvalid, "MANIFEST_INVALID", 400, "manifest invalid"),
    (ErrorCode::ManifestUnknown, "MANIFEST_UNKNOWN", 404, "manifest unknown to registry"),
    (ErrorCode::NameInvalid, "NAME_INVALID", 400, "invalid repository name"),
    (ErrorCode::NameUnknown, "NAME_UNKNOWN", 404, "repository name not known to registry"),
    (ErrorCode::SizeInvalid, "SIZE_INVALID", 400, "provided length did not match content length"),
    (ErrorCode::Unauthorized, "UNAUTHORIZED", 401, "authentication required"),
    (ErrorCode::Denied, "DENIED", 403, "requested access to the resource is denied"),
    (ErrorCode::Unsupported, "UNSUPPORTED", 405, "the operation is unsupported"),
    (ErrorCode::PaginationNumberInvalid, "PAGINATION_NUMBER_INVALID", 400, "invalid number of results requested"),
    (ErrorCode::TagInvalid, "TAG_INVALID", 400, "manifest tag did not match URI"),
    (ErrorCode::TooManyRequests, "TOOMANYREQUESTS", 429, "too many requests"),
    (ErrorCode::Unknown, "UNKNOWN", 500, "unknown error"),
];

impl ErrorCode {
    fn row(self) -> (&'static str, u16, &'static str) {
        TABLE
            .iter()
            .find(|(c, ..)| *c == self)
            .map_or(("UNKNOWN", 500, "unknown error"), |(_, name, status, msg)| (name, *status, msg))
    }

    /// Wire name, e.g. `BLOB_UNKNOWN`.
    pub fn as_str(self) -> &'static str {
        self.row().0
    }

    /// Default HTTP status.
    pub fn status(self) -> StatusCode {
        StatusCode::from_u16(self.row().1).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// What a client is told when the storage has no room: the spec has no code for it, so it is
/// `UNKNOWN` with status 507 (Insufficient Storage, which docker prints) and this message. The
/// storage path stays in the server's log.
const STORAGE_FULL_MESSAGE: &str =
    "storage full: no space left on device; nothing was stored, retry once the registry has space";

/// An error response: `{"errors":[{"code","message","detail"}]}`.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    status: StatusCode,
    message: String,
    detail: serde_json::Value,
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error with the code's default status and message.
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            status: code.status(),
            message: code.row().2.to_owned(),
            detail: serde_json::Value::Null,
            headers: Vec::new(),
        }
    }

    /// Override the status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Set the message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Set the detail.
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    /// Add a header.
    pub fn with_header(mut self, name: header::HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }

    /// The error code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// A name, tag or digest in a request that did not parse: the registry error it is.
impl From<palisade_reference::ReferenceError> for ApiError {
    fn from(e: palisade_reference::ReferenceError) -> Self {
        Self::from(Error::from(e))
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let msg = e.to_string();
        let with = |code| ApiError::new(code).with_message(msg.clone());
        match &e {
            Error::DigestInvalid { .. } | Error::DigestMismatch { .. } => with(ErrorCode::DigestInvalid),
            Error::NameInvalid { .. } => with(ErrorCode::NameInvalid),
            Error::TagInvalid { .. } => with(ErrorCode::TagInvalid),
            Error::NameUnknown { name } => with(ErrorCode::NameUnknown).with_detail(json!({ "name": name })),
            Error::BlobUnknown { digest } => with(ErrorCode::BlobUnknown).with_detail(json!({ "digest": digest })),
            Error::UploadUnknown { .. } => with(ErrorCode::BlobUploadUnknown),
            Error::RangeInvalid { size, .. } => with(ErrorCode::BlobUploadInvalid)
                .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
                .with_header(header::RANGE, &format!("0-{}", size.saturating_sub(1))),
            Error::UploadInvalid { .. } => with(ErrorCode::BlobUploadInvalid),
            Error::ManifestUnknown { reference } => {
                with(ErrorCode::ManifestUnknown).with_detail(json!({ "reference": reference }))
            }
            Error::ManifestInvalid { .. } => with(ErrorCode::ManifestInvalid),
            Error::ManifestBlobUnknown { digest } => {
                with(ErrorCode::ManifestBlobUnknown).with_detail(json!({ "digest": digest }))
            }
            Error::PaginationInvalid { .. } => with(ErrorCode::PaginationNumberInvalid),
            Error::RangeNotSatisfiable => with(ErrorCode::SizeInvalid).with_status(StatusCode::RANGE_NOT_SATISFIABLE),
            _ if e.is_storage_full() => {
                tracing::warn!(error = %e, "storage full");
                ApiError::new(ErrorCode::Unknown)
                    .with_status(StatusCode::INSUFFICIENT_STORAGE)
                    .with_message(STORAGE_FULL_MESSAGE)
            }
            _ => {
                tracing::error!(error = %e, "internal error");
                ApiError::new(ErrorCode::Unknown)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "errors": [{ "code": self.code.as_str(), "message": self.message, "detail": self.detail }]
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        for (k, v) in self.headers {
            resp.headers_mut().append(k, v);
        }
        resp
    }
}
