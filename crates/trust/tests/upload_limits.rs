//! Issue #21 item 6: metadata uploads are bounded. Eight clients each sending a 60 MiB
//! `POST …/_trust/tuf/` at once took the server's memory up by the sum (each role was buffered
//! whole, up to 100 MiB); now each role is capped, the whole upload is capped, and only a few
//! uploads are read at once, so the peak stays small and the server keeps answering.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use palisade_trust::server::{router, serve, Limits, TrustServer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const BOUNDARY: &str = "palisade-test-boundary";

/// Peak resident memory of this process (the server runs in it), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// Posts one multipart part `role` of `size` bytes, written 64 KiB at a time (never held by
/// the client); returns the HTTP status, or 0 if the server closed the connection first.
async fn upload(addr: std::net::SocketAddr, role: &str, size: usize) -> u16 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{role}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    let request = format!(
        "POST /v2/example.com/app/_trust/tuf/ HTTP/1.1\r\nHost: trust\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n\r\n{head}",
        head.len() + size + tail.len()
    );
    let send = async {
        s.write_all(request.as_bytes()).await?;
        let chunk = vec![b' '; 64 << 10];
        let mut left = size;
        while left > 0 {
            let n = left.min(chunk.len());
            s.write_all(&chunk[..n]).await?;
            left -= n;
        }
        s.write_all(tail.as_bytes()).await
    };
    let _ = send.await;
    let mut answer = vec![0u8; 64];
    match tokio::time::timeout(Duration::from_secs(60), s.read(&mut answer)).await {
        Ok(Ok(n)) if n >= 12 => String::from_utf8_lossy(&answer[9..12]).parse().unwrap_or(0),
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_large_uploads_at_once_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let server = TrustServer::open(&dir.path().join("root"), Arc::new(palisade_pki::SystemClock)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, router(Arc::new(server), Limits::default()), None));

    let before = peak_rss();
    let uploads: Vec<_> = (0..8).map(|_| tokio::spawn(upload(addr, "targets", 60 << 20))).collect();
    for u in uploads {
        let status = u.await.unwrap();
        assert_ne!(status, 200, "a 60 MiB targets upload was accepted");
    }
    let grown = peak_rss().saturating_sub(before);
    assert!(grown < 128 << 20, "eight uploads took the peak memory up by {} MiB", grown >> 20);
    // The server still answers uploads of a sane size (this one is not JSON).
    assert_eq!(upload(addr, "targets", 100).await, 400);
}
