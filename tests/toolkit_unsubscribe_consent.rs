//! One-click unsubscribe end to end on the real stack: a toolkit-minted `/u/` URL POSTed to a
//! real edge, the event through Kafka into an in-process aggregator, the unsubscribe stored in
//! ClickHouse, a consent record (`marketing: unsubscribed`, `state: denied`) on the consent
//! topic, and the subscriber's later opens stored without their id.

mod aggregator_common;
mod common;
mod toolkit_common;

use std::time::{Duration, Instant};

use aggregator_common::{InProcess, TestEnv, CAMPAIGN, TENANT};
use common::{get, path_of, RunningEdge};
use hyper::StatusCode;
use mailpulse_event::{ConsentRecord, ConsentState, MarketingConsent};
use mailpulse_testkit::{consume, TestTopic};
use mailpulse_toolkit::{Recipient, RewriteOptions, Rewriter, UrlMinter};
use toolkit_common::{keyring, post};

const SUBSCRIBER: &str = "sub-unsubscribes";

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, clickhouse::Row)]
struct StoredEvent {
    kind: String,
    subscriber_key: String,
    tracking_level: String,
}

async fn stored_events(env: &TestEnv) -> Vec<StoredEvent> {
    env.client()
        .query(
            "SELECT toString(kind) AS kind, subscriber_key, toString(tracking_level) AS tracking_level \
             FROM events WHERE tenant = ? AND campaign = ? ORDER BY kind",
        )
        .bind(TENANT)
        .bind(CAMPAIGN)
        .fetch_all::<StoredEvent>()
        .await
        .expect("events readable")
}

/// Polls until `done` holds for the stored events (or fails after 60 s).
async fn wait_for_events(
    env: &TestEnv,
    what: &str,
    done: impl Fn(&[StoredEvent]) -> bool,
) -> Vec<StoredEvent> {
    let started = Instant::now();
    loop {
        let events = stored_events(env).await;
        if done(&events) {
            return events;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what}: still {events:?} after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_click_unsubscribe_is_stored_and_withdraws_consent() {
    // Legitimate interest: the subscriber is tracked (identified) until they object.
    let env = TestEnv::new("tk_unsub_consent", 2).await;
    let _salt = TestTopic::with_name(&env.config.kafka.salt_topic, 1)
        .await
        .expect("salt topic");
    let edge = RunningEdge::start(&env.config).await;
    let aggregator = InProcess::start(&env.config);

    let minter = UrlMinter::new("http://edge.test", keyring()).expect("minter");
    let rewriter = Rewriter::new(minter, RewriteOptions::default()).expect("rewriter");
    let recipient = Recipient {
        tenant: TENANT,
        campaign: CAMPAIGN,
        subscriber: SUBSCRIBER,
    };
    let html = rewriter
        .rewrite_html(
            b"<body><a href=\"{{unsubscribe}}\">Unsubscribe</a></body>",
            &recipient,
        )
        .expect("rewrites");
    let html = String::from_utf8(html).expect("utf-8");
    let url_of = |route: &str| {
        let start = html
            .find(&format!("http://edge.test/{route}/"))
            .expect("tracking URL");
        html[start..]
            .split('"')
            .next()
            .expect("attribute value")
            .to_string()
    };
    let pixel = path_of(&url_of("o"));
    let unsubscribe = path_of(&url_of("u"));

    let human = [("user-agent", aggregator_common::HUMAN_UA)];
    assert_eq!(get(edge.addr, &pixel, &human).await.status, StatusCode::OK);
    // Let the open land first: rows still waiting in a batch are re-gated right before their
    // INSERT, so an open sharing a batch with the unsubscribe would be stored anonymously.
    wait_for_events(&env, "first open stored", |events| {
        events.iter().any(|e| e.kind == "open")
    })
    .await;
    let (status, _) = post(
        edge.addr,
        &unsubscribe,
        Some("application/x-www-form-urlencoded"),
        "List-Unsubscribe=One-Click",
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // The aggregator publishes the withdrawal on the consent topic.
    let consent = consume(env.consent.name(), 1, Duration::from_secs(60))
        .await
        .expect("consume consent topic");
    assert_eq!(consent.len(), 1, "one consent record for one unsubscribe");
    assert_eq!(
        consent[0].key.as_deref(),
        Some(ConsentRecord::key(TENANT, SUBSCRIBER).as_bytes())
    );
    let record = ConsentRecord::from_json(consent[0].payload.as_deref().expect("payload"))
        .expect("a valid consent record");
    assert_eq!(record.marketing, Some(MarketingConsent::Unsubscribed));
    assert_eq!(record.state, ConsentState::Denied);
    assert_eq!(record.source, "unsubscribe");

    // Both events are stored; the open before the unsubscribe under the subscriber's id.
    let stored = wait_for_events(&env, "open and unsubscribe stored", |events| {
        events.iter().any(|e| e.kind == "unsubscribe") && events.iter().any(|e| e.kind == "open")
    })
    .await;
    let open = stored.iter().find(|e| e.kind == "open").expect("open");
    assert_eq!(
        (open.subscriber_key.as_str(), open.tracking_level.as_str()),
        (SUBSCRIBER, "identified")
    );

    // Once the consent book has the withdrawal, the same subscriber's next open is anonymous.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(get(edge.addr, &pixel, &human).await.status, StatusCode::OK);
    let stored = wait_for_events(&env, "second open stored", |events| {
        events.iter().filter(|e| e.kind == "open").count() == 2
    })
    .await;
    // Anonymous rows carry a coarsened time, so tell the opens apart by what they store: the
    // first was seen identified above, so the other one is the later open.
    let mut opens: Vec<(&str, &str)> = stored
        .iter()
        .filter(|e| e.kind == "open")
        .map(|e| (e.subscriber_key.as_str(), e.tracking_level.as_str()))
        .collect();
    opens.sort();
    assert_eq!(
        opens,
        [("", "anonymous"), (SUBSCRIBER, "identified")],
        "no subscriber id after the unsubscribe"
    );

    aggregator.stop().await;
    edge.stop().await;
}
