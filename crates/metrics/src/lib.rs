//! Prometheus metrics of Palisade's servers.
//!
//! One [`Metrics`] per process holds every family; servers get an [`HttpMetrics`] each (their
//! requests by route, method and status, latencies, requests in flight — uploads included),
//! and register gauges that are read when Prometheus scrapes ([`Metrics::gauge_fn`]):
//! certificate expiry, queue depths. [`serve`] answers `GET /metrics` in the OpenMetrics text
//! format on a listener of its own, apart from the servers' ports (loopback by default in the
//! CLI), as dockerd's `--metrics-addr` and distribution's debug address do.
//!
//! Route labels are bounded: each server names its routes from a fixed set (the registry's
//! route kinds, the Engine API's route templates), never from raw paths a client chose.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod http;

use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use http::{matched_path, Classifier, HttpMetrics};

/// A gauge whose value is computed at scrape time.
type Reader = Box<dyn Fn() -> Option<f64> + Send + Sync>;

/// Every metric of one process.
pub struct Metrics {
    registry: Mutex<Registry>,
    http: http::Families,
    readers: Mutex<Vec<(Gauge<f64, std::sync::atomic::AtomicU64>, Reader)>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// An empty set, every name prefixed `palisade_`.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("palisade");
        let http = http::Families::register(&mut registry);
        Arc::new(Self { registry: Mutex::new(registry), http, readers: Mutex::new(Vec::new()) })
    }

    /// The request metrics of one server (`registry`, `trust`, `engine`).
    pub fn http(&self, server: &'static str) -> HttpMetrics {
        HttpMetrics::new(server, self.http.clone())
    }

    /// A gauge `palisade_<name>` set from `read` at every scrape (`None`: left as it was).
    pub fn gauge_fn(&self, name: &str, help: &str, read: impl Fn() -> Option<f64> + Send + Sync + 'static) {
        let gauge = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        self.registry.lock().unwrap_or_else(PoisonError::into_inner).register(name, help, gauge.clone());
        self.readers.lock().unwrap_or_else(PoisonError::into_inner).push((gauge, Box::new(read)));
    }

    /// The OpenMetrics text of every metric, gauges read now.
    pub fn render(&self) -> String {
        for (gauge, read) in self.readers.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            if let Some(value) = read() {
                gauge.set(value);
            }
        }
        let mut text = String::new();
        if let Err(e) = encode(&mut text, &self.registry.lock().unwrap_or_else(PoisonError::into_inner)) {
            tracing::warn!("encoding metrics: {e}");
        }
        text
    }
}

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `GET /metrics` on `listener` (plain HTTP) until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Metrics>) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render()) }
        }),
    );
    axum::serve(listener, app).await
}
