//! Fault drill: a rolling restart of the edge under steady pixel traffic. Two edges share the
//! load; one gets SIGTERM mid-stream (readiness off, drain, flush) while clients keep sending,
//! moving to the other edge when theirs stops answering. The stopped edge exits cleanly; every
//! hit answered 200 — by either edge — is counted exactly once, and a hit left without an
//! answer is counted at most once; no client IP is written anywhere.

mod drill_common;

use std::time::{Duration, Instant};

use drill_common::env::DrillEnv;
use drill_common::leak_scan::assert_no_client_ip;
use drill_common::load::{Load, Targets};
use drill_common::process::Process;
use drill_common::verdict::{assert_exactly_once, settle};
use drill_common::{note, sleep};

const RATE: u32 = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_sigterm_under_load_none_lost_none_doubled() {
    let started = Instant::now();
    let env = DrillEnv::new("drill_edge_term").await;
    // Each edge its own spool, as each replica has its own disk.
    let spool = |name: &str| {
        vec![(
            "MAILPULSE_EDGE_SPOOL_DIR".to_string(),
            env.config.edge.spool_dir.join(name).display().to_string(),
        )]
    };
    let leaving = Process::edge(&env, "edge-a", &spool("edge-a")).await;
    let staying = Process::edge(&env, "edge-b", &spool("edge-b")).await;
    let aggregator = Process::aggregator(&env, "aggregator").await;
    let targets = Targets::new(vec![leaving.addr, staying.addr]);
    let load = Load::start(&env, targets.clone(), RATE, 4);
    sleep(8.0).await;

    let served_by_leaving = leaving.metric("mailpulse_edge_events_produced_total").await;
    note(
        started,
        format!("SIGTERM to edge-a ({served_by_leaving} events produced so far)"),
    );
    let term = tokio::task::spawn_blocking(move || leaving.terminate(Duration::from_secs(20)));
    // Clients move on by themselves; a balancer would also drop edge-a once it reads unready.
    sleep(1.0).await;
    targets.set(vec![staying.addr]);
    let exit = term.await.expect("join");
    note(started, format!("edge-a exited: {exit}"));
    assert!(exit.success(), "edge-a exits cleanly on SIGTERM: {exit}");
    sleep(6.0).await;

    let report = load.stop().await;
    note(started, report.summary());
    assert!(
        report.refused().is_empty(),
        "no error answers: {}",
        report.summary()
    );
    let verdict = settle(&env, &report, 0, Duration::from_secs(120)).await;
    note(started, verdict.line());
    assert_exactly_once(&env, &verdict, 0).await;

    let exit = staying.terminate(Duration::from_secs(20));
    assert!(exit.success(), "edge-b exit {exit}");
    let exit = aggregator.terminate(Duration::from_secs(30));
    assert!(exit.success(), "aggregator exit {exit}");
    note(started, assert_no_client_ip(&env, verdict.accepted).await);
}
