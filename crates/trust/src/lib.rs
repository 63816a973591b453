//! Content trust for Palisade: TUF metadata types, notary's canonical JSON, keys and key IDs,
//! signature verification, hardware keys over PKCS#11 ([`pkcs11`]), and a Notary v1 compatible
//! trust server ([`server`]).
#![warn(missing_docs)]

mod b64;
pub mod client;
mod cjson;
mod error;
mod key;
mod names;
pub mod pkcs11;
mod root_cert;
pub mod schema;
pub mod server;

pub use cjson::canonical_json;
pub use error::{Error, Result};
pub use key::{CertInfo, Key, KeyType, PrivateKey, TufSigner, MIN_RSA_BITS};
pub use names::{Gun, RoleName};
pub use root_cert::self_signed_root_certificate;
