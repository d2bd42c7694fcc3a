//! Delivery statuses and the campaign summary's `delivered`.
//!
//! - `POST /v1/deliveries` on the real stack: JSON Lines → Kafka → the aggregator (in process)
//!   → ClickHouse → the summary. A batch with bad lines is refused whole with every bad line
//!   named; a key can never write another tenant's statuses; a resent batch counts once.
//! - The rule for `delivered` against a seeded truth: distinct recipients with a `delivered`
//!   status when there are any, else the campaign-level PUT count, else null; and every rate
//!   over it.

mod api_common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use api_common::*;
use hyper::Method;
use mailpulse_event::DeliveryStatus;
use mailpulse_store::deliveries::{insert_deliveries, status_code, DeliveryRow};
use serde_json::Value;

const TENANT: &str = "acme";
const OTHER: &str = "globex";
const NDJSON: &str = "application/x-ndjson";

/// One status line; `tenant` left out when `None`.
fn status_line(tenant: Option<&str>, campaign: &str, subscriber: &str, status: &str) -> String {
    let mut line = serde_json::json!({
        "v": 1,
        "campaign": campaign,
        "subscriber": subscriber,
        "status": status,
        "ts_ms": u64::from(SEED_START) * 1000 + 3_600_000,
    });
    if let Some(tenant) = tenant {
        line["tenant"] = Value::from(tenant);
    }
    if status == "bounced" {
        line["reason"] = Value::from(format!("550 5.1.1 <{subscriber}@example.org>: unknown"));
    }
    line.to_string()
}

/// Asserts every rate of a summary equals its formula over the seeded truth and `delivered`.
fn assert_rates(s: &Value, truth: &Truth, delivered: Option<u64>, what: &str) {
    assert_eq!(s["delivered"].as_u64(), delivered, "{what}: delivered");
    let cases = [
        ("open_rate_human", truth.opens_unique_human, delivered),
        (
            "click_through_rate_human",
            truth.clicks_unique_human,
            delivered,
        ),
        (
            "click_to_open_rate_human",
            truth.clicks_unique_human,
            Some(truth.opens_unique_human),
        ),
        ("open_rate", truth.opens_unique, delivered),
        ("click_through_rate", truth.clicks_unique, delivered),
        (
            "click_to_open_rate",
            truth.clicks_unique,
            Some(truth.opens_unique),
        ),
    ];
    for (field, numerator, denominator) in cases {
        assert_rate(
            rate(s, field),
            numerator,
            denominator,
            &format!("{what}: {field}"),
        );
    }
}

