//! Event-to-visible latency at a fixed rate: pixel hits sent over HTTP to a real edge
//! (`mailpulse edge`) at `E2E_RATE` per second (default 2000) for 25 s, consumed by real
//! aggregators (`mailpulse aggregate`), and the time until each hit's row can be read from
//! ClickHouse `events`. Run for 1 edge worker + 1 aggregator and for 2 edge workers + 2
//! aggregators (one group) with production settings (`batch_max_ms` 500, librdkafka's
//! `fetch.wait.max.ms` 500), then 1 + 1 with `batch_max_ms` 100, and also with
//! `fetch.wait.max.ms` 50, to show what the batch window and the broker's fetch wait contribute.
//!
//! How visibility is measured, honestly and cheaply: every 20 ms a poller asks ClickHouse for
//! each Kafka partition's highest stored offset and row count (three rows, so polling does not
//! load the server). Afterwards every hit is mapped to its row's (partition, offset); its row
//! became visible at the first poll whose highest offset of that partition reached it. Rows of
//! a partition are stored in offset order, which the poll's row count confirms: a poll where
//! the count differs from the number of final rows at or below that offset is reported. Send
//! and poll times are read from one monotonic clock in this process; the figure is an upper
//! bound by at most one poll interval plus one poll's duration. Hits of the first 5 s (group
//! joins, producer metadata) are not measured.
//!
//! `cargo bench --bench end_to_end`; under `cargo test` a 200/s, 4 s smoke run of one setup.

#[path = "../tests/drill_common/mod.rs"]
mod drill_common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drill_common::env::{DrillEnv, TENANT};
use drill_common::load::{Load, Outcome, Targets};
use drill_common::process::Process;
use mailpulse_config::Config;

const POLL_EVERY: Duration = Duration::from_millis(20);

#[derive(Debug, Clone)]
struct Poll {
    /// Since the load started.
    at: Duration,
    /// Partition → (highest offset stored, rows stored).
    partitions: HashMap<i32, (i64, u64)>,
}

#[derive(Debug, serde::Deserialize, clickhouse::Row)]
struct PartitionProgress {
    kafka_partition: i32,
    high: i64,
    rows: u64,
}

#[derive(Debug, serde::Deserialize, clickhouse::Row)]
struct StoredHit {
    subscriber_key: String,
    kafka_partition: i32,
    kafka_offset: i64,
}

struct Setup {
    edge_workers: usize,
    aggregators: usize,
    /// `aggregator.batch_max_ms`: the longest a batch waits before it is written.
    batch_max_ms: u64,
    /// librdkafka `fetch.wait.max.ms` for every client (`kafka.properties`); `None`: its
    /// default, 500.
    fetch_wait_ms: Option<u32>,
}

