//! The aggregator's Prometheus metrics. Names are defined here only; labels are low-cardinality.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Why a message produced no row.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SkipLabels {
    /// `event_id` (a duplicate produced upstream), `offset` (a redelivery at or below the
    /// stored watermark), `consent` (dropped by policy) or `dlq` (poison).
    pub reason: &'static str,
}

#[derive(Debug, Clone)]
pub struct Metrics {
    /// Messages read from the events topic.
    pub consumed: Counter,
    /// Rows written to ClickHouse.
    pub inserted: Counter,
    /// Messages that produced no row, by reason.
    pub skipped: Family<SkipLabels, Counter>,
    /// Insert attempts that failed and were retried.
    pub insert_retries: Counter,
    /// Batches stored and committed.
    pub batches: Counter,
    /// From a batch's first message to its commit, seconds.
    pub batch_latency: Histogram,
    /// Duration of one successful INSERT, seconds.
    pub insert_duration: Histogram,
    /// Consent records applied to the book.
    pub consent_records: Counter,
    /// Consent records that could not be decoded.
    pub consent_invalid: Counter,
    /// 1 while inserts are failing and consumption is paused.
    pub paused: Gauge,
}

impl Metrics {
    /// Creates the metrics and registers them under `mailpulse_aggregator_*`.
    pub fn register(registry: &mut Registry) -> Metrics {
        let metrics = Metrics {
            consumed: Counter::default(),
            inserted: Counter::default(),
            skipped: Family::default(),
            insert_retries: Counter::default(),
            batches: Counter::default(),
            batch_latency: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            insert_duration: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            consent_records: Counter::default(),
            consent_invalid: Counter::default(),
            paused: Gauge::default(),
        };
        let sub = registry.sub_registry_with_prefix("mailpulse_aggregator");
        sub.register(
            "consumed_messages",
            "Messages read from the events topic",
            metrics.consumed.clone(),
        );
        sub.register(
            "inserted_rows",
            "Rows written to ClickHouse",
            metrics.inserted.clone(),
        );
        sub.register(
            "skipped_messages",
            "Messages that produced no row, by reason",
            metrics.skipped.clone(),
        );
        sub.register(
            "insert_retries",
            "Failed inserts that were retried",
            metrics.insert_retries.clone(),
        );
        sub.register(
            "batches",
            "Batches stored and committed",
            metrics.batches.clone(),
        );
        sub.register(
            "batch_latency_seconds",
            "From a batch's first message to its commit",
            metrics.batch_latency.clone(),
        );
        sub.register(
            "insert_duration_seconds",
            "Duration of one successful INSERT",
            metrics.insert_duration.clone(),
        );
        sub.register(
            "consent_records",
            "Consent records applied",
            metrics.consent_records.clone(),
        );
        sub.register(
            "consent_invalid_records",
            "Consent records that could not be decoded",
            metrics.consent_invalid.clone(),
        );
        sub.register(
            "paused",
            "1 while inserts fail and consumption is paused",
            metrics.paused.clone(),
        );
        metrics
    }

    pub fn skip(&self, reason: &'static str) {
        self.skipped.get_or_create(&SkipLabels { reason }).inc();
    }

    /// Messages skipped so far for `reason` (see [`SkipLabels`]).
    pub fn skipped_count(&self, reason: &'static str) -> u64 {
        self.skipped.get_or_create(&SkipLabels { reason }).get()
    }

    /// Unregistered metrics, for tests and benches.
    pub fn detached() -> Metrics {
        Metrics::register(&mut Registry::default())
    }
}
