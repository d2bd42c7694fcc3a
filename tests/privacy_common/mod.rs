//! Shared by the `privacy_*` integration tests: a per-test environment on the real stack (own
//! topics, database and consumer group), the real aggregator running in-process, events as the
//! edge produces them, and a scan of every String column for a subscriber's traces.
#![allow(dead_code)] // each test binary uses a different part

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mailpulse_aggregator::{Health, Metrics};
use mailpulse_config::{Config, ConsentBasis};
use mailpulse_event::{Event, EventKind, Geo, Network, NetworkClass, EVENT_SCHEMA_VERSION};
use mailpulse_privacy::Privacy;
use mailpulse_store::Client;
use mailpulse_testkit::{producer, test_config, TestDatabase, TestTopic};
use rdkafka::producer::FutureRecord;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub const TENANT: &str = "acme";
pub const CAMPAIGN: &str = "spring";

/// A desktop browser: a person, never a machine open.
pub const HUMAN_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                            (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

/// Topics, migrated database and configuration of one test; the database is dropped on drop.
pub struct Env {
    pub config: Config,
    pub events: TestTopic,
    pub consent: TestTopic,
    pub dlq: TestTopic,
    pub db: TestDatabase,
}

impl Env {
    /// Tenants track on legitimate interest unless a test says otherwise, so a subscriber
    /// without a record is stored identified: withdrawing consent must make the difference.
    pub async fn new(prefix: &str) -> Env {
        let mut config = test_config(prefix).expect("the local stack is up");
        config.aggregator.admin_listen = "127.0.0.1:0".into();
        config.aggregator.batch_max_ms = 200;
        config.aggregator.retry_initial_ms = 100;
        config.privacy.default_basis = ConsentBasis::LegitimateInterest;
        let events = TestTopic::with_name(&config.kafka.events_topic, 3)
            .await
            .expect("events topic created");
        let consent = TestTopic::with_name(&config.kafka.consent_topic, 2)
            .await
            .expect("consent topic created");
        let dlq = TestTopic::with_name(&config.kafka.dlq_topic, 1)
            .await
            .expect("dlq topic created");
        let db = TestDatabase::with_name(&config.clickhouse.database)
            .await
            .expect("database created");
        mailpulse_store::migrate::migrate(&config.clickhouse)
            .await
            .expect("migrations apply");
        Env {
            config,
            events,
            consent,
            dlq,
            db,
        }
    }

    pub fn client(&self) -> Client {
        mailpulse_store::connect(&self.config.clickhouse)
    }

    pub fn privacy(&self) -> Privacy {
        Privacy::new(&self.config)
            .expect("privacy service connects")
            .with_apply_timeout(Duration::from_secs(30))
            .with_mutation_timeout(Duration::from_secs(60))
    }

    pub async fn produce(&self, events: &[Event]) {
        produce_events(&self.config.kafka.brokers, self.events.name(), events).await;
    }
}

/// The aggregator, running inside the test process through its library entry point.
pub struct Aggregator {
    pub metrics: Metrics,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), mailpulse_aggregator::AggregatorError>>,
}

impl Aggregator {
    pub fn start(config: &Config) -> Aggregator {
        let metrics = Metrics::detached();
        let (stop, stopped) = watch::channel(false);
        let config = config.clone();
        let task = tokio::spawn({
            let metrics = metrics.clone();
            async move {
                mailpulse_aggregator::run_with(&config, metrics, Health::default(), stopped).await
            }
        });
        Aggregator {
            metrics,
            stop,
            task,
        }
    }

    pub async fn stop(self) {
        self.stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the aggregator stops within 30 s")
            .expect("the aggregator task did not panic")
            .expect("the aggregator ended without error");
    }