struct Figures {
    measured: usize,
    p50: f64,
    p99: f64,
    max: f64,
    rate: f64,
    inconsistent_polls: usize,
    served_p99_ms: f64,
    /// Measured hits not answered 200 or not visible within a minute of the end.
    not_visible: usize,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

async fn run(setup: &Setup, rate: u32, seconds: f64, warmup: f64) -> Figures {
    let mut env = DrillEnv::new("e2e_bench").await;
    env.config.aggregator.batch_max_ms = setup.batch_max_ms;
    if let Some(wait) = setup.fetch_wait_ms {
        env.config
            .kafka
            .properties
            .insert("fetch.wait.max.ms".into(), wait.to_string());
    }
    env.config.aggregator.retry_initial_ms = Config::default().aggregator.retry_initial_ms;
    let workers = [(
        "MAILPULSE_EDGE_WORKERS".to_string(),
        setup.edge_workers.to_string(),
    )];
    let edge = Process::edge(&env, "edge", &workers).await;
    let mut aggregators = Vec::new();
    for i in 0..setup.aggregators {
        aggregators.push(Process::aggregator(&env, &format!("aggregator-{i}")).await);
    }
    let client = env.db.client().clone();
    let load = Load::start(&env, Targets::new(vec![edge.addr]), rate, 8);
    let polls = Arc::new(Mutex::new(Vec::<Poll>::new()));
    let stop_polling = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load_clock = Instant::now() - load.elapsed();
    let poller = tokio::spawn({
        let (polls, stop, client, campaign) = (
            polls.clone(),
            stop_polling.clone(),
            client.clone(),
            env.campaign.clone(),
        );
        async move {
            let mut ticks = tokio::time::interval(POLL_EVERY);
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                ticks.tick().await;
                let at = load_clock.elapsed();
                let Ok(progress) = client
                    .query(
                        "SELECT kafka_partition, max(kafka_offset) AS high, count() AS rows \
                         FROM events WHERE tenant = ? AND campaign = ? GROUP BY kafka_partition",
                    )
                    .bind(TENANT)
                    .bind(&campaign)
                    .fetch_all::<PartitionProgress>()
                    .await
                else {
                    continue;
                };
                let partitions = progress
                    .into_iter()
                    .map(|p| (p.kafka_partition, (p.high, p.rows)))
                    .collect();
                polls
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Poll { at, partitions });
            }
        }
    });
    tokio::time::sleep(Duration::from_secs_f64(warmup + seconds)).await;
    let report = load.stop().await;
    let accepted = report.accepted().len();
    // Until everything sent is visible (or a minute passes).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows: u64 = client
            .query("SELECT count() FROM events WHERE tenant = ? AND campaign = ?")
            .bind(TENANT)
            .bind(&env.campaign)
            .fetch_one()
            .await
            .unwrap_or(0);
        if rows >= accepted as u64 || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(POLL_EVERY * 3).await;
    stop_polling.store(true, std::sync::atomic::Ordering::SeqCst);
    poller.await.expect("poller");
    let polls = std::mem::take(&mut *polls.lock().unwrap_or_else(|p| p.into_inner()));
    let stored = client
        .query(
            "SELECT subscriber_key, kafka_partition, kafka_offset FROM events \
             WHERE tenant = ? AND campaign = ?",
        )
        .bind(TENANT)
        .bind(&env.campaign)
        .fetch_all::<StoredHit>()
        .await
        .expect("stored rows readable");
    let position: HashMap<&str, (i32, i64)> = stored
        .iter()
        .map(|s| {
            (
                s.subscriber_key.as_str(),
                (s.kafka_partition, s.kafka_offset),
            )
        })
        .collect();
    let mut offsets: HashMap<i32, Vec<i64>> = HashMap::new();
    for s in &stored {
        offsets
            .entry(s.kafka_partition)
            .or_default()
            .push(s.kafka_offset);
    }
    for list in offsets.values_mut() {
        list.sort_unstable();
    }
    let inconsistent_polls = polls
        .iter()
        .filter(|poll| {
            poll.partitions.iter().any(|(partition, (high, rows))| {
                let at_or_below = offsets
                    .get(partition)
                    .map_or(0, |list| list.partition_point(|o| o <= high));
                at_or_below as u64 != *rows
            })
        })
        .count();
    let warm = Duration::from_secs_f64(warmup);
    let mut latencies = Vec::new();
    for hit in report.hits.iter().filter(|h| h.sent_at >= warm) {
        if hit.outcome != Outcome::Status(200) {
            continue;
        }
        let Some(&(partition, offset)) = position.get(hit.subscriber.as_str()) else {
            continue;
        };
        let visible = polls.iter().find(|poll| {
            poll.partitions
                .get(&partition)
                .is_some_and(|(high, _)| *high >= offset)
        });
        if let Some(poll) = visible {
            latencies.push((poll.at.saturating_sub(hit.sent_at)).as_secs_f64() * 1000.0);
        }
    }
    latencies.sort_by(f64::total_cmp);
    // A shared stack can be disturbed mid-run (another test stopping the broker): hits not
    // visible by the end are reported, not hidden.
    let measured_hits = report.hits.iter().filter(|h| h.sent_at >= warm).count();
    let not_visible = measured_hits - latencies.len();
    for aggregator in &aggregators {
        let stored = aggregator
            .metric("mailpulse_aggregator_inserted_rows_total")
            .await;
        println!("    {}: {stored} rows stored", aggregator.name);
    }
    drop(edge);
    drop(aggregators);
    Figures {
        measured: latencies.len(),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        max: percentile(&latencies, 1.0),
        rate: report.hits.len() as f64 / report.elapsed.as_secs_f64(),
        inconsistent_polls,
        served_p99_ms: report.latency_ms(0.99),
        not_visible,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bench = std::env::args().any(|arg| arg == "--bench");
    let rate: u32 = match std::env::var("E2E_RATE") {
        Ok(value) => value.parse().expect("E2E_RATE is a number"),
        Err(_) if bench => 2_000,
        Err(_) => 200,
    };
    let (seconds, warmup) = if bench { (20.0, 5.0) } else { (2.0, 2.0) };
    // Production settings first; then a short batch window, then also a short broker fetch
    // wait, to show what each contributes.
    let production = Config::default().aggregator.batch_max_ms;
    let one = |batch_max_ms, fetch_wait_ms| Setup {
        edge_workers: 1,
        aggregators: 1,
        batch_max_ms,
        fetch_wait_ms,
    };
    let setups: Vec<Setup> = if bench {
        vec![
            one(production, None),
            Setup {
                edge_workers: 2,
                aggregators: 2,
                batch_max_ms: production,
                fetch_wait_ms: None,
            },
            one(100, None),
            one(100, Some(50)),
        ]
    } else {
        vec![one(production, None)]
    };
    println!(
        "end_to_end: {rate} hits/s for {seconds} s measured (after {warmup} s), poll every \
         {POLL_EVERY:?}"
    );
    let mut rows = Vec::new();
    for setup in &setups {
        let figures = run(setup, rate, seconds, warmup).await;
        rows.push((setup, figures));
    }
    println!();
    println!(
        "| edge workers | aggregators | batch_max_ms | fetch.wait.max.ms | sent/s | hits measured | visible p50 ms \
         | visible p99 ms | max ms | pixel answered p99 ms | polls out of order | not visible |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (setup, f) in &rows {
        println!(
            "| {} | {} | {} | {} | {:.0} | {} | {:.0} | {:.0} | {:.0} | {:.2} | {} | {} |",
            setup.edge_workers,
            setup.aggregators,
            setup.batch_max_ms,
            setup.fetch_wait_ms.unwrap_or(500),
            f.rate,
            f.measured,
            f.p50,
            f.p99,
            f.max,
            f.served_p99_ms,
            f.inconsistent_polls,
            f.not_visible
        );
    }
}
