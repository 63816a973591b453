//! A running container holds no thread: its exit is noticed even when every thread of the
//! blocking pool is taken, as it would be by one waiter per running container once more
//! containers run than the pool has threads (512 by default).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use palisade_engine::{Engine, EngineConfig, ProtectedPaths};
use palisade_engine_api::containers::types::{ContainerConfig, ContainerCreateRequest, WaitCondition};
use palisade_engine_api::containers::ContainerBackend;
use palisade_runtime::OciRuntimeKind;

fn request(cmd: &[&str]) -> ContainerCreateRequest {
    ContainerCreateRequest {
        config: ContainerConfig {
            image: "busybox:test".into(),
            cmd: cmd.iter().map(|s| (*s).to_owned()).collect(),
            ..ContainerConfig::default()
        },
        host_config: Default::default(),
        networking_config: Default::default(),
    }
}

#[test]
fn an_exit_is_noticed_while_every_blocking_thread_is_busy() {
    common::require("crun");
    assert!(std::path::Path::new(common::BUSYBOX).exists(), "busybox-static is required");
    let tmp = tempfile::tempdir().unwrap();
    let archive = std::fs::read(common::docker_archive(tmp.path(), "busybox:test")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).max_blocking_threads(1).enable_all().build().unwrap();
    rt.block_on(async {
        let engine = Engine::open(EngineConfig {
            root: tmp.path().join("root"),
            default_runtime: OciRuntimeKind::Crun,
            registry_certs: tmp.path().join("certs"),
            protected_paths: ProtectedPaths::default(),
            networks: None,
        })
        .unwrap();
        engine.image_load(Bytes::from(archive)).await.unwrap();
        let id = engine.container_create(None, request(&["sh", "-c", "sleep 1; exit 7"])).await.unwrap().id;

        // The pool's only thread is taken until the end of the test.
        let (release, held) = mpsc::channel::<()>();
        let (taken, pool_is_full) = tokio::sync::oneshot::channel();
        let hog = tokio::task::spawn_blocking(move || {
            let _ = taken.send(());
            let _ = held.recv();
        });
        pool_is_full.await.unwrap();

        let exited = engine.container_wait(id.clone(), WaitCondition::NextExit).await.unwrap();
        assert!(engine.container_start(id.clone()).await.unwrap());
        let exit = tokio::time::timeout(Duration::from_secs(20), exited).await;

        release.send(()).unwrap();
        hog.await.unwrap();
        let exit = exit.expect("the exit went unnoticed while the blocking pool was full");
        assert_eq!(exit.status_code, 7);
        engine.container_remove(id, true, true).await.unwrap();
    });
}
