//! Consent gating against the real stack: subscribers without consent leave no trace of their
//! id in any table, their events count per policy, and a consent change applies to the events
//! processed after it.

mod aggregator_common;

use std::time::{Duration, Instant};

use aggregator_common::*;
use mailpulse_config::{ConsentBasis, UnconsentedPolicy};
use mailpulse_event::{ConsentRecord, ConsentState, Event, EventKind, TrackingLevel};
use mailpulse_store::Client;

fn consent(subscriber: &str, state: ConsentState, level: Option<TrackingLevel>) -> ConsentRecord {
    ConsentRecord {
        v: 1,
        tenant: TENANT.into(),
        subscriber: subscriber.into(),
        state,
        level,
        ts_ms: now_ms(),
        source: "test".into(),
        marketing: None,
    }
}

/// An open then a click on `link-0`, a minute apart.
fn open_and_click(subscriber: &str, ts_ms: u64) -> Vec<Event> {
    let open = event(EventKind::Open, subscriber, ts_ms);
    let mut click = event(EventKind::Click, subscriber, ts_ms + 60_000);
    click.link = Some("link-0".into());
    click.url = Some("https://example.com/0".into());
    vec![open, click]
}

/// Rows, in any table of the database, with `needle` inside any String column.
async fn rows_mentioning(client: &Client, database: &str, needle: &str) -> Vec<String> {
    #[derive(Debug, serde::Deserialize, clickhouse::Row)]
    struct Column {
        table: String,
        name: String,
    }
    let columns = client
        .query(
            "SELECT table, name FROM system.columns WHERE database = ? AND type = 'String' \
             AND table IN (SELECT name FROM system.tables WHERE database = ? \
                           AND engine != 'MaterializedView')",
        )
        .bind(database)
        .bind(database)
        .fetch_all::<Column>()
        .await
        .expect("system.columns readable");
    assert!(columns.len() > 10, "the schema's String columns were found");
    let mut found = Vec::new();
    for column in columns {
        let count = client
            .query(&format!(
                "SELECT count() FROM {} WHERE position({}, ?) > 0",
                column.table, column.name
            ))
            .bind(needle)
            .fetch_one::<u64>()
            .await
            .expect("column readable");
        if count > 0 {
            found.push(format!("{}.{} ({count} rows)", column.table, column.name));
        }
    }
    found
}

