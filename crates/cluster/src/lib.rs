//! A Palisade node: swarm membership, the manager role and the mutually authenticated cluster
//! port, and the Engine-API backend that drives them.
//!
//! * [`Daemon`] implements [`palisade_engine_api::Backend`]: `swarm init/join/leave`, node and
//!   swarm state. Cluster-state calls run on the leader, locally or forwarded over mTLS.
//! * `manager`: the leader's state (cluster record, nodes, root CA signer, join tokens,
//!   liveness), persisted in the encrypted store.
//! * `rpc`: the cluster port. Only the join calls are served without a client certificate.
//! * `agent`: every non-leader node heartbeats to the leader and follows role changes.
//! * [`ServiceCertificate`]: TLS certificates from the cluster CA for the services the leader
//!   runs (registry, trust server), renewed like node certificates.
#![warn(missing_docs)]

mod agent;
mod daemon;
mod describe;
mod error;
mod identity;
mod manager;
mod paths;
mod rpc;
mod service_cert;

pub use daemon::{Daemon, DaemonConfig};
pub use paths::DataRoot;
pub use service_cert::{ServiceCertificate, ServiceNames};
