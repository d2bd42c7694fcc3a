//! Delivery statuses (`kafka.deliveries_topic`) into ClickHouse `deliveries`, beside the event
//! pipeline and stopped with it.
//!
//! Simpler than the event pipeline on purpose: a status is a fact about a recipient, stored
//! once per (campaign, status, recipient) by a ReplacingMergeTree and counted with
//! `uniqExact`, so a redelivered batch (crash before the commit, a rebalance) cannot inflate a
//! count — no watermark or id filter is needed. Offsets are committed after the INSERT
//! succeeds; a failing INSERT is retried with backoff, holding the batch. Subscriber ids are
//! stored as their keyed pseudonym and reasons with addresses redacted.
//!
//! The topic is optional: until it exists (a deployment that reports no deliveries) the
//! consumer waits quietly.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mailpulse_config::Config;
use mailpulse_event::DeliveryEvent;
use mailpulse_store::deliveries::{insert_deliveries, sanitise_reason, status_code, DeliveryRow};
use mailpulse_store::Client;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::kafka::{client_config, with_overrides};
use crate::row::Pseudonymizer;
use crate::AggregatorError;

/// Rows per INSERT at most.
const BATCH_MAX_ROWS: usize = 10_000;
/// Longest a status waits before its batch is written.
const BATCH_MAX_WAIT: Duration = Duration::from_millis(500);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);
const INSERT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the consumer gets to finish its last batch when the pipeline stops.
const STOP_BUDGET: Duration = Duration::from_secs(20);

/// A decoded status waiting for its INSERT, with the pseudonym already computed.
struct PendingDelivery {
    event: DeliveryEvent,
    subscriber_key: [u8; 32],
    reason: String,
}

impl PendingDelivery {
    fn row(&self, ingested_at: u32) -> DeliveryRow<'_> {
        DeliveryRow {
            tenant: &self.event.tenant,
            campaign: &self.event.campaign,
            status: status_code(self.event.status),
            // 32 hex characters: always UTF-8.
            subscriber_key: std::str::from_utf8(&self.subscriber_key).unwrap_or_default(),
            ts: u32::try_from(self.event.ts_ms / 1000).unwrap_or(u32::MAX),
            reason: &self.reason,
            ingested_at,
        }
    }
}

/// Starts the consumer; [`stop`] ends it.
pub fn spawn(config: &Config) -> Result<(watch::Sender<bool>, JoinHandle<()>), AggregatorError> {
    let pseudonymizer = Pseudonymizer::from_hex(&config.keys.subscriber_hash).ok_or_else(|| {
        AggregatorError::Config("keys.subscriber_hash must be hex, at least 32 characters".into())
    })?;
    let consumer = Arc::new(consumer(config)?);
    let store = mailpulse_store::connect(&config.clickhouse);
    let topic = config.kafka.deliveries_topic.clone();
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        if let Err(error) = run(consumer, store, pseudonymizer, topic, stopped).await {
            tracing::error!(%error, "delivery consumer stopped");
        }
    });
    Ok((stop, task))
}

/// Tells the consumer to store what it holds and leave; waits for it within a budget, so no
/// Kafka client of ours outlives the aggregator.
pub async fn stop(stop: watch::Sender<bool>, task: JoinHandle<()>) {
    stop.send_replace(true);
    let abort = task.abort_handle();
    if tokio::time::timeout(STOP_BUDGET, task).await.is_err() {
        tracing::warn!("delivery consumer did not stop in time; its batch will be read again");
        abort.abort();
    }
}

fn consumer(config: &Config) -> Result<StreamConsumer, AggregatorError> {
    let mut client = client_config(&config.kafka);
    client
        .set(
            "group.id",
            format!("{}-deliveries", config.aggregator.group_id),
        )
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "3000");
    with_overrides(&mut client, &config.kafka);
    client.create().map_err(AggregatorError::Kafka)
}

