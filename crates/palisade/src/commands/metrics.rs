//! `--metrics-addr`: Prometheus metrics of this process's servers on a listener of their own
//! (plain HTTP, `GET /metrics`), off unless asked for — as dockerd's `--metrics-addr`.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use anyhow::Context as _;
use axum::extract::Request;
use palisade_cluster::Daemon;
use palisade_metrics::Metrics;

#[derive(clap::Args, Clone, Debug)]
pub(crate) struct MetricsArg {
    /// Serve Prometheus metrics at http://ADDR/metrics (plain HTTP, no authentication: keep it
    /// on loopback or a management network; port 0 picks a free port). Off by default.
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics_addr: Option<SocketAddr>,
}

impl MetricsArg {
    /// Binds the metrics listener and serves `metrics` on it, when asked; returns its address.
    pub(crate) async fn serve(&self, metrics: &Arc<Metrics>) -> anyhow::Result<Option<SocketAddr>> {
        let Some(addr) = self.metrics_addr else { return Ok(None) };
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("metrics: cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        let metrics = metrics.clone();
        tokio::spawn(async move {
            if let Err(e) = palisade_metrics::serve(listener, metrics).await {
                tracing::error!("metrics endpoint stopped: {e}");
            }
        });
        tracing::info!("metrics at http://{local}/metrics");
        Ok(Some(local))
    }
}

/// The registry's route kinds as labels.
pub(crate) fn registry_route(request: &Request) -> String {
    palisade_registry::http::route_label(request.uri().path()).to_owned()
}

/// The trust server's route kinds as labels.
pub(crate) fn trust_route(request: &Request) -> String {
    palisade_trust::server::route_label(request.uri().path()).to_owned()
}

/// The node's own gauges (read at scrape time; the daemon is held weakly).
pub(crate) fn node_gauges(metrics: &Metrics, daemon: &Arc<Daemon>) {
    let daemon: Weak<Daemon> = Arc::downgrade(daemon);
    metrics.gauge_fn(
        "node_certificate_expiry_timestamp_seconds",
        "When this node's cluster certificate expires (Unix time; absent outside a swarm)",
        move || daemon.upgrade()?.certificate_expiry().map(|t| t as f64),
    );
}
