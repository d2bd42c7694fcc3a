//! Fault drill: the Kafka broker is down for 30 s under steady pixel traffic through a real edge
//! (`mailpulse edge`) with a real aggregator (`mailpulse aggregate`) consuming. Every pixel is
//! served while the edge spools; once the broker is back the spool is replayed and every hit
//! answered 200 is counted exactly once; no client IP is written anywhere.

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
async fn broker_down_30s_every_pixel_served_none_lost_none_doubled() {
    let started = Instant::now();
    let mut env = DrillEnv::new("drill_broker").await;
    env.producer_survives_broker_restart();
    let edge = Process::edge(&env, "edge", &[]).await;
    let aggregator = Process::aggregator(&env, "aggregator").await;
    let load = Load::start(&env, Targets::new(vec![edge.addr]), RATE, 4);
    sleep(5.0).await;

    let outage = tokio::task::spawn_blocking(|| Outage::begin(Service::Kafka))
        .await
        .expect("join")
        .expect("stop the broker");
    let down = Instant::now();
    note(started, "broker down");
    sleep(OUTAGE_SECS / 2.0).await;
    let (status, ready) = http_get(edge.addr, "/readyz")
        .await
        .expect("readyz answers");
    assert_eq!(
        status, 200,
        "a broker outage does not make the edge unready: {ready}"
    );
    assert!(ready.contains("\"broker_up\":false"), "{ready}");
    assert!(edge.metric("mailpulse_edge_events_spooled_total").await > 0.0);
    sleep(OUTAGE_SECS - down.elapsed().as_secs_f64()).await;
    tokio::task::spawn_blocking(move || outage.end())
        .await
        .expect("join")
        .expect("restart the broker");
    note(
        started,
        format!("broker back after {:.1} s", down.elapsed().as_secs_f64()),
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
    let spooled = edge.metric("mailpulse_edge_events_spooled_total").await;
    let replayed = edge.metric("mailpulse_edge_events_replayed_total").await;
    note(
        started,
        format!("edge spooled {spooled}, replayed {replayed}"),
    );
    assert!(
        spooled > 0.0 && replayed >= spooled,
        "spooled {spooled}, replayed {replayed}"
    );

    let edge_exit = edge.terminate(Duration::from_secs(20));
    assert!(edge_exit.success(), "edge exit {edge_exit}");
    let aggregator_exit = aggregator.terminate(Duration::from_secs(30));
    assert!(
        aggregator_exit.success(),
        "aggregator exit {aggregator_exit}"
    );
    note(started, assert_no_client_ip(&env, verdict.accepted).await);
}
