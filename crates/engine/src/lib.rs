//! The node's container engine: the container and image half of the Engine API
//! ([`palisade_engine_api::containers::ContainerBackend`]) over [`palisade_runtime`].
//!
//! ```text
//! <root>/                       the runtime's data root (images/, containers/); bundles and
//!                               runtime state in palisade_runtime::state_dir_for(<root>)
//! <root>/engine/seccomp/<id>.json   profiles the docker CLI inlined in --security-opt
//! <root>/engine/tmp/                archives being loaded, images being pulled
//! ```
//!
//! Container metadata (name, request, lifecycle) lives in memory: a daemon restart kills and
//! removes every container of the previous run ([`Engine::open`]), as `--rm`-style hygiene.
#![warn(missing_docs)]

mod backend;
mod error;
mod human;
mod images;
mod options;
mod output;
mod pull;
mod state;

pub use error::{Error, Result};
pub use state::{Engine, TaskFile};
