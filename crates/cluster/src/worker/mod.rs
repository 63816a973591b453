//! The worker: runs the tasks the leader assigns to this node and reports how they go.
//!
//! It long-polls its assignments. A task wanted running that it does not run yet gets a runner
//! that fetches the task's files (the only time secret values reach the node), creates and
//! starts the container, and reports each state. A task no longer wanted (shut down, removed,
//! or gone from the assignments) is stopped and its container removed, which unmounts the
//! tmpfs its secrets were on. When a task's process exits on its own, its files are released
//! at once.
//!
//! With its assignments it receives the overlay networks its tasks attach to (with their keys)
//! and publishes them on the node's overlay channel, for the data plane, which gives each
//! task's container its interfaces on them between creating and starting it.
//!
//! Reports are resent until the leader's copy of a task shows them, so a report lost to a
//! leader change is not lost for good.

mod logs;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade_pki::NodeId;
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::exec::{ExecError, TaskContainer, TaskExecutor, TaskFile, TaskFileKind};
use crate::model::{TaskObject, TaskState, TaskStatus};
use crate::node::ActiveNode;
use crate::rpc::{ControlReply, FileKind, NodeCall, TaskReport};

/// Pause after a failed assignments call.
const RETRY: Duration = Duration::from_secs(1);
/// Default time between the stop signal and SIGKILL.
const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// A task this node runs.
struct Local {
    /// The newest status this node reported.
    reported: Arc<Mutex<TaskStatus>>,
    /// Set to `true` to stop the task.
    stop: watch::Sender<bool>,
}

