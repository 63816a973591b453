//! Image store, safe layer unpacking, hardened OCI bundles, crun/runc executor.
#![warn(missing_docs)]

pub mod bundle;
mod container;
mod error;
mod ids;
mod image;
pub mod syscall;
pub mod unpack;

pub use bundle::{ExtraMount, NetworkMode, NoNewPrivileges, RunOptions, Seccomp, TmpfsMount, UsernsRemap};
pub use container::{
    Container, ContainerRuntime, ContainerStatus, ExitStatus, Logs, OciRuntime, OciRuntimeKind, RunOutput,
};
pub use error::{Error, Result};
pub use ids::{ContainerId, Digest, ImageRef};
pub use image::{Image, ImageStore, ImageSummary, RemovedImage};
