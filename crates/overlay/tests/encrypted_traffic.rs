//! TCP between containers on different nodes crosses an encrypted overlay, full-size packets
//! included (the overlay's MTU leaves room for VXLAN and WireGuard), on an Ethernet underlay
//! and on one with jumbo frames.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

mod common;

use common::{bulk, echo_server, round_trip};
use palisade_overlay::testing::{Lab, LabKeys};
use palisade_overlay::NetworkKey;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_crosses_the_encrypted_overlay_between_three_nodes() {
    let lab = Lab::new(3).unwrap();
    let secret = [7u8; 32];
    let keys = (0..3).map(|_| NetworkKey::new(1, secret)).collect();
    let net = lab.network(101, LabKeys::Encrypted(keys), "10.77.1.0/24".parse().unwrap()).await.unwrap();
    assert!(net.overlays.iter().all(|o| o.is_encrypted() && o.mtu() == 1390));
    for i in 0..3 {
        echo_server(&net.containers[i], net.address(i));
    }
    // Every pair, both ways; 256 KiB so that most segments are full-size.
    let payload = bulk(256 * 1024);
    for from in 0..3 {
        for to in (0..3).filter(|&to| to != from) {
            round_trip(&net.containers[from], net.address(to), &payload)
                .await
                .unwrap_or_else(|e| panic!("container {from} -> container {to}: {e}"));
        }
    }
    for i in 1..3 {
        assert_eq!(net.overlays[0].key_generation_in_use(lab.nodes()[i].address), Some(1));
    }
}

/// On a 9000-byte underlay the TUN device's MTU is 8940: the tunnel must take packets that
/// large (it once split reads into 4 KiB buffers, and its sending task stopped at the first
/// full-size packet).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_size_packets_cross_an_encrypted_overlay_on_a_jumbo_frame_underlay() {
    let lab = Lab::with_underlay_mtu(2, 9000).unwrap();
    let keys = (0..2).map(|_| NetworkKey::new(1, [7u8; 32])).collect();
    let net = lab.network(102, LabKeys::Encrypted(keys), "10.77.2.0/24".parse().unwrap()).await.unwrap();
    assert!(net.overlays.iter().all(|o| o.mtu() == 8890));
    for i in 0..2 {
        echo_server(&net.containers[i], net.address(i));
    }
    let payload = bulk(1024 * 1024);
    for (from, to) in [(0, 1), (1, 0)] {
        round_trip(&net.containers[from], net.address(to), &payload)
            .await
            .unwrap_or_else(|e| panic!("container {from} -> container {to}: {e}"));
    }
}
