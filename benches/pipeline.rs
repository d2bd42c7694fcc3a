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

/// Rows per block the Kafka engine reads before inserting (its default is 65536), so its rate
/// can be read between blocks where the server honours it.
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

/// What one consuming path achieved: its steady rate (every consumer working) and its rate
/// over the whole run, start-up and group joins included.
#[derive(Debug, Clone, Copy)]
struct Throughput {
    steady: Option<f64>,
    overall: f64,
}

/// `instances` aggregators in one group. Steady: rows stored after every instance has consumed
/// its first message, over the time since then (a newcomer's join makes the group rebalance,
/// which is counted in the overall figure only).
async fn aggregate(config: &Config, instances: usize, expected: usize) -> Throughput {
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
    let inserted = || running.iter().map(|(m, _)| m.inserted.get()).sum::<u64>();
    // (when, rows stored by then) once every instance has consumed something.
    let mut all_consuming: Option<(Instant, u64)> = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while inserted() < expected as u64 {
        if all_consuming.is_none() && running.iter().all(|(m, _)| m.consumed.get() > 0) {
            all_consuming = Some((Instant::now(), inserted()));
        }
        assert!(
            Instant::now() < deadline,
            "aggregators did not finish in 600 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let overall = rate(expected, started.elapsed());
    let steady = all_consuming.and_then(|(since, before)| {
        let rows = expected as u64 - before;
        (rows > 0).then(|| rows as f64 / since.elapsed().as_secs_f64())
    });
    let shares: Vec<u64> = running.iter().map(|(m, _)| m.inserted.get()).collect();
    stop.send_replace(true);
    for (_, task) in running {
        task.await.expect("task").expect("aggregator ran");
    }
    if instances > 1 {
        println!("    rows stored per instance: {shares:?}");
    }
    Throughput { steady, overall }
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

/// ClickHouse's Kafka engine on a private server, or why it could not consume. Steady: rows
/// stored after the first block over the time since (none when it stores everything in one
/// block, as 18.16 does for a topic read faster than its flush interval).
fn kafka_engine(
    brokers: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> Result<Throughput, String> {
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
            let overall = rate(expected, started.elapsed());
            let steady = first_block.and_then(|(at, first)| {
                (first < expected).then(|| (expected - first) as f64 / at.elapsed().as_secs_f64())
            });
            return Ok(Throughput { steady, overall });
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
    let one = aggregate(&one_config, 1, count).await;
    let (two_config, _two_db) = aggregator_config(&base, "two").await;
    let two = aggregate(&two_config, 2, count).await;
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
    let cell = |value: Option<f64>| value.map_or("—".to_string(), |v| format!("{v:.0}"));
    let row = |name: &str, t: Throughput| {
        println!(
            "| {name} | {} | {:.0} | {} |",
            cell(t.steady),
            t.overall,
            t.steady
                .map_or("—".to_string(), |s| format!("{:.2}", s / bare_rate))
        );
    };
    let alone = |elapsed: Duration| Throughput {
        steady: Some(rate(count, elapsed)),
        overall: rate(count, elapsed),
    };
    println!();
    println!(
        "| path | events/s, steady | events/s, start-up and joins included | steady × bare consumer |"
    );
    println!("|---|---:|---:|---:|");
    row("bare producer (idempotent, lz4, acks=all)", alone(produced));
    row("bare consumer (rdkafka, no work)", alone(bare));
    row("aggregator × 1", one);
    row("aggregator × 2, one group", two);
    match &engine {
        Ok(t) => row("ClickHouse Kafka engine → MergeTree", *t),
        Err(error) => println!("| ClickHouse Kafka engine → MergeTree | failed: {error} | | |"),
    }
    println!();
    if let (Some(two_steady), Some(one_steady)) = (two.steady, one.steady) {
        println!(
            "- aggregator × 2 / × 1: **{:.2}** steady, **{:.2}** overall",
            two_steady / one_steady,
            two.overall / one.overall
        );
    }
    if let Ok(engine) = engine {
        println!(
            "- aggregator × 1 / ClickHouse Kafka engine, start-up included: **{:.2}**",
            one.overall / engine.overall
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
