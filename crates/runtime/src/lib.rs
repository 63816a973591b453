//! Image store, safe layer unpacking, hardened OCI bundles, crun/runc executor.
#![warn(missing_docs)]
