//! Swarm cluster PKI: root CA, node certificates, join tokens.
#![warn(missing_docs)]
