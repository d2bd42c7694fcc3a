//! Two aggregators in one consumer group: a second replica joins mid-stream and the first one
//! later leaves, so partitions move while batches are in flight. The statistics stay exact.

mod aggregator_common;

use std::time::{Duration, Instant};

use aggregator_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_moving_between_replicas_do_not_change_the_counts() {
    // Warnings (failed inserts, commit errors) help when this fails; RUST_LOG shows more.
    mailpulse_telemetry::init_logging("warn", "text");
    let mut env = TestEnv::new("agg_rebalance", 4).await;
    env.config.aggregator.batch_max_rows = 200;
    env.config.aggregator.batch_max_ms = 100;
    let client = env.client();
    let brokers = env.config.kafka.brokers.clone();
    let topic = env.events.name().to_string();
    let stream = generate(47, 900, now_ms() - 7_200_000, 6);
    let truth = Truth::of(&stream);
    let third = stream.len() / 3;

    produce_events(&brokers, &topic, &stream[..third]).await;
    let first = InProcess::start(&env.config);
    let deadline = Instant::now() + Duration::from_secs(60);
    while first.metrics.inserted.get() == 0 {
        assert!(
            Instant::now() < deadline,
            "the first replica stored nothing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A second replica joins while the first is busy: the group rebalances. Keep the stream
    // flowing in small steps until the newcomer has stored something of its own.
    let second = InProcess::start(&env.config);
    let mut next = third;
    let deadline = Instant::now() + Duration::from_secs(90);
    while second.metrics.inserted.get() == 0 {
        assert!(
            Instant::now() < deadline,
            "the second replica never got a partition to store"
        );
        let end = (next + 10).min(2 * third);
        if end > next {
            produce_events(&brokers, &topic, &stream[next..end]).await;
            next = end;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    produce_events(&brokers, &topic, &stream[next..2 * third]).await;

    // The first replica leaves; the second takes every partition.
    first.stop().await;
    produce_events(&brokers, &topic, &stream[2 * third..]).await;
    assert_converges_to(&client, &truth, Duration::from_secs(120)).await;
    second.stop().await;

    let (rows, repeated) = stored_rows_and_repeated_ids(&client).await;
    assert_eq!(
        (rows, repeated),
        (unique_count(&stream), 0),
        "one row per unique event"
    );
}
