//! Containers: create (image → rootfs → bundle), start, wait, stop, delete — over crun or runc.
//!
//! ```text
//! <state>/bundles/<id>/                        on tmpfs (see state_dir):
//!   config.json  hostname  hosts               the OCI bundle
//!   rootfs/                                    overlay mount: the image's prepared rootfs
//!                                              below, <root>/containers/<id>/upper above
//!   secrets/                                   tmpfs mount point (SecretsTmpfs)
//!   container.json  init.pid  runtime.log      our record, the init's pid, runtime diagnostics
//! <state>/<crun|runc>/                         the OCI runtime's own state (--root)
//! <root>/containers/<id>/                      on the data root's disk:
//!   upper/  work/                              the container's writable layer
//!   stdout.log  stderr.log                     container output
//! ```
//!
//! Lifecycle (`ContainerStatus`):
//!
//! | from    | operation          | to      |
//! |---------|--------------------|---------|
//! | —       | `create`           | Created |
//! | Created | `start`            | Running |
//! | Running | `wait`/`stop`/exit | Stopped |
//! | any     | `remove(force)`    | —       |

mod cgroup_stats;
mod children;
pub use children::reap_runtime_orphans;
mod console;
mod copy;
mod exec;
mod layer;
mod oci;
mod process_io;
mod sealed;
mod state_dir;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

pub use cgroup_stats::{cgroup_processes, cgroup_sample, host_memory, system_cpu, CgroupSample, ProcessRow};
pub use console::resize_terminal;
pub use copy::{ContainerRoot, ExtractOptions, PathStat};
pub use exec::{ExecOptions, ExecProcess};
pub use oci::{isolate_mount_namespace, OciRuntime, OciRuntimeKind};
pub use process_io::ProcessIo;
use process_io::{Output, Wiring};
pub use state_dir::{prepare_run_dir, state_dir_for, RUN_DIR};
use serde::{Deserialize, Serialize};
use layer::{log_paths, make_container_dir, open_log, LayerJob, PendingLayers};

use crate::bundle::{
    build_spec, cgroup_path, hostname_for, validate_options, write_bundle_files, write_hosts, BundlePaths, ExtraMount, RunOptions,
};
use crate::error::{Error, Result};
use crate::ids::ContainerId;
use crate::image::{set_mode, write_atomic, ImageStore};
use crate::syscall::{LinuxSyscall, ProcessExit, Syscall};
use crate::unpack::IdShift;

const RECORD_FILE: &str = "container.json";
/// Size of the tmpfs behind a container's `TmpfsFile` mounts (configs are at most 1000 KiB
/// each).
const FILES_TMPFS_SIZE: u64 = 16 << 20;
/// Polling interval bounds while waiting for a container to exit where the kernel cannot
/// notify us (no pidfd; doubles up to the max).
const POLL_MIN: Duration = Duration::from_millis(1);
const POLL_MAX: Duration = Duration::from_millis(50);

/// Where a container is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    /// Bundle written, process not started.
    Created,
    /// Process started and not yet collected.
    Running,
    /// Process exited; exit status recorded.
    Stopped,
}

impl ContainerStatus {
    /// Whether `start` is allowed.
    pub fn can_start(self) -> bool {
        self == Self::Created
    }
    /// Whether `kill`/`stop` make sense.
    pub fn can_kill(self) -> bool {
        self == Self::Running
    }
    /// Whether `remove` without force is allowed.
    pub fn can_delete(self) -> bool {
        self != Self::Running
    }
    fn name(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Stopped => "stopped",
        }
    }
}

/// How a container's process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// Exit code as docker reports it (128 + signal when killed by a signal).
    pub code: i32,
    /// The signal that killed the process, if any.
    pub signal: Option<i32>,
    /// The kernel's OOM killer killed a process of the container (memory cgroup counter).
    pub oom_killed: bool,
}

/// Captured output of a container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Logs {
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
}

