//! The engine: containers by id and name, their lifecycle, and the blocking runtime calls.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade_engine_api::containers::types::{ContainerCreateRequest, WaitCondition};
use palisade_net::ServiceNames;
use palisade_runtime::{ContainerId, ContainerRuntime, ContainerStatus, ExtraMount, OciRuntimeKind};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::mounts::{image_volumes, ProtectedPaths, UsedVolume};
use crate::options::{translate, Translated};
use crate::records::{Record, Records};
use crate::restart::{next_delay, Policy};
use crate::volumes::{CopyUp, Volumes};

/// Default `docker stop` grace period, also what a stopping daemon gives its containers.
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a container may take to exit after SIGKILL before stop and rm give up on it.
const KILL_WAIT: Duration = Duration::from_secs(30);

/// What [`Engine::open`] needs.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The runtime's data root (images, containers, volumes, the engine's records).
    pub root: PathBuf,
    /// The OCI runtime of containers that name none.
    pub default_runtime: OciRuntimeKind,
    /// dockerd's `certs.d`: `<dir>/<host[:port]>/ca.crt` is the CA trusted for that registry.
    pub registry_certs: PathBuf,
    /// Host paths no container may bind (the daemon's data root, its API socket); the
    /// engine adds its own root and runtime state.
    pub protected_paths: ProtectedPaths,
    /// Container networks (the default bridge, user networks); `None`: containers have
    /// `none` or `host` only. Needs a Tokio runtime (for the embedded DNS).
    pub networks: Option<palisade_net::NetConfig>,
}

/// Where a container is in its lifecycle, as the Engine API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Created,
    Running,
    Exited,
    /// Exited, and its restart policy will start it again after a delay.
    Restarting,
}

impl Phase {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Exited => "exited",
            Self::Restarting => "restarting",
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
    /// How many times its process has exited (waiters for the next exit count on it).
    pub(crate) exits: u64,
    /// Starts by the restart policy since the user last started it.
    pub(crate) restart_count: u32,
    /// The user stopped it: no policy restarts it until the user starts it.
    pub(crate) stopped_by_user: bool,
    /// The delay before the last policy restart (the next one doubles it).
    pub(crate) last_delay: Option<Duration>,
}

impl Life {
    fn new(phase: Phase) -> Self {
        Self {
            phase,
            pid: 0,
            started_at: None,
            finished_at: None,
            exit_code: 0,
            oom_killed: false,
            error: String::new(),
            removed: false,
            exits: 0,
            restart_count: 0,
            stopped_by_user: false,
            last_delay: None,
        }
    }
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
    /// The named and anonymous volumes it mounts.
    pub(crate) volumes: Vec<UsedVolume>,
    /// Its mounts as `docker inspect` shows them.
    pub(crate) mounts: Vec<serde_json::Value>,
    pub(crate) policy: Policy,
    /// Kept across daemon restarts (every container but service tasks).
    pub(crate) persistent: bool,
    pub(crate) life: watch::Sender<Life>,
    /// Serialises start and remove.
    pub(crate) op: tokio::sync::Mutex<()>,
    /// Its stdin or terminal while running (`-i`, `-t`).
    pub(crate) stdio: crate::attach::Stdio,
    /// The swarm networks it joins while running (see [`crate::cluster_networks`]).
    pub(crate) cluster: Vec<crate::cluster_networks::ClusterEndpoint>,
}

impl Entry {
    pub(crate) fn life(&self) -> Life {
        self.life.borrow().clone()
    }

    fn record(&self) -> Record {
        let life = self.life();
        Record {
            id: self.id.clone(),
            name: self.name.clone(),
            created: self.created,
            image_id: self.image_id.clone(),
            request: self.request.clone(),
            path: self.path.clone(),
            args: self.args.clone(),
            runtime: self.kind.into(),
            volumes: self.volumes.clone(),
            restart_count: life.restart_count,
            stopped_by_user: life.stopped_by_user,
            started_at: life.started_at,
            finished_at: life.finished_at,
            exit_code: life.exit_code,
            oom_killed: life.oom_killed,
            error: life.error,
            networks: None,
            cluster_networks: self.cluster.clone(),
        }
    }
}

