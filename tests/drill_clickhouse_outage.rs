//! Fault drill: ClickHouse is down for 30 s under steady pixel traffic through a real edge with
//! a real aggregator consuming. The edge does not notice; the aggregator stops committing,
//! retries with backoff and resumes by itself; every hit answered 200 is counted exactly once;
//! no client IP is written anywhere.

mod drill_common;

use std::time::{Duration, Instant};

use drill_common::env::DrillEnv;
use drill_common::leak_scan::assert_no_client_ip;
use drill_common::load::{Load, Targets};
use drill_common::process::{http_get, Process};
use drill_common::verdict::{assert_exactly_once, settle};
use drill_common::{note, sleep};
use mailpulse_testkit::{Outage, Service};

const RATE: u32 = 200;
const OUTAGE_SECS: f64 = 30.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_down_30s_none_lost_none_doubled() {
    let started = Instant::now();
    let env = DrillEnv::new("drill_clickhouse").await;
    let edge = Process::edge(&env, "edge", &[]).await;
    let aggregator = Process::aggregator(&env, "aggregator").await;
    let load = Load::start(&env, Targets::new(vec![edge.addr]), RATE, 4);
    sleep(5.0).await;

    let outage = tokio::task::spawn_blocking(|| Outage::begin(Service::ClickHouse))
        .await
        .expect("join")
        .expect("stop ClickHouse");
    let down = Instant::now();
    note(started, "ClickHouse down");
    sleep(OUTAGE_SECS / 2.0).await;
    let (_, ready) = http_get(aggregator.addr, "/readyz")
        .await
        .expect("the aggregator's admin endpoint answers");
    let retries = aggregator
        .metric("mailpulse_aggregator_insert_retries_total")
        .await;
    note(
        started,
        format!("aggregator mid-outage: readyz {ready:?}, {retries} insert retries"),
    );
    assert!(
        retries > 0.0,
        "the aggregator retries while ClickHouse is down"
    );
    sleep(OUTAGE_SECS - down.elapsed().as_secs_f64()).await;
    tokio::task::spawn_blocking(move || outage.end())
        .await
        .expect("join")
        .expect("restart ClickHouse");
    note(
        started,
        format!(
            "ClickHouse back after {:.1} s",
            down.elapsed().as_secs_f64()
        ),
    );
    sleep(10.0).await;

    let report = load.stop().await;
    note(started, report.summary());
    assert!(
        report.refused().is_empty() && report.unanswered().is_empty(),
        "every pixel served: {}",
        report.summary()
    );
    let verdict = settle(&env, &report, 0, Duration::from_secs(120)).await;
    note(started, verdict.line());
    assert_exactly_once(&env, &verdict, 0).await;

    let edge_exit = edge.terminate(Duration::from_secs(20));
    assert!(edge_exit.success(), "edge exit {edge_exit}");
    let aggregator_exit = aggregator.terminate(Duration::from_secs(30));
    assert!(
        aggregator_exit.success(),
        "aggregator exit {aggregator_exit}"
    );
    note(started, assert_no_client_ip(&env, verdict.accepted).await);
}