/// Result of [`ContainerRuntime::run`].
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// Container id (already removed).
    pub id: ContainerId,
    /// Exit status.
    pub exit: ExitStatus,
    /// Output.
    pub logs: Logs,
    /// True when the timeout expired and the container was killed.
    pub timed_out: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    id: ContainerId,
    image: String,
    runtime: OciRuntimeKind,
    status: ContainerStatus,
    pid: Option<i32>,
    exit: Option<ExitStatus>,
    secrets_mounted: bool,
    /// The tmpfs at files/ (configs) is mounted.
    #[serde(default)]
    files_mounted: bool,
    /// The overlay at rootfs/ is mounted.
    #[serde(default)]
    rootfs_mounted: bool,
    id_shift: Option<(u32, u32)>,
    /// The init has a terminal (`-t`).
    #[serde(default)]
    terminal: bool,
    /// The init's stdin is a pipe (`-i`), not `/dev/null`.
    #[serde(default)]
    open_stdin: bool,
}

impl Record {
    /// For a container whose record cannot be read: assume everything may be mounted.
    fn unknown(id: ContainerId, runtime: OciRuntimeKind) -> Self {
        Self {
            id,
            image: String::new(),
            runtime,
            status: ContainerStatus::Stopped,
            pid: None,
            exit: None,
            secrets_mounted: true,
            files_mounted: true,
            rootfs_mounted: true,
            id_shift: None,
            terminal: false,
            open_stdin: false,
        }
    }
}

/// The OCI runtimes of one data root, each with its own state directory: a container runs
/// under the one its record names, for all of its life.
#[derive(Clone, Debug)]
struct OciRuntimes {
    default: OciRuntimeKind,
    crun: OciRuntime,
    runc: OciRuntime,
}

impl OciRuntimes {
    fn new(state: &Path, default: OciRuntimeKind) -> Self {
        let make = |kind: OciRuntimeKind| OciRuntime::new(kind, state.join(kind.binary()));
        Self { default, crun: make(OciRuntimeKind::Crun), runc: make(OciRuntimeKind::Runc) }
    }

    fn get(&self, kind: OciRuntimeKind) -> &OciRuntime {
        match kind {
            OciRuntimeKind::Runc => &self.runc,
            OciRuntimeKind::Crun => &self.crun,
        }
    }
}

/// The paved path: one image store plus one executor rooted at one data directory, running
/// each container under crun or runc as it was created to.
#[derive(Debug)]
pub struct ContainerRuntime {
    images: ImageStore,
    /// Bundles, on tmpfs.
    bundles: PathBuf,
    /// Writable layers and logs, on the data root.
    containers: PathBuf,
    oci: OciRuntimes,
    sys: Arc<dyn Syscall>,
    layers: PendingLayers,
}

impl ContainerRuntime {
    /// Opens the runtime under `root` (creating `images/` and `containers/`) with its state
    /// in [`state_dir_for`]`(root)`, using the real kernel; containers whose options name no
    /// OCI runtime run under `default`. The calling process becomes a child subreaper so that
    /// it collects the exit status of the containers it starts.
    pub fn open(root: &Path, default: OciRuntimeKind) -> Result<Self> {
        let state = state_dir_for(root)?;
        Self::open_with(root, &state, default, Arc::new(LinuxSyscall))
    }

    /// Opens with an explicit state directory and syscall implementation.
    pub fn open_with(root: &Path, state: &Path, default: OciRuntimeKind, sys: Arc<dyn Syscall>) -> Result<Self> {
        let oci = OciRuntimes::new(state, default);
        let images = ImageStore::open(root)?;
        let containers = root.join("containers");
        let bundles = state.join("bundles");
        for dir in [&containers, &bundles] {
            fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
            // Traversable but not listable, so user-namespaced container roots can reach
            // their bundle; ids are random.
            set_mode(dir, 0o711)?;
        }
        sys.set_child_subreaper()?;
        Ok(Self { images, bundles, containers, oci, sys, layers: PendingLayers::default() })
    }

    fn container_at(&self, id: &ContainerId, record: Record) -> Container {
        Container {
            dir: self.bundles.join(id.as_str()),
            data: self.containers.join(id.as_str()),
            oci: self.oci.get(record.runtime).clone(),
            sys: Arc::clone(&self.sys),
            layers: self.layers.clone(),
            record,
            io: None,
        }
    }

    /// The image store.
    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    /// Where container `id` writes its stdout and stderr (both exist once `create` returned).
    pub fn log_paths(&self, id: &ContainerId) -> [PathBuf; 2] {
        log_paths(&self.containers.join(id.as_str()))
    }

