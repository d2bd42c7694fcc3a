//! Fault drill: the aggregator is killed with SIGKILL in the middle of steady pixel traffic
//! (no flush, no commit, an INSERT possibly half done) and a new one starts in its place, as an
//! orchestrator would. Every hit answered 200 is counted exactly once; no client IP is written
//! anywhere.

mod drill_common;

use std::time::{Duration, Instant};

use drill_common::env::DrillEnv;
use drill_common::leak_scan::assert_no_client_ip;
use drill_common::load::{Load, Targets};
use drill_common::process::Process;
use drill_common::verdict::{assert_exactly_once, settle};
use drill_common::{note, sleep};

const RATE: u32 = 200;

/// Rows stored for the drill's campaign so far.
async fn stored(env: &DrillEnv) -> u64 {
    env.db
        .client()
        .query("SELECT count() FROM events WHERE campaign = ?")
        .bind(&env.campaign)
        .fetch_one::<u64>()
        .await
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregator_sigkill_under_load_none_lost_none_doubled() {
    let started = Instant::now();
    let mut env = DrillEnv::new("drill_agg_kill").await;
    // Small, frequent batches: the kill lands between an INSERT and its commit more often.
    env.config.aggregator.batch_max_ms = 100;
    let edge = Process::edge(&env, "edge", &[]).await;
    let first = Process::aggregator(&env, "aggregator-1").await;
    let load = Load::start(&env, Targets::new(vec![edge.addr]), RATE, 4);

    let deadline = Instant::now() + Duration::from_secs(60);
    while stored(&env).await < u64::from(RATE) * 3 {
        assert!(
            Instant::now() < deadline,
            "nothing stored\n{}",
            first.log_text()
        );
        sleep(0.2).await;
    }
    let before = stored(&env).await;
    first.kill9();
    note(
        started,
        format!("aggregator-1 killed with {before} rows stored"),
    );
    // The replacement starts after the group's session timeout (10 s), as a restart with
    // backoff would: tansu 0.6.0 lets a member that joins while a killed member's session is
    // still open wait on the dead leader's assignment and leaves it with no partitions for
    // minutes (observed: `partitions assigned []`, nothing consumed for 2+ minutes).
    sleep(12.0).await;
    let second = Process::aggregator(&env, "aggregator-2").await;
    note(started, "aggregator-2 started");
    sleep(8.0).await;

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
    let exit = second.terminate(Duration::from_secs(30));
    assert!(exit.success(), "aggregator-2 exit {exit}");
    note(started, assert_no_client_ip(&env, verdict.accepted).await);
}
