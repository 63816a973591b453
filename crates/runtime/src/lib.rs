//! Image store, safe layer unpacking, hardened OCI bundles, crun/runc executor.
#![warn(missing_docs)]

pub mod bundle;
mod error;
mod ids;
mod image;
pub mod syscall;
pub mod unpack;

pub use bundle::RunOptions;
pub use error::{Error, Result};
pub use ids::{ContainerId, Digest, ImageRef};
pub use image::{Image, ImageStore, ImageSummary, RemovedImage};
