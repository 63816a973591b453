//! Names of content and images, parsed once and trusted afterwards.
//!
//! - [`Digest`]: `sha256:<hex>` / `sha512:<hex>` content digests (OCI image spec);
//! - [`RepoName`] and [`Tag`]: the distribution spec's repository-name and tag grammar;
//! - [`ImageReference`]: what a user types (`busybox`, `me/app:1`,
//!   `registry.example:5000/team/app:v1@sha256:…`), split and normalised as docker's reference
//!   parser does — the first component is a registry host only when it contains a `.` or a
//!   `:`, is `localhost`, or has an upper-case letter; otherwise the image is on Docker Hub,
//!   and a one-component name is under `library/`.
//!
//! Every crate that names images or content uses these types, so that the registry, the
//! runtime's image store, the trust client, the engine and the admission policy can never
//! disagree about what a name means.

mod digest;
mod error;
mod image;
mod name;

pub use digest::{Digest, DigestAlgorithm, DigestHasher};
pub use error::ReferenceError;
pub use image::{is_registry_host, ImageReference, DOCKER_HUB};
pub use name::{RepoName, Tag, MAX_NAME_LEN};
