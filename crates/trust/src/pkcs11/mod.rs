//! Hardware keys over PKCS#11: TUF root and signer keys that never leave a token (a YubiKey,
//! a network HSM, SoftHSM2 in tests), used through the module the vendor ships.
//!
//! Open a token with [`Token::open`] and a [`Pkcs11Config`] — the module path (for SoftHSM2 on
//! Debian `/usr/lib/softhsm/libsofthsm2.so`), the token label and the user PIN, kept in a
//! [`secrecy::SecretString`] and never logged. A wrong PIN, an unknown label or a module that
//! does not load each give their own [`HsmError`] (inside [`crate::Error::Hsm`]).
//!
//! [`Token::generate`] makes an ECDSA P-256 key pair on the token for a role (and a GUN, for
//! keys bound to one); [`Token::import`] copies a software key there (notary keeps a root key
//! backup on the YubiKey this way); [`Token::list`], [`Token::find`] and [`Token::remove`] work
//! by TUF key ID. The [`HsmKey`] they return implements [`crate::TufSigner`], so it signs
//! metadata wherever a software key does.
//!
//! A client creating a repository with its root key on a token would, in prose: open the token;
//! `token.generate("root", None)` (or `token.find(id)` for an existing root key); make the
//! root's certificate with `key.self_signed_root_certificate(&gun, &SystemClock)`, which is the
//! `ecdsa-x509` [`crate::Key`] to list under `roles.root` in root.json; and sign root with
//! `Signed::sign_as(root, &[(&cert_key, &key)])`. Targets or delegation keys on the token are
//! `token.generate("targets", Some(&gun))`, listed by `key.public()` and signed with
//! `Signed::sign_as(targets, &[(key.public(), &key)])`.
//!
//! Key objects follow notary's YubiKey store where it fits: P-256 only, `CKM_ECDSA` over the
//! SHA-256 digest (raw r||s), key ID = the TUF key ID. Unlike notary (which keeps the role in a
//! certificate's CN on the token), the role and GUN are the objects' `CKA_LABEL`.

mod error;
mod module;
mod signer;
mod token;

use std::path::PathBuf;

pub use error::HsmError;
pub use signer::HsmKey;
pub use token::{KeyInfo, Token};

/// Where the token is and how to log in.
#[derive(Clone, Debug)]
pub struct Pkcs11Config {
    /// Path of the PKCS#11 module (shared library) to load.
    pub module: PathBuf,
    /// Label the token was initialised with.
    pub token_label: String,
    /// User PIN (redacted in `Debug`).
    pub pin: secrecy::SecretString,
}
