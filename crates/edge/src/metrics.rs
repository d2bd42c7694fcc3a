//! The edge's Prometheus metrics. Handles for every (route, status) pair the edge can answer are
//! resolved once at start, so a request touches only atomics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// Routes the edge reports on (a fixed set keeps label cardinality low).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Pixel,
    Click,
    Unsubscribe,
    Health,
    Ready,
    Metrics,
    Other,
}

impl Route {
    const ALL: [Route; 7] = [
        Route::Pixel,
        Route::Click,
        Route::Unsubscribe,
        Route::Health,
        Route::Ready,
        Route::Metrics,
        Route::Other,
    ];

    fn name(self) -> &'static str {
        match self {
            Route::Pixel => "pixel",
            Route::Click => "click",
            Route::Unsubscribe => "unsubscribe",
            Route::Health => "healthz",
            Route::Ready => "readyz",
            Route::Metrics => "metrics",
            Route::Other => "other",
        }
    }
}

/// Statuses the edge can answer.
const STATUSES: [u16; 7] = [200, 302, 303, 404, 405, 500, 503];

pub struct EdgeMetrics {
    requests: Vec<(Route, u16, Counter)>,
    latency: Vec<(Route, Histogram)>,
    /// Events accepted by Kafka.
    pub produced: Counter,
    /// Events written to the spool.
    pub spooled: Counter,
    /// Spooled events delivered to Kafka.
    pub replayed: Counter,
    /// Events lost: the spool was full or unwritable. Alert on any increase.
    pub dropped_spool_full: Counter,
    pub dropped_spool_error: Counter,
    /// Requests whose token did not verify, by reason.
    invalid_tokens: Family<ReasonLabel, Counter>,
    /// 1 while the broker is reachable.
    pub broker_up: Gauge,
    /// Bytes held by the spool.
    pub spool_bytes: Gauge,
}

impl EdgeMetrics {
    pub fn register(registry: &mut Registry) -> EdgeMetrics {
        let requests_family = Family::<RouteStatus, Counter>::default();
        let latency_family = Family::<RouteLabel, Histogram>::new_with_constructor(|| {
            // 50 µs … ~1.6 s: the pixel path lives in the first buckets.
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.000_05, 2.0, 16,
            ))
        });
        let mut requests = Vec::new();
        let mut latency = Vec::new();
        for route in Route::ALL {
            for status in STATUSES {
                let counter = requests_family
                    .get_or_create(&RouteStatus {
                        route: route.name(),
                        status,
                    })
                    .clone();
                requests.push((route, status, counter));
            }
            latency.push((
                route,
                latency_family
                    .get_or_create(&RouteLabel {
                        route: route.name(),
                    })
                    .clone(),
            ));
        }
        let metrics = EdgeMetrics {
            requests,
            latency,
            produced: Counter::default(),
            spooled: Counter::default(),
            replayed: Counter::default(),
            dropped_spool_full: Counter::default(),
            dropped_spool_error: Counter::default(),
            invalid_tokens: Family::default(),
            broker_up: Gauge::default(),
            spool_bytes: Gauge::default(),
        };
        registry.register(
            "mailpulse_edge_requests",
            "HTTP requests by route and status",
            requests_family,
        );
        registry.register(
            "mailpulse_edge_request_duration_seconds",
            "Time to answer a request, by route",
            latency_family,
        );
        registry.register(
            "mailpulse_edge_events_produced",
            "Events acknowledged by Kafka",
            metrics.produced.clone(),
        );
        registry.register(
            "mailpulse_edge_events_spooled",
            "Events written to the on-disk spool",
            metrics.spooled.clone(),
        );
        registry.register(
            "mailpulse_edge_events_replayed",
            "Spooled events delivered to Kafka",
            metrics.replayed.clone(),
        );
        registry.register(
            "mailpulse_edge_events_dropped_spool_full",
            "Events lost because the spool was full",
            metrics.dropped_spool_full.clone(),
        );
        registry.register(
            "mailpulse_edge_events_dropped_spool_error",
            "Events lost because the spool could not be written",
            metrics.dropped_spool_error.clone(),
        );
        registry.register(
            "mailpulse_edge_invalid_tokens",
            "Requests whose token did not verify, by reason",
            metrics.invalid_tokens.clone(),
        );
        registry.register(
            "mailpulse_edge_broker_up",
            "1 while the Kafka broker is reachable",
            metrics.broker_up.clone(),
        );
        registry.register(
            "mailpulse_edge_spool_bytes",
            "Bytes held by the spool",
            metrics.spool_bytes.clone(),
        );
        metrics
    }

    pub fn observe(&self, route: Route, status: u16, seconds: f64) {
        if let Some((_, _, counter)) = self
            .requests
            .iter()
            .find(|(r, s, _)| *r == route && *s == status)
        {
            counter.inc();
        }
        if let Some((_, histogram)) = self.latency.iter().find(|(r, _)| *r == route) {
            histogram.observe(seconds);
        }
    }

    pub fn invalid_token(&self, reason: &'static str) {
        self.invalid_tokens
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }
}