/// Runs until the task is aborted (leave, or the node stops).
pub(crate) async fn run(node: Arc<ActiveNode>, executor: Arc<dyn TaskExecutor>) {
    let mut locals: HashMap<String, Local> = HashMap::new();
    let mut known = None;
    loop {
        let own = node.identity().cert.node_id.clone();
        let mut assignments = match node.node_call(NodeCall::Assignments { node: own.clone(), known }).await {
            Ok(ControlReply::Assignments(a)) => a,
            Ok(other) => {
                tracing::warn!("assignments: unexpected reply {other:?}");
                tokio::time::sleep(RETRY).await;
                continue;
            }
            Err(e) => {
                tracing::debug!("assignments: {e}");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        known = Some(assignments.version);
        let overlay = std::mem::take(&mut assignments.overlay);
        node.overlay.send_if_modified(|state| {
            let changed = *state != overlay;
            if changed {
                *state = overlay;
            }
            changed
        });
        for request in assignments.logs {
            logs::spawn(node.clone(), executor.clone(), request);
        }
        reconcile(&node, &executor, &own, assignments.tasks, &mut locals).await;
    }
}

async fn reconcile(
    node: &Arc<ActiveNode>,
    executor: &Arc<dyn TaskExecutor>,
    own: &NodeId,
    tasks: Vec<TaskObject>,
    locals: &mut HashMap<String, Local>,
) {
    let mut resend = Vec::new();
    for task in &tasks {
        if task.node_id.as_ref() != Some(own) {
            continue;
        }
        let wanted = task.desired == TaskState::Running && !task.status.state.is_terminal();
        match locals.get(&task.id) {
            Some(local) => {
                if !wanted {
                    local.stop.send_replace(true);
                }
                let reported = local.reported.lock().unwrap_or_else(|e| e.into_inner()).clone();
                if reported.state > task.status.state {
                    resend.push(TaskReport { task_id: task.id.clone(), status: reported });
                }
            }
            None if wanted && task.status.state <= TaskState::Assigned => {
                let local = start_runner(node.clone(), executor.clone(), task.clone());
                locals.insert(task.id.clone(), local);
            }
            None if wanted => {
                // Started by this node before it restarted: its container is gone.
                let mut status = TaskStatus::new(TaskState::Failed, task.status.timestamp, "task lost: the node restarted");
                status.err = "the node restarted and no longer runs the task's container".into();
                resend.push(TaskReport { task_id: task.id.clone(), status });
            }
            None => {}
        }
    }
    // Tasks no longer assigned here: stop them and forget them once stopped.
    locals.retain(|id, local| {
        let assigned = tasks.iter().any(|t| t.id == *id);
        if !assigned {
            local.stop.send_replace(true);
        }
        assigned || !local.stop.is_closed()
    });
    if !resend.is_empty() {
        if let Err(e) = report(node, resend).await {
            tracing::debug!("resending task reports: {e}");
        }
    }
}

async fn report(node: &ActiveNode, reports: Vec<TaskReport>) -> Result<()> {
    match node.node_call(NodeCall::TaskReports { reports }).await? {
        ControlReply::Done => Ok(()),
        other => Err(Error::internal("task reports", format!("unexpected reply {other:?}"))),
    }
}

fn start_runner(node: Arc<ActiveNode>, executor: Arc<dyn TaskExecutor>, task: TaskObject) -> Local {
    let (stop, stop_rx) = watch::channel(false);
    let reported = Arc::new(Mutex::new(task.status.clone()));
    let runner = Runner { node, executor, task, reported: reported.clone(), created: Mutex::new(None) };
    tokio::spawn(async move {
        runner.run(stop_rx).await;
        // `stop` closes when this ends: the worker then forgets the task.
    });
    Local { reported, stop }
}

/// Resolves once the task is to stop (or the worker is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// Runs one task from acceptance to its end.
struct Runner {
    node: Arc<ActiveNode>,
    executor: Arc<dyn TaskExecutor>,
    task: TaskObject,
    reported: Arc<Mutex<TaskStatus>>,
    /// The container once made, so that a task stopped before it started (while its image is
    /// pulled or its networks come up) does not leave it behind.
    created: Mutex<Option<String>>,
}

impl Runner {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let container = tokio::select! {
            container = self.prepare() => container,
            () = stopped(&mut stop) => {
                let created = self.created.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(container) = created {
                    self.release(&container).await;
                    self.remove(container).await;
                }
                self.set(TaskState::Shutdown, "shut down before it started", None).await;
                return;
            }
        };
        let Some(container) = container else { return };
        let exited = tokio::select! {
            exit = self.executor.wait(container.clone()) => Some(exit),
            () = stopped(&mut stop) => None,
        };
        match exited {
            Some(exit) => {
                self.release(&container).await;
                match exit {
                    Ok(0) => self.set_exit(TaskState::Complete, "finished", 0).await,
                    Ok(code) => self.set_exit(TaskState::Failed, &format!("task: non-zero exit ({code})"), code).await,
                    Err(e) => self.set(TaskState::Failed, "lost track of the container", Some(e.to_string())).await,
                }
                // Kept (for its logs) until the task is no longer wanted here.
                stopped(&mut stop).await;
            }
            None => {
                let grace = self.task.spec.stop_grace_ns.map_or(DEFAULT_GRACE, |ns| Duration::from_nanos(ns.max(0).unsigned_abs()));
                if let Err(e) = self.executor.stop(container.clone(), self.task.spec.stop_signal.clone(), grace).await {
                    tracing::warn!(task = %self.task.id, "stopping: {e}");
                }
                self.release(&container).await;
                self.set(TaskState::Shutdown, "shutdown", None).await;
            }
        }
        self.remove(container).await;
    }

    /// Removes the task's container; its overlay interfaces go with its namespace.
    async fn remove(&self, container: String) {
        if let Err(e) = self.executor.remove(container).await {
            tracing::warn!(task = %self.task.id, "removing its container: {e}");
        }
        if let Some(dataplane) = &self.node.dataplane {
            dataplane.disconnect(&self.task.id).await;
        }
    }

    /// Gives the container an interface on each of the task's overlay networks (at the
    /// address the leader allocated), and its services' virtual IPs.
    async fn connect(&self, container: &str) -> Result<()> {
        let Some(dataplane) = self.node.dataplane.as_ref().filter(|_| !self.task.addresses.is_empty()) else { return Ok(()) };
        let sandbox = self
            .executor
            .sandbox(container)
            .ok_or_else(|| Error::internal("task networks", "the task's container has no network namespace"))?;
        let attachments: Vec<_> = self
            .task
            .addresses
            .iter()
            .enumerate()
            .map(|(i, a)| (a.network_id.clone(), a.addr, format!("eth{}", sandbox.interfaces + i)))
            .collect();
        dataplane.connect(&self.task.id, &sandbox.netns, &attachments).await
    }

    /// Accepted → preparing (files fetched, container made and connected to its networks) →
    /// starting → running. `None` when it failed (reported).
    async fn prepare(&self) -> Option<String> {
        self.set(TaskState::Accepted, "accepted", None).await;
        self.set(TaskState::Preparing, "preparing", None).await;
        let files = match self.fetch_files().await {
            Ok(files) => files,
            Err(e) => {
                self.set(TaskState::Rejected, "could not fetch the task's secrets and configs", Some(e.to_string())).await;
                return None;
            }
        };
        let dataplane = self.node.dataplane.clone();
        if !self.task.addresses.is_empty() && dataplane.is_none() {
            let why = "this node has no overlay data plane (see its log)".to_owned();
            self.set(TaskState::Rejected, "could not attach the task to its networks", Some(why)).await;
            return None;
        }
        let mut container = self.container(files);
        if let Some(dataplane) = dataplane.as_ref().filter(|_| !self.task.addresses.is_empty()) {
            let networks = self.task.addresses.iter().map(|a| a.network_id.clone()).collect();
            container.service_names = Some(Arc::new(dataplane.names(networks)));
        }
        let container = match self.executor.create(container).await {
            Ok(id) => {
                *self.created.lock().unwrap_or_else(|e| e.into_inner()) = Some(id.clone());
                id
            }
            Err(e @ ExecError::NoSuchImage(_)) => {
                self.set(TaskState::Rejected, "No such image", Some(e.to_string())).await;
                return None;
            }
            Err(e @ ExecError::Refused(_)) => {
                self.set(TaskState::Rejected, "refused by the node's image policy", Some(e.to_string())).await;
                return None;
            }
            Err(e) => {
                self.set(TaskState::Rejected, "could not create the container", Some(e.to_string())).await;
                return None;
            }
        };
        if let Err(e) = self.connect(&container).await {
            self.set(TaskState::Rejected, "could not attach the task to its networks", Some(e.to_string())).await;
            self.release(&container).await;
            self.remove(container).await;
            return None;
        }
        self.set(TaskState::Starting, "starting", None).await;
        match self.executor.start(container.clone()).await {
            Ok(pid) => {
                let mut status = self.status(TaskState::Running, "started", None);
                status.container_id.clone_from(&container);
                status.pid = pid;
                self.send(status).await;
                Some(container)
            }
            Err(e) => {
                self.set(TaskState::Failed, "starting container failed", Some(e.to_string())).await;
                self.release(&container).await;
                self.remove(container).await;
                None
            }
        }
    }

    async fn fetch_files(&self) -> Result<Vec<TaskFile>> {
        if self.task.spec.secrets.is_empty() && self.task.spec.configs.is_empty() {
            return Ok(Vec::new());
        }
        match self.node.node_call(NodeCall::TaskFiles { task_id: self.task.id.clone() }).await? {
            ControlReply::TaskFiles(delivered) => Ok(delivered
                .files
                .into_iter()
                .map(|f| TaskFile {
                    kind: match f.kind {
                        FileKind::Secret => TaskFileKind::Secret,
                        FileKind::Config => TaskFileKind::Config,
                    },
                    target: f.target,
                    uid: f.uid,
                    gid: f.gid,
                    mode: f.mode,
                    data: f.data,
                })
                .collect()),
            other => Err(Error::internal("task files", format!("unexpected reply {other:?}"))),
        }
    }

    fn container(&self, files: Vec<TaskFile>) -> TaskContainer {
        let t = &self.task;
        let spec = &t.spec;
        let slot = if t.slot > 0 { t.slot.to_string() } else { t.node_id.as_ref().map(ToString::to_string).unwrap_or_default() };
        let mut labels = spec.labels.clone();
        for (key, value) in [
            ("com.docker.swarm.service.id", t.service_id.as_str()),
            ("com.docker.swarm.service.name", t.service_name.as_str()),
            ("com.docker.swarm.task.id", t.id.as_str()),
        ] {
            labels.insert(key.into(), value.into());
        }
        TaskContainer {
            name: format!("{}.{slot}.{}", t.service_name, t.id),
            image: spec.image.clone(),
            command: spec.command.clone(),
            args: spec.args.clone(),
            env: spec.env.clone(),
            hostname: spec.hostname.clone(),
            dir: spec.dir.clone(),
            user: spec.user.clone(),
            read_only: spec.read_only,
            labels,
            cap_add: spec.cap_add.clone(),
            cap_drop: spec.cap_drop.clone(),
            memory_bytes: spec.memory_bytes,
            nano_cpus: spec.nano_cpus,
            pids: spec.pids,
            files,
            service_names: None,
        }
    }

    async fn release(&self, container: &str) {
        if let Err(e) = self.executor.release_files(container.to_owned()).await {
            tracing::warn!(task = %self.task.id, "releasing its files: {e}");
        }
    }

    fn status(&self, state: TaskState, message: &str, err: Option<String>) -> TaskStatus {
        let previous = self.reported.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut status = TaskStatus::new(state, previous.timestamp, message);
        status.container_id = previous.container_id;
        status.pid = previous.pid;
        status.err = err.unwrap_or_default();
        status
    }

    async fn set(&self, state: TaskState, message: &str, err: Option<String>) {
        let status = self.status(state, message, err);
        self.send(status).await;
    }

    async fn set_exit(&self, state: TaskState, message: &str, code: i64) {
        let mut status = self.status(state, message, (state == TaskState::Failed).then(|| message.to_owned()));
        status.exit_code = Some(code);
        status.pid = 0;
        self.send(status).await;
    }

    /// Records the status and reports it; a failed report is resent by the worker later.
    async fn send(&self, status: TaskStatus) {
        *self.reported.lock().unwrap_or_else(|e| e.into_inner()) = status.clone();
        let report_of = TaskReport { task_id: self.task.id.clone(), status };
        if let Err(e) = report(&self.node, vec![report_of]).await {
            tracing::debug!(task = %self.task.id, "report: {e}");
        }
    }
}
