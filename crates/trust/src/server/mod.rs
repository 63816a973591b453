//! Notary v1 server.
