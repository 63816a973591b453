//! A lab for scripts/bench-overlay: two nodes on an underlay (of the MTU its argument gives,
//! 1500 by default), an encrypted overlay network and a plain one across them, a container
//! on each node on each network. Prints where everything is as `KEY=VALUE` lines, then
//! `ready`, and tears it all down when its standard input closes.
//!
//! It also prints `CIPHER_MBPS`: how fast one core of this machine runs boringtun's data
//! path alone (encrypt then decrypt, as the two ends of the tunnel do) on full-size packets
//! of the TUN device (the underlay's MTU less WireGuard's overhead). The bench turns it into the ceiling the cipher alone
//! puts on the encrypted overlay's ratio to the plain one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a bench fixture: failures should stop it

use std::time::Duration;

use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};
use nix::time::{clock_gettime, ClockId};
use palisade_overlay::testing::{Lab, LabKeys, UNDERLAY_MTU};
use palisade_overlay::{NetworkKey, WIREGUARD_OVERHEAD};
use tokio::io::AsyncReadExt as _;

#[tokio::main]
async fn main() {
    // The underlay's MTU: the first argument, else Ethernet's (9000 measures jumbo frames).
    let underlay_mtu = std::env::args().nth(1).map_or(UNDERLAY_MTU, |m| m.parse().expect("an MTU"));
    println!("CIPHER_MBPS={:.0}", cipher_mbps((underlay_mtu - WIREGUARD_OVERHEAD) as usize));
    let lab = Lab::with_underlay_mtu(2, underlay_mtu).expect("building the lab (needs root)");
    let keys = (0..2).map(|_| NetworkKey::new(1, [0x5a; 32])).collect();
    let encrypted = lab.network(10, LabKeys::Encrypted(keys), "10.77.10.0/24".parse().unwrap()).await.expect("the encrypted network");
    let plain = lab.network(20, LabKeys::Plain, "10.77.20.0/24".parse().unwrap()).await.expect("the plain network");
    for (i, node) in lab.nodes().iter().enumerate() {
        println!("NODE{i}_NS={}", node.netns.display());
        println!("NODE{i}_IP={}", node.address);
    }
    for (name, net) in [("ENC", &encrypted), ("PLAIN", &plain)] {
        println!("{name}_MTU={}", net.overlays[0].mtu());
        for i in 0..2 {
            println!("{name}{i}_NS={}", net.containers[i].display());
            println!("{name}{i}_IP={}", net.address(i));
        }
    }
    println!("ready");
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    drop((encrypted, plain));
}

/// Megabits of `size`-byte packets per second that one core encrypts with one `Tunn` and
/// decrypts with its peer's, after a handshake between the two (the network key as preshared key, as the
/// overlay has it). Test keys, fixed: nothing here is secret.
fn cipher_mbps(size: usize) -> f64 {
    let (a, b) = (StaticSecret::from([1; 32]), StaticSecret::from([2; 32]));
    let (a_public, b_public) = (PublicKey::from(&a), PublicKey::from(&b));
    let mut sender = Tunn::new(a, b_public, Some([0x5a; 32]), None, 1, None);
    let mut receiver = Tunn::new(b, a_public, Some([0x5a; 32]), None, 2, None);
    let (mut datagram, mut out) = (vec![0u8; 65_536], vec![0u8; 65_536]);

    // Handshake: initiation, response, and the keepalive that confirms the session.
    let mut message = match sender.format_handshake_initiation(&mut datagram, false) {
        TunnResult::WriteToNetwork(m) => m.to_vec(),
        _ => panic!("no handshake initiation"),
    };
    for step in 0..3 {
        let to = if step % 2 == 0 { &mut receiver } else { &mut sender };
        match to.decapsulate(None, &message, &mut out) {
            TunnResult::WriteToNetwork(reply) => message = reply.to_vec(),
            _ => break,
        }
    }

    // An IPv4 packet boringtun accepts: version, header length and total length.
    let mut packet = vec![0u8; size];
    packet[0] = 0x45;
    packet[2..4].copy_from_slice(&(size as u16).to_be_bytes());
    packet[8] = 64;
    packet[9] = 17;
    packet[12..16].copy_from_slice(&[192, 0, 2, 1]);
    packet[16..20].copy_from_slice(&[192, 0, 2, 2]);

    // CPU time of this thread, not wall time: other processes may share the core.
    let cpu = || Duration::from(clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).unwrap());
    let (start, mut packets) = (cpu(), 0u64);
    while cpu() - start < Duration::from_millis(500) {
        for _ in 0..1000 {
            let TunnResult::WriteToNetwork(d) = sender.encapsulate(&packet, &mut datagram) else { panic!("no session") };
            let len = d.len();
            let TunnResult::WriteToTunnelV4(..) = receiver.decapsulate(None, &datagram[..len], &mut out) else { panic!("not decrypted") };
        }
        packets += 1000;
    }
    (packets * size as u64 * 8) as f64 / (cpu() - start).as_secs_f64() / 1e6
}