    /// Which OCI runtime executes containers whose options name none.
    pub fn oci_runtime(&self) -> OciRuntimeKind {
        self.oci.default
    }

    /// Creates a container from `image` (reference or id): validates the options, writes the
    /// bundle and the (empty) logs, and starts mounting an overlay over the image's prepared
    /// rootfs, which `start` waits for and whose failure it reports. Nothing is left behind
    /// on failure.
    pub fn create(&self, image: &str, opts: &RunOptions) -> Result<Container> {
        self.create_with_id(ContainerId::random(), image, opts)
    }

    /// A container for a service task: `opts` plus `extra_mounts` (for example
    /// `ExtraMount::SecretsTmpfs { destination: "/run/secrets".into(), .. }`).
    pub fn create_task(&self, image: &str, opts: &RunOptions, extra_mounts: Vec<ExtraMount>) -> Result<Container> {
        let mut o = opts.clone();
        o.mounts.extend(extra_mounts);
        self.create(image, &o)
    }

    /// [`Self::create`] with a caller-chosen id.
    pub fn create_with_id(&self, id: ContainerId, image: &str, opts: &RunOptions) -> Result<Container> {
        let img = self.images.inspect(image)?;
        self.create_from_image(id, &img, opts)
    }

    /// [`Self::create_with_id`] for an image the caller already looked up in [`Self::images`].
    pub fn create_from_image(&self, id: ContainerId, img: &crate::image::Image, opts: &RunOptions) -> Result<Container> {
        self.build(id, img, opts, Layer::New)
    }

    /// Makes container `id` startable again from what survives of it on the data root, its
    /// writable layer and logs (after a daemon restart, or a reboot that emptied the bundles'
    /// tmpfs): whatever is left of its previous bundle, process and mounts is torn down, the
    /// bundle is written anew from `img` and `opts`, and the writable layer is mounted again
    /// over the image's prepared rootfs. The container is `Created`.
    pub fn restore(&self, id: ContainerId, img: &crate::image::Image, opts: &RunOptions) -> Result<Container> {
        let data = self.containers.join(id.as_str());
        if !data.join("upper").is_dir() {
            return Err(Error::ContainerNotFound(id.to_string()));
        }
        let leftover = match self.container(&id) {
            Ok(c) => c,
            Err(_) => self.container_at(&id, Record::unknown(id.clone(), opts.runtime.unwrap_or(self.oci.default))),
        };
        leftover.tear_down(Keep::Data)?;
        self.build(id, img, opts, Layer::Existing)
    }

    fn build(&self, id: ContainerId, img: &crate::image::Image, opts: &RunOptions, layer: Layer) -> Result<Container> {
        validate_options(opts, self.sys.as_ref())?;
        let image = img.summary.references.first().map_or_else(|| img.summary.id.to_string(), |r| r.to_string());
        let shift = id_shift(opts);
        let lower = self.images.prepared_rootfs(img, shift)?;
        let record = Record {
            id: id.clone(),
            image,
            runtime: opts.runtime.unwrap_or(self.oci.default),
            status: ContainerStatus::Created,
            pid: None,
            exit: None,
            secrets_mounted: false,
            files_mounted: false,
            rootfs_mounted: false,
            id_shift: opts.userns.map(|u| (u.host_uid, u.host_gid)),
            terminal: opts.tty,
            open_stdin: opts.open_stdin,
        };
        let mut c = self.container_at(&id, record);
        if c.dir.exists() || (layer == Layer::New && c.data.exists()) {
            return Err(Error::ContainerExists(id.to_string()));
        }
        fs::create_dir(&c.dir).map_err(Error::io("create", &c.dir))?;
        match c.prepare(img, &lower, opts, layer) {
            Ok(()) => Ok(c),
            Err(e) => {
                let _ = c.settle_layer();
                let keep = if layer == Layer::Existing { Keep::Data } else { Keep::Nothing };
                let _ = c.cleanup_files(keep);
                Err(e)
            }
        }
    }

