//! Per-test topics, a producer and a read-back consumer against the stack's broker.
//!
//! tansu 0.6.0 limits that shape these helpers: no snappy (the producer uses lz4), the first
//! message after a consumer joins a group takes 0.5-2 s (so [`consume`] assigns partitions
//! directly instead of joining), and a group whose member died mid-join can stall the next
//! member (so every group id here is unique); and deleting a topic that a client still uses
//! crashes its storage (so [`TestTopic`] leaves topics in place).

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};

use crate::error::within;
use crate::{try_stack, unique_name, TestkitError};

/// Bound on admin and metadata requests: a healthy local broker answers in milliseconds.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The settings every test client shares: the brokers, and connection timeouts short enough
/// that a dead broker surfaces as an error in seconds.
pub fn kafka_client_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("socket.connection.setup.timeout.ms", "5000")
        .set("client.id", "mailpulse-testkit");
    config
}

/// An idempotent `acks=all` lz4 producer whose sends fail after 10 s instead of retrying
/// forever when the broker is away.
pub fn producer(brokers: &str) -> Result<FutureProducer, TestkitError> {
    kafka_client_config(brokers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "10000")
        .create()
        .map_err(|error| TestkitError::kafka("create producer", error))
}

/// A consumer group id no other test (or earlier run) uses.
pub fn unique_group_id(prefix: &str) -> String {
    unique_name(&format!("{prefix}_group"))
}

fn admin_client(brokers: &str) -> Result<AdminClient<DefaultClientContext>, TestkitError> {
    kafka_client_config(brokers)
        .create()
        .map_err(|error| TestkitError::kafka("create admin client", error))
}

fn admin_options() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(ADMIN_TIMEOUT))
        .operation_timeout(Some(ADMIN_TIMEOUT))
}

/// A uniquely named topic on the stack's broker, for one test.
///
/// Deliberately **not deleted** when dropped: tansu 0.6.0's storage task panics when a client
/// still produces (idempotently) or fetches on a topic that was deleted under it, and the broker
/// then keeps listening but fails every request until restarted. Tests cannot promise that the
/// code under test has let go of a topic by the time it is dropped, so the unique names are
/// what keeps tests apart; `scripts/stack down kafka && rm -rf .stack/kafka` clears them all.
#[derive(Debug)]
pub struct TestTopic {
    name: String,
}

impl TestTopic {
    /// Creates a topic named `<prefix>_<unique suffix>` with `partitions` partitions.
    pub async fn new(prefix: &str, partitions: i32) -> Result<TestTopic, TestkitError> {
        Self::with_name(&unique_name(prefix), partitions).await
    }

    /// Creates a topic with exactly this name (e.g. one from [`crate::test_config`]).
    pub async fn with_name(name: &str, partitions: i32) -> Result<TestTopic, TestkitError> {
        let admin = admin_client(&try_stack()?.kafka_brokers)?;
        let action = format!("create topic {name} ({partitions} partitions)");
        let new_topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let results = within(ADMIN_TIMEOUT, action.clone(), async {
            admin
                .create_topics([&new_topic], &admin_options())
                .await
                .map_err(|error| TestkitError::kafka(action.clone(), error))
        })
        .await?;
        for result in results {
            if let Err((_, code)) = result {
                return Err(TestkitError::kafka(
                    action,
                    rdkafka::error::KafkaError::AdminOp(code),
                ));
            }
        }
        let topic = TestTopic {
            name: name.to_string(),
        };
        topic.wait_until_visible(partitions, admin).await?;
        Ok(topic)
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits until metadata shows every partition, so a producer started next does not race
    /// the creation.
    async fn wait_until_visible(
        &self,
        partitions: i32,
        admin: AdminClient<DefaultClientContext>,
    ) -> Result<(), TestkitError> {
        let deadline = Instant::now() + ADMIN_TIMEOUT;
        loop {
            let metadata = admin
                .inner()
                .fetch_metadata(Some(&self.name), ADMIN_TIMEOUT)
                .map_err(|error| {
                    TestkitError::kafka(format!("metadata of {}", self.name), error)
                })?;
            let visible = metadata
                .topics()
                .iter()
                .find(|topic| topic.name() == self.name)
                .is_some_and(|topic| {
                    topic.error().is_none() && topic.partitions().len() == partitions as usize
                });
            if visible {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(TestkitError::Timeout {
                    action: format!("topic {} to show {partitions} partitions", self.name),
                    after: ADMIN_TIMEOUT,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// One message read back from a topic, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedMessage {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Reads `topic` on the stack's broker from the beginning of every partition until `expected`
/// messages arrived or `timeout` passed, whichever is first.
///
/// Returns what arrived (in per-partition order) when the deadline passes, so the test can
/// assert on the count (asking for one more than should exist is how to check for duplicates);
/// returns the consumer's last error when nothing at all arrived and it reported one, so a dead
/// broker reads as such rather than as "0 messages". Errors followed by messages (a broker
/// restart mid-read) are transient and not reported.
pub async fn consume(
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> Result<Vec<ConsumedMessage>, TestkitError> {
    let deadline = Instant::now() + timeout;
    let brokers = &try_stack()?.kafka_brokers;
    let consumer: StreamConsumer = kafka_client_config(brokers)
        .set("group.id", unique_group_id("testkit_consume"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(|error| TestkitError::kafka("create consumer", error))?;

    let metadata = consumer
        .fetch_metadata(Some(topic), timeout.min(ADMIN_TIMEOUT))
        .map_err(|error| TestkitError::kafka(format!("metadata of {topic}"), error))?;
    let partitions = metadata
        .topics()
        .iter()
        .find(|found| found.name() == topic)
        .map(|found| found.partitions().len())
        .unwrap_or_default();
    if partitions == 0 {
        return Err(TestkitError::Stack(format!(
            "topic {topic} does not exist on {brokers}"
        )));
    }
    // Direct assignment, not a group subscription: no join round (slow on tansu), and the read
    // starts at the beginning whatever offsets another group committed.
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions as i32 {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .map_err(|error| TestkitError::kafka("build assignment", error))?;
    }
    consumer
        .assign(&assignment)
        .map_err(|error| TestkitError::kafka(format!("assign {topic}"), error))?;

    let mut messages = Vec::with_capacity(expected);
    let mut last_error = None;
    while messages.len() < expected {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        match tokio::time::timeout(remaining, consumer.recv()).await {
            Err(_) => break,
            Ok(Ok(message)) => messages.push(ConsumedMessage {
                partition: message.partition(),
                offset: message.offset(),
                key: message.key().map(<[u8]>::to_vec),
                payload: message.payload().map(<[u8]>::to_vec),
                headers: message
                    .headers()
                    .map(|headers| {
                        headers
                            .iter()
                            .map(|header| {
                                (header.key.to_string(), header.value.map(<[u8]>::to_vec))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            // Transient errors (a reconnect) may be followed by messages; keep reading.
            Ok(Err(error)) => last_error = Some(error),
        }
    }
    match last_error {
        Some(error) if messages.is_empty() && expected > 0 => Err(TestkitError::kafka(
            format!("consume {topic}: no message within {timeout:?}"),
            error,
        )),
        _ => Ok(messages),
    }
}
