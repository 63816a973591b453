//! Manager and worker roles, cluster RPC over mutual TLS, node membership.
#![warn(missing_docs)]
