//! Serving a daemon's own API on a unix socket. Its clients are local processes the socket's
//! permissions admitted, so a connection counts as authenticated from the start; what can
//! still go wrong is a client (buggy, or many) holding connections: each process gets
//! [`Limits::max_connections_per_peer`] of them (peers are told apart by `SO_PEERCRED`), all
//! together [`Limits::max_connections`], and a request's headers must arrive within
//! [`Limits::header_timeout`]. There is no idle timeout: attached terminals, followed logs
//! and event streams are idle for as long as their user wants.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;
use tokio::sync::watch;
use tower::ServiceExt as _;

use crate::gate::{ConnectionGate, Peer, Ticket};
use crate::Limits;

/// Serves `router` on `listener` until `stop` turns true; then waits up to `grace` for open
/// connections to finish what they were doing (each is asked to close after its current
/// request). Returns whether they all did.
pub async fn serve_unix(listener: UnixListener, router: axum::Router, limits: Limits, mut stop: watch::Receiver<bool>, grace: Duration) -> bool {
    let gate = Arc::new(ConnectionGate::new(limits));
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors or a transient error: the caps keep this rare.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let pid = stream.peer_cred().ok().and_then(|c| c.pid()).unwrap_or(0);
        let Some(ticket) = gate.admit(Peer::Process(pid)) else {
            tracing::debug!(pid, "connection refused: over the connection caps");
            continue;
        };
        ticket.promote();
        tokio::spawn(serve_local_connection(stream, router.clone(), ticket, limits, stop.clone()));
    }
    drop(listener);
    let drained = async {
        while gate.open().0 > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(grace, drained).await.is_ok()
}

async fn serve_local_connection(stream: tokio::net::UnixStream, router: axum::Router, ticket: Ticket, limits: Limits, mut stop: watch::Receiver<bool>) {
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| router.clone().oneshot(req.map(Body::new)));
    let builder = crate::connection_builder(limits);
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
    tokio::pin!(connection);
    let stopping = stopped(&mut stop);
    tokio::pin!(stopping);
    let ended = tokio::select! {
        ended = connection.as_mut() => Some(ended),
        () = &mut stopping => None,
    };
    let ended = match ended {
        Some(ended) => ended,
        None => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, "local connection ended with an error");
    }
    drop(ticket);
}

/// Resolves once `stop` is true (never, if its sender is gone without saying so).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
