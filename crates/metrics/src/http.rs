//! Request metrics: a middleware around a server's router counting requests by route, method
//! and status, timing them, and counting those in flight.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Names a request's route from a bounded set (never the raw path).
pub type Classifier = fn(&Request) -> String;

/// The route template axum matched (`/containers/{reference}/start`), else `unmatched`.
pub fn matched_path(request: &Request) -> String {
    request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned())
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    server: &'static str,
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    server: &'static str,
    route: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The families every server shares (told apart by the `server` label).
#[derive(Clone)]
pub(crate) struct Families {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    in_flight: Family<RouteLabels, Gauge>,
}

impl Families {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let families = Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            in_flight: Family::default(),
        };
        registry.register("http_requests", "HTTP requests answered, by server, route, method and status", families.requests.clone());
        registry.register("http_request_duration_seconds", "Time to answer, by server and route", families.duration.clone());
        registry.register("http_requests_in_flight", "Requests being answered (uploads included), by server and route", families.in_flight.clone());
        families
    }
}

/// The request metrics of one server.
#[derive(Clone)]
pub struct HttpMetrics {
    server: &'static str,
    families: Families,
}

impl std::fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetrics").field("server", &self.server).finish_non_exhaustive()
    }
}

/// Decrements the in-flight gauge however the request ends (a dropped connection included).
struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl HttpMetrics {
    pub(crate) fn new(server: &'static str, families: Families) -> Self {
        Self { server, families }
    }

    /// `router` with every request it answers measured, routes named by `classify`.
    pub fn measure(&self, router: axum::Router, classify: Classifier) -> axum::Router {
        let this = Arc::new(self.clone());
        router.layer(axum::middleware::from_fn(move |request: Request, next: Next| {
            let this = this.clone();
            async move { this.observe(request, next, classify).await }
        }))
    }

    async fn observe(&self, request: Request, next: Next, classify: Classifier) -> Response {
        let route = classify(&request);
        let method = request.method().as_str().to_owned();
        let labels = RouteLabels { server: self.server, route: route.clone() };
        let gauge = self.families.in_flight.get_or_create(&labels).clone();
        gauge.inc();
        let _in_flight = InFlight(gauge);
        let started = Instant::now();
        let response = next.run(request).await;
        self.families.duration.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
        let status = response.status().as_u16();
        self.families.requests.get_or_create(&RequestLabels { server: self.server, route, method, status }).inc();
        response
    }
}

#[cfg(test)]
mod tests {
    use tower::ServiceExt as _;

    use crate::Metrics;

    #[tokio::test]
    async fn requests_are_counted_by_route_template_and_status() {
        let metrics = Metrics::new();
        let router = axum::Router::new()
            .route("/items/{id}", axum::routing::get(|| async { "ok" }))
            .route("/missing", axum::routing::get(|| async { axum::http::StatusCode::NOT_FOUND }));
        let router = metrics.http("test").measure(router, super::matched_path);
        for path in ["/items/1", "/items/2", "/missing"] {
            let request = axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap();
            router.clone().oneshot(request).await.unwrap();
        }
        metrics.gauge_fn("answer", "a gauge read at scrape time", || Some(42.0));
        let text = metrics.render();
        assert!(text.contains(r#"palisade_http_requests_total{server="test",route="/items/{id}",method="GET",status="200"} 2"#), "{text}");
        assert!(text.contains(r#"palisade_http_requests_total{server="test",route="/missing",method="GET",status="404"} 1"#), "{text}");
        assert!(text.contains(r#"palisade_http_requests_in_flight{server="test",route="/items/{id}"} 0"#), "{text}");
        assert!(text.contains("palisade_answer 42.0"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
