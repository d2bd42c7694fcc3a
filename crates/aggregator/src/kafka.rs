//! Kafka client settings and the consumer context that reports rebalances to the pipeline.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailpulse_config::KafkaConfig;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::{ClientContext, TopicPartitionList};

use crate::inflight::InsertSignal;

/// Settings shared by every client: the brokers and the operator's `kafka.properties`.
pub fn client_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &kafka.brokers);
    with_overrides(&mut config, kafka);
    config
}

/// Applies `kafka.properties` so the operator can override our defaults (security, timeouts).
pub fn with_overrides(config: &mut ClientConfig, kafka: &KafkaConfig) {
    for (key, value) in &kafka.properties {
        config.set(key, value);
    }
}

/// A change of the partitions this consumer owns, as seen inside `poll`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebalanceEvent {
    /// About to lose these partitions: whatever is not stored yet must be discarded.
    Revoked(Vec<i32>),
    /// Now owns these partitions: their watermarks must be read again.
    Assigned(Vec<i32>),
}

/// Records rebalances for the pipeline. The callbacks run inside `recv()`, on the pipeline's
/// own task, never during an insert — so a revoke is always seen before the next insert.
#[derive(Debug, Default)]
pub struct PipelineContext {
    events: Mutex<Vec<RebalanceEvent>>,
    /// The insert running in the background, if any: a revocation waits for it to end.
    insert_in_flight: Mutex<Option<Arc<InsertSignal>>>,
}

/// Longest a revocation waits for the insert in flight (its own two timeouts, and a margin).
const REVOKE_WAIT: Duration = Duration::from_secs(150);

impl PipelineContext {
    /// Announces (or, with `None`, clears) the insert running in the background.
    pub fn set_insert_in_flight(&self, signal: Option<Arc<InsertSignal>>) {
        *self
            .insert_in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = signal;
    }

    /// Whether rebalances are waiting to be applied.
    pub fn has_events(&self) -> bool {
        !self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// Blocks until the insert in flight (if any) has ended: the partitions' next owner must
    /// see its rows in the watermark. See `crate::inflight`.
    fn wait_for_insert_in_flight(&self) {
        let signal = self
            .insert_in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(signal) = signal else {
            return;
        };
        tracing::info!("revocation waits for the insert in flight");
        // Only ever set on the multi-threaded runtime, where this may block a worker.
        if !tokio::task::block_in_place(|| signal.wait(REVOKE_WAIT)) {
            tracing::error!(
                "the insert in flight did not end within {REVOKE_WAIT:?}; releasing the \
                 partitions anyway (its rows may be counted twice if it completes later)"
            );
        }
    }

    /// Rebalances since the last call, oldest first.
    pub fn take_events(&self) -> Vec<RebalanceEvent> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn push(&self, event: RebalanceEvent) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event);
    }
}

fn partitions(list: &TopicPartitionList) -> Vec<i32> {
    list.elements().iter().map(|e| e.partition()).collect()
}

impl ClientContext for PipelineContext {}

impl ConsumerContext for PipelineContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(list) => {
                self.wait_for_insert_in_flight();
                tracing::info!(partitions = ?partitions(list), "partitions revoked");
                self.push(RebalanceEvent::Revoked(partitions(list)));
            }
            Rebalance::Assign(_) => {}
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance error"),
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            tracing::info!(partitions = ?partitions(list), "partitions assigned");
            self.push(RebalanceEvent::Assigned(partitions(list)));
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(error) = result {
            // Harmless for correctness: the batch is stored, so a redelivery is skipped by the
            // watermark; it only costs re-reading.
            tracing::warn!(%error, "offset commit failed");
        }
    }
}
