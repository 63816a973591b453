//! The crate's error type: which grammar an input broke, the input (cut short), and why.

/// Input that is not a valid digest, name, tag or image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// A digest string did not parse or uses an unsupported algorithm.
    #[error("invalid digest {value:?}: {reason}")]
    Digest {
        /// The offending text (at most 200 characters of it).
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A repository name violates the distribution-spec grammar.
    #[error("invalid repository name {value:?}: {reason}")]
    Name {
        /// The offending text (at most 300 characters of it).
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A tag violates the distribution-spec grammar.
    #[error("invalid tag {value:?}")]
    Tag {
        /// The offending text (at most 200 characters of it).
        value: String,
    },
    /// An image reference is malformed as a whole (its host, its shape, its length).
    #[error("invalid reference format: {reason} (in {value:?})")]
    Image {
        /// The offending text (at most 300 characters of it).
        value: String,
        /// Why it was rejected.
        reason: String,
    },
}

impl ReferenceError {
    /// The error as docker words a bad reference: `invalid reference format: …`.
    pub fn as_reference_format(&self) -> String {
        match self {
            Self::Image { .. } => self.to_string(),
            other => format!("invalid reference format: {other}"),
        }
    }
}

/// At most `n` characters of `s`, for error messages about untrusted input.
pub(crate) fn cut(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}
