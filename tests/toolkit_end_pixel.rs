//! The toolkit's two pixels count one open per rendered message, end to end on the real stack:
//! corpus emails rewritten per subscriber, their pixels fetched from an in-process edge, the
//! events through Kafka into an in-process aggregator, the statistics read back from ClickHouse.
//! A client that renders the whole message fetches both pixels (`/o/TOKEN` and
//! `/o/TOKEN.gif?at=end`): one open. A clipped message (Gmail, over ~102 KB) fetches only the
//! top one, and a sender with a single plain `/o/TOKEN.gif` pixel gets it fetched once: one
//! open each. Every one of them is one unique opener.

mod aggregator_common;
mod common;
mod toolkit_common;

use std::time::{Duration, Instant};

use aggregator_common::{wait_for_summary, InProcess, TestEnv, CAMPAIGN, HUMAN_UA, TENANT};
use common::{get, path_of, RunningEdge};
use hyper::StatusCode;
use mailpulse_store::Client;
use mailpulse_testkit::TestTopic;
use mailpulse_toolkit::Recipient;
use toolkit_common::{fixture, manifest, rewriter, strip_pixels};

/// Subscribers whose client rendered the whole message: both pixels fetched.
const FULL_RENDERS: usize = 4;
/// Subscribers whose message was clipped: only the top pixel fetched.
const CLIPPED: usize = 2;
/// Subscribers of a sender with one pixel, written as plain `/o/TOKEN.gif`.
const SINGLE_GIF: usize = 1;

#[derive(Debug, PartialEq, Eq, serde::Deserialize, clickhouse::Row)]
struct StoredOpens {
    rows: u64,
    end_pixels: u64,
}

async fn stored_opens(client: &Client) -> StoredOpens {
    client
        .query(
            "SELECT count() AS rows, sum(end_pixel) AS end_pixels FROM events \
             WHERE tenant = ? AND campaign = ? AND kind = 'open'",
        )
        .bind(TENANT)
        .bind(CAMPAIGN)
        .fetch_one::<StoredOpens>()
        .await
        .expect("events readable")
}

async fn hourly_opens(client: &Client) -> u64 {
    client
        .query("SELECT sumMerge(opens) FROM campaign_hourly WHERE tenant = ? AND campaign = ?")
        .bind(TENANT)
        .bind(CAMPAIGN)
        .fetch_one::<u64>()
        .await
        .expect("campaign_hourly readable")
}

/// The (top, bottom) pixel paths of `subscriber`'s copy of a corpus email.
fn pixel_paths(html: &[u8], subscriber: &str) -> (String, String) {
    let recipient = Recipient {
        tenant: TENANT,
        campaign: CAMPAIGN,
        subscriber,
    };
    let output = rewriter(&manifest().placeholders)
        .rewrite_html(html, &recipient)
        .expect("rewrites");
    let (_, pixels) = strip_pixels(&output);
    assert_eq!(pixels.len(), 2, "two pixels in the rewritten email");
    (path_of(&pixels[0]), path_of(&pixels[1]))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fully_rendered_email_is_one_open_and_a_clipped_one_still_counts() {
    let env = TestEnv::new("tk_end_pixel", 2).await;
    let _salt = TestTopic::with_name(&env.config.kafka.salt_topic, 1)
        .await
        .expect("salt topic");
    let edge = RunningEdge::start(&env.config).await;
    let aggregator = InProcess::start(&env.config);
    let human = [("user-agent", HUMAN_UA)];
    let html = fixture("newsletter_tables.html");

    let mut fetches = 0;
    for i in 0..FULL_RENDERS {
        let (top, bottom) = pixel_paths(&html, &format!("full-{i}"));
        assert!(bottom.ends_with(".gif?at=end"), "{bottom}");
        for path in [&top, &bottom] {
            assert_eq!(get(edge.addr, path, &human).await.status, StatusCode::OK);
            fetches += 1;
        }
    }
    for i in 0..CLIPPED {
        let (top, _) = pixel_paths(&html, &format!("clipped-{i}"));
        assert_eq!(get(edge.addr, &top, &human).await.status, StatusCode::OK);
        fetches += 1;
    }
    for i in 0..SINGLE_GIF {
        let (top, _) = pixel_paths(&html, &format!("single-{i}"));
        let plain_gif = format!("{top}.gif");
        assert_eq!(
            get(edge.addr, &plain_gif, &human).await.status,
            StatusCode::OK
        );
        fetches += 1;
    }

    // Every fetch is stored as an open; only the bottom pixels carry the end-pixel flag.
    let client = env.client();
    let started = Instant::now();
    let stored = loop {
        let stored = stored_opens(&client).await;
        if stored.rows >= fetches || started.elapsed() > Duration::from_secs(60) {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(
        stored,
        StoredOpens {
            rows: fetches,
            end_pixels: FULL_RENDERS as u64,
        }
    );

    let opened = (FULL_RENDERS + CLIPPED + SINGLE_GIF) as u64;
    let summary = wait_for_summary(&client, Duration::from_secs(10), |s| {
        s.opens_unique == opened
    })
    .await;
    assert_eq!(summary.opens_total, opened, "one open per rendered email");
    assert_eq!(summary.opens_unique, opened);
    assert_eq!(summary.opens_human, opened);
    assert_eq!(summary.opens_machine, 0);
    assert_eq!(summary.opens_unique_human, opened);
    let device_opens: u64 = summary.breakdown["device"]
        .iter()
        .map(|entry| entry.opens)
        .sum();
    assert_eq!(device_opens, opened, "the breakdown counts the same opens");
    assert_eq!(
        hourly_opens(&client).await,
        opened,
        "so does campaign_hourly"
    );

    aggregator.stop().await;
    edge.stop().await;
}
