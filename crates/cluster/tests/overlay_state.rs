#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! The handle the overlay data plane follows: a node running a task on an overlay network
//! sees that network (its VNI, subnet, key and the task's address) in
//! `Daemon::overlay_state`, and sees it go once the task has ended.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use palisade_cluster::{Daemon, DaemonConfig, DataRoot, ExecError, OutputStream, OverlayState, TaskContainer, TaskExecutor};
use palisade_engine_api::types::{
    ContainerSpec, InitRequest, NetworkAttachmentConfig, NetworkCreateRequest, ReplicatedService, ServiceMode, ServiceSpec, TaskSpec,
};
use palisade_engine_api::{Backend, ServiceBackend, SwarmNetworkBackend};
use palisade_pki::SystemClock;

/// Containers that start and run until stopped; nothing is executed.
#[derive(Debug)]
struct Idle;

impl TaskExecutor for Idle {
    fn create(&self, _: TaskContainer) -> BoxFuture<'_, Result<String, ExecError>> {
        Box::pin(async { Ok("idle".to_owned()) })
    }
    fn sandbox(&self, _: &str) -> Option<palisade_cluster::TaskSandbox> {
        None
    }
    fn start(&self, _: String) -> BoxFuture<'_, Result<i64, ExecError>> {
        Box::pin(async { Ok(1) })
    }
    fn wait(&self, _: String) -> BoxFuture<'_, Result<i64, ExecError>> {
        Box::pin(std::future::pending())
    }
    fn stop(&self, _: String, _: String, _: Duration) -> BoxFuture<'_, Result<(), ExecError>> {
        Box::pin(async { Ok(()) })
    }
    fn release_files(&self, _: String) -> BoxFuture<'_, Result<(), ExecError>> {
        Box::pin(async { Ok(()) })
    }
    fn remove(&self, _: String) -> BoxFuture<'_, Result<(), ExecError>> {
        Box::pin(async { Ok(()) })
    }
    fn logs(&self, _: String, _: bool) -> BoxFuture<'_, Result<OutputStream, ExecError>> {
        Box::pin(async { Err(ExecError::Engine("no logs".into())) })
    }
}

async fn changed_until(state: &mut tokio::sync::watch::Receiver<OverlayState>, what: &str, check: impl Fn(&OverlayState) -> bool) {
    tokio::time::timeout(Duration::from_secs(30), state.wait_for(|s| check(s)))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_node_s_overlay_state_follows_its_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let config = DaemonConfig {
        data_root: DataRoot::create(dir.path()).unwrap(),
        listen_addr: None,
        advertise_addr: None,
        clock: Arc::new(SystemClock),
        executor: Some(Arc::new(Idle)),
        overlay_netns_dir: None,
    };
    let daemon = Daemon::start(config).await.unwrap();
    let init = InitRequest { listen_addr: "127.0.0.1:0".into(), advertise_addr: "127.0.0.1".into(), ..Default::default() };
    daemon.swarm_init(init).await.unwrap();
    let mut state = daemon.overlay_state().await.unwrap();
    assert!(state.borrow().networks.is_empty());

    let create = NetworkCreateRequest { name: "appnet".into(), driver: "overlay".into(), ..Default::default() };
    let network = daemon.swarm_network_create(create).await.unwrap().id;
    let spec = ServiceSpec {
        name: "app".into(),
        task_template: TaskSpec {
            container_spec: Some(ContainerSpec { image: "busybox:latest".into(), ..Default::default() }),
            networks: vec![NetworkAttachmentConfig { target: "appnet".into(), ..Default::default() }],
            ..Default::default()
        },
        mode: ServiceMode { replicated: Some(ReplicatedService { replicas: Some(1) }), ..Default::default() },
        ..Default::default()
    };
    daemon.service_create(spec).await.unwrap();

    changed_until(&mut state, "the network to arrive", |s| !s.networks.is_empty()).await;
    let current = state.borrow().clone();
    let received = &current.networks[0];
    assert_eq!((received.id.as_str(), received.name.as_str(), received.vni), (network.as_str(), "appnet", 4097));
    assert_eq!(received.subnet.to_string(), "10.0.1.0/24");
    assert!(received.encrypted());
    assert_eq!(received.keys[0].expose().len(), 32);
    assert_eq!(received.attachments.len(), 1);
    assert_eq!(received.attachments[0].addr.to_string(), "10.0.1.3", "10.0.1.2 is the service's VIP");
    assert!(received.peers.is_empty(), "no other node runs a task there");

    daemon.service_remove("app".into()).await.unwrap();
    changed_until(&mut state, "the network to go", |s| s.networks.is_empty()).await;
}
