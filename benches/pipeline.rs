//! Consumer-side scaling and alternatives on the local stack, all on one topic in one run:
//!
//! 1. **bare producer** — the testkit's idempotent lz4 producer writing the events (the broker's
//!    write rate);
//! 2. **bare consumer** — an rdkafka consumer reading them and doing nothing (its read rate);
//! 3. **aggregator × 1** and **aggregator × 2** (two instances in one consumer group, in this
//!    process) — Kafka → decode → dedup → consent → enrichment → ClickHouse → commit; each run
//!    with its own group and database;
//! 4. **ClickHouse Kafka engine** — ClickHouse's own consumer (`ENGINE = Kafka` + materialized
//!    view into a MergeTree) reading the same topic, on a private server: Debian's ClickHouse
//!    18.16 links Debian's librdkafka 2.0.2, which cannot parse tansu's ApiVersions v3 answer,
//!    so the private server sets `api.version.request = false` and `broker.version.fallback =
//!    0.9.0`; with 0.9 features librdkafka cannot parse tansu's ListOffsets v0 answer either, so
//!    the group's offsets are committed at 0 beforehand (no offset lookup needed). It only
//!    parses JSON into columns: no dedup, consent, enrichment or exactly-once.
//!
//! The raw-insert ceiling is `benches/aggregator_throughput.rs`. `cargo bench --bench pipeline`
//! (`PIPELINE_BENCH_EVENTS`, default 100000); under `cargo test` a 1000-event smoke run.
//! Prints a markdown table; asserts only completeness.

#[path = "support/private_clickhouse.rs"]
mod private_clickhouse;

use std::time::{Duration, Instant};

use mailpulse_aggregator::{Health, Metrics};
use mailpulse_config::{Config, ConsentBasis};
use mailpulse_event::Event;
use mailpulse_testkit::{producer, test_config, unique_group_id, TestDatabase, TestTopic};
use private_clickhouse::PrivateClickHouse;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;

const PARTITIONS: i32 = 6;

/// Rows per block the Kafka engine reads before inserting (its default is 65536): small enough
/// that its rate can be read between blocks.
const ENGINE_BLOCK_ROWS: usize = 10_000;

const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
     Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like \
     Gecko) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)",
];

const COUNTRIES: [&str; 5] = ["EE", "US", "DE", "FR", "BR"];

