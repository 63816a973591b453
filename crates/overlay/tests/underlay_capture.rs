//! What the underlay sees: `tcpdump` on the underlay bridge while a known payload crosses
//! the overlay finds it on a plain network (which proves the capture works) and never on an
//! encrypted one. The capture is `-i any` in the underlay's namespace, i.e. the bridge and
//! all its ports: on the bridge device alone, tcpdump sees only floods and the bridge's own
//! traffic, not unicast forwarded between nodes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

mod common;

use common::{echo_server, exchange, round_trip};
use palisade_overlay::testing::{Capture, Lab, LabKeys};
use palisade_overlay::NetworkKey;

/// Runs a capture on the underlay bridge while `MARKER` crosses from container 0 to
/// container 1 (and back) a few times; returns the capture.
async fn capture_while_marker_crosses(lab: &Lab, keys: LabKeys, vni: u32) -> Vec<u8> {
    let net = lab.network(vni, keys, format!("10.77.{}.0/24", vni % 256).parse().unwrap()).await.unwrap();
    echo_server(&net.containers[1], net.address(1));
    let file = lab.nodes()[0].netns.with_file_name(format!("underlay-{vni}.pcap"));
    let capture = Capture::start(lab.underlay_netns(), "any", &file).await.expect("tcpdump (Debian package tcpdump) and nsenter must be installed");
    let mut conn = round_trip(&net.containers[0], net.address(1), MARKER).await.unwrap();
    for _ in 0..4 {
        exchange(&mut conn, MARKER).await.unwrap();
    }
    let pcap = capture.stop().await.unwrap();
    let _ = std::fs::remove_file(&file);
    // The capture holds the traffic at all (handshakes, VXLAN or WireGuard datagrams).
    assert!(pcap.len() > 1000, "the capture is nearly empty ({} bytes)", pcap.len());
    pcap
}

const MARKER: &[u8] = b"palisade-overlay-known-payload-5f3c9a";

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_overlay_payload_is_visible_on_the_underlay() {
    let lab = Lab::new(3).unwrap();
    let pcap = capture_while_marker_crosses(&lab, LabKeys::Plain, 201).await;
    assert!(contains(&pcap, MARKER), "the payload of a plain overlay must show on the underlay: the capture does not work");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_overlay_payload_never_shows_on_the_underlay() {
    let lab = Lab::new(3).unwrap();
    let keys = (0..3).map(|_| NetworkKey::new(1, [9u8; 32])).collect();
    let pcap = capture_while_marker_crosses(&lab, LabKeys::Encrypted(keys), 202).await;
    assert!(!contains(&pcap, MARKER), "the payload crossed the underlay in clear");
    // Nor does VXLAN: no frame carries the containers' MACs (02:42 + their address) in clear.
    assert!(!contains(&pcap, &[0x02, 0x42, 10, 77, 202, 2]), "a container's MAC shows on the underlay");
}
