//! Image store, safe layer unpacking, hardened OCI bundles, crun/runc executor.
//!
//! The paved path is [`ContainerRuntime`]: open it on a data root, load images into its
//! [`ImageStore`], then create and run containers with docker-named [`RunOptions`]. Every
//! container gets docker's hardening by default (14 capabilities, the default seccomp
//! profile, masked and read-only paths, new namespaces, `no_new_privileges`).
//!
//! ```no_run
//! use std::path::Path;
//! use std::time::Duration;
//! use palisade_runtime::{ContainerRuntime, ExtraMount, OciRuntimeKind, RunOptions};
//!
//! # fn main() -> palisade_runtime::Result<()> {
//! let rt = ContainerRuntime::open(Path::new("/var/lib/palisade"), OciRuntimeKind::Crun)?;
//! rt.images().load(Path::new("busybox.tar"), None)?;
//!
//! // docker run --rm --memory 64m busybox echo hi
//! let opts = RunOptions { args: vec!["echo".into(), "hi".into()], memory: Some(64 << 20), ..Default::default() };
//! let out = rt.run("busybox", &opts, Duration::from_secs(60))?;
//! assert_eq!(out.logs.stdout, b"hi\n");
//!
//! // A service task with /run/secrets on tmpfs.
//! let secrets = ExtraMount::SecretsTmpfs { destination: "/run/secrets".into(), size_bytes: 1 << 20 };
//! let mut task = rt.create_task("busybox", &RunOptions::default(), vec![secrets])?;
//! task.write_secret("db_password", b"s3cr3t", 0, 0, 0o400)?;
//! task.start()?;
//! let exit = task.wait(None)?;
//! task.remove(true)?;
//! # let _ = exit;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod bundle;
mod container;
mod data_root;
mod error;
mod ids;
mod image;
mod process;
pub mod syscall;
pub mod unpack;

pub use bundle::{command_line, ExtraMount, NetworkMode, NoNewPrivileges, RunOptions, Seccomp, TmpfsMount, UsernsRemap};
pub use container::{
    cgroup_processes, cgroup_sample, host_memory, system_cpu, CgroupSample, ProcessRow, isolate_mount_namespace, prepare_run_dir, ContainerRoot, ExtractOptions, PathStat, resize_terminal, state_dir_for, Container, ContainerRuntime, ContainerStatus,
    ExecOptions, ExecProcess, ExitStatus, Logs, OciRuntime, OciRuntimeKind, ProcessIo, reap_runtime_orphans, RunOutput, RUN_DIR,
};
pub use data_root::on_ext4_without_journal;
pub use error::{Error, Result, StartFailure};
pub use ids::{ContainerId, Digest, ImageRef};
pub use process::forbid_core_dumps;
pub use image::{write_atomic, Image, ImageStore, ImageSummary, RemovedImage};