async fn run(
    consumer: Arc<StreamConsumer>,
    store: Client,
    pseudonymizer: Pseudonymizer,
    topic: String,
    mut stopped: watch::Receiver<bool>,
) -> Result<(), AggregatorError> {
    if !wait_for_topic(&consumer, &topic, &mut stopped).await {
        return Ok(());
    }
    consumer
        .subscribe(&[topic.as_str()])
        .map_err(AggregatorError::Kafka)?;
    tracing::info!(topic, "consuming delivery statuses");
    let mut batch: Vec<PendingDelivery> = Vec::new();
    let mut batch_started: Option<Instant> = None;
    while !*stopped.borrow() {
        let wait = batch_started.map_or(Duration::from_secs(1), |started| {
            BATCH_MAX_WAIT.saturating_sub(started.elapsed())
        });
        tokio::select! {
            _ = stopped.changed() => {}
            received = tokio::time::timeout(wait, consumer.recv()) => match received {
                Ok(Ok(message)) => {
                    let payload = message.payload().unwrap_or_default();
                    match DeliveryEvent::from_json(payload) {
                        Ok(event) => {
                            batch_started.get_or_insert_with(Instant::now);
                            batch.push(PendingDelivery {
                                subscriber_key: pseudonymizer.pseudonym(&event.tenant, &event.subscriber),
                                reason: event.reason.as_deref().map(sanitise_reason).unwrap_or_default(),
                                event,
                            });
                        }
                        Err(error) => tracing::warn!(
                            %error,
                            partition = message.partition(),
                            offset = message.offset(),
                            "skipping an invalid delivery status"
                        ),
                    }
                }
                Ok(Err(error)) => tracing::warn!(%error, "delivery topic read failed"),
                Err(_elapsed) => {}
            },
        }
        let due = batch.len() >= BATCH_MAX_ROWS
            || batch_started.is_some_and(|started| started.elapsed() >= BATCH_MAX_WAIT);
        if due
            && store_and_commit(
                &consumer,
                &store,
                &mut batch,
                &mut stopped,
                CommitMode::Async,
            )
            .await
        {
            batch_started = None;
        }
    }
    if !batch.is_empty() {
        store_and_commit(
            &consumer,
            &store,
            &mut batch,
            &mut stopped,
            CommitMode::Sync,
        )
        .await;
    }
    consumer.unsubscribe();
    Ok(())
}

/// Inserts the batch (retrying until it works or the consumer is stopped; once stopped, one
/// attempt) and commits what was consumed. True when stored.
async fn store_and_commit(
    consumer: &StreamConsumer,
    store: &Client,
    batch: &mut Vec<PendingDelivery>,
    stopped: &mut watch::Receiver<bool>,
    mode: CommitMode,
) -> bool {
    let mut delay = Duration::from_millis(200);
    loop {
        let ingested_at = u32::try_from(unix_now()).unwrap_or(u32::MAX);
        match insert_deliveries(store, rows(batch, ingested_at), INSERT_TIMEOUT).await {
            Ok(written) => {
                tracing::debug!(written, "delivery statuses stored");
                batch.clear();
                // Everything consumed so far is stored: commit the consumer's position.
                if let Err(error) = consumer.commit_consumer_state(mode) {
                    tracing::warn!(%error, "delivery offsets not committed; they will be read again");
                }
                return true;
            }
            Err(error) => {
                tracing::warn!(%error, ?delay, rows = batch.len(), "storing delivery statuses failed; will retry");
                if *stopped.borrow() {
                    return false;
                }
                tokio::select! {
                    _ = stopped.changed() => {}
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(MAX_RETRY_DELAY);
            }
        }
    }
}

/// The rows of `batch` (a named function: an inline closure trips the compiler's `Send`
/// inference for the spawned task).
fn rows(
    batch: &[PendingDelivery],
    ingested_at: u32,
) -> impl Iterator<Item = DeliveryRow<'_>> + Send + '_ {
    batch.iter().map(move |pending| pending.row(ingested_at))
}

/// Waits until `topic` exists. False if stopped first.
async fn wait_for_topic(
    consumer: &Arc<StreamConsumer>,
    topic: &str,
    stopped: &mut watch::Receiver<bool>,
) -> bool {
    let mut announced = false;
    loop {
        // librdkafka's metadata call blocks: keep it off the async workers.
        let probe = consumer.clone();
        let name = topic.to_owned();
        let exists = tokio::task::spawn_blocking(move || {
            probe
                .fetch_metadata(Some(&name), Duration::from_secs(5))
                .is_ok_and(|metadata| {
                    metadata
                        .topics()
                        .iter()
                        .any(|t| t.error().is_none() && !t.partitions().is_empty())
                })
        })
        .await
        .unwrap_or(false);
        if exists {
            return true;
        }
        if !announced {
            tracing::info!(topic, "no delivery topic yet; waiting for it");
            announced = true;
        }
        tokio::select! {
            _ = stopped.changed() => return false,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
