//! The aggregator: consumes tracking events from Kafka, enriches them, applies consent,
//! deduplicates and writes them to ClickHouse, where materialized views keep the campaign
//! statistics. See [`pipeline`] for how each event is counted exactly once.
//!
//! Also here: `mailpulse topics create` ([`topics`]).

mod admin;
mod batch;
mod consent;
mod consent_policy;
mod consent_progress;
mod dedup;
mod deliveries;
pub mod delivery_ingest;
mod dlq;
mod enrichment;
mod gate;
mod inflight;
mod kafka;
mod metrics;
pub mod pipeline;
mod row;
mod storing;
#[cfg(test)]
mod test_support;
pub mod topics;
mod unsubscribe;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailpulse_config::Config;
use mailpulse_telemetry::Registry;
use rdkafka::consumer::StreamConsumer;
use tokio::sync::watch;

pub use admin::Health;
pub use consent::{ConsentBook, ConsentEntry};
pub use consent_policy::{AppliedOffsets, Policy, PolicyBook};
pub use gate::{Decision, Gate};
pub use metrics::Metrics;
pub use row::{anonymous_id, Pseudonymizer};

use crate::batch::Batch;
use crate::dedup::RecentIds;
use crate::dlq::DeadLetters;
use crate::enrichment::Enrichments;
use crate::kafka::{client_config, with_overrides, PipelineContext};
use crate::pipeline::{Pipeline, Settings};

/// Ids remembered against upstream duplicates.
const DEDUP_CAPACITY: usize = 1_000_000;

/// Longest one INSERT may take to send, and separately to be answered.
const INSERT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the aggregator could not start or run, by what the operator can do.
#[derive(Debug, thiserror::Error)]
pub enum AggregatorError {
    /// A setting is unusable: fix the configuration.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The Kafka client could not be created or refused an operation: check brokers and
    /// `kafka.properties`.
    #[error("Kafka: {0}")]
    Kafka(#[source] rdkafka::error::KafkaError),
    /// A topic could not be created.
    #[error("cannot create topic {topic}: {reason}")]
    TopicCreation { topic: String, reason: String },
    /// A delivery-status batch was refused (a line is not a valid `DeliveryEvent`, or the batch
    /// is too large): fix it and send it again; nothing of it was published.
    #[error("invalid delivery batch: {0}")]
    InvalidDeliveries(String),
    /// The admin endpoint could not listen: pick a free `aggregator.admin_listen`.
    #[error("cannot listen on {address}: {source}")]
    Admin {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// Runs the aggregator with its admin endpoint until `shutdown` turns true.
pub async fn run(config: &Config, shutdown: watch::Receiver<bool>) -> Result<(), AggregatorError> {
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let health = Health::default();
    let admin = admin::serve(
        &config.aggregator.admin_listen,
        Arc::new(registry),
        health.clone(),
        shutdown.clone(),
    )
    .await?;
    let result = run_with(config, metrics, health, shutdown).await;
    admin.abort();
    result
}

/// Runs the consent reader and the pipeline with the given metrics and health (no admin
/// endpoint): for embedding, tests and benches.
pub async fn run_with(
    config: &Config,
    metrics: Metrics,
    health: Health,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), AggregatorError> {
    let pseudonymizer = Pseudonymizer::from_hex(&config.keys.subscriber_hash).ok_or_else(|| {
        AggregatorError::Config("keys.subscriber_hash must be hex, at least 32 characters".into())
    })?;
    let consumer = events_consumer(config)?;
    let dead_letters = DeadLetters::new(&config.kafka)?;

    // Registered before reading consent, so an erasure starting from now on waits for us.
    let mut reporter = consent_progress::Reporter::new(
        mailpulse_store::connect(&config.clickhouse),
        &config.kafka.consent_topic,
    );
    if !reporter.register(&mut shutdown).await {
        return Ok(());
    }
    let (progress, progress_task) = reporter.start();

    let book = ConsentBook::default();
    let (caught_up_tx, mut caught_up) = watch::channel(false);
    let reader = tokio::spawn(consent::run_reader(
        config.kafka.clone(),
        config.aggregator.group_id.clone(),
        book.clone(),
        caught_up_tx,
        metrics.clone(),
        shutdown.clone(),
    ));
    // Events wait for the book: an empty one would track subscribers who objected.
    let loaded = tokio::select! {
        _ = shutdown.changed() => None,
        loaded = caught_up.wait_for(|loaded| *loaded) => Some(loaded.is_ok()),
    };
    let Some(loaded) = loaded else {
        stop_reader(reader).await;
        return Ok(());
    };
    if !loaded {
        // The reader ended before catching up: its error says why.
        return match reader.await {
            Ok(Err(error)) => Err(error),
            _ => Err(AggregatorError::Config("the consent reader stopped".into())),
        };
    }

    let aggregator = &config.aggregator;
    let pipeline = Pipeline {
        consumer,
        store: mailpulse_store::connect(&config.clickhouse),
        dead_letters,
        gate: Gate::new(&config.privacy),
        pseudonymizer,
        consent: book,
        progress,
        enrichments: Enrichments::default(),
        metrics,
        health,
        settings: Settings {
            topic: config.kafka.events_topic.clone(),
            batch_max_rows: aggregator.batch_max_rows,
            batch_max_wait: Duration::from_millis(aggregator.batch_max_ms),
            retry_initial: Duration::from_millis(aggregator.retry_initial_ms.max(1)),
            insert_timeout: INSERT_TIMEOUT,
            dedup_capacity: DEDUP_CAPACITY,
            dedup_window_secs: aggregator.dedup_window_secs,
        },
        recent: RecentIds::new(DEDUP_CAPACITY, aggregator.dedup_window_secs),
        batch: Batch::default(),
        watermarks: Default::default(),
        assigned: Default::default(),
        paused: false,
        unsettled_insert: None,
        withdrawals: unsubscribe::Withdrawals::new(&config.kafka)?,
        in_flight: None,
        retry_pending: false,
    };
    // Delivery statuses are consumed beside the events and stop with the pipeline.
    let deliveries = deliveries::spawn(config)?;
    let result = pipeline.run(shutdown.clone()).await;
    deliveries::stop(deliveries.0, deliveries.1).await;
    stop_reader(reader).await;
    // The pipeline is gone: the reporter writes its last word (stopped, if nothing was left
    // in flight) and ends.
    let _ = tokio::time::timeout(Duration::from_secs(5), progress_task).await;
    result
}

/// Waits for the consent reader to see the shutdown and drop its consumer, so no Kafka client
/// of ours outlives `run_with` (a client left behind reacts to topics deleted after it).
async fn stop_reader(reader: tokio::task::JoinHandle<Result<(), AggregatorError>>) {
    let abort = reader.abort_handle();
    if tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .is_err()
    {
        abort.abort();
    }
}

fn events_consumer(config: &Config) -> Result<StreamConsumer<PipelineContext>, AggregatorError> {
    let mut client = client_config(&config.kafka);
    client
        .set("group.id", &config.aggregator.group_id)
        // Offsets are committed by hand, after the batch is stored.
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // A crashed member's partitions move on within seconds.
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "3000");
    with_overrides(&mut client, &config.kafka);
    client
        .create_with_context(PipelineContext::default())
        .map_err(AggregatorError::Kafka)
}
