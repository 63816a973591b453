#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! `palisade up`, the README's "run it" command: a one-node swarm on embedded defaults.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{free_port, PALISADE};

#[test]
fn up_initialises_a_one_node_swarm_once_and_prints_how_to_join() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("up.sock");
    let listen = format!("127.0.0.1:{}", free_port());
    let run = || {
        let mut child = Command::new(PALISADE)
            .args(["up", "--data-root"])
            .arg(dir.path().join("data"))
            .args(["--bridge", "none"])
            .args(["-H", &format!("unix://{}", socket.display()), "--listen-addr", &listen])
            .args(["--registry-addr", "127.0.0.1:0", "--trust-addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let printed: Vec<String> = (0..9).map(|_| lines.next().unwrap().unwrap()).collect();
        (child, printed)
    };

    let (mut child, printed) = run();
    assert_eq!(printed[0], "Palisade is up (new one-node swarm).");
    assert!(printed[2].contains(&listen), "{printed:?}");
    let ca = dir.path().join("data/node/root-ca.crt");
    assert!(printed[3].contains(ca.to_str().unwrap()) && ca.exists(), "{printed:?}");
    assert!(printed[4].contains("--token SWMTKN-1-") && printed[5].contains("--token SWMTKN-1-"), "{printed:?}");
    let out = Command::new("docker").args(["-H", &format!("unix://{}", socket.display()), "node", "ls", "-q"]).output().unwrap();
    let first_id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(first_id.len(), 25, "{out:?}");
    child.kill().unwrap();
    child.wait().unwrap();

    // A second `up` resumes the same swarm instead of making a new one.
    let (mut child, printed) = run();
    assert_eq!(printed[0], "Palisade is up.");
    let out = Command::new("docker").args(["-H", &format!("unix://{}", socket.display()), "node", "ls", "-q"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), first_id);
    child.kill().unwrap();
    child.wait().unwrap();
}
