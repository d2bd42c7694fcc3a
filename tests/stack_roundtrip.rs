//! The local stack itself, through the test harness: a message goes through the real broker and
//! comes back, a row goes into real ClickHouse and comes back, and clients aimed at a dead port
//! or a stopped broker fail within a bounded time with an error that says so, rather than hang.

use std::time::{Duration, Instant};

use mailpulse_testkit::{
    consume, producer, stack, test_config, Outage, Service, TestDatabase, TestTopic,
};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use tokio::sync::RwLock;

/// The broker outage test stops the shared broker; the other Kafka tests of this binary hold
/// this for reading so they never run during it.
static BROKER: RwLock<()> = RwLock::const_new(());

/// How long a produce may take to give up on a dead broker: the harness producer's
/// `message.timeout.ms` (10 s) plus slack for a loaded machine.
const GIVE_UP_BOUND: Duration = Duration::from_secs(20);

/// An address nothing listens on: port 1 (tcpmux) is reserved and unused. An ephemeral port
/// bound and released by the test is not dead enough on a busy machine (seen: reused by
/// another process within the test, answering with a reset).
const DEAD_ADDRESS: &str = "127.0.0.1:1";

async fn produce_one(brokers: &str, topic: &str, key: &str, payload: &str) -> Result<(), String> {
    let producer = producer(brokers).map_err(|error| error.to_string())?;
    let headers = OwnedHeaders::new().insert(Header {
        key: "schema",
        value: Some("probe.v1"),
    });
    let record = FutureRecord::to(topic)
        .key(key)
        .payload(payload)
        .headers(headers);
    producer
        .send(record, Duration::from_secs(0))
        .await
        .map(|_| ())
        .map_err(|(error, _)| error.to_string())
}

#[tokio::test]
async fn a_message_produced_through_the_broker_is_read_back() {
    let _shared = BROKER.read().await;
    let topic = TestTopic::new("stack_roundtrip", 3)
        .await
        .expect("create a test topic on the local broker");

    produce_one(
        &stack().kafka_brokers,
        topic.name(),
        "subscriber-1",
        "opened",
    )
    .await
    .expect("produce through the local broker");

    let messages = consume(topic.name(), 1, Duration::from_secs(20))
        .await
        .expect("consume from the local broker");
    assert_eq!(messages.len(), 1, "exactly the one message produced");
    let message = &messages[0];
    assert_eq!(message.key.as_deref(), Some(&b"subscriber-1"[..]));
    assert_eq!(message.payload.as_deref(), Some(&b"opened"[..]));
    assert_eq!(
        message.headers,
        vec![("schema".to_string(), Some(b"probe.v1".to_vec()))]
    );
}

#[derive(Debug, Clone, PartialEq, clickhouse::Row, serde::Serialize, serde::Deserialize)]
struct ProbeRow {
    id: u64,
    campaign: String,
    opens: u32,
}

#[tokio::test]
async fn a_row_inserted_into_clickhouse_is_read_back() {
    let database = TestDatabase::new("stack_roundtrip")
        .await
        .expect("create a test database on the local ClickHouse");
    let client = database.client();
    // LowCardinality needs the stack's user profile setting on 18.16; this checks it is there.
    client
        .query(
            "CREATE TABLE probe (id UInt64, campaign LowCardinality(String), opens UInt32) \
             ENGINE = MergeTree ORDER BY id",
        )
        .execute()
        .await
        .expect("create a table with a LowCardinality column");

    let rows = vec![
        ProbeRow {
            id: 7,
            campaign: "spring-sale".into(),
            opens: 3,
        },
        ProbeRow {
            id: 9,
            campaign: "newsletter".into(),
            opens: 1,
        },
    ];
    let mut insert = client
        .insert::<ProbeRow>("probe")
        .await
        .expect("start an insert");
    for row in &rows {
        insert.write(row).await.expect("write a row");
    }
    insert.end().await.expect("finish the insert");

    let read: Vec<ProbeRow> = client
        .query("SELECT ?fields FROM probe ORDER BY id")
        .fetch_all()
        .await
        .expect("read the rows back");
    assert_eq!(read, rows);
}

#[tokio::test]
async fn test_configs_point_at_the_stack_and_never_share_names() {
    let first = test_config("stack_roundtrip").expect("a valid test configuration");
    let second = test_config("stack_roundtrip").expect("a valid test configuration");

    assert_eq!(first.kafka.brokers, stack().kafka_brokers);
    assert_eq!(first.clickhouse.url, stack().clickhouse_url);
    assert!(first.edge.geo_db.is_file(), "{:?}", first.edge.geo_db);
    assert!(first.edge.asn_db.is_file(), "{:?}", first.edge.asn_db);
    assert_ne!(first.kafka.events_topic, second.kafka.events_topic);
    assert_ne!(first.kafka.dlq_topic, second.kafka.dlq_topic);
    assert_ne!(first.clickhouse.database, second.clickhouse.database);
    assert_ne!(first.aggregator.group_id, second.aggregator.group_id);
    assert_ne!(first.edge.spool_dir, second.edge.spool_dir);
}

#[tokio::test]
async fn a_producer_aimed_at_a_dead_port_gives_up_in_bounded_time() {
    let started = Instant::now();
    let outcome = produce_one(DEAD_ADDRESS, "nowhere", "k", "v").await;
    let elapsed = started.elapsed();

    let error = outcome.expect_err("nothing listens there, so the send must fail");
    assert!(elapsed < GIVE_UP_BOUND, "took {elapsed:?}");
    assert!(error.contains("timed out"), "unclear error: {error}");
}

#[tokio::test]
async fn a_clickhouse_client_aimed_at_a_dead_port_fails_at_once() {
    let client = clickhouse::Client::default()
        .with_url(format!("http://{DEAD_ADDRESS}"))
        .with_validation(false);
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        client.query("SELECT 1").fetch_one::<u8>(),
    )
    .await
    .expect("a refused connection must not hang");

    let error = outcome.expect_err("nothing listens there, so the query must fail");
    assert!(
        matches!(error, clickhouse::error::Error::Network(_)),
        "expected a network error, got {error:?}"
    );
    let chain = error_chain(&error);
    assert!(chain.contains("refused"), "unclear error: {chain}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn with_the_broker_stopped_a_produce_fails_clearly_and_data_survives_the_restart() {
    let _exclusive = BROKER.write().await;
    let brokers = stack().kafka_brokers.clone();
    let topic = TestTopic::new("stack_outage", 1)
        .await
        .expect("create a test topic on the local broker");
    produce_one(&brokers, topic.name(), "before", "kept")
        .await
        .expect("produce before the outage");

    let outage = Outage::begin(Service::Kafka).expect("stop the broker");
    let started = Instant::now();
    let outcome = produce_one(&brokers, topic.name(), "during", "lost").await;
    let elapsed = started.elapsed();
    outage.end().expect("restart the broker");

    let error = outcome.expect_err("a produce to a stopped broker must fail");
    assert!(elapsed < GIVE_UP_BOUND, "took {elapsed:?}");
    assert!(error.contains("timed out"), "unclear error: {error}");

    let messages = consume(topic.name(), 1, Duration::from_secs(20))
        .await
        .expect("consume after the restart");
    let payloads: Vec<_> = messages.iter().map(|m| m.payload.clone()).collect();
    assert_eq!(payloads, vec![Some(b"kept".to_vec())]);
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}
