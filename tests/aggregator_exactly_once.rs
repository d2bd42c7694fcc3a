//! A generated stream with known truth — duplicates produced upstream (same event id twice,
//! near and far apart) and a full redelivery (a consumer that never committed) — gives exactly
//! the true statistics, against the real broker and ClickHouse.

mod aggregator_common;

use std::time::Duration;

use aggregator_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_and_redeliveries_are_counted_exactly_once() {
    let env = TestEnv::new("agg_exact", 3).await;
    // Three days old: outside the duplicate filter's seeding window, so the second run below
    // must rely on the watermark, not on remembered ids.
    let base = now_ms() - 3 * 86_400_000;
    let stream = generate(11, 300, base, 8);
    let truth = Truth::of(&stream);
    let unique = unique_count(&stream);
    assert!(stream.len() as u64 > unique, "the stream has duplicates");
    assert!(truth.opens_machine > 0 && truth.clicks_machine > 0 && truth.unsubscribes > 0);

    produce_events(&env.config.kafka.brokers, env.events.name(), &stream).await;
    let first = InProcess::start(&env.config);
    assert_converges_to(&env.client(), &truth, Duration::from_secs(60)).await;
    let duplicates_caught = first.skipped("event_id");
    first.stop().await;
    assert_eq!(
        duplicates_caught,
        stream.len() as u64 - unique,
        "every upstream duplicate was recognised by id"
    );

    // A consumer that stored everything but never committed: a new group reads it all again.
    let mut again = env.config.clone();
    again.aggregator.group_id = mailpulse_testkit::unique_group_id("agg_exact_again");
    let second = InProcess::start(&again);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while second.metrics.consumed.get() < stream.len() as u64 {
        assert!(
            std::time::Instant::now() < deadline,
            "the redelivery was not consumed within 60 s ({} of {})",
            second.metrics.consumed.get(),
            stream.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_converges_to(&env.client(), &truth, Duration::from_secs(10)).await;
    let by_offset = second.skipped("offset");
    let by_id = second.skipped("event_id");
    second.stop().await;
    assert_eq!(
        by_offset + by_id,
        stream.len() as u64,
        "every redelivered message was skipped"
    );
    assert!(
        by_offset >= unique,
        "the watermark recognised the stored events"
    );

    let (rows, repeated) = stored_rows_and_repeated_ids(&env.client()).await;
    assert_eq!((rows, repeated), (unique, 0), "one row per unique event");
}
