//! A batch stuck in the aggregator's insert retry loop when an erasure runs must not bring the
//! erased subscriber back: the aggregator decides every pending row again right before each
//! INSERT attempt. The insert failures are staged on this test's own database (its `events`
//! table detached), not on the shared server.

mod privacy_common;

use std::time::Duration;

use mailpulse_privacy::Tracking;
use privacy_common::*;

const STUCK: &str = "subscriber-stuck-91c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_stuck_in_retries_is_rechecked_before_it_lands() {
    let env = Env::new("priv_stuck").await;
    let privacy = env.privacy();
    let client = env.client();
    let aggregator = Aggregator::start(&env.config);
    privacy
        .set_consent(TENANT, STUCK, Tracking::Granted, "test")
        .await
        .expect("consent");
    env.produce(&[open(TENANT, "c-warmup", STUCK)]).await;
    wait_until(
        Duration::from_secs(30),
        "the warm-up open is stored",
        || async { rows_with_key(&client, STUCK).await == 1 },
    )
    .await;

    // Inserts now fail: the batch with these opens waits in the retry loop, identified.
    client
        .query("DETACH TABLE events")
        .execute()
        .await
        .expect("events detached");
    let retries_before = aggregator.metrics.insert_retries.get();
    let consumed = aggregator.metrics.consumed.get();
    let stuck: Vec<_> = (0..50).map(|_| open(TENANT, "c-stuck", STUCK)).collect();
    env.produce(&stuck).await;
    aggregator
        .wait_consumed(consumed + 50, Duration::from_secs(30))
        .await;
    wait_until(Duration::from_secs(30), "the batch is retrying", || async {
        aggregator.metrics.insert_retries.get() > retries_before
    })
    .await;

    let receipt = privacy
        .forget(TENANT, STUCK)
        .await
        .expect("the erasure completes while the batch is stuck");
    assert!(
        receipt.removed.iter().all(|table| table.table != "events"),
        "events is detached, so not part of this erasure"
    );

    client
        .query("ATTACH TABLE events")
        .execute()
        .await
        .expect("events attached again");
    wait_until(Duration::from_secs(60), "the stuck batch lands", || async {
        campaign_rows(&client, "c-stuck").await == 50
    })
    .await;
    aggregator.stop().await;

    assert_eq!(
        count(
            &client,
            "SELECT count() FROM events WHERE campaign = 'c-stuck' AND subscriber_key = ''",
            &[]
        )
        .await,
        50,
        "the stuck rows landed anonymous"
    );
    assert_eq!(
        rows_with_key(&client, STUCK).await,
        1,
        "none of the stuck rows is identified: only the warm-up row, out of this erasure's \
         reach while events was detached"
    );

    // With events back, erasing again leaves only the erasure record.
    privacy
        .forget(TENANT, STUCK)
        .await
        .expect("second erasure completes");
    let hits = scan_strings(
        &client,
        env.db.name(),
        &privacy.subscriber_keys(TENANT, STUCK),
    )
    .await;
    assert_eq!(
        hits,
        vec![Hit {
            table: "consent_history".into(),
            column: "subscriber".into(),
            needle: STUCK.into(),
            rows: 1,
        }]
    );
}
