//! Hands events to Kafka without making the request wait, and without losing them when Kafka
//! is away.
//!
//! Mechanism: a librdkafka producer (idempotent, `acks=all`, compressed, lingering) whose queue
//! the request path only enqueues into. Policy: while the broker is unreachable, or the queue
//! is full, or the spool still holds older events, new events are appended to the on-disk
//! spool instead, so events of one partition key reach Kafka in the order they were accepted.
//! A replayer drains the spool once a metadata probe sees the broker again. On shutdown the
//! producer is flushed within a budget and whatever is left is purged into the spool.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mailpulse_config::{Config, EdgeConfig};
use mailpulse_spool::{Spool, SpoolError, SpoolOptions};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig, ThreadedProducer,
};
use rdkafka::ClientContext;

use crate::metrics::EdgeMetrics;
use crate::EdgeError;

/// Delivery opaque: which path sent the message.
const DIRECT: usize = 0;
const REPLAY: usize = 1;

/// Records read from the spool per replay round.
const REPLAY_BATCH: usize = 2_000;

/// State shared by the request path, librdkafka's delivery callbacks and the replayer.
struct Shared {
    spool: Mutex<Spool>,
    /// False once librdkafka reports all brokers down; true again after a metadata probe.
    broker_up: AtomicBool,
    /// True while the spool holds undelivered events: new events queue behind them.
    spooling: AtomicBool,
    replay_pending: AtomicUsize,
    replay_failed: AtomicBool,
    metrics: Arc<EdgeMetrics>,
}

impl Shared {
    fn lock_spool(&self) -> MutexGuard<'_, Spool> {
        // A panic while holding the lock leaves the spool itself consistent (every write is
        // one framed record), so keep going with it.
        self.spool
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn spool(&self, key: &[u8], payload: &[u8]) {
        let mut spool = self.lock_spool();
        self.spooling.store(true, Ordering::SeqCst);
        match spool.append(key, payload) {
            Ok(()) => {
                self.metrics.spooled.inc();
            }
            Err(SpoolError::Full { used, max }) => {
                self.metrics.dropped_spool_full.inc();
                tracing::error!(
                    used,
                    max,
                    "SPOOL FULL: event dropped; free disk or raise edge.spool_max_bytes"
                );
            }
            Err(error) => {
                self.metrics.dropped_spool_error.inc();
                tracing::error!(%error, "spool write failed: event dropped");
            }
        }
        self.metrics.spool_bytes.set(spool.stats().bytes as i64);
    }
}

struct SinkContext {
    shared: Arc<Shared>,
}

impl ClientContext for SinkContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AllBrokersDown)
        ) {
            if self.shared.broker_up.swap(false, Ordering::SeqCst) {
                tracing::warn!(
                    reason,
                    "all Kafka brokers are down: spooling events to disk"
                );
            }
            self.shared.metrics.broker_up.set(0);
        } else {
            tracing::debug!(%error, reason, "librdkafka reported an error");
        }
    }
}

