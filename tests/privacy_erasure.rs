//! Erasure against the real broker, ClickHouse and aggregator: every subscriber-level row goes
//! (under the id and under the pseudonym), and events still in flight in Kafka when the
//! erasure runs never bring a subscriber-level row back.

mod privacy_common;

use std::time::Duration;

use mailpulse_event::TrackingLevel;
use mailpulse_privacy::Tracking;
use privacy_common::*;

const FORGOTTEN: &str = "subscriber-erase-7f3a";
const BYSTANDER: &str = "bystander-2b";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_with_events_in_flight_leaves_only_the_erasure_record() {
    let env = Env::new("priv_erase").await;
    let privacy = env.privacy();
    let client = env.client();
    let keys = privacy.subscriber_keys(TENANT, FORGOTTEN);
    let pseudonym = keys[1].clone();

    // History: stored pseudonymous in one campaign, identified in another; a bystander too.
    let aggregator = Aggregator::start(&env.config);
    privacy
        .set_consent(
            TENANT,
            FORGOTTEN,
            Tracking::Level(TrackingLevel::Pseudonymous),
            "test",
        )
        .await
        .expect("consent set");
    privacy
        .set_consent(TENANT, BYSTANDER, Tracking::Granted, "test")
        .await
        .expect("consent set");
    let mut first = Vec::new();
    for _ in 0..20 {
        first.push(open(TENANT, "c-pseudo", FORGOTTEN));
        first.push(open(TENANT, "c-pseudo", BYSTANDER));
    }
    env.produce(&first).await;
    wait_until(
        Duration::from_secs(30),
        "pseudonymous rows stored",
        || async {
            rows_with_key(&client, &pseudonym).await == 20
                && rows_with_key(&client, BYSTANDER).await == 20
        },
    )
    .await;
    privacy
        .set_consent(TENANT, FORGOTTEN, Tracking::Granted, "test")
        .await
        .expect("consent set");
    let identified: Vec<_> = (0..20)
        .map(|_| open(TENANT, "c-ident", FORGOTTEN))
        .collect();
    env.produce(&identified).await;
    wait_until(
        Duration::from_secs(30),
        "identified rows stored",
        // `inserted` counts after each INSERT returned, views included.
        || async { aggregator.metrics.inserted.get() == 60 },
    )
    .await;
    // Any table keyed by subscriber is covered, not just the ones known today.
    client
        .query(
            "CREATE TABLE signups (tenant String, subscriber_key String, list String) \
             ENGINE = MergeTree ORDER BY tenant",
        )
        .execute()
        .await
        .expect("table created");
    client
        .query("INSERT INTO signups VALUES (?, ?, 'weekly'), (?, ?, 'weekly')")
        .bind(TENANT)
        .bind(pseudonym.as_str())
        .bind(TENANT)
        .bind(BYSTANDER)
        .execute()
        .await
        .expect("rows inserted");
    let before = scan_strings(&client, env.db.name(), &keys).await;
    let tables_before: Vec<&str> = before.iter().map(|hit| hit.table.as_str()).collect();
    for table in ["events", "campaign_uniques", "consent_history", "signups"] {
        assert!(
            tables_before.contains(&table),
            "traces in {table} before: {before:?}"
        );
    }
    aggregator.stop().await;

    // In flight: a burst waits in Kafka while the aggregator is down, and a second burst is
    // produced while the erasure runs.
    let burst: Vec<_> = (0..3000)
        .map(|_| open(TENANT, "c-burst", FORGOTTEN))
        .collect();
    env.produce(&burst).await;
    let aggregator = Aggregator::start(&env.config);
    let late: Vec<_> = (0..2000)
        .map(|_| open(TENANT, "c-burst", FORGOTTEN))
        .collect();
    let late_producer = {
        let brokers = env.config.kafka.brokers.clone();
        let topic = env.events.name().to_string();
        tokio::spawn(async move {
            for chunk in late.chunks(200) {
                produce_events(&brokers, &topic, chunk).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let receipt = privacy
        .forget(TENANT, FORGOTTEN)
        .await
        .expect("the erasure completes");
    let consumed_at_receipt = aggregator.metrics.consumed.get();
    late_producer.await.expect("late burst produced");
    let total = 3000 + 2000;
    assert!(
        consumed_at_receipt < total,
        "events were still in flight when the erasure finished ({consumed_at_receipt} of {total} consumed)"
    );
    aggregator
        .wait_consumed(total, Duration::from_secs(90))
        .await;
    // A clean stop stores the last batch: everything consumed is now stored or dropped.
    aggregator.stop().await;

    let events_removed = receipt
        .removed
        .iter()
        .find(|table| table.table == "events")
        .map(|table| table.rows);
    assert!(
        events_removed >= Some(40),
        "the receipt counts the stored rows it removed: {receipt:?}"
    );
    assert_eq!(
        receipt
            .removed
            .iter()
            .find(|table| table.table == "consent_history")
            .map(|table| table.rows),
        Some(2),
        "both grants removed, the erasure's denial kept"
    );
    assert_eq!(
        receipt
            .removed
            .iter()
            .find(|table| table.table == "signups")
            .map(|table| table.rows),
        Some(1)
    );
    assert!(receipt.completed_at_ms >= receipt.requested_at_ms);

    let after = scan_strings(&client, env.db.name(), &keys).await;
    assert_eq!(
        after,
        vec![Hit {
            table: "consent_history".into(),
            column: "subscriber".into(),
            needle: FORGOTTEN.into(),
            rows: 1,
        }],
        "only the erasure record names the subscriber; the pseudonym is nowhere"
    );
    assert_eq!(
        count(
            &client,
            "SELECT count() FROM consent_history WHERE subscriber = ? \
             AND state = 'denied' AND source = 'erasure'",
            &[FORGOTTEN],
        )
        .await,
        1
    );
    let anonymous_burst = count(
        &client,
        "SELECT count() FROM events WHERE campaign = 'c-burst' AND subscriber_key = ''",
        &[],
    )
    .await;
    assert!(
        anonymous_burst > 0,
        "in-flight events were still counted, anonymously"
    );
    assert_eq!(
        rows_with_key(&client, BYSTANDER).await,
        20,
        "the bystander's rows are untouched"
    );
}
