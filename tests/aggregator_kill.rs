//! The real `mailpulse aggregate` binary, killed with SIGKILL while a stream is flowing and
//! restarted, twice, still ends with exactly the true statistics; a final SIGTERM stops it
//! cleanly.

mod aggregator_common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aggregator_common::*;
use mailpulse_store::Client;

/// The consumer session timeout of the spawned aggregators.
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);

/// tansu 0.6 can keep a SIGKILLed member's partitions while a new member joins (the newcomer
/// is assigned nothing for minutes). Kafka expels the dead member after its session timeout and
/// rebalances; here the restart waits that long, so it joins a group with no member left.
async fn wait_out_dead_member() {
    tokio::time::sleep(SESSION_TIMEOUT + Duration::from_secs(2)).await;
}

struct Aggregator {
    child: Child,
    log: PathBuf,
}

impl Aggregator {
    fn spawn(env: &TestEnv, run: usize) -> Aggregator {
        let log =
            std::env::temp_dir().join(format!("{}-run{run}.log", env.config.clickhouse.database));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_mailpulse"))
            .arg("aggregate")
            .env_clear()
            .envs(env.env_vars())
            // A killed member is expelled after the session timeout; keep it short.
            .env(
                "MAILPULSE_KAFKA_PROPERTIES",
                format!(
                    "{{ \"session.timeout.ms\" = \"{}\", \"heartbeat.interval.ms\" = \"1000\" }}",
                    SESSION_TIMEOUT.as_millis()
                ),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("mailpulse aggregate starts");
        Aggregator { child, log }
    }

    fn sigkill(mut self) {
        self.child.kill().expect("SIGKILL delivered");
        self.child.wait().expect("killed process reaped");
    }

    fn sigterm_and_wait(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                assert!(
                    status.success(),
                    "exit after SIGTERM: {status}\n{}",
                    self.log_text()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no exit 30 s after SIGTERM\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Aggregator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn stored_rows(client: &Client) -> u64 {
    client
        .query("SELECT count() FROM events")
        .fetch_one::<u64>()
        .await
        .unwrap_or(0)
}

/// Waits until more than `before` rows are stored.
async fn wait_for_progress(client: &Client, before: u64, aggregator: &Aggregator) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let now = stored_rows(client).await;
        if now > before {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "no rows stored beyond {before} within 90 s\n{}",
            aggregator.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_and_restart_still_counts_exactly_once() {
    let mut env = TestEnv::new("agg_kill", 3).await;
    // Small batches, so a kill lands between many inserts and commits.
    env.config.aggregator.batch_max_rows = 150;
    env.config.aggregator.batch_max_ms = 100;
    let client = env.client();
    // Recent events: the restarted process seeds its duplicate filter from ClickHouse.
    let stream = generate(23, 900, now_ms() - 7_200_000, 8);
    let truth = Truth::of(&stream);
    let unique = unique_count(&stream);
    let third = stream.len() / 3;
    let brokers = env.config.kafka.brokers.clone();
    let topic = env.events.name().to_string();

    produce_events(&brokers, &topic, &stream[..third]).await;
    let first = Aggregator::spawn(&env, 1);
    // Keep producing while it runs; kill it as soon as it has stored something.
    let producing = tokio::spawn({
        let (brokers, topic) = (brokers.clone(), topic.clone());
        let chunk = stream[third..2 * third].to_vec();
        async move { produce_events(&brokers, &topic, &chunk).await }
    });
    let progress = wait_for_progress(&client, 0, &first).await;
    first.sigkill();
    producing.await.expect("producer task");
    wait_out_dead_member().await;

    let second = Aggregator::spawn(&env, 2);
    let producing = tokio::spawn({
        let (brokers, topic) = (brokers.clone(), topic.clone());
        let chunk = stream[2 * third..].to_vec();
        async move { produce_events(&brokers, &topic, &chunk).await }
    });
    wait_for_progress(&client, progress, &second).await;
    second.sigkill();
    producing.await.expect("producer task");
    wait_out_dead_member().await;

    let third_run = Aggregator::spawn(&env, 3);
    let reached = wait_for_summary(&client, Duration::from_secs(120), |s| {
        Truth::observed(s) == truth
    })
    .await;
    assert_eq!(
        Truth::observed(&reached),
        truth,
        "not exact after two SIGKILLs\n{}",
        third_run.log_text()
    );
    assert_converges_to(&client, &truth, Duration::from_secs(5)).await;
    third_run.sigterm_and_wait();

    let (rows, repeated) = stored_rows_and_repeated_ids(&client).await;
    assert_eq!((rows, repeated), (unique, 0), "one row per unique event");
}