    /// Creates, starts and waits for a container, then removes it. On `timeout` the container
    /// is killed and `timed_out` is set.
    pub fn run(&self, image: &str, opts: &RunOptions, timeout: Duration) -> Result<RunOutput> {
        let mut c = self.create(image, opts)?;
        let out: Result<RunOutput> = (|| {
            c.start()?;
            let (exit, timed_out) = match c.wait(Some(timeout))? {
                Some(e) => (e, false),
                None => (c.stop(Duration::ZERO)?, true),
            };
            Ok(RunOutput { id: c.id().clone(), exit, logs: c.logs()?, timed_out })
        })();
        let removed = c.remove(true);
        let out = out?;
        removed?;
        Ok(out)
    }

    /// Loads an existing container.
    pub fn container(&self, id: &ContainerId) -> Result<Container> {
        let p = self.bundles.join(id.as_str()).join(RECORD_FILE);
        let bytes = fs::read(&p).map_err(|_| Error::ContainerNotFound(id.to_string()))?;
        let record: Record = serde_json::from_slice(&bytes).map_err(Error::json(format!("container record {id}")))?;
        Ok(self.container_at(id, record))
    }

    /// Ids of all containers with a bundle.
    pub fn list(&self) -> Result<Vec<ContainerId>> {
        ids_in(&self.bundles)
    }

    /// After a daemon restart: kills and deletes every container left by the previous run
    /// (runtime state, cgroups, secrets tmpfs, bundle, writable layer). After a reboot only
    /// the writable layers are left (the bundles were on tmpfs): they go too. Returns the ids
    /// removed.
    pub fn cleanup_leftovers(&self) -> Result<Vec<ContainerId>> {
        self.cleanup_leftovers_except(&[])
    }

    /// Deletes whatever is left of container `id` — its process, runtime state, mounts,
    /// bundle, writable layer and logs — whether or not its record can be read.
    pub fn discard(&self, id: &ContainerId) -> Result<()> {
        match self.container(id) {
            Ok(c) => c.remove(true),
            Err(_) => {
                // No readable record: still tear down whatever either runtime and the mounts
                // hold (a runtime that does not know the container deletes nothing).
                for oci in [&self.oci.crun, &self.oci.runc] {
                    let _ = oci.kill(id, "KILL");
                    oci.delete(id)?;
                }
                let mut c = self.container_at(id, Record::unknown(id.clone(), self.oci.default));
                c.cleanup_files(Keep::Nothing)
            }
        }
    }

    /// [`Self::cleanup_leftovers`], sparing the containers in `keep` (to be [`Self::restore`]d).
    pub fn cleanup_leftovers_except(&self, keep: &[ContainerId]) -> Result<Vec<ContainerId>> {
        let mut removed = Vec::new();
        for id in self.list()?.into_iter().filter(|id| !keep.contains(id)) {
            self.discard(&id)?;
            removed.push(id);
        }
        for id in ids_in(&self.containers)? {
            if !removed.contains(&id) && !keep.contains(&id) {
                let dir = self.containers.join(id.as_str());
                fs::remove_dir_all(&dir).map_err(Error::io("remove", &dir))?;
                removed.push(id);
            }
        }
        Ok(removed)
    }
}

/// The owner shift of `opts`' user namespace, as the image's rootfs is prepared for it.
fn id_shift(opts: &RunOptions) -> Option<IdShift> {
    opts.userns.map(|u| IdShift { host_uid: u.host_uid, host_gid: u.host_gid, size: u.size })
}

/// The container ids naming entries of `dir`, sorted.
fn ids_in(dir: &Path) -> Result<Vec<ContainerId>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(Error::io("read", dir))? {
        let e = e.map_err(Error::io("read", dir))?;
        if let Ok(id) = e.file_name().to_string_lossy().parse::<ContainerId>() {
            out.push(id);
        }
    }
    out.sort();
    Ok(out)
}

/// One container and its bundle.
#[derive(Debug)]
pub struct Container {
    /// The bundle (on tmpfs).
    dir: PathBuf,
    /// The writable layer and logs (on the data root).
    data: PathBuf,
    oci: OciRuntime,
    sys: Arc<dyn Syscall>,
    layers: PendingLayers,
    record: Record,
    /// Our ends of the init's stdin or terminal, from `start` until taken.
    io: Option<ProcessIo>,
}

impl Container {
    /// The container id.
    pub fn id(&self) -> &ContainerId {
        &self.record.id
    }

    /// The OCI bundle directory (`config.json`, `rootfs/`).
    pub fn bundle(&self) -> &Path {
        &self.dir
    }

