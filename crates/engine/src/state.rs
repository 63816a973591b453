//! The engine: containers by id and name, their lifecycle, and the blocking runtime calls.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade_engine_api::containers::types::{ContainerCreateRequest, WaitCondition};
use palisade_runtime::{ContainerId, ContainerRuntime, ExtraMount, OciRuntimeKind};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::options::translate;

/// Default `docker stop` grace period.
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a container is in its lifecycle, as the Engine API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Created,
    Running,
    Exited,
}

impl Phase {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Exited => "exited",
        }
    }
}

/// The changing part of a container, published through a watch channel.
#[derive(Clone, Debug)]
pub(crate) struct Life {
    pub(crate) phase: Phase,
    pub(crate) pid: i64,
    pub(crate) started_at: Option<OffsetDateTime>,
    pub(crate) finished_at: Option<OffsetDateTime>,
    pub(crate) exit_code: i64,
    pub(crate) oom_killed: bool,
    pub(crate) error: String,
    pub(crate) removed: bool,
}

/// One container the engine knows.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) id: ContainerId,
    pub(crate) name: String,
    pub(crate) created: OffsetDateTime,
    pub(crate) image_id: String,
    pub(crate) request: ContainerCreateRequest,
    pub(crate) path: String,
    pub(crate) args: Vec<String>,
    pub(crate) kind: OciRuntimeKind,
    pub(crate) seccomp_file: Option<PathBuf>,
    pub(crate) life: watch::Sender<Life>,
    /// Serialises start and remove.
    pub(crate) op: tokio::sync::Mutex<()>,
}

impl Entry {
    pub(crate) fn life(&self) -> Life {
        self.life.borrow().clone()
    }
}

pub(crate) struct Inner {
    pub(crate) root: PathBuf,
    pub(crate) crun: ContainerRuntime,
    pub(crate) runc: ContainerRuntime,
    pub(crate) default_kind: OciRuntimeKind,
    /// dockerd's `certs.d`: `<dir>/<host[:port]>/ca.crt` is the CA trusted for that registry.
    pub(crate) registry_certs: PathBuf,
    pub(crate) containers: Mutex<BTreeMap<String, Arc<Entry>>>,
}

/// The container engine of one node. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("root", &self.inner.root).finish_non_exhaustive()
    }
}

/// Runs blocking runtime work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Internal(e.to_string()))?
}

/// Runs short blocking work (a few file writes, one runtime call) in place on a
/// multi-threaded runtime, which hands this worker's other tasks to another: no thread
/// switch on the path of `docker create`/`start`. Elsewhere it is [`blocking`].
pub(crate) async fn blocking_short<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => blocking(f).await,
    }
}

/// Waits for a started container's process to exit and collects its status. While it runs,
/// its pidfd sits in the event loop: no thread per running container, so no number of them
/// can exhaust the blocking pool and leave exits unnoticed. Once it is readable the exit is
/// collected in place. Only where the kernel has no pidfds does a thread wait.
async fn exit_of(mut container: palisade_runtime::Container) -> Result<Option<palisade_runtime::ExitStatus>> {
    let Some(pidfd) = container.exit_notifier()? else {
        return blocking(move || Ok(container.wait(None)?)).await;
    };
    // Tokio deprecates its safe constructor because an arbitrary `AsRawFd` may close or swap
    // its descriptor while registered; an `OwnedFd` owns its descriptor for as long as the
    // `AsyncFd` holds it, which is the contract the `unsafe` replacement asks for.
    #[allow(deprecated)]
    let exited = tokio::io::unix::AsyncFd::with_interest(pidfd, tokio::io::Interest::READABLE)
        .map_err(io("watching a container's process"))?;
    let _ready = exited.readable().await.map_err(io("watching a container's process"))?;
    blocking_short(move || Ok(container.wait(None)?)).await
}

fn io(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let op = op.into();
    move |source| Error::Io { op, source }
}

