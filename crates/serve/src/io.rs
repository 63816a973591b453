//! A connection's bytes, watched: idle connections and trickling bodies are cut off.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::{Limits, Ticket, RATE_WINDOW};

/// Wraps a connection's I/O. It fails (and so ends the connection) when no byte moves in
/// either direction for the idle timeout (the shorter one until the connection is
/// authenticated), or when two [`RATE_WINDOW`]s in a row each bring some request bytes but
/// fewer than [`Limits::min_body_rate`] allows while nothing is sent back.
#[derive(Debug)]
pub struct GuardedIo<I> {
    io: I,
    ticket: Arc<Ticket>,
    limits: Limits,
    /// Fires when the connection has been idle for its idle timeout.
    idle: Pin<Box<Sleep>>,
    window_start: Instant,
    read_in_window: u64,
    wrote_in_window: u64,
    /// Consecutive windows below the minimum rate.
    slow_windows: u8,
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_owned())
}

impl<I> GuardedIo<I> {
    /// Watches `io` for the connection `ticket` stands for.
    pub fn new(io: I, ticket: Arc<Ticket>, limits: Limits) -> Self {
        let now = Instant::now();
        let idle = Box::pin(tokio::time::sleep_until(now + limits.idle_timeout_unauthenticated));
        Self { io, ticket, limits, idle, window_start: now, read_in_window: 0, wrote_in_window: 0, slow_windows: 0 }
    }

    fn idle_timeout(&self) -> Duration {
        if self.ticket.is_authenticated() {
            self.limits.idle_timeout
        } else {
            self.limits.idle_timeout_unauthenticated
        }
    }

    /// Records `read` and `wrote` bytes; fails once the body has trickled for two windows.
    fn progress(&mut self, read: usize, wrote: usize) -> io::Result<()> {
        let now = Instant::now();
        let deadline = now + self.idle_timeout();
        self.idle.as_mut().reset(deadline);
        self.read_in_window += read as u64;
        self.wrote_in_window += wrote as u64;
        if now.duration_since(self.window_start) >= RATE_WINDOW {
            let floor = self.limits.min_body_rate.saturating_mul(RATE_WINDOW.as_secs());
            let trickled = self.read_in_window > 0 && self.read_in_window < floor && self.wrote_in_window == 0;
            self.slow_windows = if trickled { self.slow_windows + 1 } else { 0 };
            self.window_start = now;
            self.read_in_window = 0;
            self.wrote_in_window = 0;
            if self.slow_windows >= 2 {
                return Err(timed_out("request body below the minimum rate"));
            }
        }
        Ok(())
    }

    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        match self.idle.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(timed_out("connection idle")),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for GuardedIo<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len() - before;
                Poll::Ready(self.progress(n, 0))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.poll_idle(cx).map(Err),
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for GuardedIo<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.io).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => Poll::Ready(self.progress(0, n).map(|()| n)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.poll_idle(cx).map(Err),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;
    use crate::ConnectionGate;

    fn guarded(limits: Limits) -> (GuardedIo<tokio::io::DuplexStream>, tokio::io::DuplexStream) {
        let gate = Arc::new(ConnectionGate::new(limits));
        let ticket = Arc::new(gate.admit("192.0.2.1".parse::<std::net::IpAddr>().unwrap()).unwrap());
        let (server, client) = tokio::io::duplex(1 << 16);
        (GuardedIo::new(server, ticket, limits), client)
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_times_out() {
        let (mut io, _client) = guarded(Limits::default());
        let mut buf = [0u8; 8];
        let err = io.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickling_body_is_cut_off_and_a_steady_one_is_not() {
        let (mut io, mut client) = guarded(Limits::default());
        let trickle = tokio::spawn(async move {
            for _ in 0..10 {
                if client.write_all(b"x").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        });
        let mut buf = [0u8; 8];
        let mut result = Ok(0);
        for _ in 0..10 {
            result = io.read(&mut buf).await;
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::TimedOut);
        trickle.abort();

        let (mut io, mut client) = guarded(Limits::default());
        tokio::spawn(async move {
            for _ in 0..30 {
                let _ = client.write_all(&[b'y'; 4096]).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let mut total = 0;
        let mut buf = vec![0u8; 8192];
        while total < 30 * 4096 {
            total += io.read(&mut buf).await.unwrap();
        }
    }
}
