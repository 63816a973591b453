//! Image store, safe layer unpacking, hardened OCI bundles, crun/runc executor.
#![warn(missing_docs)]

mod error;
mod ids;
mod image;
pub mod unpack;

pub use error::{Error, Result};
pub use ids::{ContainerId, Digest, ImageRef};
pub use image::{Image, ImageStore, ImageSummary, RemovedImage};
