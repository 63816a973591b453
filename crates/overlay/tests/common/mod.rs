//! Shared by the overlay's kernel tests: echo servers and exchanges over lab connections.
//! Every test needs root and the kernel's vxlan, veth, bridge and tun; they fail, never skip,
//! when something is missing.
#![allow(dead_code, unreachable_pub, clippy::expect_used, clippy::panic)] // test code: failures should panic

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use palisade_overlay::testing;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

pub const PORT: u16 = 7777;
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// An echo server on `PORT` in `ns`, serving every connection until the test ends.
pub fn echo_server(ns: &Path, address: std::net::Ipv4Addr) {
    let listener = testing::listen(ns, SocketAddr::from((address, PORT))).expect("listening in the container");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = conn.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
}

/// Sends `payload` and reads it back, within `TIMEOUT`.
pub async fn exchange(conn: &mut TcpStream, payload: &[u8]) -> std::io::Result<()> {
    tokio::time::timeout(TIMEOUT, async {
        conn.write_all(payload).await?;
        let mut back = vec![0u8; payload.len()];
        conn.read_exact(&mut back).await?;
        assert_eq!(back, payload, "the echo differs");
        Ok(())
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no echo in time"))?
}

/// Connects from `from` to the echo server at `to` and exchanges `payload`.
pub async fn round_trip(from: &Path, to: std::net::Ipv4Addr, payload: &[u8]) -> palisade_overlay::Result<TcpStream> {
    let mut conn = testing::connect(from, SocketAddr::from((to, PORT)), TIMEOUT).await?;
    exchange(&mut conn, payload).await.map_err(|e| palisade_overlay::Error::Io { op: "echo", source: e })?;
    Ok(conn)
}

/// `n` bytes that are not all alike (so a misplaced chunk shows).
pub fn bulk(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}
