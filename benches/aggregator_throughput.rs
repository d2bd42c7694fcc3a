//! End-to-end aggregator throughput on the local stack, next to its two ceilings, measured in
//! the same run on the same data:
//!
//! 1. **bare consumer** — an rdkafka consumer reading the topic and doing nothing (the broker's
//!    delivery rate);
//! 2. **raw insert** — the same rows inserted into ClickHouse from one client in batches of
//!    `batch_max_rows`, no Kafka (ClickHouse's insert rate for our rows, views included);
//! 3. **aggregator** — Kafka → decode → dedup → consent → enrichment → ClickHouse → commit.
//!
//! `cargo bench --bench aggregator_throughput` (needs `scripts/stack up`). Size with
//! `AGG_BENCH_EVENTS` (default 100000). Prints figures; asserts nothing but completeness.
//! Under `cargo test` (no `--bench` argument) it runs the same steps on 2000 events, as a smoke
//! test of the bench itself.

use std::time::{Duration, Instant};

use mailpulse_aggregator::{Health, Metrics};
use mailpulse_config::{Config, ConsentBasis};
use mailpulse_event::{Event, EventKind, Geo, Network, NetworkClass, TrackingLevel};
use mailpulse_store::{EventKindCode, EventRow, TrackingLevelCode};
use mailpulse_testkit::{producer, test_config, unique_group_id, TestDatabase, TestTopic};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use uuid::Uuid;

const PARTITIONS: i32 = 6;

const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
     Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like \
     Gecko) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)",
];
const COUNTRIES: [&str; 5] = ["EE", "US", "DE", "FR", "BR"];

