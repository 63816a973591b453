//! Peers and endpoints come and go: a removed peer exchanges nothing more with the node
//! (learnt MACs behind it go too), a peer added back talks again, and a detached container
//! is unreachable — on an encrypted and on a plain network.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{echo_server, round_trip, PORT};
use palisade_overlay::testing::{self, Lab, LabKeys, LabNetwork};
use palisade_overlay::{EndpointSpec, NetworkKey};

async fn unreachable(net: &LabNetwork, from: usize, to: usize) -> bool {
    let to_address = SocketAddr::from((net.address(to), PORT));
    testing::connect(&net.containers[from], to_address, Duration::from_secs(2)).await.is_err()
}

async fn peers_and_endpoints_come_and_go(lab: &Lab, mut net: LabNetwork, encrypted: bool, vni: u32) {
    for i in 0..3 {
        echo_server(&net.containers[i], net.address(i));
    }
    round_trip(&net.containers[0], net.address(1), b"before").await.unwrap();
    round_trip(&net.containers[0], net.address(2), b"before").await.unwrap();

    // Nodes 0 and 1 drop each other; node 2 stays with both.
    let (node0, node1) = (lab.nodes()[0].address, lab.nodes()[1].address);
    net.overlays[0].remove_peer(node1).await.unwrap();
    net.overlays[1].remove_peer(node0).await.unwrap();
    assert!(net.overlays[0].remove_peer(node1).await.is_err(), "removing an absent peer must fail");
    assert!(unreachable(&net, 0, 1).await, "container 0 reached container 1 after their nodes dropped each other");
    round_trip(&net.containers[0], net.address(2), b"others unaffected").await.unwrap();

    net.overlays[0].add_peer(lab.peer(1, vni, encrypted).unwrap()).await.unwrap();
    net.overlays[1].add_peer(lab.peer(0, vni, encrypted).unwrap()).await.unwrap();
    assert!(net.overlays[0].add_peer(lab.peer(1, vni, encrypted).unwrap()).await.is_err(), "a peer twice must fail");
    round_trip(&net.containers[0], net.address(1), b"back").await.unwrap();

    // Container 2 leaves and comes back under the same spec.
    let address = format!("{}/24", net.address(2)).parse().unwrap();
    let spec = EndpointSpec { netns: net.containers[2].clone(), ifname: "eth0".into(), address, mac: palisade_net::link::mac_for(net.address(2)) };
    net.overlays[2].detach(net.endpoints[2].clone()).await.unwrap();
    assert!(unreachable(&net, 0, 2).await, "a detached container answered");
    assert_eq!(net.overlays[2].attach(&spec).await.unwrap(), net.endpoints[2]);
    round_trip(&net.containers[0], net.address(2), b"attached again").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_peers_and_endpoints_come_and_go() {
    let lab = Lab::new(3).unwrap();
    let keys = (0..3).map(|_| NetworkKey::new(1, [6u8; 32])).collect();
    let net = lab.network(501, LabKeys::Encrypted(keys), "10.77.5.0/24".parse().unwrap()).await.unwrap();
    peers_and_endpoints_come_and_go(&lab, net, true, 501).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_peers_and_endpoints_come_and_go() {
    let lab = Lab::new(3).unwrap();
    let net = lab.network(601, LabKeys::Plain, "10.77.6.0/24".parse().unwrap()).await.unwrap();
    peers_and_endpoints_come_and_go(&lab, net, false, 601).await;
}
