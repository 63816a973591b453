//! The policy crate's errors: a document or an image reference that cannot be used. Failures
//! of evidence (a trust server down, a missing scan) are not errors: they are failed checks
//! of a [`crate::Decision`].

/// Why a policy document or an image reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The document does not parse or a rule is not valid; nothing was changed.
    #[error("invalid policy: {0}")]
    Invalid(String),
    /// The image reference is not a valid docker reference.
    #[error("invalid reference format: {0}")]
    Reference(String),
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, PolicyError>;
