//! A lab for scripts/bench-overlay: two nodes on an underlay, an encrypted overlay network
//! and a plain one across them, a container on each node on each network. Prints where
//! everything is as `KEY=VALUE` lines, then `ready`, and tears it all down when its standard
//! input closes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench fixture: failures should stop it

use palisade_overlay::testing::{Lab, LabKeys};
use palisade_overlay::NetworkKey;
use tokio::io::AsyncReadExt as _;

#[tokio::main]
async fn main() {
    let lab = Lab::new(2).expect("building the lab (needs root)");
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
