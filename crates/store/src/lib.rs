//! Cluster state on redb, encrypted at rest.
//!
//! Every value is sealed with XChaCha20-Poly1305 under the data encryption key (DEK), with the
//! table and key as associated data, so a value cannot be moved to another record unnoticed.
//! The DEK is itself sealed by the key-encryption key (KEK) in `dek.sealed`. Without autolock
//! the KEK lives in a 0600 file on the node; with autolock (later) it exists only in the
//! operator's unlock key.
//!
//! ```text
//! <data-root>/store/
//!   cluster.redb   tables of sealed records
//!   dek.sealed     nonce ‖ AEAD(KEK, DEK)
//! <data-root>/node/
//!   kek            the KEK (0600), absent when autolocked
//! ```
#![warn(missing_docs)]

mod sealing;
mod store;

pub use sealing::Kek;
pub use store::{ErasedRecord, Error, Result, Store, Table};