/// Events as the edge writes them, built from JSON so the bench follows the schema (a payload
/// the current `Event` cannot read fails here, not halfway through).
fn events(count: usize, base_ms: u64) -> Vec<Event> {
    (0..count)
        .map(|i| {
            let click = i % 5 == 4;
            let json = serde_json::json!({
                "v": 1,
                "id": uuid::Uuid::now_v7(),
                "type": if click { "click" } else { "open" },
                "ts_ms": base_ms + i as u64 * 10,
                "tenant": "bench",
                "campaign": format!("campaign-{}", i % 20),
                "subscriber": format!("subscriber-{}", i % 50_000),
                "link": click.then(|| format!("link-{}", i % 7)),
                "url": click.then(|| format!("https://example.com/{}", i % 7)),
                "issued_at": base_ms / 1000 - 86_400,
                "visitor": format!("{i:032x}"),
                "geo": { "country": COUNTRIES[i % COUNTRIES.len()] },
                "network": { "asn": 3249, "class": "other" },
                "ua": AGENTS[i % AGENTS.len()],
                "head": false,
                "dnt": false,
                "gpc": false,
                "edge": "edge-bench",
            });
            Event::from_json(json.to_string().as_bytes()).expect("the bench's events parse")
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

fn assignment(topic: &str) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        list.add_partition_offset(topic, partition, Offset::Offset(0))
            .expect("assignment");
    }
    list
}

async fn bare_consume(brokers: &str, topic: &str, expected: usize) -> Duration {
    let consumer: StreamConsumer = mailpulse_testkit::kafka_client_config(brokers)
        .set("group.id", unique_group_id("pipeline_bare"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.assign(&assignment(topic)).expect("assign");
    let mut started = None;
    for _ in 0..expected {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("messages keep coming")
            .expect("message");
        started.get_or_insert_with(Instant::now);
        drop(message);
    }
    started.map(|s| s.elapsed()).unwrap_or_default()
}

/// `instances` aggregators in one group; time from the first message consumed to the last
/// row stored (and from start, joins included).
async fn aggregate(config: &Config, instances: usize, expected: usize) -> (Duration, Duration) {
    let (stop, stopped) = watch::channel(false);
    let started = Instant::now();
    let mut running = Vec::new();
    for _ in 0..instances {
        let metrics = Metrics::detached();
        let task = tokio::spawn({
            let (config, metrics, stopped) = (config.clone(), metrics.clone(), stopped.clone());
            async move {
                mailpulse_aggregator::run_with(&config, metrics, Health::default(), stopped).await
            }
        });
        running.push((metrics, task));
    }
    let total = |pick: fn(&Metrics) -> u64| running.iter().map(|(m, _)| pick(m)).sum::<u64>();
    let mut first_message = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while total(|m| m.inserted.get()) < expected as u64 {
        if first_message.is_none() && total(|m| m.consumed.get()) > 0 {
            first_message = Some(Instant::now());
        }
        assert!(
            Instant::now() < deadline,
            "aggregators did not finish in 600 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all = started.elapsed();
    let steady = first_message.map(|t| t.elapsed()).unwrap_or(all);
    let shares: Vec<u64> = running.iter().map(|(m, _)| m.inserted.get()).collect();
    stop.send_replace(true);
    for (_, task) in running {
        task.await.expect("task").expect("aggregator ran");
    }
    if instances > 1 {
        println!("    rows stored per instance: {shares:?}");
    }
    (steady, all)
}

async fn aggregator_config(base: &Config, suffix: &str) -> (Config, TestDatabase) {
    let mut config = base.clone();
    config.clickhouse.database = format!("{}_{suffix}", base.clickhouse.database);
    config.aggregator.group_id = unique_group_id(&format!("pipeline_{suffix}"));
    let db = TestDatabase::with_name(&config.clickhouse.database)
        .await
        .expect("database");
    mailpulse_store::migrate::migrate(&config.clickhouse)
        .await
        .expect("migrate");
    (config, db)
}

/// ClickHouse's Kafka engine on a private server; `Ok((steady, from start))` or why it could not
/// consume. Steady: the time from the first block stored to the last, scaled to all rows.
fn kafka_engine(
    brokers: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> Result<(Duration, Duration), String> {
    let server = PrivateClickHouse::start(
        "pipeline_kafka_engine",
        "<kafka><api_version_request>false</api_version_request>\
         <broker_version_fallback>0.9.0</broker_version_fallback>\
         <auto_offset_reset>earliest</auto_offset_reset></kafka>",
    );
    let group = unique_group_id("pipeline_chkafka");
    commit_zero_offsets(brokers, topic, &group)?;
    let q = |sql: &str| server.query(sql).map_err(|e| format!("{sql}: {e}"));
    q("CREATE DATABASE bench")?;
    q(
        "CREATE TABLE bench.events_dst (id String, type String, ts_ms UInt64, tenant String, \
       campaign String, subscriber String, link Nullable(String), url Nullable(String), \
       visitor String, ua String, edge String) \
       ENGINE = MergeTree ORDER BY (tenant, campaign, type, ts_ms)",
    )?;
    q(&format!(
        "CREATE TABLE bench.events_queue (id String, type String, ts_ms UInt64, tenant String, \
         campaign String, subscriber String, link Nullable(String), url Nullable(String), \
         visitor String, ua String, edge String) \
         ENGINE = Kafka SETTINGS kafka_broker_list = '{brokers}', kafka_topic_list = '{topic}', \
         kafka_group_name = '{group}', kafka_format = 'JSONEachRow', \
         kafka_max_block_size = {ENGINE_BLOCK_ROWS}"
    ))?;
    let started = Instant::now();
    q(
        "CREATE MATERIALIZED VIEW bench.events_mv TO bench.events_dst AS \
       SELECT * FROM bench.events_queue",
    )?;
    // (when, rows) of the first block to appear: the engine inserts whole blocks.
    let mut first_block: Option<(Instant, usize)> = None;
    let deadline = Instant::now() + timeout;
    loop {
        let rows: usize = q("SELECT count() FROM bench.events_dst")?
            .trim()
            .parse()
            .unwrap_or(0);
        if rows > 0 && first_block.is_none() {
            first_block = Some((Instant::now(), rows));
        }
        if rows >= expected {
            let all = started.elapsed();
            // The rate after the first block, scaled to the whole count for the table.
            let steady = match first_block {
                Some((at, first)) if first < expected => at
                    .elapsed()
                    .mul_f64(expected as f64 / (expected - first) as f64),
                _ => all,
            };
            return Ok((steady, all));
        }
        if Instant::now() >= deadline {
            let output = server.output();
            let errors: Vec<&str> = output
                .lines()
                .filter(|l| l.contains("FAIL") || l.contains("ERROR") || l.contains("rror"))
                .take(3)
                .collect();
            return Err(format!(
                "{rows} of {expected} rows after {timeout:?}; librdkafka said: {errors:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Commits offset 0 on every partition for `group` (so a consumer of that group starts at the
/// beginning without looking offsets up).
fn commit_zero_offsets(brokers: &str, topic: &str, group: &str) -> Result<(), String> {
    let consumer: rdkafka::consumer::BaseConsumer = mailpulse_testkit::kafka_client_config(brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| e.to_string())?;
    consumer
        .commit(&assignment(topic), rdkafka::consumer::CommitMode::Sync)
        .map_err(|e| format!("commit offsets for {group}: {e}"))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let bench = std::env::args().any(|arg| arg == "--bench");
    let count: usize = match std::env::var("PIPELINE_BENCH_EVENTS") {
        Ok(value) if bench => value.parse().expect("PIPELINE_BENCH_EVENTS is a number"),
        _ if bench => 100_000,
        _ => 1_000,
    };
    let mut base = test_config("pipe_bench").expect("the local stack is up");
    base.privacy.default_basis = ConsentBasis::LegitimateInterest;
    base.aggregator.admin_listen = "127.0.0.1:0".into();
    let kafka = &base.kafka;
    let events_topic = TestTopic::with_name(&kafka.events_topic, PARTITIONS)
        .await
        .expect("events topic");
    let mut others = Vec::new();
    for name in [
        &kafka.consent_topic,
        &kafka.dlq_topic,
        &kafka.deliveries_topic,
    ] {
        others.push(TestTopic::with_name(name, 1).await.expect("topic"));
    }
    let brokers = base.kafka.brokers.clone();
    let topic = events_topic.name().to_string();
    let (version_number, version) = rdkafka::util::get_rdkafka_version();
    println!(
        "pipeline: {count} events, {PARTITIONS} partitions, batch_max_rows {}, batch_max_ms {}, \
         librdkafka {version} (0x{version_number:x})",
        base.aggregator.batch_max_rows, base.aggregator.batch_max_ms
    );

    let stream = events(count, now_ms() - 86_400_000);
    let produced = produce(&brokers, &topic, &stream).await;
    let bare = bare_consume(&brokers, &topic, count).await;
    let (one_config, _one_db) = aggregator_config(&base, "one").await;
    let (one, one_all) = aggregate(&one_config, 1, count).await;
    let (two_config, _two_db) = aggregator_config(&base, "two").await;
    let (two, two_all) = aggregate(&two_config, 2, count).await;
    let engine_timeout = if bench {
        Duration::from_secs(180)
    } else {
        Duration::from_secs(30)
    };
    let engine = tokio::task::spawn_blocking({
        let (brokers, topic) = (brokers.clone(), topic.clone());
        move || kafka_engine(&brokers, &topic, count, engine_timeout)
    })
    .await
    .expect("join");

    let bare_rate = rate(count, bare);
    let row = |name: &str, elapsed: Duration, all: Option<Duration>| {
        let per_second = rate(count, elapsed);
        println!(
            "| {name} | {per_second:.0} | {:.2} | {} | {:.2} |",
            elapsed.as_secs_f64(),
            all.map_or("—".to_string(), |a| format!("{:.2}", a.as_secs_f64())),
            per_second / bare_rate
        );
    };
    println!();
    println!("| path | events/s | seconds | seconds incl. start/join | × bare consumer |");
    println!("|---|---:|---:|---:|---:|");
    row("bare producer (idempotent, lz4, acks=all)", produced, None);
    row("bare consumer (rdkafka, no work)", bare, None);
    row("aggregator × 1", one, Some(one_all));
    row("aggregator × 2, one group", two, Some(two_all));
    match &engine {
        Ok((steady, all)) => row("ClickHouse Kafka engine → MergeTree", *steady, Some(*all)),
        Err(error) => println!("| ClickHouse Kafka engine → MergeTree | failed: {error} | | | |"),
    }
    println!();
    println!(
        "- aggregator × 2 / × 1: **{:.2}**",
        rate(count, two) / rate(count, one)
    );
    if let Ok((steady, _)) = engine {
        println!(
            "- aggregator × 1 / ClickHouse Kafka engine: **{:.2}**",
            rate(count, one) / rate(count, steady)
        );
    }
    drop(others);
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
