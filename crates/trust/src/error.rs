//! The crate's one error type.

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `palisade-trust`.
///
/// Variants are grouped by whose fault it was: untrusted input (`Bad*`, `Expired`, `Threshold`,
/// `Version`), caller misuse (`ApiMisuse`) and the environment (`Io`, `Storage`, `StorageFull`, `Crypto`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name (GUN, role) was rejected.
    #[error("invalid {what} {value:?}: {reason}")]
    BadName {
        /// What kind of name.
        what: &'static str,
        /// The rejected input.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// A key could not be decoded or is not acceptable.
    #[error("bad key: {0}")]
    BadKey(String),
    /// Metadata could not be parsed.
    #[error("cannot parse {role} metadata: {source}")]
    MetadataParse {
        /// Which role.
        role: String,
        /// Parser error.
        #[source]
        source: serde_json::Error,
    },
    /// Canonical JSON could not be produced (for example a non-integral number).
    #[error("cannot encode canonical JSON: {0}")]
    CanonicalJson(#[source] std::io::Error),
    /// A signature did not verify.
    #[error("signature by {key_id} did not verify")]
    BadSignature {
        /// The key ID named in the signature.
        key_id: String,
    },
    /// Not enough valid signatures.
    #[error("valid signatures did not meet threshold for {role}")]
    Threshold {
        /// Which role.
        role: String,
    },
    /// Metadata has no signatures at all.
    #[error("tuf: data has no signatures")]
    NoSignatures,
    /// Metadata is expired.
    #[error("{role} expired at {expires}")]
    Expired {
        /// Which role.
        role: String,
        /// When it expired.
        expires: String,
    },
    /// A role referenced by metadata does not exist or is malformed.
    #[error("{0}")]
    BadRole(String),
    /// A cryptographic operation (signing, RNG, sealing) failed.
    #[error("crypto failure: {0}")]
    Crypto(String),
    /// The storage backend failed.
    #[error("storage failure: {0}")]
    Storage(String),
    /// The storage has no room left (no space left on device, or a quota reached); the failed
    /// write left nothing behind.
    #[error("storage full: {0}")]
    StorageFull(String),
    /// File-system I/O failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The path involved.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A configuration file or a file it names is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// A PKCS#11 module or token failed ([`crate::pkcs11`]).
    #[error(transparent)]
    Hsm(#[from] crate::pkcs11::HsmError),
    /// The caller used the API wrongly (never depends on untrusted data).
    #[error("API misuse: {0}")]
    ApiMisuse(&'static str),
}
