//! The truth check: every hit the edge answered with 200 is stored exactly once, hits that got
//! no answer are stored at most once, nothing else is stored, and the campaign statistics
//! (`mailpulse_store::stats::campaign_summary`, what `mailpulse stats` prints) agree.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use mailpulse_store::Client;

use super::env::{DrillEnv, TENANT};
use super::load::Report;

#[derive(Debug, serde::Deserialize, clickhouse::Row)]
struct SubscriberRows {
    subscriber_key: String,
    rows: u64,
}

/// Rows of the drill's campaign per subscriber.
async fn rows_per_subscriber(client: &Client, campaign: &str) -> BTreeMap<String, u64> {
    match client
        .query(
            "SELECT subscriber_key, count() AS rows FROM events \
             WHERE tenant = ? AND campaign = ? GROUP BY subscriber_key",
        )
        .bind(TENANT)
        .bind(campaign)
        .fetch_all::<SubscriberRows>()
        .await
    {
        Ok(rows) => rows
            .into_iter()
            .map(|r| (r.subscriber_key, r.rows))
            .collect(),
        // ClickHouse coming back from a drill: ask again on the next poll.
        Err(_) => BTreeMap::new(),
    }
}

/// What was stored, compared with what was answered.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub accepted: usize,
    pub lost: Vec<String>,
    pub duplicated: Vec<String>,
    /// Stored rows of subscribers the load never sent (must be none).
    pub unknown: Vec<String>,
    /// Unanswered hits, and how many of them were stored anyway (once each at most).
    pub unanswered: usize,
    pub unanswered_stored: usize,
    pub rows: u64,
}

impl Verdict {
    pub fn line(&self) -> String {
        format!(
            "{} answered 200: {} lost, {} duplicated, {} unknown rows; {} unanswered ({} of them \
             stored once); {} rows",
            self.accepted,
            self.lost.len(),
            self.duplicated.len(),
            self.unknown.len(),
            self.unanswered,
            self.unanswered_stored,
            self.rows
        )
    }
}

fn judge(report: &Report, stored: &BTreeMap<String, u64>) -> Verdict {
    let accepted: BTreeSet<String> = report.accepted().into_iter().collect();
    let unanswered: BTreeSet<String> = report
        .unanswered()
        .iter()
        .map(|h| h.subscriber.clone())
        .collect();
    let mut verdict = Verdict {
        accepted: accepted.len(),
        unanswered: unanswered.len(),
        rows: stored.values().sum(),
        ..Verdict::default()
    };
    for subscriber in &accepted {
        match stored.get(subscriber) {
            None => verdict.lost.push(subscriber.clone()),
            Some(n) if *n > 1 => verdict.duplicated.push(subscriber.clone()),
            _ => {}
        }
    }
    for (subscriber, n) in stored {
        if unanswered.contains(subscriber) {
            verdict.unanswered_stored += 1;
            if *n > 1 {
                verdict.duplicated.push(subscriber.clone());
            }
        } else if !accepted.contains(subscriber) {
            verdict.unknown.push(subscriber.clone());
        }
    }
    verdict
}

/// Waits (up to `timeout`) until all but `expected_lost` of the answered hits are stored, then
/// a little longer for late duplicates, and judges. `expected_lost` is non-zero only for the
/// drill that loses events on purpose and counts them (a full spool).
pub async fn settle(
    env: &DrillEnv,
    report: &Report,
    expected_lost: usize,
    timeout: Duration,
) -> Verdict {
    let client = mailpulse_store::connect(&env.config.clickhouse);
    let accepted = report.accepted();
    let wanted = accepted.len().saturating_sub(expected_lost);
    let deadline = Instant::now() + timeout;
    loop {
        let stored = rows_per_subscriber(&client, &env.campaign).await;
        let present = accepted.iter().filter(|s| stored.contains_key(*s)).count();
        if present >= wanted || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Anything delivered twice would land within a batch or two.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stored = rows_per_subscriber(&client, &env.campaign).await;
    judge(report, &stored)
}

/// Asserts the verdict is clean and the statistics agree with it: opens total = rows, unique
/// opens = distinct subscribers stored, and both = answered hits (+ unanswered ones stored).
pub async fn assert_exactly_once(env: &DrillEnv, verdict: &Verdict, expected_lost: usize) {
    let sample = |list: &Vec<String>| list.iter().take(5).cloned().collect::<Vec<_>>();
    assert_eq!(
        verdict.lost.len(),
        expected_lost,
        "answered hits lost (expected {expected_lost}), e.g. {:?}",
        sample(&verdict.lost)
    );
    assert!(
        verdict.duplicated.is_empty(),
        "{} hits stored more than once, e.g. {:?}",
        verdict.duplicated.len(),
        sample(&verdict.duplicated)
    );
    assert!(
        verdict.unknown.is_empty(),
        "rows for hits never sent: {:?}",
        sample(&verdict.unknown)
    );
    let expected_rows = (verdict.accepted - expected_lost + verdict.unanswered_stored) as u64;
    assert_eq!(verdict.rows, expected_rows, "{}", verdict.line());
    let client = mailpulse_store::connect(&env.config.clickhouse);
    let summary = mailpulse_store::stats::campaign_summary(&client, TENANT, &env.campaign)
        .await
        .expect("campaign statistics readable");
    assert_eq!(
        (summary.opens_total, summary.opens_unique),
        (expected_rows, expected_rows),
        "campaign statistics (opens total, unique) vs the hits answered 200"
    );
    // Nothing stored twice under different ids either.
    #[derive(Debug, serde::Deserialize, clickhouse::Row)]
    struct Ids {
        rows: u64,
        ids: u64,
    }
    let ids = client
        .query(
            "SELECT count() AS rows, uniqExact(event_id) AS ids FROM events \
             WHERE tenant = ? AND campaign = ?",
        )
        .bind(TENANT)
        .bind(&env.campaign)
        .fetch_one::<Ids>()
        .await
        .expect("events readable");
    assert_eq!((ids.rows, ids.ids), (expected_rows, expected_rows));
}
