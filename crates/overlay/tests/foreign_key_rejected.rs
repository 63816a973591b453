//! Only nodes given the network's key take part: a node holding a different key for the same
//! network (same generation) exchanges nothing with the others, while they talk to each other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{echo_server, round_trip, PORT};
use palisade_overlay::testing::{self, Lab, LabKeys};
use palisade_overlay::NetworkKey;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_key_cannot_exchange_traffic() {
    let lab = Lab::new(3).unwrap();
    let keys = vec![NetworkKey::new(1, [1u8; 32]), NetworkKey::new(1, [1u8; 32]), NetworkKey::new(1, [2u8; 32])];
    let net = lab.network(301, LabKeys::Encrypted(keys), "10.77.3.0/24".parse().unwrap()).await.unwrap();
    for i in 0..3 {
        echo_server(&net.containers[i], net.address(i));
    }
    round_trip(&net.containers[0], net.address(1), b"same key").await.expect("nodes with the same key talk");
    // All at once: each attempt waits out its timeout.
    let attempts = [(0, 2), (2, 0), (2, 1)].map(|(from, to)| {
        let (ns, address) = (net.containers[from].clone(), net.address(to));
        async move { (from, to, testing::connect(&ns, SocketAddr::from((address, PORT)), Duration::from_secs(3)).await) }
    });
    for (from, to, tried) in futures::future::join_all(attempts).await {
        assert!(tried.is_err(), "container {from} reached container {to} across different network keys");
    }
    for (node, peer) in [(0, 2), (2, 0)] {
        assert_eq!(net.overlays[node].key_generation_in_use(lab.nodes()[peer].address), None, "node {node} has a session with node {peer}");
    }
}