impl ProducerContext for SinkContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, path: usize) {
        match (result, path) {
            (Ok(_), DIRECT) => {
                self.shared.metrics.produced.inc();
            }
            (Ok(_), _) => {
                self.shared.metrics.replayed.inc();
                self.shared.replay_pending.fetch_sub(1, Ordering::SeqCst);
            }
            (Err((error, message)), DIRECT) => {
                tracing::debug!(%error, "delivery failed; spooling the event");
                self.shared.spool(
                    message.key().unwrap_or_default(),
                    message.payload().unwrap_or_default(),
                );
            }
            // Replayed records are still in the spool: only note the failure.
            (Err(_), _) => {
                self.shared.replay_failed.store(true, Ordering::SeqCst);
                self.shared.replay_pending.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

/// Where the request path puts events.
pub struct EventSink {
    producer: ThreadedProducer<SinkContext>,
    topic: String,
    shared: Arc<Shared>,
}

impl EventSink {
    pub fn new(config: &Config, metrics: Arc<EdgeMetrics>) -> Result<EventSink, EdgeError> {
        let edge = &config.edge;
        let spool = Spool::open(
            &edge.spool_dir,
            SpoolOptions {
                max_bytes: edge.spool_max_bytes,
                fsync_every: edge.spool_fsync_every,
                ..SpoolOptions::default()
            },
        )?;
        let spooling = !spool.is_drained();
        metrics.spool_bytes.set(spool.stats().bytes as i64);
        let shared = Arc::new(Shared {
            spool: Mutex::new(spool),
            broker_up: AtomicBool::new(true),
            spooling: AtomicBool::new(spooling),
            replay_pending: AtomicUsize::new(0),
            replay_failed: AtomicBool::new(false),
            metrics,
        });
        let producer: ThreadedProducer<SinkContext> = producer_config(config, edge)
            .create_with_context(SinkContext {
                shared: shared.clone(),
            })
            .map_err(EdgeError::Kafka)?;
        Ok(EventSink {
            producer,
            topic: config.kafka.events_topic.clone(),
            shared,
        })
    }

    /// Enqueues one event; never blocks on the network.
    pub fn submit(&self, key: &[u8], payload: &[u8]) {
        let shared = &self.shared;
        if shared.spooling.load(Ordering::SeqCst) || !shared.broker_up.load(Ordering::SeqCst) {
            shared.spool(key, payload);
            return;
        }
        let record = BaseRecord::with_opaque_to(&self.topic, DIRECT)
            .key(key)
            .payload(payload);
        if let Err((error, _)) = self.producer.send(record) {
            if !matches!(
                error.rdkafka_error_code(),
                Some(RDKafkaErrorCode::QueueFull)
            ) {
                tracing::warn!(%error, "enqueue failed; spooling the event");
            }
            shared.spool(key, payload);
        }
    }

    pub fn broker_up(&self) -> bool {
        self.shared.broker_up.load(Ordering::SeqCst)
    }

    pub fn spooling(&self) -> bool {
        self.shared.spooling.load(Ordering::SeqCst)
    }

    /// Checks the broker with a metadata request (blocking; run off the async runtime).
    pub fn probe_broker(&self, timeout: Duration) -> bool {
        let up = self
            .producer
            .client()
            .fetch_metadata(Some(&self.topic), timeout)
            .is_ok();
        if up && !self.shared.broker_up.swap(true, Ordering::SeqCst) {
            tracing::info!("Kafka broker reachable again");
        }
        if !up {
            self.shared.broker_up.store(false, Ordering::SeqCst);
        }
        self.shared.metrics.broker_up.set(i64::from(up));
        up
    }

    /// One replay round: sends up to a batch of spooled records and acknowledges them once
    /// Kafka has them all. Returns how many were delivered. Blocking.
    pub fn replay_round(&self, deadline: Duration) -> Result<usize, EdgeError> {
        let shared = &self.shared;
        let batch = {
            let mut spool = shared.lock_spool();
            let cursor = spool.cursor();
            let batch = spool.read_batch(cursor, REPLAY_BATCH)?;
            if batch.is_empty() && spool.is_drained() {
                // Nothing older is waiting: new events may go straight to Kafka again.
                shared.spooling.store(false, Ordering::SeqCst);
                return Ok(0);
            }
            batch
        };
        shared.replay_failed.store(false, Ordering::SeqCst);
        let started = Instant::now();
        for record in &batch {
            shared.replay_pending.fetch_add(1, Ordering::SeqCst);
            loop {
                let outgoing = BaseRecord::with_opaque_to(&self.topic, REPLAY)
                    .key(&record.key[..])
                    .payload(&record.payload[..]);
                match self.producer.send(outgoing) {
                    Ok(()) => break,
                    Err((error, _))
                        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull)
                            && started.elapsed() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => {
                        shared.replay_pending.fetch_sub(1, Ordering::SeqCst);
                        shared.replay_failed.store(true, Ordering::SeqCst);
                        break;
                    }
                }
            }
            if shared.replay_failed.load(Ordering::SeqCst) {
                break;
            }
        }
        while shared.replay_pending.load(Ordering::SeqCst) > 0 && started.elapsed() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        if shared.replay_failed.load(Ordering::SeqCst)
            || shared.replay_pending.load(Ordering::SeqCst) > 0
        {
            // Not acknowledged: the whole batch is sent again next round. Kafka may then hold
            // some of it twice; the aggregator deduplicates by event id.
            return Err(EdgeError::ReplayIncomplete);
        }
        let mut spool = shared.lock_spool();
        if let Some(last) = batch.last() {
            spool.ack_through(last.next)?;
        }
        shared.metrics.spool_bytes.set(spool.stats().bytes as i64);
        Ok(batch.len())
    }

    /// fsyncs the spool (called on a timer).
    pub fn sync_spool(&self) {
        if let Err(error) = self.shared.lock_spool().sync() {
            tracing::error!(%error, "spool fsync failed");
        }
    }

    /// Flushes the producer within `budget`; what is still queued is purged into the spool.
    pub fn shutdown(&self, budget: Duration) {
        if self.producer.flush(budget).is_err() {
            tracing::warn!(
                queued = self.producer.in_flight_count(),
                "Kafka flush did not finish in time: spooling the rest"
            );
            self.producer
                .purge(PurgeConfig::default().queue().inflight());
            // Purged messages come back through delivery callbacks, which spool them.
            let _ = self.producer.flush(Duration::from_millis(500));
        }
        self.sync_spool();
    }
}

fn producer_config(config: &Config, edge: &EdgeConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.kafka.brokers)
        // Exactly-once per partition from librdkafka's retries; ordering kept per key.
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", &edge.compression)
        .set("linger.ms", edge.linger_ms.to_string())
        .set(
            "queue.buffering.max.messages",
            edge.queue_max_messages.to_string(),
        )
        // Never expire a queued message: while the broker is away new events go to the spool,
        // and those already queued are delivered when it returns (or purged into the spool at
        // shutdown).
        .set("message.timeout.ms", "0")
        .set("socket.connection.setup.timeout.ms", "3000")
        .set("reconnect.backoff.max.ms", "1000");
    for (key, value) in &config.kafka.properties {
        client.set(key, value);
    }
    client
}
