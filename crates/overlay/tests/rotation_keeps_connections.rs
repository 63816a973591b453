//! `Overlay::rotate` re-keys without tearing anything down: a TCP connection opened before
//! the rotation keeps exchanging data throughout — while some nodes have the new key and
//! others not yet — and after it, under the new key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

mod common;

use std::time::{Duration, Instant};

use common::{echo_server, exchange, round_trip};
use palisade_overlay::testing::{Lab, LabKeys};
use palisade_overlay::NetworkKey;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connection_survives_a_key_rotation() {
    let lab = Lab::new(3).unwrap();
    let keys = (0..3).map(|_| NetworkKey::new(1, [3u8; 32])).collect();
    let mut net = lab.network(401, LabKeys::Encrypted(keys), "10.77.4.0/24".parse().unwrap()).await.unwrap();
    echo_server(&net.containers[1], net.address(1));
    let mut conn = round_trip(&net.containers[0], net.address(1), b"before").await.unwrap();

    // Node by node, with the connection busy in between: node 0 has the new key while
    // node 1 does not yet, and the other way round is impossible.
    for i in 0..3 {
        net.overlays[i].rotate(NetworkKey::new(2, [4u8; 32])).await.unwrap();
        let until = Instant::now() + Duration::from_millis(700);
        while Instant::now() < until {
            exchange(&mut conn, format!("during rotation, {i} rotated").as_bytes()).await.unwrap_or_else(|e| panic!("after node {i} rotated: {e}"));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // The sessions move to generation 2 on both ends.
    let (node0, node1) = (lab.nodes()[0].address, lab.nodes()[1].address);
    let deadline = Instant::now() + Duration::from_secs(15);
    while net.overlays[0].key_generation_in_use(node1) != Some(2) || net.overlays[1].key_generation_in_use(node0) != Some(2) {
        assert!(Instant::now() < deadline, "the sessions did not move to the new key");
        exchange(&mut conn, b"waiting").await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    exchange(&mut conn, b"after the rotation, same connection").await.unwrap();
    round_trip(&net.containers[0], net.address(1), b"a new connection").await.unwrap();

    // Misuse changes nothing: an older generation, or the same one modulo 256.
    assert!(net.overlays[0].rotate(NetworkKey::new(1, [5u8; 32])).await.is_err());
    assert!(net.overlays[0].rotate(NetworkKey::new(258, [5u8; 32])).await.is_err());
    exchange(&mut conn, b"still there").await.unwrap();
}