    /// The OCI runtime that runs this container.
    pub fn runtime(&self) -> OciRuntimeKind {
        self.record.runtime
    }

    /// Current status as last recorded.
    pub fn status(&self) -> ContainerStatus {
        self.record.status
    }

    /// The init process's host pid while running.
    pub fn pid(&self) -> Option<i32> {
        self.record.pid
    }

    /// The recorded exit status once stopped.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.record.exit
    }

    fn paths(&self) -> BundlePaths {
        BundlePaths { bundle: self.dir.clone() }
    }

    fn invalid_state(&self, op: &'static str) -> Error {
        Error::InvalidState { id: self.record.id.to_string(), state: self.record.status.name().into(), op }
    }

    fn save(&self) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.record).map_err(Error::json("container record"))?;
        write_atomic(&self.dir.join(RECORD_FILE), &bytes)
    }

    /// Makes the container's directory, starts making its writable layer (see [`layer`]) and
    /// writes the bundle meanwhile.
    fn prepare(&mut self, img: &crate::image::Image, lower: &Path, opts: &RunOptions, layer: Layer) -> Result<()> {
        let mode = if opts.userns.is_some() { 0o711 } else { 0o700 };
        set_mode(&self.dir, mode)?;
        let paths = self.paths();
        let rootfs = paths.rootfs();
        fs::create_dir(&rootfs).map_err(Error::io("create", &rootfs))?;
        if layer == Layer::New {
            make_container_dir(&self.data, mode)?;
        }
        let job = LayerJob {
            data: self.data.clone(),
            lower: lower.to_owned(),
            rootfs,
            existing: layer == Layer::Existing,
            sys: Arc::clone(&self.sys),
        };
        self.layers.begin(&self.record.id, job)?;
        self.write_bundle(img, lower, opts)?;
        for m in &opts.mounts {
            match m {
                ExtraMount::SecretsTmpfs { size_bytes, .. } => {
                    let d = paths.secrets_dir();
                    fs::create_dir(&d).map_err(Error::io("create", &d))?;
                    self.sys.mount_tmpfs(&d, &format!("mode=0755,size={size_bytes}"))?;
                    self.record.secrets_mounted = true;
                }
                ExtraMount::TmpfsFile { .. } if !self.record.files_mounted => {
                    let d = paths.files_dir();
                    fs::create_dir(&d).map_err(Error::io("create", &d))?;
                    self.sys.mount_tmpfs(&d, &format!("mode=0755,size={FILES_TMPFS_SIZE}"))?;
                    self.record.files_mounted = true;
                }
                _ => {}
            }
        }
        self.save()
    }

    /// Waits for the writable layer if it is still being made, and records whether its
    /// overlay is mounted.
    fn settle_layer(&mut self) -> Result<()> {
        match self.layers.settle(&self.record.id) {
            None => Ok(()),
            Some(made) => {
                self.record.rootfs_mounted = made.is_ok();
                made
            }
        }
    }

    /// Writes `config.json`, `hostname` and `hosts`; `--user` is resolved in `image_root`.
    fn write_bundle(&self, img: &crate::image::Image, image_root: &Path, opts: &RunOptions) -> Result<()> {
        let paths = self.paths();
        let spec = build_spec(&self.record.id, &img.config, image_root, &paths, opts, self.sys.as_ref())?;
        let config = serde_json::to_vec(&spec).map_err(Error::json("config.json"))?;
        write_atomic(&paths.config(), &config)?;
        write_bundle_files(&paths, &hostname_for(&self.record.id, opts))
    }

    /// Names the container's own address in its `/etc/hosts` (before `start`): the address
    /// of its first network for this run, or none (127.0.1.1).
    pub fn set_address(&self, address: Option<std::net::Ipv4Addr>) -> Result<()> {
        let paths = self.paths();
        let file = paths.hostname_file();
        let hostname = std::fs::read_to_string(&file).map_err(Error::io("read", &file))?;
        write_hosts(&paths, hostname.trim_end(), address)
    }

    /// Writes a secret file into the container's secrets tmpfs (before `start`). `uid`/`gid`
    /// are container ids (shifted for user namespaces). The bytes only ever live on tmpfs.
    pub fn write_secret(&self, name: &str, data: &[u8], uid: u32, gid: u32, mode: u32) -> Result<()> {
        if !self.record.secrets_mounted {
            return Err(Error::InvalidOption { option: "mount", reason: "container has no secrets tmpfs".into() });
        }
        self.write_tmpfs_file(&self.paths().secrets_dir(), name, data, (uid, gid, mode))
    }

    /// Writes the file of an [`ExtraMount::TmpfsFile`] (before `start`), as
    /// [`Self::write_secret`] does.
    pub fn write_file(&self, name: &str, data: &[u8], uid: u32, gid: u32, mode: u32) -> Result<()> {
        if !self.record.files_mounted {
            return Err(Error::InvalidOption { option: "mount", reason: "container has no files tmpfs".into() });
        }
        self.write_tmpfs_file(&self.paths().files_dir(), name, data, (uid, gid, mode))
    }

    fn write_tmpfs_file(&self, dir: &Path, name: &str, data: &[u8], (uid, gid, mode): (u32, u32, u32)) -> Result<()> {
        if !crate::bundle::is_file_name(name) {
            return Err(Error::InvalidOption { option: "secret", reason: format!("bad file name {name:?}") });
        }
        let path = dir.join(name);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(Error::io("create secret", &path))?;
        f.write_all(data).map_err(Error::io("write secret", &path))?;
        let (hu, hg) = match self.record.id_shift {
            Some((su, sg)) => (su.saturating_add(uid), sg.saturating_add(gid)),
            None => (uid, gid),
        };
        std::os::unix::fs::fchown(&f, Some(hu), Some(hg)).map_err(Error::io("chown secret", &path))?;
        set_mode(&path, mode & 0o777)
    }

    /// Unmounts the secrets and files tmpfs of a container that no longer runs: their bytes
    /// are gone from the host; the rest (logs, rootfs) stays until [`Self::remove`].
    pub fn release_files(&mut self) -> Result<()> {
        if self.record.status == ContainerStatus::Running {
            return Err(self.invalid_state("release files of"));
        }
        self.unmount_files()?;
        self.save()
    }

    fn unmount_files(&mut self) -> Result<()> {
        let secrets = self.paths().secrets_dir();
        if self.record.secrets_mounted || secrets.exists() {
            self.sys.unmount(&secrets)?;
            self.record.secrets_mounted = false;
        }
        let files = self.paths().files_dir();
        if self.record.files_mounted || files.exists() {
            self.sys.unmount(&files)?;
            self.record.files_mounted = false;
        }
        Ok(())
    }

    /// Starts the container's process; its stdout and stderr go to the container's logs.
    pub fn start(&mut self) -> Result<()> {
        if !self.record.status.can_start() {
            return Err(self.invalid_state("start"));
        }
        self.settle_layer()?;
        if !self.record.rootfs_mounted {
            return Err(Error::InvalidState {
                id: self.record.id.to_string(),
                state: "without a mounted root file system".into(),
                op: "start",
            });
        }
        let [stdout, stderr] = log_paths(&self.data);
        let (stdout, stderr) = (open_log(&stdout)?, open_log(&stderr)?);
        let log = self.dir.join("runtime.log");
        // Short: unix socket paths are limited to ~100 bytes, the bundle path is long.
        let console = self.dir.parent().unwrap_or(&self.dir).join(format!("{}.sock", &self.record.id.as_str()[..16]));
        let wiring = Wiring {
            terminal: self.record.terminal.then_some(console),
            stdin: self.record.open_stdin,
            output: Output::Files(stdout, stderr),
        };
        let pid = match wiring.start(|io| self.oci.run_detached(&self.record.id, &self.dir, io, &log)) {
            Ok((pid, io)) => {
                self.io = io;
                pid
            }
            Err(e) => {
                let _ = self.oci.delete(&self.record.id);
                self.record.status = ContainerStatus::Stopped;
                let _ = self.save();
                return Err(e.process_start());
            }
        };
        // The runtime's intermediate process may still be the init's parent for a moment:
        // collect it (it is our child, we are the subreaper); once it is gone the init is ours.
        if let Some(ppid) = parent_pid(pid).filter(|p| *p > 1 && u32::try_from(*p).ok() != Some(std::process::id())) {
            let _ = self.sys.wait_pid(ppid, true);
        }
        self.record.pid = Some(pid);
        self.record.status = ContainerStatus::Running;
        children::expect_exit(pid);
        // Had it exited already, it is a zombie nobody waits for: collect it.
        children::reap_runtime_orphans();
        // A short command may be done already: collect it now, and `wait` has nothing to do.
        match self.sys.wait_pid(pid, false) {
            Ok(Some(exit)) => self.record_exit(Some(exit)),
            _ => self.save(),
        }
    }

    /// Our ends of the init's stdin (`-i`) or terminal (`-t`), once, after `start`.
    pub fn take_io(&mut self) -> Option<ProcessIo> {
        self.io.take()
    }

    /// Waits for the process to exit (up to `timeout`, or forever with `None`). Returns
    /// `None` on timeout. The exit status, including whether the OOM killer struck, is
    /// recorded.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<Option<ExitStatus>> {
        if let Some(e) = self.record.exit {
            return Ok(Some(e));
        }
        let pid = match (self.record.status, self.record.pid) {
            (ContainerStatus::Running, Some(pid)) => pid,
            _ => return Err(self.invalid_state("wait")),
        };
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut poll = POLL_MIN;
        let exit = loop {
            match self.sys.wait_pid(pid, false) {
                Ok(Some(e)) => break Some(e),
                Ok(None) => {}
                // Not our child (we restarted since it started): ask the runtime instead.
                Err(Error::Syscall { source: nix::errno::Errno::ECHILD, .. }) => {
                    let st = self.oci.state(&self.record.id)?;
                    if st.as_ref().is_none_or(|s| s.status == "stopped") {
                        break None;
                    }
                }
                Err(e) => return Err(e),
            }
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if remaining.is_some_and(|r| r.is_zero()) {
                return Ok(None);
            }
            // Sleep until the process exits (or the deadline): no polling delay on the exit.
            if !self.sys.wait_until_exited(pid, remaining)? {
                // No exit notification on this kernel: poll.
                sleep(remaining.map_or(poll, |r| r.min(poll)));
                poll = (poll * 2).min(POLL_MAX);
            }
        };
        self.record_exit(exit)?;
        Ok(self.record.exit)
    }

    /// While the process runs, a descriptor that becomes readable when it exits, so that an
    /// event loop can wait without a thread; then [`Self::wait`] collects the exit at once.
    /// `Ok(None)` when not running, or when the kernel cannot tell: [`Self::wait`] then waits.
    pub fn exit_notifier(&self) -> Result<Option<std::os::fd::OwnedFd>> {
        match (self.record.status, self.record.pid) {
            (ContainerStatus::Running, Some(pid)) if self.record.exit.is_none() => self.sys.exit_notifier(pid),
            _ => Ok(None),
        }
    }

    /// Records how the process ended (`None`: unknown, collected by someone else).
    fn record_exit(&mut self, exit: Option<ProcessExit>) -> Result<()> {
        if let Some(pid) = self.record.pid {
            children::collected(pid);
        }
        let (code, signal) = match exit {
            Some(ProcessExit::Code(c)) => (c, None),
            Some(ProcessExit::Signal(s)) => (128 + s, Some(s)),
            None => (255, None),
        };
        self.record.exit = Some(ExitStatus { code, signal, oom_killed: oom_killed(&self.record.id) });
        self.record.status = ContainerStatus::Stopped;
        self.save()
    }

    /// Sends a signal (`TERM`, `KILL`, `HUP`...) to the container's init process.
    pub fn kill(&self, signal: &str) -> Result<()> {
        if !self.record.status.can_kill() {
            return Err(self.invalid_state("kill"));
        }
        self.oci.kill(&self.record.id, signal)
    }

    /// `docker stop`: SIGTERM, then SIGKILL after `timeout`; returns the exit status.
    pub fn stop(&mut self, timeout: Duration) -> Result<ExitStatus> {
        if let Some(e) = self.record.exit {
            return Ok(e);
        }
        if !self.record.status.can_kill() {
            return Err(self.invalid_state("stop"));
        }
        if !timeout.is_zero() {
            self.oci.kill(&self.record.id, "TERM")?;
            if let Some(e) = self.wait(Some(timeout))? {
                return Ok(e);
            }
        }
        self.oci.kill(&self.record.id, "KILL")?;
        match self.wait(Some(Duration::from_secs(30)))? {
            Some(e) => Ok(e),
            None => Err(Error::RuntimeFailed {
                runtime: self.oci.kind().binary().into(),
                command: "kill",
                status: "timeout".into(),
                stderr: "container did not exit 30s after SIGKILL".into(),
            }),
        }
    }

    /// What the runtime reports (`created`, `running`, `stopped`), or `None` if it no longer
    /// knows the container.
    pub fn runtime_status(&self) -> Result<Option<String>> {
        Ok(self.oci.state(&self.record.id)?.map(|s| s.status))
    }

    /// The container's stdout and stderr so far.
    pub fn logs(&self) -> Result<Logs> {
        let read = |p: PathBuf| -> Result<Vec<u8>> {
            match fs::read(&p) {
                Ok(b) => Ok(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(Error::Io { op: "read log", path: p, source: e }),
            }
        };
        let [stdout, stderr] = log_paths(&self.data);
        Ok(Logs { stdout: read(stdout)?, stderr: read(stderr)? })
    }

    /// Makes a stopped container startable again (`docker start` of an exited container, a
    /// restart policy): the runtime forgets the old process and its cgroup; the bundle, the
    /// root file system, the writable layer and the logs stay, and the next [`Self::start`]
    /// appends to the logs.
    pub fn reset(&mut self) -> Result<()> {
        if self.record.status != ContainerStatus::Stopped {
            return Err(self.invalid_state("restart"));
        }
        self.oci.delete(&self.record.id)?;
        self.record.status = ContainerStatus::Created;
        self.record.pid = None;
        self.record.exit = None;
        self.save()
    }

    /// Deletes the container: runtime state, cgroup, secrets tmpfs, bundle. A running
    /// container is refused unless `force`, which kills it first.
    pub fn remove(self, force: bool) -> Result<()> {
        if !self.record.status.can_delete() && !force {
            return Err(self.invalid_state("remove"));
        }
        self.tear_down(Keep::Nothing)
    }

    /// Kills the process if it runs, then deletes the runtime state, the mounts, the bundle
    /// and, unless `keep` says otherwise, the writable layer and logs.
    fn tear_down(mut self, keep: Keep) -> Result<()> {
        // Whatever the layer's fate, it is torn down below.
        let _ = self.settle_layer();
        if !self.record.status.can_delete() && self.record.pid.is_some() {
            let _ = self.stop(Duration::ZERO);
        }
        self.oci.delete(&self.record.id)?;
        self.cleanup_files(keep)
    }

    fn cleanup_files(&mut self, keep: Keep) -> Result<()> {
        self.unmount_files()?;
        let rootfs = self.paths().rootfs();
        if self.record.rootfs_mounted || rootfs.exists() {
            self.sys.unmount(&rootfs)?;
            self.record.rootfs_mounted = false;
        }
        let dirs = match keep {
            Keep::Nothing => vec![&self.dir, &self.data],
            Keep::Data => vec![&self.dir],
        };
        for dir in dirs {
            match fs::remove_dir_all(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::Io { op: "remove", path: dir.clone(), source: e }),
                _ => {}
            }
        }
        Ok(())
    }
}

/// Whether a container's writable layer is made new or found on the data root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layer {
    New,
    Existing,
}

/// What tearing a container down leaves behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keep {
    Nothing,
    /// The writable layer and logs in `<root>/containers/<id>/`.
    Data,
}

/// The parent pid of `pid` (`/proc/<pid>/stat`), if it still exists.
fn parent_pid(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// Whether the memory cgroup of `id` recorded an OOM kill (cgroup v1 `memory.oom_control`
/// or v2 `memory.events`).
fn oom_killed(id: &ContainerId) -> bool {
    let cg = cgroup_path(id);
    let rel = cg.trim_start_matches('/');
    let candidates = [
        PathBuf::from("/sys/fs/cgroup/memory").join(rel).join("memory.oom_control"),
        PathBuf::from("/sys/fs/cgroup").join(rel).join("memory.events"),
    ];
    candidates.iter().any(|p| {
        fs::read_to_string(p).is_ok_and(|s| {
            s.lines().any(|l| l.strip_prefix("oom_kill ").and_then(|n| n.trim().parse::<u64>().ok()).is_some_and(|n| n > 0))
        })
    })
}
