//! OCI distribution v1.1 registry server, storage backends and auth.
//!
//! Layering follows distribution: [`http`] (axum handlers, wire errors, auth checks) →
//! [`storage`] (repositories, blobs, uploads, manifests, tags, referrers) → [`driver`] (a small
//! byte-store trait with filesystem, S3 and in-memory implementations). No layer skips the one
//! below it. [`client`] is the other side of the wire: `palisade push` / `palisade pull`.
//!
//! The paved path for other crates:
//! ```no_run
//! # async fn demo() -> Result<(), palisade_registry::Error> {
//! use std::sync::Arc;
//! use palisade_registry::{driver::FsDriver, Registry, RegistryConfig};
//! let config = RegistryConfig::default();
//! let driver = Arc::new(FsDriver::new("/var/lib/palisade/registry")?);
//! let registry = Registry::new(driver, &config)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! palisade_registry::serve(listener, registry.router(), None).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]
// Tests may unwrap (the workspace has no clippy.toml with allow-unwrap-in-tests).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod auth;
pub mod client;
mod config;
pub mod driver;
mod error;
pub mod http;
mod manifest;
mod names;
mod observer;
mod server;
pub mod storage;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use config::{
    AuthConfig, AuthMode, Deletes, Limits, RegistryConfig, RepositoryRule, StorageConfig, StorageKind, TokenConfig,
};
pub use palisade_reference::{Digest, DigestAlgorithm, DigestHasher};
pub use error::{Error, Result};
pub use http::Registry;
pub use manifest::{Descriptor, Manifest, MediaType};
pub use names::{Reference, RepoName, Tag, MAX_NAME_LEN};
pub use observer::{ManifestObserver, PushedManifest};
pub use server::{load_tls_config, serve};