    /// Waits until at least `messages` events were read from Kafka.
    pub async fn wait_consumed(&self, messages: u64, timeout: Duration) {
        wait_until(timeout, &format!("{messages} events consumed"), || async {
            self.metrics.consumed.get() >= messages
        })
        .await;
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An open as the edge would produce it, now.
pub fn open(tenant: &str, campaign: &str, subscriber: &str) -> Event {
    let ts_ms = now_ms();
    Event {
        v: EVENT_SCHEMA_VERSION,
        id: Uuid::now_v7(),
        kind: EventKind::Open,
        ts_ms,
        tenant: tenant.into(),
        campaign: campaign.into(),
        subscriber: subscriber.into(),
        link: None,
        url: None,
        issued_at: ts_ms / 1000 - 86_400,
        visitor: format!("{:032x}", Uuid::now_v7().as_u128()),
        geo: Geo {
            country: Some("EE".into()),
            region: Some("37".into()),
            city: Some("Tallinn".into()),
        },
        network: Network {
            asn: Some(3249),
            org: None,
            class: NetworkClass::Other,
            prefix: None,
        },
        ua: HUMAN_UA.into(),
        head: false,
        dnt: false,
        gpc: false,
        end_pixel: false,
        edge: "edge-test".into(),
    }
}

/// Produces `events` keyed by [`Event::partition_key`], waiting for every delivery.
pub async fn produce_events(brokers: &str, topic: &str, events: &[Event]) {
    let producer = producer(brokers).expect("producer");
    let mut deliveries = Vec::with_capacity(events.len());
    for event in events {
        let key = event.partition_key();
        let payload = event.to_json();
        deliveries.push(
            producer
                .send_result(FutureRecord::to(topic).key(&key).payload(&payload))
                .map_err(|(error, _)| error)
                .expect("producer queue accepts the event"),
        );
    }
    for delivery in deliveries {
        delivery
            .await
            .expect("delivery reported")
            .expect("event delivered");
    }
}

/// Polls `condition` every 100 ms until it holds; panics naming `what` after `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if condition().await {
            return;
        }
        assert!(Instant::now() < deadline, "not within {timeout:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `SELECT count() …` with string binds.
pub async fn count(client: &Client, sql: &str, binds: &[&str]) -> u64 {
    binds
        .iter()
        .fold(client.query(sql), |query, value| query.bind(*value))
        .fetch_one::<u64>()
        .await
        .unwrap_or_else(|error| panic!("`{sql}` failed: {error}"))
}

/// Rows of `events` with this subscriber key.
pub async fn rows_with_key(client: &Client, key: &str) -> u64 {
    count(
        client,
        "SELECT count() FROM events WHERE subscriber_key = ?",
        &[key],
    )
    .await
}

/// Rows of `events` of a campaign, whatever their level.
pub async fn campaign_rows(client: &Client, campaign: &str) -> u64 {
    count(
        client,
        "SELECT count() FROM events WHERE campaign = ?",
        &[campaign],
    )
    .await
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct StringColumn {
    table: String,
    name: String,
}

/// One column of one table in which a needle was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub table: String,
    pub column: String,
    pub needle: String,
    pub rows: u64,
}

/// Scans every String-typed column of every table (not view) of `database` for each needle
/// (as a substring) and returns where they occur.
pub async fn scan_strings(client: &Client, database: &str, needles: &[String]) -> Vec<Hit> {
    let columns = client
        .query(
            "SELECT table, name FROM system.columns \
             WHERE database = ? AND type LIKE '%String%' \
               AND table IN (SELECT name FROM system.tables WHERE database = ? \
                             AND engine NOT IN ('View', 'MaterializedView')) \
             ORDER BY table, name",
        )
        .bind(database)
        .bind(database)
        .fetch_all::<StringColumn>()
        .await
        .expect("system.columns readable");
    assert!(
        columns.len() > 20,
        "the scan sees the schema's String columns"
    );
    let mut hits = Vec::new();
    for column in &columns {
        for needle in needles {
            let sql = format!(
                "SELECT count() FROM `{}` WHERE position(toString(`{}`), ?) > 0",
                column.table, column.name
            );
            let rows = count(client, &sql, &[needle]).await;
            if rows > 0 {
                hits.push(Hit {
                    table: column.table.clone(),
                    column: column.name.clone(),
                    needle: needle.clone(),
                    rows,
                });
            }
        }
    }
    hits
}
