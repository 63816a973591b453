//! Cluster state on redb, encrypted at rest.
#![warn(missing_docs)]