async fn wait_until(what: &str, timeout: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done().await {
        assert!(Instant::now() < deadline, "{what} within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opt_in_keeps_unconsented_subscribers_anonymous() {
    let mut env = TestEnv::new("agg_consent", 2).await;
    env.config.privacy.default_basis = ConsentBasis::OptIn;
    env.config.privacy.default_unconsented = UnconsentedPolicy::Aggregate;
    let brokers = env.config.kafka.brokers.clone();
    let client = env.client();
    let database = env.config.clickhouse.database.clone();
    let records = [
        consent("c-granted", ConsentState::Granted, None),
        consent(
            "c-pseudo",
            ConsentState::Granted,
            Some(TrackingLevel::Pseudonymous),
        ),
        consent("c-denied", ConsentState::Denied, None),
        consent(
            "c-restricted",
            ConsentState::Restricted,
            Some(TrackingLevel::Identified),
        ),
        consent("c-dnt", ConsentState::Granted, None),
        consent("c-late", ConsentState::Granted, None),
    ];
    // Consent first: the aggregator must load it before counting any event.
    produce_consent(&brokers, env.consent.name(), &records).await;

    let base = now_ms() - 7_200_000;
    let mut first = Vec::new();
    for (i, subscriber) in [
        "c-granted",
        "c-pseudo",
        "c-denied",
        "c-restricted",
        "c-none",
        "c-late",
    ]
    .iter()
    .enumerate()
    {
        first.extend(open_and_click(subscriber, base + i as u64 * 1000));
    }
    let mut dnt = open_and_click("c-dnt", base + 10_000);
    dnt[0].dnt = true;
    dnt[1].gpc = true;
    first.extend(dnt);
    produce_events(&brokers, env.events.name(), &first).await;

    let aggregator = InProcess::start(&env.config);
    // Identified: c-granted, c-late; pseudonymous: c-pseudo. Everyone else is anonymous.
    let summary = wait_for_summary(&client, Duration::from_secs(60), |s| s.opens_total == 7).await;
    assert_eq!(
        (summary.opens_total, summary.clicks_total),
        (7, 7),
        "all counted"
    );
    assert_eq!(
        (summary.opens_unique, summary.clicks_unique),
        (3, 3),
        "only consented are unique"
    );

    // Withdrawn later: events after the change are anonymous.
    let applied = aggregator.metrics.consent_records.get();
    produce_consent(
        &brokers,
        env.consent.name(),
        &[consent("c-late", ConsentState::Denied, None)],
    )
    .await;
    wait_until(
        "the withdrawal is applied",
        Duration::from_secs(10),
        async || aggregator.metrics.consent_records.get() > applied,
    )
    .await;
    let mut later = open_and_click("c-late", base + 3_600_000);
    later.extend(open_and_click("c-granted", base + 3_600_000));
    produce_events(&brokers, env.events.name(), &later).await;
    let summary = wait_for_summary(&client, Duration::from_secs(60), |s| s.opens_total == 9).await;
    assert_eq!((summary.opens_total, summary.clicks_total), (9, 9));
    assert_eq!(
        summary.opens_unique, 3,
        "c-late's new open is not a known subscriber's"
    );
    aggregator.stop().await;

    for subscriber in ["c-pseudo", "c-denied", "c-restricted", "c-none", "c-dnt"] {
        let found = rows_mentioning(&client, &database, subscriber).await;
        assert!(found.is_empty(), "{subscriber} appears in {found:?}");
    }
    let late_identified = client
        .query("SELECT count() FROM events WHERE subscriber_key = 'c-late'")
        .fetch_one::<u64>()
        .await
        .expect("events readable");
    assert_eq!(
        late_identified, 2,
        "only the events before the withdrawal name c-late"
    );

    #[derive(Debug, serde::Deserialize, clickhouse::Row)]
    struct Anonymous {
        rows: u64,
        not_on_the_hour: u64,
        with_visitor: u64,
    }
    let anonymous = client
        .query(
            "SELECT count() AS rows, countIf(toMinute(ts) != 0 OR toSecond(ts) != 0) \
             AS not_on_the_hour, countIf(visitor != '') AS with_visitor \
             FROM events WHERE tracking_level = 'anonymous'",
        )
        .fetch_one::<Anonymous>()
        .await
        .expect("events readable");
    assert_eq!(
        anonymous.rows, 10,
        "denied, restricted, none, dnt, and c-late after"
    );
    assert_eq!((anonymous.not_on_the_hour, anonymous.with_visitor), (0, 0));
    let original_ids: Vec<String> = first.iter().map(|e| e.id.to_string()).collect();
    let stored_original = client
        .query("SELECT count() FROM events WHERE tracking_level = 'anonymous' AND has(?, toString(event_id))")
        .bind(original_ids)
        .fetch_one::<u64>()
        .await
        .expect("events readable");
    assert_eq!(
        stored_original, 0,
        "anonymous rows do not keep the time-revealing event id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_policy_stores_nothing_of_unconsented_subscribers() {
    let mut env = TestEnv::new("agg_consent_drop", 2).await;
    env.config.privacy.default_basis = ConsentBasis::OptIn;
    env.config.privacy.default_unconsented = UnconsentedPolicy::Drop;
    let brokers = env.config.kafka.brokers.clone();
    let client = env.client();
    produce_consent(
        &brokers,
        env.consent.name(),
        &[
            consent("d-granted", ConsentState::Granted, None),
            consent("d-denied", ConsentState::Denied, None),
        ],
    )
    .await;
    let base = now_ms() - 7_200_000;
    let mut events = open_and_click("d-granted", base);
    events.extend(open_and_click("d-denied", base));
    events.extend(open_and_click("d-none", base));
    produce_events(&brokers, env.events.name(), &events).await;

    let aggregator = InProcess::start(&env.config);
    wait_until(
        "every event is handled",
        Duration::from_secs(60),
        async || {
            aggregator.metrics.consumed.get() == events.len() as u64
                && aggregator.metrics.batches.get() > 0
        },
    )
    .await;
    let summary = wait_for_summary(&client, Duration::from_secs(10), |s| s.opens_total > 0).await;
    assert_eq!(aggregator.skipped("consent"), 4);
    aggregator.stop().await;
    assert_eq!(
        (summary.opens_total, summary.clicks_total),
        (1, 1),
        "only d-granted counts"
    );
    assert_eq!((summary.opens_unique, summary.clicks_unique), (1, 1));
    let stored = client
        .query("SELECT count() FROM events")
        .fetch_one::<u64>()
        .await
        .expect("events readable");
    assert_eq!(stored, 2);
    for subscriber in ["d-denied", "d-none"] {
        let found = rows_mentioning(&client, &env.config.clickhouse.database, subscriber).await;
        assert!(found.is_empty(), "{subscriber} appears in {found:?}");
    }
}
