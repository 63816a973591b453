//! Failures of a PKCS#11 token, wrapped by [`crate::Error::Hsm`].

use std::path::PathBuf;

/// What went wrong talking to a PKCS#11 module or token. No variant ever carries a PIN or key
/// material; token labels, module paths and key IDs are not secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HsmError {
    /// A key with this ID is already on the token (import refuses to make a second copy).
    #[error("key {key_id} is already on PKCS#11 token {token:?}")]
    AlreadyExists {
        /// The TUF key ID.
        key_id: String,
        /// The token label.
        token: String,
    },
    /// The token refused the user PIN.
    #[error("PKCS#11 token {token:?} refused the PIN")]
    BadPin {
        /// The token label.
        token: String,
    },
    /// The token holds objects for a key ID that do not fit together (for example a public key
    /// whose TUF key ID is not its `CKA_ID`), or a signature from the token did not verify.
    #[error("PKCS#11 token objects for key {key_id} are inconsistent: {reason}")]
    Inconsistent {
        /// The TUF key ID.
        key_id: String,
        /// What did not fit.
        reason: &'static str,
    },
    /// No key with this ID is on the token.
    #[error("no key {key_id} on PKCS#11 token {token:?}")]
    KeyNotFound {
        /// The TUF key ID asked for.
        key_id: String,
        /// The token label.
        token: String,
    },
    /// The PKCS#11 module could not be loaded or initialised.
    #[error("cannot load PKCS#11 module {}: {source}", module.display())]
    ModuleLoad {
        /// The module path given.
        module: PathBuf,
        /// What the loader or `C_Initialize` said.
        #[source]
        source: cryptoki::error::Error,
    },
    /// The token is locked after too many wrong PINs.
    #[error("PKCS#11 token {token:?} is locked (too many wrong PINs)")]
    PinLocked {
        /// The token label.
        token: String,
    },
    /// A PKCS#11 call failed.
    #[error("PKCS#11 {op} failed: {source}")]
    Token {
        /// The operation that failed.
        op: &'static str,
        /// The module's return value.
        #[source]
        source: cryptoki::error::Error,
    },
    /// No initialised token with this label is in any slot of the module.
    #[error("no initialised PKCS#11 token labelled {label:?}")]
    TokenNotFound {
        /// The label asked for.
        label: String,
    },
    /// The key kind cannot live on the token (only ECDSA P-256 keys do).
    #[error("unsupported key for a PKCS#11 token: {0}")]
    UnsupportedKey(&'static str),
}

/// `map_err` helper: wraps a cryptoki error as [`HsmError::Token`] for `op`.
pub(crate) fn token_op(op: &'static str) -> impl FnOnce(cryptoki::error::Error) -> crate::Error {
    move |source| HsmError::Token { op, source }.into()
}