fn events(count: usize, base_ms: u64) -> Vec<Event> {
    (0..count)
        .map(|i| {
            let click = i % 5 == 4;
            Event {
                v: 1,
                id: Uuid::now_v7(),
                kind: if click {
                    EventKind::Click
                } else {
                    EventKind::Open
                },
                ts_ms: base_ms + i as u64 * 10,
                tenant: "bench".into(),
                campaign: format!("campaign-{}", i % 20),
                subscriber: format!("subscriber-{}", i % 50_000),
                link: click.then(|| format!("link-{}", i % 7)),
                url: click.then(|| format!("https://example.com/{}", i % 7)),
                issued_at: base_ms / 1000 - 86_400,
                visitor: format!("{:032x}", i),
                geo: Geo {
                    country: Some(COUNTRIES[i % COUNTRIES.len()].into()),
                    region: None,
                    city: None,
                },
                network: Network {
                    asn: Some(3249),
                    org: None,
                    class: NetworkClass::Other,
                    prefix: None,
                },
                ua: AGENTS[i % AGENTS.len()].into(),
                head: false,
                dnt: false,
                gpc: false,
                end_pixel: false,
                edge: "edge-bench".into(),
            }
        })
        .collect()
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

async fn produce(brokers: &str, topic: &str, events: &[Event]) -> Duration {
    let producer = producer(brokers).expect("producer");
    let started = Instant::now();
    let mut pending = Vec::with_capacity(10_000);
    for event in events {
        let key = event.partition_key();
        let payload = event.to_json();
        loop {
            match producer.send_result(FutureRecord::to(topic).key(&key).payload(&payload)) {
                Ok(delivery) => {
                    pending.push(delivery);
                    break;
                }
                // Local queue full: wait for some deliveries.
                Err(_) => {
                    for delivery in pending.drain(..) {
                        delivery.await.expect("delivery").expect("delivered");
                    }
                }
            }
        }
        if pending.len() >= 10_000 {
            for delivery in pending.drain(..) {
                delivery.await.expect("delivery").expect("delivered");
            }
        }
    }
    for delivery in pending {
        delivery.await.expect("delivery").expect("delivered");
    }
    started.elapsed()
}

async fn bare_consume(brokers: &str, topic: &str, expected: usize) -> Duration {
    let consumer: StreamConsumer = mailpulse_testkit::kafka_client_config(brokers)
        .set("group.id", unique_group_id("bench_bare"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    let mut started = None;
    let mut seen = 0;
    while seen < expected {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("messages keep coming")
            .expect("message");
        started.get_or_insert_with(Instant::now);
        drop(message);
        seen += 1;
    }
    started.map(|s| s.elapsed()).unwrap_or_default()
}

fn row<'a>(event: &'a Event, offset: i64) -> EventRow<'a> {
    EventRow {
        event_id: event.id,
        kind: EventKindCode(event.kind),
        ts: (event.ts_ms / 1000) as u32,
        tenant: &event.tenant,
        campaign: &event.campaign,
        subscriber_key: &event.subscriber,
        link: event.link.as_deref().unwrap_or(""),
        url: event.url.as_deref().unwrap_or(""),
        visitor: &event.visitor,
        country: event.geo.country.as_deref().unwrap_or(""),
        region: "",
        city: "",
        asn: 3249,
        network_class: "other",
        browser: "Chrome",
        os: "Windows 10",
        device: "pc",
        email_client: "browser",
        machine: 0,
        machine_reason: "",
        dnt: 0,
        gpc: 0,
        end_pixel: 0,
        tracking_level: TrackingLevelCode(TrackingLevel::Identified),
        edge: &event.edge,
        kafka_topic: "bench",
        kafka_partition: 0,
        kafka_offset: offset,
        ingested_at: (event.ts_ms / 1000) as u32,
    }
}

async fn raw_insert(config: &Config, events: &[Event], batch: usize) -> Duration {
    let client = mailpulse_store::connect(&config.clickhouse);
    let started = Instant::now();
    for (index, chunk) in events.chunks(batch).enumerate() {
        let base = (index * batch) as i64;
        mailpulse_store::offsets::insert_events(
            &client,
            chunk
                .iter()
                .enumerate()
                .map(|(i, event)| row(event, base + i as i64)),
            &Uuid::now_v7().to_string(),
            Duration::from_secs(60),
        )
        .await
        .expect("raw insert");
    }
    started.elapsed()
}

/// A sum from the registry's text exposition, e.g. `…_insert_duration_seconds_sum`.
fn metric_value(registry: &mailpulse_telemetry::Registry, name: &str) -> f64 {
    mailpulse_telemetry::render(registry)
        .lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

async fn aggregate(config: &Config, expected: usize) -> (Duration, Duration, f64) {
    let mut registry = mailpulse_telemetry::Registry::default();
    let metrics = Metrics::register(&mut registry);
    let (stop, stopped) = watch::channel(false);
    let started = Instant::now();
    let task = tokio::spawn({
        let (config, metrics) = (config.clone(), metrics.clone());
        async move { mailpulse_aggregator::run_with(&config, metrics, Health::default(), stopped).await }
    });
    let mut first_message = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while metrics.inserted.get() < expected as u64 {
        if first_message.is_none() && metrics.consumed.get() > 0 {
            first_message = Some(Instant::now());
        }
        assert!(
            Instant::now() < deadline,
            "aggregator did not finish in 600 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let total = started.elapsed();
    let steady = first_message.map(|t| t.elapsed()).unwrap_or(total);
    stop.send_replace(true);
    task.await.expect("task").expect("aggregator ran");
    let inserting = metric_value(
        &registry,
        "mailpulse_aggregator_insert_duration_seconds_sum ",
    );
    (total, steady, inserting)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let bench = std::env::args().any(|arg| arg == "--bench");
    let count: usize = match std::env::var("AGG_BENCH_EVENTS") {
        Ok(value) if bench => value.parse().expect("AGG_BENCH_EVENTS is a number"),
        _ if bench => 100_000,
        _ => 2_000,
    };
    let mut config = test_config("agg_bench").expect("the local stack is up");
    config.privacy.default_basis = ConsentBasis::LegitimateInterest;
    config.aggregator.admin_listen = "127.0.0.1:0".into();
    let events_topic = TestTopic::with_name(&config.kafka.events_topic, PARTITIONS)
        .await
        .expect("events topic");
    let _consent = TestTopic::with_name(&config.kafka.consent_topic, 1)
        .await
        .expect("consent topic");
    let _dlq = TestTopic::with_name(&config.kafka.dlq_topic, 1)
        .await
        .expect("dlq topic");
    let _deliveries = TestTopic::with_name(&config.kafka.deliveries_topic, 1)
        .await
        .expect("deliveries topic");
    let _db = TestDatabase::with_name(&config.clickhouse.database)
        .await
        .expect("database");
    mailpulse_store::migrate::migrate(&config.clickhouse)
        .await
        .expect("migrate");
    // The raw-insert baseline writes to its own database, so the aggregator starts empty.
    let mut raw_config = config.clone();
    raw_config.clickhouse.database = format!("{}_raw", config.clickhouse.database);
    let _raw_db = TestDatabase::with_name(&raw_config.clickhouse.database)
        .await
        .expect("raw database");
    mailpulse_store::migrate::migrate(&raw_config.clickhouse)
        .await
        .expect("migrate raw");

    let stream = events(count, mailpulse_now_ms() - 86_400_000);
    let brokers = config.kafka.brokers.clone();
    println!(
        "aggregator_throughput: {count} events, {PARTITIONS} partitions, batch_max_rows {}",
        config.aggregator.batch_max_rows
    );
    let produced = produce(&brokers, events_topic.name(), &stream).await;
    println!(
        "  produce (setup)         {:>9.0} ev/s  ({:.2} s)",
        rate(count, produced),
        produced.as_secs_f64()
    );
    let bare = bare_consume(&brokers, events_topic.name(), count).await;
    println!(
        "  bare rdkafka consumer   {:>9.0} ev/s  ({:.2} s)",
        rate(count, bare),
        bare.as_secs_f64()
    );
    let raw = raw_insert(&raw_config, &stream, config.aggregator.batch_max_rows).await;
    println!(
        "  raw ClickHouse insert   {:>9.0} ev/s  ({:.2} s, one client)",
        rate(count, raw),
        raw.as_secs_f64()
    );
    let (total, steady, inserting) = aggregate(&config, count).await;
    let e2e = rate(count, steady);
    println!(
        "  aggregator end to end   {:>9.0} ev/s  ({:.2} s from first message; {:.2} s with start-up)",
        e2e,
        steady.as_secs_f64(),
        total.as_secs_f64()
    );
    println!("  of which inside INSERT  {inserting:>9.2} s");
    println!(
        "  aggregator / raw insert {:>8.0} %    aggregator / bare consumer {:.0} %",
        100.0 * e2e / rate(count, raw),
        100.0 * e2e / rate(count, bare)
    );
}

fn mailpulse_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