/// Polls the summary until `done` holds.
async fn wait_for_summary(
    env: &ApiEnv,
    path: &str,
    key: &str,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let answer = env.get(path, key).await;
        if answer.status == 200 && done(&answer.json()) {
            return answer.json();
        }
        assert!(
            Instant::now() < deadline,
            "{path} did not converge within {timeout:?}: {} {}",
            answer.status,
            answer.text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_statuses_flow_through_kafka_and_the_aggregator_into_the_summary() {
    let mut env = ApiEnv::start_with_kafka("api_dlv_http").await;
    let events = generate(21, TENANT, "spring", 1_200, 24);
    insert(env.client(), &events).await;
    let truth = Truth::of(&events, TENANT, "spring");
    let key = env.key(TENANT).await;
    let other_key = env.key(OTHER).await;
    let summary_path = "/v1/campaigns/spring";

    // A campaign-level count first: per-recipient statuses will take over from it.
    let put = env
        .send(
            Method::PUT,
            "/v1/campaigns/spring/deliveries",
            &key,
            "application/json",
            r#"{"delivered": 10000}"#,
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text());

    // 60 recipients sent, 52 delivered, 8 bounced, 2 complaints; `tenant` named on some lines
    // (the key's own) and left out on others.
    let mut lines = Vec::new();
    let mut delivered_truth = BTreeSet::new();
    for i in 0..60 {
        let subscriber = format!("dlv-{i}");
        let tenant = (i % 2 == 0).then_some(TENANT);
        lines.push(status_line(tenant, "spring", &subscriber, "sent"));
        if i < 52 {
            lines.push(status_line(tenant, "spring", &subscriber, "delivered"));
            delivered_truth.insert(subscriber.clone());
        } else {
            lines.push(status_line(tenant, "spring", &subscriber, "bounced"));
        }
        if i < 2 {
            lines.push(status_line(tenant, "spring", &subscriber, "complained"));
        }
    }
    let batch = lines.join("\n") + "\n";

    // Refused whole, every bad line named: another tenant, not JSON, an unknown status, a
    // missing field. Its one valid new recipient (`ghost`) must never be counted.
    let refused_batch = [
        status_line(None, "spring", "ghost", "delivered"),
        status_line(Some(OTHER), "spring", "dlv-1", "delivered"),
        String::new(),
        "{not json".to_string(),
        status_line(None, "spring", "dlv-2", "opened"),
        r#"{"v":1,"campaign":"spring","status":"sent","ts_ms":1}"#.to_string(),
    ]
    .join("\n");
    let refused = env
        .send(Method::POST, "/v1/deliveries", &key, NDJSON, &refused_batch)
        .await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert_eq!(refused.error_code(), "malformed_deliveries");
    let report = &refused.json()["report"];
    let named: Vec<(u64, &str)> = report["errors"]
        .as_array()
        .expect("per-line errors")
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().expect("line"),
                e["code"].as_str().expect("code"),
            )
        })
        .collect();
    assert_eq!(
        named,
        vec![
            (2, "other_tenant"),
            (4, "malformed_json"),
            (5, "invalid_status"),
            (6, "invalid_status"),
        ]
    );
    assert_eq!((n(report, "lines"), n(report, "valid")), (5, 1));

    // Another tenant's key cannot name this tenant; its own statuses stay its own.
    let cross = env
        .send(
            Method::POST,
            "/v1/deliveries",
            &other_key,
            NDJSON,
            &status_line(Some(TENANT), "spring", "dlv-1", "delivered"),
        )
        .await;
    assert_eq!(cross.status, 422);
    assert_eq!(cross.json()["report"]["errors"][0]["code"], "other_tenant");
    let globex_batch: Vec<String> = (0..7)
        .map(|i| status_line(None, "spring", &format!("g-{i}"), "delivered"))
        .collect();
    let globex = env
        .send(
            Method::POST,
            "/v1/deliveries",
            &other_key,
            NDJSON,
            &globex_batch.join("\n"),
        )
        .await;
    assert_eq!(globex.status, 202, "{}", globex.text());
    assert_eq!(globex.json()["tenant"], OTHER);

    // No key: refused before anything is read.
    let anonymous = request(env.addr, Method::POST, "/v1/deliveries", &[], &batch).await;
    assert_eq!(anonymous.status, 401);

    // The good batch, twice (a sender retrying after a timeout).
    for attempt in ["first", "resent"] {
        let accepted = env
            .send(Method::POST, "/v1/deliveries", &key, NDJSON, &batch)
            .await;
        assert_eq!(accepted.status, 202, "{attempt}: {}", accepted.text());
        assert_eq!(n(&accepted.json(), "accepted"), lines.len() as u64);
        assert_eq!(accepted.json()["tenant"], TENANT);
    }

    let aggregator = Aggregator::start(&env.config);
    let expected = delivered_truth.len() as u64;
    let s = wait_for_summary(&env, summary_path, &key, Duration::from_secs(90), |s| {
        s["delivered"].as_u64() == Some(expected)
    })
    .await;
    assert_rates(&s, &truth, Some(expected), "per-recipient delivered");
    let g = wait_for_summary(
        &env,
        summary_path,
        &other_key,
        Duration::from_secs(60),
        |s| s["delivered"].as_u64() == Some(7),
    )
    .await;
    assert_eq!(n(&g, "opens_total"), 0, "globex has no events of its own");
    // Late duplicates would show by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let again = env.get(summary_path, &key).await.json();
    assert_eq!(again["delivered"].as_u64(), Some(expected));
    let listed = env.get("/v1/campaigns", &key).await.json();
    assert_eq!(listed["campaigns"][0]["delivered"].as_u64(), Some(expected));
    aggregator.stop().await;

    // Subscriber ids and addresses stayed out of ClickHouse.
    let leaked: u64 = env
        .client()
        .query(
            "SELECT count() FROM deliveries \
             WHERE subscriber_key LIKE '%dlv-%' OR reason LIKE '%@%'",
        )
        .fetch_one()
        .await
        .expect("deliveries readable");
    assert_eq!(leaked, 0);
    env.stop().await;
}

/// Seeded per-recipient rows of one campaign.
fn recipient_rows<'a>(
    campaign: &'a str,
    statuses: &'a [(String, DeliveryStatus, u32)],
) -> impl Iterator<Item = DeliveryRow<'a>> + Send + 'a {
    statuses
        .iter()
        .map(move |(subscriber_key, status, ts)| DeliveryRow {
            tenant: TENANT,
            campaign,
            status: status_code(*status),
            subscriber_key,
            ts: *ts,
            reason: "",
            ingested_at: *ts,
        })
}

