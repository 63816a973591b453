//! The node's engine as the cluster's task executor: a task's container is an engine
//! container (so `docker ps` on the node shows it), created with its secret and config files.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use palisade_cluster::{ExecError, OutputStream, TaskContainer, TaskExecutor, TaskFileKind, TaskSandbox};
use palisade_engine::{Engine, TaskFile};
use palisade_engine_api::containers::types::{ContainerConfig, ContainerCreateRequest, HostConfig, OutputOptions, WaitCondition};
use palisade_engine_api::containers::ContainerBackend;

/// [`TaskExecutor`] over the node's [`Engine`].
#[derive(Debug, Clone)]
pub(crate) struct EngineTasks(pub(crate) Arc<Engine>);

fn engine_error(e: impl std::fmt::Display) -> ExecError {
    ExecError::Engine(e.to_string())
}

/// A failed create as the worker tells it apart: a missing image, a policy refusal, the rest.
fn create_error(e: palisade_engine::Error) -> ExecError {
    match e {
        palisade_engine::Error::NoSuchImage(image) => ExecError::NoSuchImage(image),
        palisade_engine::Error::Refused(message) => ExecError::Refused(message),
        e => engine_error(e),
    }
}

fn request(container: &TaskContainer) -> ContainerCreateRequest {
    ContainerCreateRequest {
        config: ContainerConfig {
            hostname: container.hostname.clone(),
            user: container.user.clone(),
            env: container.env.clone(),
            cmd: container.args.clone(),
            image: container.image.clone(),
            working_dir: container.dir.clone(),
            entrypoint: (!container.command.is_empty()).then(|| container.command.clone()),
            labels: container.labels.clone(),
            ..ContainerConfig::default()
        },
        host_config: HostConfig {
            cap_add: container.cap_add.clone(),
            cap_drop: container.cap_drop.clone(),
            readonly_rootfs: container.read_only,
            memory: container.memory_bytes,
            nano_cpus: container.nano_cpus,
            pids_limit: (container.pids > 0).then_some(container.pids),
            ..HostConfig::default()
        },
        networking_config: Default::default(),
    }
}

impl EngineTasks {
    /// Pulls `image` anonymously; failures show when the create that follows fails.
    async fn pull(&self, image: &str) {
        // An empty tag: the engine reads the tag or digest from the reference itself.
        match self.0.image_pull(image.to_owned(), String::new(), None).await {
            Ok(mut progress) => while progress.recv().await.is_some() {},
            Err(e) => tracing::warn!("pulling {image} for a task: {}", e.message),
        }
    }
}

impl TaskExecutor for EngineTasks {
    fn create(&self, container: TaskContainer) -> BoxFuture<'_, Result<String, ExecError>> {
        Box::pin(async move {
            let files: Vec<TaskFile> = container
                .files
                .iter()
                .map(|f| TaskFile {
                    secret: f.kind == TaskFileKind::Secret,
                    target: f.target.clone(),
                    uid: f.uid,
                    gid: f.gid,
                    mode: f.mode,
                    data: f.data.clone(),
                })
                .collect();
            let request = request(&container);
            drop(container.files);
            let names = container.service_names.clone();
            match self.0.create_task(container.name.clone(), request.clone(), files.clone(), names.clone()).await {
                Err(palisade_engine::Error::NoSuchImage(_)) => {
                    // As dockerd on a swarm node: pull what is missing, then try once more.
                    self.pull(&container.image).await;
                    self.0.create_task(container.name, request, files, names).await.map_err(create_error)
                }
                other => other.map_err(create_error),
            }
        })
    }

    fn sandbox(&self, id: &str) -> Option<TaskSandbox> {
        let (netns, interfaces) = self.0.sandbox(id)?;
        Some(TaskSandbox { netns, interfaces })
    }

    fn start(&self, id: String) -> BoxFuture<'_, Result<i64, ExecError>> {
        Box::pin(async move {
            self.0.container_start(id.clone()).await.map_err(engine_error)?;
            Ok(self.0.container_inspect(id).await.map_err(engine_error)?.state.pid)
        })
    }

    fn wait(&self, id: String) -> BoxFuture<'_, Result<i64, ExecError>> {
        Box::pin(async move {
            let pending = self.0.container_wait(id, WaitCondition::NotRunning).await.map_err(engine_error)?;
            Ok(pending.await.status_code)
        })
    }

    fn stop(&self, id: String, signal: String, grace: Duration) -> BoxFuture<'_, Result<(), ExecError>> {
        Box::pin(async move {
            let seconds = i64::try_from(grace.as_secs()).unwrap_or(i64::MAX);
            let signal = (!signal.is_empty()).then_some(signal);
            self.0.container_stop(id, Some(seconds), signal).await.map(drop).map_err(engine_error)
        })
    }

    fn release_files(&self, id: String) -> BoxFuture<'_, Result<(), ExecError>> {
        Box::pin(async move { self.0.release_files(&id).await.map_err(engine_error) })
    }

    fn remove(&self, id: String) -> BoxFuture<'_, Result<(), ExecError>> {
        Box::pin(async move { self.0.container_remove(id, true, true).await.map_err(engine_error) })
    }

    fn logs(&self, id: String, follow: bool) -> BoxFuture<'_, Result<OutputStream, ExecError>> {
        Box::pin(async move {
            let options = OutputOptions { stdout: true, stderr: true, follow };
            self.0.container_output(id, options).await.map_err(engine_error)
        })
    }
}

