//! Delivery statuses end to end on the real stack: a JSONL batch ingested onto the deliveries
//! topic, consumed by an in-process aggregator into `deliveries` / `delivery_daily`, and the
//! campaign summary's `delivered` (the open-rate denominator) exact despite a batch sent twice.
//! Subscriber ids and addresses in bounce reasons never reach ClickHouse.

mod aggregator_common;

use std::time::Duration;

use aggregator_common::{
    event, now_ms, produce_events, wait_for_summary, InProcess, TestEnv, CAMPAIGN, TENANT,
};
use mailpulse_aggregator::delivery_ingest::DeliveryIngest;
use mailpulse_aggregator::AggregatorError;
use mailpulse_event::EventKind;
use mailpulse_store::deliveries::{DeliveryCounts, DeliveryRow, DELIVERY_COUNTS_SQL};
use mailpulse_store::wire::{compare, describe_query, describe_table};

fn status_line(subscriber: &str, status: &str, reason: Option<&str>) -> String {
    let reason = reason.map_or(String::new(), |r| {
        format!(",\"reason\":{}", serde_json::json!(r))
    });
    format!(
        "{{\"v\":1,\"tenant\":\"{TENANT}\",\"campaign\":\"{CAMPAIGN}\",\"subscriber\":\"{subscriber}\",\
         \"status\":\"{status}\",\"ts_ms\":{}{reason}}}",
        now_ms()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn delivered_counts_come_from_ingested_statuses_exactly_once() {
    let env = TestEnv::new("tk_deliveries", 2).await;
    // TestEnv created the deliveries topic already.
    let client = env.client();

    // The row and result types fit the migrated schema.
    let sample = DeliveryRow {
        tenant: "",
        campaign: "",
        status: 1,
        subscriber_key: "",
        ts: 0,
        reason: "",
        ingested_at: 0,
    };
    let table = describe_table(&client, "deliveries")
        .await
        .expect("described");
    assert_eq!(compare(&sample, &table), Vec::<String>::new());
    let sql = client
        .query(DELIVERY_COUNTS_SQL)
        .bind(TENANT)
        .bind(CAMPAIGN)
        .sql_display()
        .to_string();
    let header = describe_query(&client, &sql)
        .await
        .expect("query described");
    assert_eq!(
        compare(&DeliveryCounts::default(), &header),
        Vec::<String>::new()
    );

    // Six recipients sent; five delivered, one bounced (its SMTP reply names the address), one
    // complained after delivery.
    let mut lines: Vec<String> = (1..=6)
        .map(|i| status_line(&format!("d-{i}"), "sent", None))
        .collect();
    lines.extend((1..=5).map(|i| status_line(&format!("d-{i}"), "delivered", None)));
    lines.push(status_line(
        "d-6",
        "bounced",
        Some("550 5.1.1 <d6.person@example.org>: Recipient address rejected"),
    ));
    lines.push(status_line("d-2", "complained", Some("abuse")));
    let batch = lines.join("\n");

    let ingest = DeliveryIngest::new(&env.config.kafka).expect("producer");
    // A bad line refuses the whole batch and names it.
    let broken = format!("{}\n{{\"v\":1}}\n", lines[0]);
    match ingest.ingest_jsonl(broken.as_bytes()).await {
        Err(AggregatorError::InvalidDeliveries(reason)) => {
            assert!(reason.starts_with("line 2:"), "{reason}")
        }
        other => panic!("a bad batch was not refused: {other:?}"),
    }
    // The same batch twice, as a sender retrying after a timeout would.
    assert_eq!(
        ingest
            .ingest_jsonl(batch.as_bytes())
            .await
            .expect("ingested"),
        13
    );
    assert_eq!(
        ingest
            .ingest_jsonl(batch.as_bytes())
            .await
            .expect("ingested again"),
        13
    );

    // Opens of three delivered recipients.
    let opens: Vec<_> = ["d-1", "d-2", "d-3"]
        .iter()
        .map(|s| event(EventKind::Open, s, now_ms()))
        .collect();
    produce_events(&env.config.kafka.brokers, env.events.name(), &opens).await;

    let aggregator = InProcess::start(&env.config);
    let summary = wait_for_summary(&client, Duration::from_secs(60), |s| {
        s.delivered == 5 && s.opens_unique_human == 3 && s.complained == 1
    })
    .await;
    assert_eq!(
        (
            summary.sent,
            summary.delivered,
            summary.bounced,
            summary.complained
        ),
        (6, 5, 1, 1),
        "exact per-status recipients despite the batch arriving twice"
    );
    assert_eq!(summary.opens_unique_human, 3);
    // Give a late double count time to show, then check again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let again = mailpulse_store::stats::campaign_summary(&client, TENANT, CAMPAIGN)
        .await
        .expect("summary");
    assert_eq!((again.sent, again.delivered), (6, 5));

    // The daily aggregate agrees.
    let daily: u64 = client
        .query(
            "SELECT uniqMerge(recipients) FROM delivery_daily \
             WHERE tenant = ? AND campaign = ? AND status = 'delivered'",
        )
        .bind(TENANT)
        .bind(CAMPAIGN)
        .fetch_one()
        .await
        .expect("daily recipients");
    assert_eq!(daily, 5);

    // No subscriber id and no address in the table; keys are 32-hex pseudonyms.
    #[derive(Debug, serde::Deserialize, clickhouse::Row)]
    struct Stored {
        subscriber_key: String,
        reason: String,
    }
    let stored = client
        .query("SELECT subscriber_key, reason FROM deliveries WHERE tenant = ? AND campaign = ?")
        .bind(TENANT)
        .bind(CAMPAIGN)
        .fetch_all::<Stored>()
        .await
        .expect("deliveries readable");
    assert!(stored.len() >= 13);
    for row in &stored {
        assert!(
            row.subscriber_key.len() == 32
                && row.subscriber_key.bytes().all(|b| b.is_ascii_hexdigit()),
            "{row:?}"
        );
        assert!(!row.reason.contains('@'), "{row:?}");
    }
    assert!(stored
        .iter()
        .any(|row| row.reason == "550 5.1.1 <redacted> Recipient address rejected"));

    aggregator.stop().await;
}
