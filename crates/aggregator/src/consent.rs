//! The consent book: the latest consent record of every subscriber, read from the compacted
//! consent topic from the beginning and kept current by a background task.
//!
//! The reader assigns itself every partition (no consumer group, nothing committed) so every
//! aggregator replica holds the whole book. Event processing waits until the book has caught
//! up with the topic as it was at start: under `legitimate_interest` an empty book would track
//! subscribers who objected.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use mailpulse_event::{ConsentRecord, ConsentState, TrackingLevel};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;

use crate::consent_policy::{apply_message, AppliedOffsets, PolicyBook};
use crate::kafka::client_config;
use crate::metrics::Metrics;
use crate::AggregatorError;

/// What the book keeps of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentEntry {
    pub state: ConsentState,
    pub level: Option<TrackingLevel>,
}

/// tenant → subscriber → latest entry. Nested so a lookup needs no key allocation.
type Book = HashMap<String, HashMap<String, ConsentEntry>>;

/// Shared, read by the pipeline for every event and written by the reader task.
#[derive(Debug, Clone, Default)]
pub struct ConsentBook {
    inner: Arc<RwLock<Book>>,
    /// Tenant and campaign policies from the same topic.
    policies: PolicyBook,
    /// How far the topic has been applied, per partition.
    applied: AppliedOffsets,
}

impl ConsentBook {
    pub fn policies(&self) -> &PolicyBook {
        &self.policies
    }

    pub fn applied(&self) -> &AppliedOffsets {
        &self.applied
    }

    pub fn lookup(&self, tenant: &str, subscriber: &str) -> Option<ConsentEntry> {
        // A poisoned lock means a writer panicked mid-update of one entry; the map is still
        // usable, so read it rather than stop counting.
        let book = self.inner.read().unwrap_or_else(|e| e.into_inner());
        book.get(tenant)?.get(subscriber).copied()
    }

    /// Applies one record (newer offsets replace older ones).
    pub fn apply(&self, record: ConsentRecord) {
        let mut book = self.inner.write().unwrap_or_else(|e| e.into_inner());
        book.entry(record.tenant).or_default().insert(
            record.subscriber,
            ConsentEntry {
                state: record.state,
                level: record.level,
            },
        );
    }

    /// Applies a tombstone (a key with no value): the subscriber's record is gone.
    pub fn forget(&self, tenant: &str, subscriber: &str) {
        let mut book = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(subscribers) = book.get_mut(tenant) {
            subscribers.remove(subscriber);
        }
    }

    pub fn len(&self) -> usize {
        let book = self.inner.read().unwrap_or_else(|e| e.into_inner());
        book.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How long the reader waits for metadata and watermarks.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads the consent topic into `book` until `shutdown` is set. `caught_up` turns true once
/// every record that existed when the reader started has been applied.
pub async fn run_reader(
    kafka: mailpulse_config::KafkaConfig,
    group_id: String,
    book: ConsentBook,
    caught_up: watch::Sender<bool>,
    metrics: Metrics,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), AggregatorError> {
    let consumer: StreamConsumer = client_config(&kafka)
        // Never joins or commits: assign() only. librdkafka still wants a group id.
        .set("group.id", format!("{group_id}-consent-reader"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .create()
        .map_err(AggregatorError::Kafka)?;
    let topic = kafka.consent_topic.as_str();
    let Some(targets) = start_positions(&consumer, topic, &mut shutdown).await else {
        return Ok(());
    };
    let mut assignment = TopicPartitionList::new();
    for partition in targets.keys() {
        assignment
            .add_partition_offset(topic, *partition, Offset::Beginning)
            .map_err(AggregatorError::Kafka)?;
    }
    consumer
        .assign(&assignment)
        .map_err(AggregatorError::Kafka)?;

    // Partitions still behind the high watermark they had at start.
    let mut behind: HashMap<i32, i64> = targets
        .into_iter()
        .filter(|(_, (low, high))| high > low)
        .map(|(partition, (_, high))| (partition, high))
        .collect();
    if behind.is_empty() {
        caught_up.send_replace(true);
    }
    tracing::info!(
        topic,
        partitions = assignment.count(),
        "consent reader started"
    );

    loop {
        let message = tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            message = consumer.recv() => message,
        };
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "consent topic read failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if let Err(error) = apply_message(&book, message.key(), message.payload()) {
            metrics.consent_invalid.inc();
            tracing::warn!(
                %error,
                partition = message.partition(),
                offset = message.offset(),
                "ignoring an invalid consent record"
            );
        }
        // After applying: whoever reads this offset finds the record in the book.
        book.applied()
            .applied(message.partition(), message.offset());
        metrics.consent_records.inc();
        if let Some(high) = behind.get(&message.partition()) {
            if message.offset() + 1 >= *high {
                behind.remove(&message.partition());
                if behind.is_empty() {
                    tracing::info!(subscribers = book.len(), "consent book caught up");
                    caught_up.send_replace(true);
                }
            }
        }
    }
}

/// Every partition of `topic` with its (low, high) watermarks now, retrying until the topic
/// exists. `None` if shut down first.
async fn start_positions(
    consumer: &StreamConsumer,
    topic: &str,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<HashMap<i32, (i64, i64)>> {
    let mut delay = Duration::from_millis(200);
    loop {
        match partitions_and_highs(consumer, topic) {
            Ok(positions) if !positions.is_empty() => return Some(positions),
            Ok(_) => tracing::warn!(topic, "consent topic has no partitions yet; waiting"),
            Err(error) => tracing::warn!(topic, %error, "consent topic not readable yet; waiting"),
        }
        tokio::select! {
            _ = shutdown.changed() => return None,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

fn partitions_and_highs(
    consumer: &StreamConsumer,
    topic: &str,
) -> Result<HashMap<i32, (i64, i64)>, rdkafka::error::KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
    let mut positions = HashMap::new();
    for topic_metadata in metadata.topics() {
        if topic_metadata.error().is_some() {
            continue;
        }
        for partition in topic_metadata.partitions() {
            let watermarks = consumer.fetch_watermarks(topic, partition.id(), METADATA_TIMEOUT)?;
            positions.insert(partition.id(), watermarks);
        }
    }
    Ok(positions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(subscriber: &str, state: ConsentState) -> ConsentRecord {
        ConsentRecord {
            v: 1,
            tenant: "acme".into(),
            subscriber: subscriber.into(),
            state,
            level: None,
            ts_ms: 1,
            source: "test".into(),
            marketing: None,
        }
    }

    #[test]
    fn the_latest_record_wins_and_a_tombstone_forgets() {
        let book = ConsentBook::default();
        book.apply(record("s1", ConsentState::Granted));
        book.apply(record("s1", ConsentState::Denied));
        book.apply(record("s2", ConsentState::Granted));
        assert_eq!(
            book.lookup("acme", "s1").map(|e| e.state),
            Some(ConsentState::Denied)
        );
        assert_eq!(book.len(), 2);
        book.forget("acme", "s2");
        assert_eq!(book.lookup("acme", "s2"), None);
        assert_eq!(book.lookup("other", "s1"), None);
    }
}
