//! What a node needs from its container engine to run tasks. The daemon's wiring implements
//! [`TaskExecutor`] over the node's engine; the worker ([`crate::worker`]) drives it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use zeroize::Zeroizing;

/// A task's container, as the worker asks for it.
#[derive(Debug, Clone, Default)]
pub struct TaskContainer {
    /// Container name (`<service>.<slot>.<task ID>`).
    pub name: String,
    /// Image reference.
    pub image: String,
    /// Replaces the image's entrypoint when not empty.
    pub command: Vec<String>,
    /// Replaces the image's `Cmd` when not empty.
    pub args: Vec<String>,
    /// `KEY=VALUE`.
    pub env: Vec<String>,
    /// Host name (empty: the engine's default).
    pub hostname: String,
    /// Working directory.
    pub dir: String,
    /// `user[:group]`.
    pub user: String,
    /// Read-only root file system.
    pub read_only: bool,
    /// Container labels (`com.docker.swarm.*` included).
    pub labels: BTreeMap<String, String>,
    /// Capabilities added.
    pub cap_add: Vec<String>,
    /// Capabilities dropped.
    pub cap_drop: Vec<String>,
    /// Memory limit in bytes (0: none).
    pub memory_bytes: i64,
    /// CPU limit in 1e-9 CPUs (0: none).
    pub nano_cpus: i64,
    /// Process limit (0: none).
    pub pids: i64,
    /// Secrets and configs, with their values.
    pub files: Vec<TaskFile>,
    /// For a task on overlay networks: the names of the services there, which its embedded
    /// DNS server must resolve (its container then gets a network namespace even on a node
    /// without a default bridge; the data plane adds its overlay interfaces).
    pub service_names: Option<Arc<dyn palisade_net::ServiceNames>>,
}

/// A task container's network namespace, as the data plane connects it.
#[derive(Debug, Clone)]
pub struct TaskSandbox {
    /// The namespace file.
    pub netns: PathBuf,
    /// How many interfaces (`eth0`, …) the engine gave it: the overlay ones are named after.
    pub interfaces: usize,
}

/// Whether a task file is a secret (under `/run/secrets`, on its own tmpfs) or a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskFileKind {
    /// `/run/secrets/<target>`.
    Secret,
    /// `<target>` (an absolute path).
    Config,
}

/// A file a task receives. The value of a secret is secret: zeroized on drop, never printed;
/// the engine must keep it on tmpfs only.
#[derive(Clone)]
pub struct TaskFile {
    /// Secret or config.
    pub kind: TaskFileKind,
    /// Secrets: the file name under `/run/secrets`; configs: the absolute path.
    pub target: String,
    /// Owner in the container.
    pub uid: u32,
    /// Group in the container.
    pub gid: u32,
    /// Permission bits.
    pub mode: u32,
    /// The value.
    pub data: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for TaskFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskFile")
            .field("kind", &self.kind)
            .field("target", &self.target)
            .field("mode", &format_args!("{:o}", self.mode))
            .field("data", &"<redacted>")
            .finish()
    }
}

/// A failure of the engine, in words for `service ps`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The image is not on this node.
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// The node's image policy refused the image (the text names the rule and the image).
    #[error("{0}")]
    Refused(String),
    /// Anything else the engine reports.
    #[error("{0}")]
    Engine(String),
}

pub use palisade_engine_api::containers::OutputStream;

/// The container engine of a node, as tasks use it. Containers are named by the IDs
/// [`TaskExecutor::create`] returns.
pub trait TaskExecutor: fmt::Debug + Send + Sync + 'static {
    /// Creates the container with its files (not started).
    fn create(&self, container: TaskContainer) -> BoxFuture<'_, Result<String, ExecError>>;
    /// The network namespace of a container made for a task on overlay networks; `None` when
    /// it has none.
    fn sandbox(&self, id: &str) -> Option<TaskSandbox>;
    /// Starts it; returns its PID.
    fn start(&self, id: String) -> BoxFuture<'_, Result<i64, ExecError>>;
    /// Resolves with the exit code once it exited.
    fn wait(&self, id: String) -> BoxFuture<'_, Result<i64, ExecError>>;
    /// Stops it: `signal` (empty: TERM), then KILL after `grace`.
    fn stop(&self, id: String, signal: String, grace: Duration) -> BoxFuture<'_, Result<(), ExecError>>;
    /// Unmounts its secret and config files (it has exited): their values leave the node.
    fn release_files(&self, id: String) -> BoxFuture<'_, Result<(), ExecError>>;
    /// Removes it (and whatever it still holds).
    fn remove(&self, id: String) -> BoxFuture<'_, Result<(), ExecError>>;
    /// Its output so far (`follow`: and until it exits).
    fn logs(&self, id: String, follow: bool) -> BoxFuture<'_, Result<OutputStream, ExecError>>;
}
