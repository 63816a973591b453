//! The swarm cluster PKI, modelled on swarmkit's `ca/` package.
//!
//! * [`RootCa`]: the cluster's root of trust (ECDSA P-256, `CN=swarm-ca`), its digest and the
//!   signer that issues node certificates.
//! * [`issue_node_certificate`]: the node certificate policy (`O=<cluster>`, `OU=<role>`,
//!   `CN=<node id>`), applied to a CSR whose key never left the node.
//! * [`JoinToken`]: `SWMTKN-1-<root CA digest>-<secret>`.
//! * [`NodeKey`]: a node's private key and CSR, made locally.
//! * [`CaState`]: the cluster's CA material as stored, and the root rotation state machine
//!   (operator request → [`NewRoot`] → cross-signed rotation → new root), with [`IssuerInfo`].
//! * [`UnlockKey`]: the swarm autolock key, `SWMKEY-1-<base64>`.
//! * [`tls`]: rustls configurations for the mutually authenticated cluster port.
//!
//! Time comes from a [`Clock`] and randomness from a caller-supplied CSPRNG, so policy decisions
//! can be tested deterministically.
#![warn(missing_docs)]

mod cert_info;
mod clock;
mod error;
mod external;
mod ids;
mod issuer;
mod join_token;
mod key_store;
mod node_key;
mod policy;
mod renewal;
mod role;
mod root_ca;
mod rotation;
pub mod tls;
mod unlock_key;

pub use cert_info::NodeCertInfo;
pub use clock::{Clock, SystemClock};
#[cfg(any(test, feature = "test-util"))]
pub use clock::FixedClock;
pub use error::{Error, Result};
pub use external::{fetch_external_ca_certificate, CfsslClient};
pub use ids::{ClusterId, NodeId};
pub use issuer::{
    issue_node_certificate, issue_service_certificate, IssuedCertificate, NodeSubject, ServiceSubject,
    SERVICE_ORGANIZATIONAL_UNIT,
};
pub use join_token::{JoinToken, JoinTokenError};
pub use key_store::write_private_file;
pub use node_key::NodeKey;
pub use policy::{CertExpiry, CERT_BACKDATE, DEFAULT_NODE_CERT_EXPIRY, MIN_NODE_CERT_EXPIRY, ROOT_CA_LIFETIME};
pub use renewal::{renewal_time, renewal_time_within, RENEW_WINDOW};
pub use role::NodeRole;
pub use root_ca::{parse_pem_certificates, RootCa, RootDigest, ROOT_CA_COMMON_NAME};
pub use rotation::{CaRequest, CaState, IssuerInfo, NewRoot};
pub use unlock_key::UnlockKey;
