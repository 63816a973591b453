//! The trust server's error enum and its wire mapping (reference: notary `errors/errors.go`).

use crate::error::Error;

/// Which `INVALID_UPDATE` validation error (the `Name` in the wire detail).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidKind {
    /// `ErrBadRoot`.
    BadRoot,
    /// `ErrBadSnapshot`.
    BadSnapshot,
    /// `ErrBadTargets`.
    BadTargets,
    /// `ErrValidation`.
    Validation,
}

impl InvalidKind {
    /// The Go type name notary sends.
    pub fn name(self) -> &'static str {
        match self {
            Self::BadRoot => "ErrBadRoot",
            Self::BadSnapshot => "ErrBadSnapshot",
            Self::BadTargets => "ErrBadTargets",
            Self::Validation => "ErrValidation",
        }
    }
}

/// Why a trust server request failed. Every variant but `Internal` is the client's fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// `INVALID_GUN`.
    #[error("invalid GUN")]
    InvalidGun,
    /// `INVALID_PARAMETERS`.
    #[error("invalid parameters: {0}")]
    InvalidParameters(String),
    /// `INVALID_ROLE`.
    #[error("invalid role {0:?}")]
    InvalidRole(String),
    /// `INVALID_UPDATE` with a validation detail.
    #[error("{}: {msg}", kind.name())]
    Invalid {
        /// Which validation error.
        kind: InvalidKind,
        /// Its message.
        msg: String,
    },
    /// `INVALID_UPDATE` / `ErrBadHierarchy`.
    #[error("bad hierarchy (missing {missing}): {msg}")]
    BadHierarchy {
        /// The missing role.
        missing: String,
        /// Message.
        msg: String,
    },
    /// Storage or crypto failed (`UNKNOWN`, 500).
    #[error("internal error: {0}")]
    Internal(#[from] Error),
    /// `MALFORMED_JSON`.
    #[error("malformed JSON in {0}")]
    MalformedJson(String),
    /// `MALFORMED_UPLOAD`.
    #[error("malformed upload: {0}")]
    MalformedUpload(String),
    /// Too many uploads at once (`UNAVAILABLE`, 503; retry later).
    #[error("too many uploads at once")]
    Busy,
    /// An upload or one of its roles is over its cap (413).
    #[error("upload too large: {0}")]
    TooLarge(String),
    /// `METADATA_NOT_FOUND`.
    #[error("metadata not found")]
    MetadataNotFound,
    /// `NO_FILENAME`.
    #[error("no filename")]
    NoFilename,
    /// `VERSION`.
    #[error("a newer version of metadata is already available")]
    Version,
}

impl ServerError {
    pub(crate) fn invalid(kind: InvalidKind, msg: impl std::fmt::Display) -> Self {
        Self::Invalid { kind, msg: msg.to_string() }
    }

    /// `(HTTP status, code, message, detail)` as notary-server sends them.
    pub fn wire(&self) -> (u16, &'static str, &'static str, Option<serde_json::Value>) {
        use serde_json::json;
        match self {
            Self::InvalidGun => {
                (400, "INVALID_GUN", "The server does not support actions on images of this name.", None)
            }
            Self::InvalidParameters(_) => (400, "INVALID_PARAMETERS", "The parameters provided are not valid.", None),
            Self::InvalidRole(role) => {
                (400, "INVALID_ROLE", "The role you are attempting to operate on is invalid.", Some(json!(role)))
            }
            Self::Invalid { kind, msg } => (
                400,
                "INVALID_UPDATE",
                "Update sent by the client is invalid.",
                Some(json!({"Name": kind.name(), "Error": {"Msg": msg}})),
            ),
            Self::BadHierarchy { missing, msg } => (
                400,
                "INVALID_UPDATE",
                "Update sent by the client is invalid.",
                Some(json!({"Name": "ErrBadHierarchy", "Error": {"Missing": missing, "Msg": msg}})),
            ),
            // notary-server has no answer for a full disk; 507 is the status that names it (the
            // notary CLI prints the status) and the message says the rest.
            Self::Internal(Error::StorageFull(_)) => (
                507,
                "UNKNOWN",
                "storage full: no space left on device; nothing was stored, retry once the server has space",
                None,
            ),
            Self::Internal(_) => (500, "UNKNOWN", "unknown error", None),
            Self::MalformedJson(_) => {
                (400, "MALFORMED_JSON", "JSON sent by the client could not be parsed by the server", None)
            }
            Self::MalformedUpload(_) => (400, "MALFORMED_UPLOAD", "The body of your request is malformed.", None),
            Self::MetadataNotFound => {
                (404, "METADATA_NOT_FOUND", "You have requested metadata that does not exist.", None)
            }
            Self::NoFilename => (400, "NO_FILENAME", "No file/role name provided.", None),
            Self::Busy => (503, "UNAVAILABLE", "The server is busy with other uploads; retry later.", None),
            Self::TooLarge(what) => (413, "MALFORMED_UPLOAD", "The body of your request is too large.", Some(json!(what))),
            Self::Version => (400, "VERSION", "A newer version of metadata is already available.", Some(json!({}))),
        }
    }
}
