//! The API's Prometheus metrics. Labels are the route's registered name (a fixed set) and the
//! status code, so cardinality stays bounded whatever paths clients send.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::audit::AuditCounters;

/// Metric names, in one place.
pub mod names {
    pub const REQUESTS: &str = "mailpulse_api_requests";
    pub const REQUEST_DURATION: &str = "mailpulse_api_request_duration_seconds";
    pub const AUTH_FAILURES: &str = "mailpulse_api_auth_failures";
    pub const AUDIT_WRITTEN: &str = "mailpulse_api_audit_written";
    pub const AUDIT_DROPPED: &str = "mailpulse_api_audit_dropped";
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: &'static str,
}

type LatencyFamily = Family<RouteLabel, Histogram, fn() -> Histogram>;

pub struct ApiMetrics {
    requests: Family<RouteStatus, Counter>,
    latency: LatencyFamily,
    /// Requests refused for a missing, unknown or revoked key.
    pub auth_failures: Counter,
    /// Audit entries written and dropped.
    pub audit: Arc<AuditCounters>,
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~16 s: statistics queries live in the first buckets.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl ApiMetrics {
    pub fn register(registry: &mut Registry) -> ApiMetrics {
        let metrics = ApiMetrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            auth_failures: Counter::default(),
            audit: Arc::new(AuditCounters::default()),
        };
        registry.register(
            names::REQUESTS,
            "HTTP requests by route and status",
            metrics.requests.clone(),
        );
        registry.register(
            names::REQUEST_DURATION,
            "Time to answer a request, by route",
            metrics.latency.clone(),
        );
        registry.register(
            names::AUTH_FAILURES,
            "Requests refused for a missing, unknown or revoked API key",
            metrics.auth_failures.clone(),
        );
        registry.register(
            names::AUDIT_WRITTEN,
            "Audit log entries written",
            metrics.audit.written.clone(),
        );
        registry.register(
            names::AUDIT_DROPPED,
            "Audit log entries lost (queue full or ClickHouse failing)",
            metrics.audit.dropped.clone(),
        );
        metrics
    }

    /// Counts one answered request.
    pub fn observe(&self, route: &'static str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RouteStatus { route, status })
            .inc();
        self.latency
            .get_or_create(&RouteLabel { route })
            .observe(seconds);
    }
}