/// A file a service task receives: a secret (`/run/secrets/<target>`) or a config (`target`,
/// absolute). The value is zeroized on drop and never written anywhere but a tmpfs.
#[derive(Clone)]
pub struct TaskFile {
    /// A secret, else a config.
    pub secret: bool,
    /// Secrets: the file name; configs: the absolute path.
    pub target: String,
    /// Owner in the container.
    pub uid: u32,
    /// Group in the container.
    pub gid: u32,
    /// Permission bits.
    pub mode: u32,
    /// The value.
    pub data: zeroize::Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for TaskFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskFile").field("secret", &self.secret).field("target", &self.target).finish_non_exhaustive()
    }
}

/// Size of the tmpfs behind `/run/secrets` (secrets are under 500 KiB each).
const SECRETS_TMPFS_SIZE: u64 = 16 << 20;

/// The mounts `files` need: one secrets tmpfs, and one tmpfs file per config.
fn file_mounts(files: &[TaskFile]) -> Vec<ExtraMount> {
    let mut mounts = Vec::new();
    if files.iter().any(|f| f.secret) {
        mounts.push(ExtraMount::SecretsTmpfs { destination: "/run/secrets".into(), size_bytes: SECRETS_TMPFS_SIZE });
    }
    for (index, file) in files.iter().filter(|f| !f.secret).enumerate() {
        mounts.push(ExtraMount::TmpfsFile { destination: file.target.clone(), name: format!("config-{index}") });
    }
    mounts
}

