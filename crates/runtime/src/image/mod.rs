//! Content-addressed image store.
//!
//! ```text
//! <root>/images/
//!   blobs/sha256/<hex>     every manifest, config and layer, named by its sha256
//!   index.json             images: manifest digest + the references that name it
//!   rootfs/<config hex>    each image unpacked once, the read-only lower layer of containers
//!   tmp/                   staging for loads in progress (removed on open)
//! ```

mod load;
mod rootfs;
mod store;

pub(crate) use store::set_mode;
pub use store::{write_atomic, Image, ImageStore, ImageSummary, RemovedImage};
