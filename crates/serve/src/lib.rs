//! Serving HTTP to untrusted clients over TCP or TLS, for every Palisade server that faces the
//! network: the registry and the trust server through [`serve`], the cluster port (whose accept
//! loop reads client certificates) through the same pieces.
//!
//! A client can hold a server's resources without sending anything useful: open connections
//! and never finish a request, trickle a body, or idle forever. [`serve`] bounds each:
//!
//! - [`ConnectionGate`]: connections per peer address and in total, with tighter caps while a
//!   connection has not yet made an authenticated request; a connection over a cap is closed as
//!   soon as it is accepted, so descriptors never run out.
//! - [`GuardedIo`]: a connection on which no byte moves for the idle timeout (shorter before
//!   authentication) is closed, and so is one whose request body trickles in below the minimum
//!   rate.
//! - hyper's header-read timeout (with the tokio timer installed, which it needs to work).
//!
//! [`serve_unix`] serves a daemon's own API on a unix socket with the caps and the header
//! timeout, per client process, and no idle timeout (see its module).
//!
//! A connection counts as authenticated once the application says so through the
//! [`Authenticated`] request extension, or once a response other than 401, 403, 408 or 429 has
//! been sent on it.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod gate;
mod io;
mod local;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tower::ServiceExt as _;

pub use gate::{ConnectionGate, Peer, Ticket};
pub use local::serve_unix;
pub use io::GuardedIo;

/// Caps and timeouts. The defaults suit a process with the common 1,024-descriptor limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Open connections in total. Default 512.
    pub max_connections: usize,
    /// Open connections from one peer address. Default 64.
    pub max_connections_per_peer: usize,
    /// Connections that have not yet made an authenticated request, in total. Default 128.
    pub max_unauthenticated: usize,
    /// The same, from one peer address. Default 16.
    pub max_unauthenticated_per_peer: usize,
    /// Time to send a request's headers. Default 10 s.
    pub header_timeout: Duration,
    /// A connection on which no byte moves this long is closed, before authentication.
    /// Default 10 s.
    pub idle_timeout_unauthenticated: Duration,
    /// The same, once authenticated. Default 120 s (a handler may work that long without
    /// I/O, e.g. committing a large blob).
    pub idle_timeout: Duration,
    /// A request body must arrive at least this fast (bytes per second) over each
    /// [`RATE_WINDOW`]; two slower windows in a row, with nothing sent back meanwhile, close
    /// the connection. Default 1 KiB/s.
    pub min_body_rate: u64,
    /// Time for a TLS handshake. Default 10 s.
    pub tls_handshake_timeout: Duration,
}

/// The window over which [`Limits::min_body_rate`] is measured.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            max_connections_per_peer: 64,
            max_unauthenticated: 128,
            max_unauthenticated_per_peer: 16,
            header_timeout: Duration::from_secs(10),
            idle_timeout_unauthenticated: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            min_body_rate: 1024,
            tls_handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Request extension marking a TLS connection (so an application can tell `https` from
/// `http`, e.g. for the realm it advertises).
#[derive(Debug, Clone, Copy)]
pub struct TlsConnection;

/// Request extension through which the application marks its connection authenticated (once
/// the request's credentials were accepted), moving it under the wider caps and idle timeout.
#[derive(Debug, Clone)]
pub struct Authenticated(Arc<Ticket>);

impl Authenticated {
    /// Marks the connection authenticated (idempotent).
    pub fn mark(&self) {
        self.0.promote();
    }
}

/// Accepts connections forever and serves `router` on each (TLS when `tls` is given), within
/// `limits`. Each request carries `axum::extract::ConnectInfo<SocketAddr>` (the peer),
/// [`Authenticated`], and [`TlsConnection`] on TLS connections.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
) -> std::io::Result<()> {
    let gate = Arc::new(ConnectionGate::new(limits));
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors or a transient error: the caps keep this rare.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Some(ticket) = gate.admit(peer.ip()) else {
            tracing::debug!(%peer, "connection refused: over the connection caps");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (router, acceptor) = (router.clone(), acceptor.clone());
        tokio::spawn(async move {
            let ticket = Arc::new(ticket);
            let io = GuardedIo::new(stream, ticket.clone(), limits);
            match acceptor {
                Some(a) => match tokio::time::timeout(limits.tls_handshake_timeout, a.accept(io)).await {
                    Ok(Ok(s)) => serve_connection(s, router, peer, ticket, true, limits, Promotion::OnSuccess).await,
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
                None => serve_connection(io, router, peer, ticket, false, limits, Promotion::OnSuccess).await,
            }
        });
    }
}

/// How a connection comes under the authenticated caps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Promotion {
    /// Through [`Authenticated`], or by any response other than 401, 403, 408 or 429 (servers
    /// whose every route asks for credentials, or answers the same to anyone).
    OnSuccess,
    /// Only through [`Authenticated`] or [`Ticket::promote`]: servers with routes open to
    /// anyone (a cluster port's join calls) decide themselves, e.g. on a verified client
    /// certificate.
    Explicit,
}

/// Serves HTTP/1.1 or h2 on one accepted connection (`io` a [`GuardedIo`] over the stream
/// [`ConnectionGate::admit`] gave `ticket` for, or a TLS stream over one), with hyper's
/// header-read timeout. For servers with an accept loop of their own; [`serve`] uses it.
pub async fn serve_connection<I>(
    io: I,
    router: axum::Router,
    peer: SocketAddr,
    ticket: Arc<Ticket>,
    is_tls: bool,
    limits: Limits,
    promotion: Promotion,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        let (router, ticket) = (router.clone(), ticket.clone());
        let ext = req.extensions_mut();
        ext.insert(axum::extract::ConnectInfo(peer));
        ext.insert(Authenticated(ticket.clone()));
        if is_tls {
            ext.insert(TlsConnection);
        }
        async move {
            let resp = router.oneshot(req.map(Body::new)).await;
            if let Ok(r) = &resp {
                if promotion == Promotion::OnSuccess && !matches!(r.status().as_u16(), 401 | 403 | 408 | 429) {
                    ticket.promote();
                }
            }
            resp
        }
    });
    if let Err(e) = connection_builder(limits).serve_connection_with_upgrades(TokioIo::new(io), svc).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// HTTP/1.1 and h2 with the timer hyper's timeouts need, and `limits`' header-read timeout.
pub(crate) fn connection_builder(limits: Limits) -> hyper_util::server::conn::auto::Builder<TokioExecutor> {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    builder
}
