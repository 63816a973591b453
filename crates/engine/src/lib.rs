//! The node's container engine: the container, image and volume half of the Engine API
//! ([`palisade_engine_api::containers::ContainerBackend`]) over [`palisade_runtime`].
//!
//! ```text
//! <root>/                       the runtime's data root (images/, containers/); bundles and
//!                               runtime state in palisade_runtime::state_dir_for(<root>)
//! <root>/engine/containers/<id>.json   each container's record (see records.rs), 0600
//! <root>/engine/seccomp/<id>.json      profiles the docker CLI inlined in --security-opt
//! <root>/engine/tmp/                   archives being loaded, images being pulled
//! <root>/volumes/<name>/_data          named volumes (see volumes.rs)
//! ```
//!
//! Containers outlive the daemon: their records and writable layers stay, [`Engine::open`]
//! brings them back (their processes do not survive: a stopping daemon stops them, as
//! dockerd does without live restore), and [`Engine::resume`] starts those whose restart
//! policy says so. Service tasks are the exception: the cluster recreates them, so a
//! previous run's task containers are removed.
#![warn(missing_docs)]

mod attach;
mod backend;
mod cluster_networks;
mod copy;
mod distribution;
mod error;
mod events;
mod exec;
mod fd_stream;
mod gate;
mod human;
mod images;
mod mounts;
mod networks;
mod options;
mod output;
mod progress;
mod pull;
mod push;
mod remote;
mod records;
mod restart;
mod state;
mod stats;
mod volumes;

pub use cluster_networks::{ClusterAttach, ClusterAttachment, ClusterEndpoint, ClusterNetwork, ClusterNetworks};
pub use error::{Error, Result};
pub use gate::{GateError, ImageGate};
pub use mounts::ProtectedPaths;
pub use state::{Engine, EngineConfig, TaskFile};
pub use palisade_net::{DefaultBridge, NetConfig};
