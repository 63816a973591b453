//! A Palisade node: swarm membership, the manager role on a raft-replicated store, the mutually
//! authenticated cluster port, and the Engine-API backend that drives them.
//!
//! * [`Daemon`]: the membership state machine (inactive, locked, active); `daemon/` holds
//!   init (and `--force-new-cluster`), join and leave.
//! * `api`: the Engine-API edge — `Backend` for `Daemon`, the conversions between the cluster
//!   model and Engine-API types, and the one mapping from [`Error`] to dockerd's errors.
//! * `model`: Palisade's own cluster records (cluster, nodes, secrets, services, overlay
//!   networks) on the replicated store.
//! * [`OverlayState`]: what a node's overlay data plane must set up, kept current by the worker
//!   ([`Daemon::overlay_state`]).
//! * `manager`: decisions on those records (issuance, liveness, rotation, membership, secrets),
//!   run on the raft leader.
//! * `role`: a node's manager role — store, keys (autolock), cluster port; `node`: a node in a
//!   swarm, which reaches the leader through its role or through any manager it knows.
//! * `rpc`: the cluster port and raft's transport over it. Only the join calls are served
//!   without a client certificate; raft only to manager certificates.
//! * `agent`: heartbeats, renewals, role changes and resealing, on every node.
//! * `worker`: runs the tasks assigned to the node through its [`TaskExecutor`].
//! * [`ServiceCertificate`]: TLS certificates from the cluster CA for the services a manager
//!   runs (registry, trust server), renewed like node certificates.
//! * `head_signer`: the node's audit log signs its heads with the node's key and certificate.
#![warn(missing_docs)]

mod agent;
mod api;
mod daemon;
mod dataplane;
mod describe;
mod error;
mod exec;
mod head_signer;
mod identity;
mod manager;
mod model;
mod node;
mod node_policy;
mod overlay;
mod paths;
mod role;
mod rpc;
mod service_cert;
mod worker;

pub use daemon::{AttachableNetwork, ContainerAttachRequest, ContainerAttached, ContainerEndpoint, Daemon, DaemonConfig};
pub use error::{Error, Result};
pub use exec::{ExecError, OutputStream, TaskContainer, TaskExecutor, TaskFile, TaskFileKind, TaskSandbox};
pub use overlay::{IngressPort, OverlayAttachment, OverlayContainer, OverlayIngress, OverlayKey, OverlayNetwork, OverlayPeer, OverlayService, OverlayState};
pub use paths::DataRoot;
pub use service_cert::{ServiceCertificate, ServiceNames};
