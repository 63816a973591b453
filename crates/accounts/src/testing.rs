//! Shared test fixtures: real cluster stores ([`palisade_store::testing`]) on a runtime of
//! their own, with an [`Accounts`] on each member. Enabled for this crate's tests and, for
//! other crates' tests, by the `test-util` feature. Every helper panics on failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use palisade_store::testing::{self as store, Net, Node};
use palisade_store::ReplicatedStore;

use crate::Accounts;

/// Members of one cluster store, in a directory the caller keeps. Its methods block: call
/// them from plain threads (`#[test]`), not from async tests.
pub struct Cluster {
    /// Runs the stores; every [`Accounts`] of the cluster blocks on it.
    pub runtime: tokio::runtime::Runtime,
    /// Carries raft between the members (and can cut them off).
    pub net: Arc<Net>,
    /// The members' files, member `i` has raft ID `i + 1`.
    pub nodes: Vec<Node>,
    /// The running members (`None`: stopped).
    pub stores: Vec<Option<Arc<ReplicatedStore>>>,
}

impl Cluster {
    /// One member, leading, under `root`.
    pub fn one(root: &Path) -> Self {
        let runtime = runtime();
        let net = Arc::new(Net::default());
        let node = Node::new(root, 1);
        let store = runtime.block_on(async {
            let store = store::start(&net, &node, 10_000).await;
            store.bootstrap(store::member(1)).await.unwrap();
            store::wait_until("the member to lead", 10, || store.status().is_leader).await;
            store
        });
        Self { runtime, net, nodes: vec![node], stores: vec![Some(store)] }
    }

    /// Three voters under `root`; member 0 leads, and every member knows it.
    pub fn three(root: &Path) -> Self {
        let runtime = runtime();
        let net = Arc::new(Net::default());
        let nodes: Vec<Node> = (1..=3).map(|id| Node::new(root, id)).collect();
        let stores = runtime.block_on(async {
            let stores = store::three(&net, &nodes, 10_000).await;
            for store in &stores {
                store::wait_until("every member to know the leader", 10, || store.status().leader == Some(1)).await;
            }
            stores
        });
        Self { runtime, net, nodes, stores: stores.into_iter().map(Some).collect() }
    }

    /// Member `i`'s store.
    pub fn store(&self, i: usize) -> &Arc<ReplicatedStore> {
        self.stores[i].as_ref().unwrap_or_else(|| panic!("member {i} is stopped"))
    }

    /// A new [`Accounts`] on member `i`'s store.
    pub fn accounts(&self, i: usize) -> Arc<Accounts> {
        Arc::new(Accounts::on_cluster_store(self.store(i).clone(), self.runtime.handle().clone()))
    }

    /// The running member that leads, once exactly one does.
    pub fn leader(&self) -> usize {
        let running: Vec<&Arc<ReplicatedStore>> = self.stores.iter().flatten().collect();
        let leader = self.runtime.block_on(store::leader_of(&running));
        self.stores.iter().position(|s| s.as_ref().is_some_and(|s| Arc::ptr_eq(s, &leader))).unwrap()
    }

    /// Stops member `i` (its files stay).
    pub fn stop(&mut self, i: usize) {
        let store = self.stores[i].take().unwrap_or_else(|| panic!("member {i} is stopped"));
        self.runtime.block_on(store::stop(&self.net, store));
    }

    /// Stops every member, so that everything they hold is written to their files.
    pub fn stop_all(&mut self) {
        for i in 0..self.stores.len() {
            if self.stores[i].is_some() {
                self.stop(i);
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for store in self.stores.iter_mut().filter_map(Option::take) {
            // Best effort: a test that failed may leave a store half shut down.
            let _ = self.runtime.block_on(store.shutdown());
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}