async fn seed_statuses(env: &ApiEnv, campaign: &str, statuses: &[(String, DeliveryStatus, u32)]) {
    insert_deliveries(
        env.client(),
        recipient_rows(campaign, statuses),
        Duration::from_secs(30),
    )
    .await
    .expect("statuses inserted");
}

/// Distinct recipients with a `delivered` status: the truth the summary must equal.
fn delivered_recipients(statuses: &[(String, DeliveryStatus, u32)]) -> u64 {
    statuses
        .iter()
        .filter(|(_, status, _)| *status == DeliveryStatus::Delivered)
        .map(|(key, _, _)| key)
        .collect::<BTreeSet<_>>()
        .len() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_prefers_recipient_statuses_then_the_reported_count() {
    let mut env = ApiEnv::start("api_dlv_rule").await;
    let key = env.key(TENANT).await;
    let mut events = generate(31, TENANT, "statuses", 2_000, 48);
    events.extend(generate(32, TENANT, "reported", 500, 10));
    events.extend(generate(33, TENANT, "sent-only", 300, 10));
    events.extend(generate(34, TENANT, "unknown", 300, 10));
    insert(env.client(), &events).await;

    // "statuses": 800 recipients sent; 11 in 12 delivered, the rest bounced; the first 100
    // deliveries reported again a day later (a resend), so one recipient spans two days of
    // `delivery_daily` and must still count once.
    let mut statuses = Vec::new();
    for i in 0..800u32 {
        let key = format!("rcpt-{i:04}");
        let ts = SEED_START + i;
        statuses.push((key.clone(), DeliveryStatus::Sent, ts));
        if i % 12 == 0 {
            statuses.push((key, DeliveryStatus::Bounced, ts));
        } else {
            if i < 100 {
                statuses.push((key.clone(), DeliveryStatus::Delivered, ts + 86_400));
            }
            statuses.push((key, DeliveryStatus::Delivered, ts));
        }
    }
    seed_statuses(&env, "statuses", &statuses).await;
    let sent_only: Vec<_> = (0..50u32)
        .map(|i| (format!("s-{i}"), DeliveryStatus::Sent, SEED_START + i))
        .collect();
    seed_statuses(&env, "sent-only", &sent_only).await;
    // A campaign with delivered statuses and no events yet.
    let quiet: Vec<_> = (0..40u32)
        .map(|i| (format!("q-{i}"), DeliveryStatus::Delivered, SEED_START + i))
        .collect();
    seed_statuses(&env, "quiet", &quiet).await;
    for (campaign, count) in [("statuses", 5_000), ("reported", 900), ("sent-only", 450)] {
        let put = env
            .send(
                Method::PUT,
                &format!("/v1/campaigns/{campaign}/deliveries"),
                &key,
                "application/json",
                &format!(r#"{{"delivered": {count}}}"#),
            )
            .await;
        assert_eq!(put.status, 200, "{}", put.text());
    }

    let expected = [
        ("statuses", Some(delivered_recipients(&statuses))),
        ("reported", Some(900)),
        ("sent-only", Some(450)),
        ("unknown", None),
        ("quiet", Some(delivered_recipients(&quiet))),
    ];
    assert_eq!(expected[0].1, Some(733), "the seeded truth is what it says");
    for (campaign, delivered) in expected {
        let summary = env.get(&format!("/v1/campaigns/{campaign}"), &key).await;
        assert_eq!(summary.status, 200, "{campaign}: {}", summary.text());
        let truth = Truth::of(&events, TENANT, campaign);
        assert_rates(&summary.json(), &truth, delivered, campaign);
    }

    // The list applies the same rule, and lists the campaign that only has statuses.
    let list = env.get("/v1/campaigns", &key).await.json();
    for (campaign, delivered) in expected {
        let entry = list["campaigns"]
            .as_array()
            .expect("campaigns")
            .iter()
            .find(|c| c["campaign"] == campaign)
            .unwrap_or_else(|| panic!("{campaign} is listed"));
        assert_eq!(entry["delivered"].as_u64(), delivered, "list: {campaign}");
    }
    // Another tenant sees none of it.
    let other_key = env.key(OTHER).await;
    let hidden = env.get("/v1/campaigns/quiet", &other_key).await;
    assert_eq!(hidden.status, 404);
    env.stop().await;
}