pub(crate) struct Inner {
    pub(crate) root: PathBuf,
    /// Every container of the data root, under crun or runc as each was created.
    pub(crate) runtime: ContainerRuntime,
    pub(crate) default_kind: OciRuntimeKind,
    /// dockerd's `certs.d`: `<dir>/<host[:port]>/ca.crt` is the CA trusted for that registry.
    pub(crate) registry_certs: PathBuf,
    pub(crate) containers: Mutex<BTreeMap<String, Arc<Entry>>>,
    pub(crate) records: Records,
    pub(crate) volumes: Volumes,
    pub(crate) protected: ProtectedPaths,
    /// Set once the daemon stops: exits are then not restarted by policies.
    pub(crate) stopping: std::sync::atomic::AtomicBool,
    /// Set once by [`Engine::enable_networks`].
    pub(crate) net: std::sync::OnceLock<palisade_net::Networks>,
    pub(crate) execs: crate::exec::Execs,
    pub(crate) events: crate::events::Events,
    /// Set once by [`Engine::set_image_gate`]: asked before every container create.
    pub(crate) gate: std::sync::OnceLock<Box<dyn crate::gate::ImageGate>>,
    /// Set once by [`Engine::set_cluster_networks`]: the node's swarm networks.
    pub(crate) cluster: std::sync::OnceLock<Box<dyn crate::cluster_networks::ClusterNetworks>>,
    pub(crate) cluster_sandboxes: crate::cluster_networks::ClusterSandboxes,
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

pub(crate) fn io(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
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

/// dockerd's rule for container and volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub(crate) fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.len() >= 2
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

impl Engine {
    /// Opens the runtime under `config.root`, and brings back the containers of the previous
    /// run: each one's leftover process and mounts are torn down and its bundle is made anew
    /// over its surviving writable layer, so that `ps -a`, `inspect` and `logs` show it and
    /// `start` runs it again; containers without a record (service tasks, interrupted
    /// creates) are removed. Call [`Self::resume`] once serving to start those whose restart
    /// policy says so. Makes the process a child subreaper. Blocking.
    pub fn open(config: EngineConfig) -> Result<Self> {
        let root = config.root.as_path();
        let runtime = ContainerRuntime::open(root, config.default_runtime)?;
        // After the runtime made it: a new data root does not exist before.
        if palisade_runtime::on_ext4_without_journal(root) {
            tracing::warn!(
                "the data root {} is on an ext4 file system without a journal: there every new file is searched for past \
                 all files deleted in the last minutes, so creating containers gets slower the more of them come and go; \
                 a data root on ext4 with a journal (the mkfs default) or on xfs does not have this cost",
                root.display()
            );
        }
        let engine_dir = root.join("engine");
        for d in ["seccomp", "tmp"] {
            let dir = engine_dir.join(d);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        }
        let records = Records::open(&engine_dir.join("containers"))?;
        let kept = records.load_all()?;
        let keep: Vec<ContainerId> = kept.iter().map(|r| r.id.clone()).collect();
        // Each leftover without a record, under the OCI runtime that created it, then whatever
        // has no readable runtime record.
        for id in runtime.list()?.into_iter().filter(|id| !keep.contains(id)) {
            match runtime.discard(&id) {
                Ok(()) => tracing::info!("removed container {id} left by a previous run"),
                Err(e) => tracing::warn!("removing leftover container {id}: {e}"),
            }
        }
        for id in runtime.cleanup_leftovers_except(&keep)? {
            tracing::info!("removed unreadable container {id} left by a previous run");
        }
        let mut protected = config.protected_paths;
        protected.add(root.to_owned());
        protected.add(palisade_runtime::state_dir_for(root)?);
        let engine = Self {
            inner: Arc::new(Inner {
                root: root.to_owned(),
                runtime,
                default_kind: config.default_runtime,
                registry_certs: config.registry_certs,
                containers: Mutex::new(BTreeMap::new()),
                records,
                volumes: Volumes::open(root)?,
                protected,
                stopping: std::sync::atomic::AtomicBool::new(false),
                net: std::sync::OnceLock::new(),
                execs: crate::exec::Execs::default(),
                events: crate::events::Events::default(),
                gate: std::sync::OnceLock::new(),
                cluster: std::sync::OnceLock::new(),
                cluster_sandboxes: crate::cluster_networks::ClusterSandboxes::default(),
            }),
        };
        // Before the containers come back: their networks must exist to be joined.
        if let Some(net) = config.networks {
            engine.enable_networks(net)?;
        }
        for record in kept {
            engine.restore(record);
        }
        Ok(engine)
    }

    /// Brings back one container of the previous run (see [`Self::open`]). A container that
    /// cannot be restored (its image or a bind source is gone) is still listed, with the
    /// reason as its error, and can be removed.
    fn restore(&self, record: Record) {
        let kind = OciRuntimeKind::from(record.runtime);
        let profile = self.engine_dir().join("seccomp").join(format!("{}.json", record.id));
        let restored = (|| -> Result<(Option<PathBuf>, Held)> {
            let rt = self.runtime();
            let img = rt.images().inspect(&record.image_id)?;
            let (mut translated, held) = self.options_for(&record.request, &img, &profile, Some(&record.volumes))?;
            // Under the runtime it was created with, whatever the default is now.
            translated.options.runtime = Some(kind);
            let wired = crate::networks::wired_request(&record.request, record.networks.as_deref());
            let names = self.cluster_names(record.id.as_str(), &record.cluster_networks);
            self.prepare_network(record.id.as_str(), &record.name, &wired, names, &mut translated.options)?;
            rt.restore(record.id.clone(), &img, &translated.options)?;
            Ok((translated.seccomp_file.map(|(p, _)| p), held))
        })();
        let phase = if record.started_at.is_some() { Phase::Exited } else { Phase::Created };
        let mut life = Life::new(phase);
        life.started_at = record.started_at;
        life.finished_at = record.finished_at;
        life.exit_code = record.exit_code;
        life.oom_killed = record.oom_killed;
        life.error = record.error.clone();
        life.restart_count = record.restart_count;
        life.stopped_by_user = record.stopped_by_user;
        let (seccomp_file, held) = match restored {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("container {} ({}) cannot be restored: {e}", record.name, record.id);
                life.error = format!("cannot be restored after a daemon restart: {e}");
                (None, Held { volumes: record.volumes.clone(), mounts: Vec::new(), copy_up: Vec::new() })
            }
        };
        let policy = Policy::parse(&record.request.host_config.restart_policy, false).unwrap_or(Policy::No);
        let entry = Entry {
            id: record.id,
            name: record.name,
            created: record.created,
            image_id: record.image_id,
            request: record.request,
            path: record.path,
            args: record.args,
            kind,
            seccomp_file,
            volumes: held.volumes,
            mounts: held.mounts,
            policy,
            persistent: true,
            life: watch::Sender::new(life),
            op: tokio::sync::Mutex::new(()),
            stdio: crate::attach::Stdio::default(),
            cluster: record.cluster_networks,
        };
        self.table().insert(entry.id.to_string(), Arc::new(entry));
    }

    /// Starts the containers of the previous run whose restart policy says so (`always`;
    /// `unless-stopped` unless the user stopped it), and from now on collects the OCI
    /// runtime's orphaned processes as they exit (see [`collect_runtime_orphans`]).
    pub async fn resume(&self) {
        collect_runtime_orphans();
        for entry in self.entries() {
            let life = entry.life();
            if life.phase != Phase::Running && life.error.is_empty() && entry.policy.starts_with_daemon(life.stopped_by_user) {
                if let Err(e) = self.start_entry(&entry, StartBy::Daemon).await {
                    tracing::warn!("starting container {} again: {e}", entry.name);
                }
            }
        }
    }

    /// Stops every running container (SIGTERM, SIGKILL after the stop timeout), as a
    /// stopping daemon does; none is restarted by its policy now, and `always` and
    /// `unless-stopped` ones start again with the next daemon.
    pub async fn shutdown(&self) {
        self.inner.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        let running: Vec<_> = self.entries().into_iter().filter(|e| e.life().phase == Phase::Running).collect();
        let stops = running.iter().map(|entry| async move {
            if let Err(e) = self.stop_entry(entry, "TERM".into(), Some(DEFAULT_STOP_TIMEOUT)).await {
                tracing::warn!("stopping container {}: {e}", entry.name);
            }
        });
        futures::future::join_all(stops).await;
        // The exits are recorded by their watchers, which may not have saved them yet: the
        // process ends once this returns.
        for entry in running {
            self.persist(&entry);
        }
    }

    /// The runtime options of `request` for `image`: its translation, with the mounts it asks
    /// for and the image's `VOLUME`s resolved (volumes made) and an inlined seccomp profile
    /// written to `profile`. `previous` names the volumes a restored container had, so that
    /// its anonymous ones are found again rather than made anew.
    fn options_for(
        &self,
        request: &ContainerCreateRequest,
        image: &palisade_runtime::Image,
        profile: &Path,
        previous: Option<&[UsedVolume]>,
    ) -> Result<(Translated, Held)> {
        let mut translated = translate(request, self.inner.default_kind, profile)?;
        let (volumes, protected) = (&self.inner.volumes, &self.inner.protected);
        let resolved = crate::mounts::resolve(request, &image_volumes(image), volumes, protected, previous)?;
        translated.options.mounts.extend(resolved.mounts);
        translated.options.tmpfs.extend(resolved.tmpfs);
        if let Some((path, json)) = &translated.seccomp_file {
            std::fs::write(path, json).map_err(io(format!("writing {}", path.display())))?;
        }
        Ok((translated, Held { volumes: resolved.volumes, mounts: resolved.views, copy_up: resolved.copy_up }))
    }

    /// The OCI runtime used when a container names none.
    pub fn default_runtime(&self) -> OciRuntimeKind {
        self.inner.default_kind
    }

    pub(crate) fn runtime(&self) -> &ContainerRuntime {
        &self.inner.runtime
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
    /// targets). A task on overlay networks has `service_names`, which its embedded DNS
    /// server resolves too (see [`palisade_net::ContainerRequest::service_names`]). Returns
    /// the container ID.
    pub async fn create_task(
        &self,
        name: String,
        request: ContainerCreateRequest,
        files: Vec<TaskFile>,
        service_names: Option<Arc<dyn ServiceNames>>,
    ) -> Result<String> {
        self.create(Some(name), request, files, service_names, false).await.map(|(id, _)| id)
    }

    /// Unmounts the secret and config files of a container that has exited.
    pub async fn release_files(&self, reference: &str) -> Result<()> {
        let entry = self.resolve(reference)?;
        let _op = entry.op.lock().await;
        if entry.life().removed {
            return Ok(());
        }
        let (this, id) = (self.clone(), entry.id.clone());
        blocking(move || Ok(this.runtime().container(&id)?.release_files()?)).await
    }

    /// `docker create`, or a service task's container with its `files` and the names of its
    /// services (`task_names`). Only the former is `persistent`, kept across daemon restarts:
    /// the cluster recreates its tasks.
    pub(crate) async fn create(
        &self,
        name: Option<String>,
        request: ContainerCreateRequest,
        files: Vec<TaskFile>,
        task_names: Option<Arc<dyn ServiceNames>>,
        persistent: bool,
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
        let policy = Policy::parse(&request.host_config.restart_policy, request.host_config.auto_remove)?;
        let profile = self.engine_dir().join("seccomp").join(format!("{id}.json"));
        let this = self.clone();
        let image = request.config.image.clone();
        let img = blocking_short(move || {
            this.runtime().images().inspect(&image).map_err(crate::images::not_found(&image))
        })
        .await?;
        let warnings = self.admit_image(&format!("container create {name}"), &request.config.image, &img).await?;
        let (mut translated, held) = self.options_for(&request, &img, &profile, None)?;
        translated.options.mounts.extend(file_mounts(&files));
        let (local, cluster) = match self.split_networks(&request).await {
            Ok(split) => split,
            Err(e) => {
                self.remove_anonymous_volumes(&held.volumes);
                return Err(e);
            }
        };
        let names = task_names.or_else(|| self.cluster_names(id.as_str(), &cluster));
        let prepared = self.prepare_network(id.as_str(), &name, &local, names, &mut translated.options);
        drop(local);
        if let Err(e) = prepared {
            self.forget_cluster(id.as_str());
            self.remove_anonymous_volumes(&held.volumes);
            return Err(e);
        }
        let this = self.clone();
        let cid = id.clone();
        let options = translated.options.clone();
        let kind = translated.kind;
        let copy_up = held.copy_up.clone();
        let created = blocking_short(move || {
            let rt = this.runtime();
            let argv = palisade_runtime::command_line(&img.config, &options);
            let container = rt.create_from_image(cid, &img, &options)?;
            let filled = rt.image_root(&img, &options).map_err(Error::from).and_then(|root| crate::volumes::copy_up(&root, &copy_up));
            if let Err(e) = filled.and_then(|()| write_files(&container, &files)) {
                let _ = container.remove(true);
                return Err(e);
            }
            drop(files);
            Ok((img.summary.id.to_string(), argv))
        })
        .await;
        let (image_id, argv) = match created {
            Ok(v) => v,
            Err(e) => {
                let _ = std::fs::remove_file(&profile);
                self.remove_anonymous_volumes(&held.volumes);
                self.forget_network(id.as_str()).await;
                return Err(e);
            }
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
            volumes: held.volumes,
            mounts: held.mounts,
            policy,
            persistent,
            life: watch::Sender::new(Life::new(Phase::Created)),
            op: tokio::sync::Mutex::new(()),
            stdio: crate::attach::Stdio::default(),
            cluster,
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
        if entry.persistent {
            if let Err(e) = self.inner.records.save(&self.record_of(&entry)) {
                // Not acknowledged unless it would survive a restart.
                self.table().remove(id.as_str());
                self.discard(&entry).await;
                return Err(e);
            }
        }
        self.container_event(&entry, "create", &[]);
        Ok((id.to_string(), warnings))
    }

    fn check_name(&self, name: &str) -> Result<()> {
        match self.table().values().find(|e| e.name == name) {
            Some(e) => Err(Error::NameInUse { name: name.to_owned(), id: e.id.to_string() }),
            None => Ok(()),
        }
    }

    async fn discard(&self, entry: &Entry) {
        let (this, id) = (self.clone(), entry.id.clone());
        let _ = blocking(move || Ok(this.runtime().discard(&id)?)).await;
        if let Some(p) = &entry.seccomp_file {
            let _ = std::fs::remove_file(p);
        }
        self.remove_anonymous_volumes(&entry.volumes);
        self.forget_network(entry.id.as_str()).await;
    }

    /// Saves what a restart must know of `entry`; a failure is reported, not returned: the
    /// container's state has already changed.
    pub(crate) fn persist(&self, entry: &Entry) {
        if entry.persistent && !entry.life.borrow().removed {
            if let Err(e) = self.inner.records.save(&self.record_of(entry)) {
                tracing::warn!("saving the record of container {}: {e}", entry.name);
            }
        }
    }

    /// What a restart must know of `entry`, with the local networks it is on as they stand
    /// (a container on swarm networks only is restored without them: they are in its
    /// `cluster_networks`).
    fn record_of(&self, entry: &Entry) -> Record {
        let mut record = entry.record();
        record.networks = self.recorded_networks(entry.id.as_str());
        record
    }

    /// `docker start`: `false` if it was already running.
    pub(crate) async fn start(&self, reference: &str) -> Result<bool> {
        let entry = self.resolve(reference)?;
        self.start_entry(&entry, StartBy::User).await
    }

    /// Starts `entry`'s process, from `Created`, or again after it exited.
    pub(crate) async fn start_entry(&self, entry: &Arc<Entry>, by: StartBy) -> Result<bool> {
        let _op = entry.op.lock().await;
        let life = entry.life();
        if life.removed {
            return Err(Error::NoSuchContainer(entry.id.to_string()));
        }
        match (life.phase, by) {
            (Phase::Running, _) => return Ok(false),
            // Only a pending policy restart is the policy's to carry out: the user may have
            // stopped or started the container meanwhile.
            (Phase::Restarting, StartBy::Policy) | (_, StartBy::User | StartBy::Daemon) => {}
            (_, StartBy::Policy) => return Ok(false),
        }
        self.attach_network(entry).await?;
        let address = self.network_address(entry.id.as_str());
        let (this, id) = (self.clone(), entry.id.clone());
        let started = blocking_short(move || {
            let mut c = this.runtime().container(&id)?;
            if c.status() == ContainerStatus::Stopped {
                c.reset()?;
            }
            c.set_address(address)?;
            c.start()?;
            Ok(c)
        })
        .await;
        entry.life.send_modify(|l| match by {
            StartBy::User => {
                l.stopped_by_user = false;
                l.restart_count = 0;
                l.last_delay = None;
            }
            StartBy::Policy => l.restart_count += 1,
            StartBy::Daemon => {}
        });
        let container = match started {
            Ok(c) => c,
            Err(e) => {
                self.detach_network(entry.id.as_str()).await;
                let (code, message) = crate::exec::start_failure(&e);
                entry.life.send_modify(|l| {
                    l.phase = Phase::Exited;
                    l.exit_code = code;
                    l.exits += 1;
                    l.error = message.clone();
                    l.finished_at = Some(OffsetDateTime::now_utc());
                });
                self.persist(entry);
                self.after_exit(entry, Duration::ZERO);
                return Err(Error::StartFailed(message));
            }
        };
        let mut container = container;
        let stdout_log = self.runtime().log_paths(&entry.id)[0].clone();
        if let Err(e) = crate::attach::adopt(entry, container.take_io(), stdout_log) {
            tracing::warn!("container {}: its stdin or terminal is not attachable: {e}", entry.id);
        }
        let pid = container.pid().unwrap_or_default();
        let started_at = OffsetDateTime::now_utc();
        entry.life.send_modify(|l| {
            l.phase = Phase::Running;
            l.pid = i64::from(pid);
            l.started_at = Some(started_at);
            l.exit_code = 0;
            l.oom_killed = false;
            l.error.clear();
        });
        self.persist(entry);
        self.container_event(entry, "start", &[]);
        let this = self.clone();
        let waiter = Arc::clone(entry);
        tokio::spawn(async move {
            let exit = match container.exit_status() {
                // Exited before `start` returned: collected already.
                Some(exit) => Ok(Some(exit)),
                None => exit_of(container).await,
            };
            waiter.stdio.drained().await;
            crate::attach::release(&waiter);
            // Ports are released before anyone sees the container stopped.
            this.detach_network(waiter.id.as_str()).await;
            let finished_at = OffsetDateTime::now_utc();
            waiter.life.send_modify(|l| {
                l.phase = Phase::Exited;
                l.pid = 0;
                l.exits += 1;
                l.finished_at = Some(finished_at);
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
            this.persist(&waiter);
            this.container_event(&waiter, "die", &[("exitCode", waiter.life().exit_code.to_string())]);
            let ran_for = (finished_at - started_at).try_into().unwrap_or_default();
            this.after_exit(&waiter, ran_for);
        });
        Ok(true)
    }

    /// After `entry`'s process exited (or failed to start) having run `ran_for`: removes an
    /// auto-remove container, or schedules the restart its policy asks for, after dockerd's
    /// growing delay.
    fn after_exit(&self, entry: &Arc<Entry>, ran_for: Duration) {
        if entry.request.host_config.auto_remove {
            let (this, id) = (self.clone(), entry.id.to_string());
            tokio::spawn(async move {
                if let Err(e) = this.remove(&id, true, true).await {
                    tracing::warn!("auto-removing container {id}: {e}");
                }
            });
            return;
        }
        if self.inner.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let life = entry.life();
        if life.removed || !entry.policy.restarts_after(life.exit_code, life.restart_count, life.stopped_by_user) {
            return;
        }
        let delay = next_delay(life.last_delay, ran_for);
        entry.life.send_modify(|l| {
            l.phase = Phase::Restarting;
            l.last_delay = Some(delay);
        });
        let (this, entry) = (self.clone(), Arc::clone(entry));
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            match this.start_entry(&entry, StartBy::Policy).await {
                Ok(_) | Err(Error::NoSuchContainer(_)) => {}
                Err(e) => tracing::warn!("restarting container {}: {e}", entry.name),
            }
        });
    }

    /// Resolves when `condition` holds; returns the exit code.
    pub(crate) async fn wait(entry: Arc<Entry>, condition: WaitCondition) -> i64 {
        let mut rx = entry.life.subscribe();
        drop(entry);
        let exits_before = rx.borrow().exits;
        loop {
            let done = {
                let l = rx.borrow_and_update();
                match condition {
                    WaitCondition::NotRunning => l.phase != Phase::Running,
                    WaitCondition::NextExit => l.exits > exits_before || l.phase == Phase::Exited,
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
        match entry.life().phase {
            Phase::Running => {}
            Phase::Restarting => {
                return Err(Error::Conflict(format!(
                    "Cannot kill container: {reference}: Container {} is restarting, wait until the container is running",
                    entry.id
                )))
            }
            _ => return Err(Error::Conflict(format!("Cannot kill container: {reference}: container {} is not running", entry.id))),
        }
        let signal = signal.trim_start_matches("SIG").to_owned();
        self.container_event(&entry, "kill", &[("signal", signal.clone())]);
        self.signal(&entry, signal).await
    }

    async fn signal(&self, entry: &Entry, signal: String) -> Result<()> {
        let (this, id) = (self.clone(), entry.id.clone());
        blocking(move || Ok(this.runtime().container(&id)?.kill(&signal)?)).await
    }

    /// `docker stop`: `false` if it was neither running nor about to be restarted. No
    /// restart policy starts it again until the user does (or, for `always`, the daemon
    /// restarts).
    pub(crate) async fn stop(&self, reference: &str, timeout: Option<i64>, signal: Option<String>) -> Result<bool> {
        let entry = self.resolve(reference)?;
        let mut was = Phase::Created;
        entry.life.send_modify(|l| {
            was = l.phase;
            if matches!(l.phase, Phase::Running | Phase::Restarting) {
                l.stopped_by_user = true;
            }
            if l.phase == Phase::Restarting {
                l.phase = Phase::Exited;
            }
        });
        match was {
            Phase::Running => {}
            Phase::Restarting => {
                self.persist(&entry);
                return Ok(true);
            }
            Phase::Created | Phase::Exited => return Ok(false),
        }
        let signal = signal.map(|s| s.trim_start_matches("SIG").to_owned()).unwrap_or_else(|| "TERM".into());
        let grace = match timeout {
            Some(t) if t < 0 => None,
            Some(t) => Some(Duration::from_secs(t.unsigned_abs())),
            None => Some(DEFAULT_STOP_TIMEOUT),
        };
        self.stop_entry(&entry, signal, grace).await?;
        self.persist(&entry);
        self.container_event(&entry, "stop", &[]);
        Ok(true)
    }

    /// Sends `signal`, then SIGKILL if the process is still there after `grace`.
    async fn stop_entry(&self, entry: &Arc<Entry>, signal: String, grace: Option<Duration>) -> Result<()> {
        self.signal(entry, signal).await?;
        if !Self::wait_exit(entry, grace).await {
            self.kill_and_wait(entry).await?;
        }
        Ok(())
    }

    /// SIGKILL, then waits for the exit — at most [`KILL_WAIT`]: a process that outlives
    /// SIGKILL that long is stuck in the kernel (say, a pid namespace that cannot be torn down),
    /// and the caller gets an error instead of a request that never ends.
    async fn kill_and_wait(&self, entry: &Arc<Entry>) -> Result<()> {
        self.signal(entry, "KILL".into()).await?;
        if Self::wait_exit(entry, Some(KILL_WAIT)).await {
            Ok(())
        } else {
            Err(Error::Internal(format!("container {} did not exit within {KILL_WAIT:?} of SIGKILL", entry.name)))
        }
    }

    /// `docker restart`: stops it if it runs (or cancels a pending policy restart), then
    /// starts it as the user.
    pub(crate) async fn restart(&self, reference: &str, timeout: Option<i64>, signal: Option<String>) -> Result<()> {
        let entry = self.resolve(reference)?;
        self.stop(entry.id.as_str(), timeout, signal).await?;
        self.start_entry(&entry, StartBy::User).await?;
        self.container_event(&entry, "restart", &[]);
        Ok(())
    }

    /// `docker rm [-f] [-v]`: with `volumes`, its anonymous volumes go too.
    pub(crate) async fn remove(&self, reference: &str, force: bool, volumes: bool) -> Result<()> {
        let entry = self.resolve(reference)?;
        let _op = entry.op.lock().await;
        if entry.life().removed {
            return Ok(());
        }
        match entry.life().phase {
            Phase::Running if !force => return Err(Error::RemoveRunning(entry.name.clone())),
            Phase::Restarting if !force => {
                return Err(Error::Conflict(format!(
                    "cannot remove container \"/{}\": container is restarting: stop the container before removing or force remove",
                    entry.name
                )))
            }
            Phase::Running => {
                entry.life.send_modify(|l| l.stopped_by_user = true);
                self.container_event(&entry, "kill", &[("signal", "KILL".to_owned())]);
                self.kill_and_wait(&entry).await?;
            }
            _ => entry.life.send_modify(|l| l.stopped_by_user = true),
        }
        let (this, id) = (self.clone(), entry.id.clone());
        blocking(move || Ok(this.runtime().discard(&id)?)).await?;
        if let Some(p) = &entry.seccomp_file {
            let _ = std::fs::remove_file(p);
        }
        self.inner.records.remove(&entry.id)?;
        self.forget_network(entry.id.as_str()).await;
        self.table().remove(entry.id.as_str());
        entry.life.send_modify(|l| l.removed = true);
        self.container_event(&entry, "destroy", &[]);
        if volumes {
            self.remove_anonymous_volumes(&entry.volumes);
        }
        Ok(())
    }

    /// Removes the anonymous volumes among `volumes` that no container uses any more.
    fn remove_anonymous_volumes(&self, volumes: &[UsedVolume]) {
        for v in volumes.iter().filter(|v| v.anonymous) {
            if self.volume_users(&v.name).is_empty() {
                if let Err(e) = self.inner.volumes.remove(&v.name) {
                    tracing::warn!("removing anonymous volume {}: {e}", v.name);
                }
            }
        }
    }

    /// The containers that mount volume `name`.
    pub(crate) fn volume_users(&self, name: &str) -> Vec<String> {
        self.table().values().filter(|e| e.volumes.iter().any(|v| v.name == name)).map(|e| e.id.to_string()).collect()
    }
}

/// What a container holds beside its runtime options: volumes, its mounts for inspect, and
/// the volumes to fill from its image when it is created.
pub(crate) struct Held {
    volumes: Vec<UsedVolume>,
    mounts: Vec<serde_json::Value>,
    copy_up: Vec<CopyUp>,
}

/// Who starts a container: the user (`docker start`, which clears a user stop and the
/// restart count), its restart policy, or the daemon coming back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StartBy {
    User,
    Policy,
    Daemon,
}

/// Collects the OCI runtime's orphaned processes whenever a child of this process exits, for
/// as long as the process lives. The runtime sweeps them after each of its commands, but a
/// fork that exits later (the child of an `exec` whose command could not be executed) would
/// otherwise stay a zombie in the container's pid namespace, and the kernel does not let the
/// container's init finish exiting until it is collected: its `stop` would never return.
fn collect_runtime_orphans() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut exits = match signal(SignalKind::child()) {
        Ok(exits) => exits,
        Err(e) => {
            tracing::warn!("cannot watch for exited children (SIGCHLD): orphaned runtime processes are collected only after runtime commands: {e}");
            return;
        }
    };
    tokio::spawn(async move {
        // One signal may stand for many exits: each sweep takes every orphan there is.
        while exits.recv().await.is_some() {
            let _ = tokio::task::spawn_blocking(palisade_runtime::reap_runtime_orphans).await;
        }
    });
}
