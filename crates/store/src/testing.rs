//! Shared test fixtures: an in-process cluster of real stores on temporary directories, which
//! talk through a router that can cut members off. Enabled for this crate's tests and, for
//! other crates' tests, by the `test-util` feature. Every helper panics on failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use crate::{
    DataKey, Kek, Member, RaftRpc, RaftRpcReply, ReplicatedStore, StoreConfig, Table, Transport, TransportError,
    WriteBatch,
};

/// Routes RPCs between the stores of one test; members in `cut` can neither send nor receive.
#[derive(Default)]
pub struct Net {
    stores: Mutex<HashMap<u64, Arc<ReplicatedStore>>>,
    cut: Mutex<HashSet<u64>>,
    /// InstallSnapshot chunks delivered.
    pub snapshots: AtomicUsize,
}

struct Link {
    from: u64,
    net: Arc<Net>,
}

impl Net {
    fn is_cut(&self, a: u64, b: u64) -> bool {
        let cut = self.cut.lock().unwrap();
        cut.contains(&a) || cut.contains(&b)
    }

    /// Cuts member `id` off: it can neither send nor receive.
    pub fn isolate(&self, id: u64) {
        self.cut.lock().unwrap().insert(id);
    }

    /// Reconnects every member.
    pub fn heal(&self) {
        self.cut.lock().unwrap().clear();
    }

    /// Forgets member `id` (it is stopped): it becomes unreachable.
    pub fn remove(&self, id: u64) {
        self.stores.lock().unwrap().remove(&id);
    }
}

impl Transport for Link {
    fn send(&self, target: u64, _member: &Member, rpc: RaftRpc) -> BoxFuture<'_, Result<RaftRpcReply, TransportError>> {
        Box::pin(async move {
            if self.net.is_cut(self.from, target) {
                return Err(TransportError("partitioned".into()));
            }
            let store = self.net.stores.lock().unwrap().get(&target).cloned();
            let Some(store) = store else {
                return Err(TransportError("unreachable".into()));
            };
            let is_snapshot = matches!(rpc, RaftRpc::InstallSnapshot(_));
            let rpc = RaftRpc::decode(&rpc.encode().unwrap()).unwrap();
            let reply = store.handle(rpc).await.map_err(|e| TransportError(e.to_string()))?;
            if self.net.is_cut(self.from, target) {
                return Err(TransportError("partitioned".into()));
            }
            if is_snapshot {
                self.net.snapshots.fetch_add(1, Ordering::SeqCst);
            }
            Ok(RaftRpcReply::decode(&reply.encode().unwrap()).unwrap())
        })
    }
}

/// The member record of raft ID `id`: node `node-<id>` at `127.0.0.<id>:2377`.
pub fn member(id: u64) -> Member {
    Member { node_id: format!("node-{id}"), addr: format!("127.0.0.{id}:2377") }
}

/// One member's files: `<root>/<id>/raft` and `<root>/<id>/dek.sealed` under a KEK.
pub struct Node {
    /// Its raft ID.
    pub id: u64,
    /// `<root>/<id>`.
    pub dir: PathBuf,
    /// The key-encryption key sealing its data key.
    pub kek: Kek,
}

impl Node {
    /// Makes `<root>/<id>` with a new data key sealed under a new KEK.
    pub fn new(root: &Path, id: u64) -> Self {
        let base = root.join(id.to_string());
        std::fs::create_dir_all(&base).unwrap();
        let kek = Kek::generate();
        DataKey::create(&base.join("dek.sealed"), &kek).unwrap();
        Self { id, dir: base, kek }
    }

    /// `<root>/<id>/raft`: the store's directory.
    pub fn raft_dir(&self) -> PathBuf {
        self.dir.join("raft")
    }

    /// Its data key, opened with its KEK.
    pub fn dek(&self) -> DataKey {
        DataKey::open(&self.dir.join("dek.sealed"), &self.kek).unwrap()
    }
}

/// Opens (or reopens) `node` and registers it with `net`.
pub async fn start(net: &Arc<Net>, node: &Node, snapshot_every: u64) -> Arc<ReplicatedStore> {
    let mut config =
        StoreConfig::new(node.raft_dir(), node.id, node.dek(), Arc::new(Link { from: node.id, net: net.clone() }));
    config.heartbeat = Duration::from_millis(50);
    config.election_timeout = (Duration::from_millis(400), Duration::from_millis(800));
    config.snapshot_every = snapshot_every;
    let store = Arc::new(ReplicatedStore::open(config).await.unwrap());
    net.stores.lock().unwrap().insert(node.id, store.clone());
    store
}

/// Stops a store and unregisters it.
pub async fn stop(net: &Arc<Net>, store: Arc<ReplicatedStore>) {
    let id = store.status().raft_id;
    net.remove(id);
    store.shutdown().await.unwrap();
}

/// Polls `cond` until it holds, failing after `secs` seconds.
pub async fn wait_until(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The leader among `stores`, once exactly one believes it leads.
pub async fn leader_of(stores: &[&Arc<ReplicatedStore>]) -> Arc<ReplicatedStore> {
    wait_until("a leader", 10, || stores.iter().filter(|s| s.status().is_leader).count() == 1).await;
    stores.iter().find(|s| s.status().is_leader).map(|s| (*s).clone()).unwrap()
}

/// A three-voter cluster: 1 bootstraps, 2 and 3 join as learners and are promoted.
pub async fn three(net: &Arc<Net>, nodes: &[Node], snapshot_every: u64) -> Vec<Arc<ReplicatedStore>> {
    let s1 = start(net, &nodes[0], snapshot_every).await;
    s1.bootstrap(member(1)).await.unwrap();
    wait_until("node 1 to lead", 10, || s1.status().is_leader).await;
    let s2 = start(net, &nodes[1], snapshot_every).await;
    let s3 = start(net, &nodes[2], snapshot_every).await;
    s1.add_learner(2, member(2)).await.unwrap();
    s1.add_learner(3, member(3)).await.unwrap();
    s1.set_voters(BTreeSet::from([1, 2, 3])).await.unwrap();
    vec![s1, s2, s3]
}

/// A batch putting `value` under `key`.
pub fn put(table: Table, key: &str, value: &str) -> WriteBatch {
    WriteBatch::default().put(table, key, value.as_bytes().to_vec())
}

/// The value of `key` in `store`'s local state machine, as text.
pub fn value_of(store: &ReplicatedStore, table: Table, key: &str) -> Option<String> {
    store.get(table, key).unwrap().map(|r| String::from_utf8(r.value.to_vec()).unwrap())
}
