//! Docker Engine API types (no I/O).
#![warn(missing_docs)]
