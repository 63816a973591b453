//! The subset of the Docker Engine API that Palisade serves, as the docker CLI v28 uses it.
//!
//! * [`types`]: typed request and response bodies (field names exactly as the Engine API).
//! * [`ApiError`]: every error the API returns, with the status code and message dockerd uses.
//! * [`router`]: the HTTP routes, served over a unix socket, dispatching to a [`Backend`].
//! * [`containers`]: the container and image endpoints and their [`containers::ContainerBackend`].
//! * [`volumes`]: the volume endpoints and their [`volumes::VolumeBackend`].
//! * [`networks`]: the network endpoints, their [`networks::NetworkBackend`] (local networks)
//!   and [`networks::SwarmNetworkBackend`] (overlay networks).
//! * [`archive`]: `docker cp` (container path stat, archive, extract).
//! * [`events`]: `docker events`.
//! * [`stats`]: `docker top` and `docker stats`.
//! * [`policy`]: Palisade's image-policy endpoints (`palisade policy`).
//! * [`client`]: an Engine-API client over a unix socket, used by the `palisade` CLI.
#![warn(missing_docs)]

pub mod archive;
pub mod client;
pub mod containers;
mod error;
pub mod events;
pub mod exec;
pub mod networks;
pub mod policy;
mod routes;
pub mod services;
pub mod stats;
pub mod types;
pub mod volumes;

pub use error::ApiError;
pub use routes::{router, Backend, API_VERSION, MIN_API_VERSION};
pub use networks::{NetworkBackend, SwarmNetworkBackend};
pub use policy::PolicyBackend;
pub use services::ServiceBackend;