fn write_files(container: &palisade_runtime::Container, files: &[TaskFile]) -> Result<()> {
    for (index, file) in files.iter().filter(|f| !f.secret).enumerate() {
        container.write_file(&format!("config-{index}"), &file.data, file.uid, file.gid, file.mode)?;
    }
    for file in files.iter().filter(|f| f.secret) {
        container.write_secret(&file.target, &file.data, file.uid, file.gid, file.mode)?;
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.len() >= 2
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

impl Engine {
    /// Opens the runtime under `root` with `default_kind` for containers that name none, and
    /// removes every container (processes, cgroups, mounts, bundles) a previous run left.
    /// Pulls trust `<registry_certs>/<host[:port]>/ca.crt` for a registry's TLS certificate.
    /// Makes the process a child subreaper. Blocking.
    pub fn open(root: &Path, default_kind: OciRuntimeKind, registry_certs: &Path) -> Result<Self> {
        let crun = ContainerRuntime::open(root, OciRuntimeKind::Crun)?;
        let runc = ContainerRuntime::open(root, OciRuntimeKind::Runc)?;
        // After the runtimes made it: a new data root does not exist before.
        if palisade_runtime::on_ext4_without_journal(root) {
            tracing::warn!(
                "the data root {} is on an ext4 file system without a journal: there every new file is searched for past \
                 all files deleted in the last minutes, so creating containers gets slower the more of them come and go; \
                 a data root on ext4 with a journal (the mkfs default) or on xfs does not have this cost",
                root.display()
            );
        }
        // Each leftover with the runtime that created it, then whatever has no readable record.
        for id in crun.list()? {
            let is_runc = crun.container(&id).is_ok_and(|c| c.runtime() == OciRuntimeKind::Runc);
            let rt = if is_runc { &runc } else { &crun };
            match rt.container(&id).and_then(|c| c.remove(true)) {
                Ok(()) => tracing::info!("removed container {id} left by a previous run"),
                Err(e) => tracing::warn!("removing leftover container {id}: {e}"),
            }
        }
        for id in crun.cleanup_leftovers()? {
            tracing::info!("removed unreadable container {id} left by a previous run");
        }
        let engine_dir = root.join("engine");
        let _ = std::fs::remove_dir_all(&engine_dir);
        for d in ["seccomp", "tmp"] {
            std::fs::create_dir_all(engine_dir.join(d)).map_err(io(format!("creating {}", engine_dir.join(d).display())))?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                root: root.to_owned(),
                crun,
                runc,
                default_kind,
                registry_certs: registry_certs.to_owned(),
                containers: Mutex::new(BTreeMap::new()) }),
        })
    }

    /// The OCI runtime used when a container names none.
    pub fn default_runtime(&self) -> OciRuntimeKind {
        self.inner.default_kind
    }

    pub(crate) fn runtime(&self, kind: OciRuntimeKind) -> &ContainerRuntime {
        match kind {
            OciRuntimeKind::Runc => &self.inner.runc,
            _ => &self.inner.crun,
        }
    }

    pub(crate) fn engine_dir(&self) -> PathBuf {
        self.inner.root.join("engine")
    }

    fn table(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Entry>>> {
        self.inner.containers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn entries(&self) -> Vec<Arc<Entry>> {
        self.table().values().cloned().collect()
    }

    /// By full id, name (with or without `/`), or unique id prefix.
    pub(crate) fn resolve(&self, reference: &str) -> Result<Arc<Entry>> {
        let table = self.table();
        if let Some(e) = table.get(reference) {
            return Ok(Arc::clone(e));
        }
        let name = reference.strip_prefix('/').unwrap_or(reference);
        if let Some(e) = table.values().find(|e| e.name == name) {
            return Ok(Arc::clone(e));
        }
        let mut matches = table.iter().filter(|(id, _)| !reference.is_empty() && id.starts_with(reference));
        match (matches.next(), matches.next()) {
            (Some((_, e)), None) => Ok(Arc::clone(e)),
            (Some(_), Some(_)) => Err(Error::InvalidArgument(format!("multiple IDs found with provided prefix: {reference}"))),
            _ => Err(Error::NoSuchContainer(reference.to_owned())),
        }
    }

    /// A service task's container: `docker create` plus its secret and config files, each on
    /// a tmpfs created for the container (secrets under `/run/secrets`, configs at their
    /// targets). Returns the container ID.
    pub async fn create_task(&self, name: String, request: ContainerCreateRequest, files: Vec<TaskFile>) -> Result<String> {
        self.create(Some(name), request, files).await.map(|(id, _)| id)
    }

    /// Unmounts the secret and config files of a container that has exited.
    pub async fn release_files(&self, reference: &str) -> Result<()> {
        let entry = self.resolve(reference)?;
        let _op = entry.op.lock().await;
        if entry.life().removed {
            return Ok(());
        }
        let (this, id, kind) = (self.clone(), entry.id.clone(), entry.kind);
        blocking(move || Ok(this.runtime(kind).container(&id)?.release_files()?)).await
    }

    /// `docker create` (with `files` for a service task).
    pub(crate) async fn create(
        &self,
        name: Option<String>,
        request: ContainerCreateRequest,
        files: Vec<TaskFile>,
    ) -> Result<(String, Vec<String>)> {
        let id = ContainerId::random();
        let name = match name {
            Some(n) => {
                let n = n.strip_prefix('/').unwrap_or(&n).to_owned();
                if !valid_name(&n) {
                    return Err(Error::InvalidArgument(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                n
            }
            None => format!("palisade_{}", &id.as_str()[..12]),
        };
        self.check_name(&name)?;
        if request.config.image.is_empty() {
            return Err(Error::InvalidArgument("config cannot be empty in order to create a container".into()));
        }
        let profile = self.engine_dir().join("seccomp").join(format!("{id}.json"));
        let mut translated = translate(&request, self.inner.default_kind, &profile)?;
        translated.options.mounts.extend(file_mounts(&files));
        if let Some((path, json)) = &translated.seccomp_file {
            std::fs::write(path, json).map_err(io(format!("writing {}", path.display())))?;
        }
        let this = self.clone();
        let (image, cid) = (request.config.image.clone(), id.clone());
        let options = translated.options.clone();
        let kind = translated.kind;
        let created = blocking_short(move || {
            let rt = this.runtime(kind);
            let img = rt.images().inspect(&image).map_err(|e| match e {
                palisade_runtime::Error::ImageNotFound(_) | palisade_runtime::Error::InvalidReference(_) => {
                    Error::NoSuchImage(image.clone())
                }
                e => e.into(),
            })?;
            let entrypoint = match &options.entrypoint {
                Some(e) => e.clone(),
                None => img.config.config().as_ref().and_then(|c| c.entrypoint().clone()).unwrap_or_default(),
            };
            let cmd = if !options.args.is_empty() {
                options.args.clone()
            } else if options.entrypoint.is_some() {
                Vec::new()
            } else {
                img.config.config().as_ref().and_then(|c| c.cmd().clone()).unwrap_or_default()
            };
            let container = rt.create_from_image(cid, &img, &options)?;
            if let Err(e) = write_files(&container, &files) {
                let _ = container.remove(true);
                return Err(e);
            }
            drop(files);
            Ok((img.summary.id.to_string(), entrypoint.into_iter().chain(cmd).collect::<Vec<_>>()))
        })
        .await;
        let (image_id, argv) = match created {
            Ok(v) => v,
            Err(e) => {
                let _ = std::fs::remove_file(&profile);
                return Err(e);
            }
        };
        let life = Life {
            phase: Phase::Created,
            pid: 0,
            started_at: None,
            finished_at: None,
            exit_code: 0,
            oom_killed: false,
            error: String::new(),
            removed: false,
        };
        let entry = Arc::new(Entry {
            id: id.clone(),
            name: name.clone(),
            created: OffsetDateTime::now_utc(),
            image_id,
            path: argv.first().cloned().unwrap_or_default(),
            args: argv.iter().skip(1).cloned().collect(),
            request,
            kind,
            seccomp_file: translated.seccomp_file.map(|(p, _)| p),
            life: watch::Sender::new(life),
            op: tokio::sync::Mutex::new(()),
        });
        let conflict = {
            let mut table = self.table();
            match table.values().find(|e| e.name == name) {
                Some(other) => Some(other.id.to_string()),
                None => {
                    table.insert(id.to_string(), Arc::clone(&entry));
                    None
                }
            }
        };
        if let Some(other) = conflict {
            self.discard(&entry).await;
            return Err(Error::NameInUse { name, id: other });
        }
        Ok((id.to_string(), Vec::new()))
    }

    fn check_name(&self, name: &str) -> Result<()> {
        match self.table().values().find(|e| e.name == name) {
            Some(e) => Err(Error::NameInUse { name: name.to_owned(), id: e.id.to_string() }),
            None => Ok(()),
        }
    }

    async fn discard(&self, entry: &Entry) {
        let (this, id, kind) = (self.clone(), entry.id.clone(), entry.kind);
        let _ = blocking(move || Ok(this.runtime(kind).container(&id)?.remove(true)?)).await;
        if let Some(p) = &entry.seccomp_file {
            let _ = std::fs::remove_file(p);
        }
    }

    /// `docker start`: `false` if it was already started.
    pub(crate) async fn start(&self, reference: &str) -> Result<bool> {
        let entry = self.resolve(reference)?;
        let _op = entry.op.lock().await;
        match entry.life().phase {
            Phase::Created => {}
            Phase::Running => return Ok(false),
            Phase::Exited => return Err(Error::Conflict(format!("container {} has exited; Palisade does not restart containers", entry.name))),
        }
        let (this, id, kind) = (self.clone(), entry.id.clone(), entry.kind);
        let started = blocking_short(move || {
            let mut c = this.runtime(kind).container(&id)?;
            c.start()?;
            Ok(c)
        })
        .await;
        let container = match started {
            Ok(c) => c,
            Err(e) => {
                let mut message = e.to_string();
                let not_found = message.contains("not found") || message.contains("No such file");
                if not_found {
                    // The docker CLI exits 127 on this phrase, as for dockerd's exec errors.
                    message = format!("exec: executable file not found in $PATH: {message}");
                }
                let code = if not_found { 127 } else { 126 };
                entry.life.send_modify(|l| {
                    l.phase = Phase::Exited;
                    l.exit_code = code;
                    l.error = message.clone();
                    l.finished_at = Some(OffsetDateTime::now_utc());
                });
                if entry.request.host_config.auto_remove {
                    let (this, id) = (self.clone(), entry.id.to_string());
                    tokio::spawn(async move {
                        if let Err(e) = this.remove(&id, true).await {
                            tracing::warn!("auto-removing container {id}: {e}");
                        }
                    });
                }
                return Err(Error::StartFailed(message));
            }
        };
        let pid = container.pid().unwrap_or_default();
        entry.life.send_modify(|l| {
            l.phase = Phase::Running;
            l.pid = i64::from(pid);
            l.started_at = Some(OffsetDateTime::now_utc());
        });
        let this = self.clone();
        let waiter = Arc::clone(&entry);
        tokio::spawn(async move {
            let exit = match container.exit_status() {
                // Exited before `start` returned: collected already.
                Some(exit) => Ok(Some(exit)),
                None => exit_of(container).await,
            };
            waiter.life.send_modify(|l| {
                l.phase = Phase::Exited;
                l.pid = 0;
                l.finished_at = Some(OffsetDateTime::now_utc());
                match exit {
                    Ok(Some(e)) => {
                        l.exit_code = i64::from(e.code);
                        l.oom_killed = e.oom_killed;
                    }
                    Ok(None) => l.exit_code = 255,
                    Err(e) => {
                        l.exit_code = 255;
                        l.error = e.to_string();
                    }
                }
            });
            if waiter.request.host_config.auto_remove {
                if let Err(e) = this.remove(waiter.id.as_str(), true).await {
                    tracing::warn!("auto-removing container {}: {e}", waiter.id);
                }
            }
        });
        Ok(true)
    }

    /// Resolves when `condition` holds; returns the exit code.
    pub(crate) async fn wait(entry: Arc<Entry>, condition: WaitCondition) -> i64 {
        let mut rx = entry.life.subscribe();
        drop(entry);
        loop {
            let done = {
                let l = rx.borrow_and_update();
                match condition {
                    WaitCondition::NotRunning => l.phase != Phase::Running,
                    WaitCondition::NextExit => l.phase == Phase::Exited,
                    WaitCondition::Removed => l.removed,
                }
            };
            if done {
                return rx.borrow().exit_code;
            }
            if rx.changed().await.is_err() {
                return rx.borrow().exit_code;
            }
        }
    }

    async fn wait_exit(entry: &Arc<Entry>, timeout: Option<Duration>) -> bool {
        let wait = Self::wait(Arc::clone(entry), WaitCondition::NotRunning);
        match timeout {
            Some(t) => tokio::time::timeout(t, wait).await.is_ok(),
            None => {
                wait.await;
                true
            }
        }
    }

    /// `docker kill`.
    pub(crate) async fn kill(&self, reference: &str, signal: String) -> Result<()> {
        let entry = self.resolve(reference)?;
        if entry.life().phase != Phase::Running {
            return Err(Error::Conflict(format!("Cannot kill container: {reference}: container {} is not running", entry.id)));
        }
        let signal = signal.trim_start_matches("SIG").to_owned();
        self.signal(&entry, signal).await
    }

    async fn signal(&self, entry: &Entry, signal: String) -> Result<()> {
        let (this, id, kind) = (self.clone(), entry.id.clone(), entry.kind);
        blocking(move || Ok(this.runtime(kind).container(&id)?.kill(&signal)?)).await
    }

    /// `docker stop`: `false` if it was not running.
    pub(crate) async fn stop(&self, reference: &str, timeout: Option<i64>, signal: Option<String>) -> Result<bool> {
        let entry = self.resolve(reference)?;
        if entry.life().phase != Phase::Running {
            return Ok(false);
        }
        let signal = signal.map(|s| s.trim_start_matches("SIG").to_owned()).unwrap_or_else(|| "TERM".into());
        let grace = match timeout {
            Some(t) if t < 0 => None,
            Some(t) => Some(Duration::from_secs(t.unsigned_abs())),
            None => Some(DEFAULT_STOP_TIMEOUT),
        };
        self.signal(&entry, signal).await?;
        if !Self::wait_exit(&entry, grace).await {
            self.signal(&entry, "KILL".into()).await?;
            Self::wait_exit(&entry, None).await;
        }
        Ok(true)
    }

    /// `docker rm [-f]`.
    pub(crate) async fn remove(&self, reference: &str, force: bool) -> Result<()> {
        let entry = self.resolve(reference)?;
        let _op = entry.op.lock().await;
        if entry.life().removed {
            return Ok(());
        }
        if entry.life().phase == Phase::Running {
            if !force {
                return Err(Error::RemoveRunning(entry.name.clone()));
            }
            self.signal(&entry, "KILL".into()).await?;
            Self::wait_exit(&entry, None).await;
        }
        let (this, id, kind) = (self.clone(), entry.id.clone(), entry.kind);
        blocking(move || Ok(this.runtime(kind).container(&id)?.remove(false)?)).await?;
        if let Some(p) = &entry.seccomp_file {
            let _ = std::fs::remove_file(p);
        }
        self.table().remove(entry.id.as_str());
        entry.life.send_modify(|l| l.removed = true);
        Ok(())
    }
}
