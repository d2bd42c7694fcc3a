//! The consent registry and tracking policies against the real broker, ClickHouse and
//! aggregator: what each setting lets the aggregator store.

mod privacy_common;

use std::time::Duration;

use mailpulse_event::{TrackingBasis, TrackingLevel};
use mailpulse_privacy::Tracking;
use privacy_common::*;

/// Rows of `campaign` by stored level, as (level, subscriber_key) pairs sorted.
async fn levels(client: &mailpulse_store::Client, campaign: &str) -> Vec<(String, String)> {
    #[derive(Debug, serde::Deserialize, clickhouse::Row)]
    struct Stored {
        level: String,
        subscriber_key: String,
    }
    client
        .query(
            "SELECT toString(tracking_level) AS level, subscriber_key FROM events \
             WHERE campaign = ? ORDER BY level, subscriber_key",
        )
        .bind(campaign)
        .fetch_all::<Stored>()
        .await
        .expect("events readable")
        .into_iter()
        .map(|row| (row.level, row.subscriber_key))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawn_consent_stores_no_subscriber_level_row_for_later_events() {
    let env = Env::new("priv_withdraw").await;
    let privacy = env.privacy();
    let client = env.client();
    let aggregator = Aggregator::start(&env.config);

    privacy
        .set_consent(TENANT, "s-withdraw", Tracking::Granted, "test")
        .await
        .expect("granted");
    env.produce(&[open(TENANT, "c-before", "s-withdraw")]).await;
    wait_until(
        Duration::from_secs(30),
        "the granted open is stored",
        || async { rows_with_key(&client, "s-withdraw").await == 1 },
    )
    .await;

    let receipt = privacy
        .set_consent(TENANT, "s-withdraw", Tracking::Denied, "test")
        .await
        .expect("denied");
    assert_eq!(receipt.tracking, "denied");
    let later: Vec<_> = (0..5)
        .map(|_| open(TENANT, "c-after", "s-withdraw"))
        .collect();
    env.produce(&later).await;
    wait_until(
        Duration::from_secs(30),
        "the later opens are counted",
        || async { campaign_rows(&client, "c-after").await == 5 },
    )
    .await;
    aggregator.stop().await;

    assert_eq!(
        levels(&client, "c-after").await,
        vec![("anonymous".to_string(), String::new()); 5],
        "counted, but anonymously"
    );
    assert_eq!(
        rows_with_key(&client, "s-withdraw").await,
        1,
        "only the earlier row"
    );
    assert_eq!(
        count(
            &client,
            "SELECT count() FROM events WHERE campaign = 'c-after' AND visitor != ''",
            &[]
        )
        .await,
        0,
        "no visitor hash either"
    );
    let view = privacy
        .consent(TENANT, "s-withdraw")
        .await
        .expect("consent readable");
    assert_eq!(view.tracking.as_deref(), Some("denied"));
    let states: Vec<&str> = view.history.iter().map(|c| c.state.as_str()).collect();
    assert_eq!(states, vec!["granted", "denied"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_most_restrictive_of_tenant_campaign_and_subscriber_wins() {
    let env = Env::new("priv_policy").await;
    let privacy = env.privacy();
    let client = env.client();
    let aggregator = Aggregator::start(&env.config);

    // The tenant allows at most pseudonymous, one campaign at most anonymous; one subscriber
    // allows identified, another only pseudonymous; a third is restricted.
    privacy
        .set_policy(
            TENANT,
            None,
            None,
            Some(TrackingLevel::Pseudonymous),
            "test",
        )
        .await
        .expect("tenant policy");
    privacy
        .set_policy(
            TENANT,
            Some("c-anon"),
            None,
            Some(TrackingLevel::Anonymous),
            "test",
        )
        .await
        .expect("campaign policy");
    privacy
        .set_consent(
            TENANT,
            "s-full",
            Tracking::Level(TrackingLevel::Identified),
            "test",
        )
        .await
        .expect("consent");
    privacy
        .set_consent(TENANT, "s-restricted", Tracking::Restricted, "test")
        .await
        .expect("consent");
    let mut events = Vec::new();
    for campaign in ["c-open", "c-anon"] {
        events.push(open(TENANT, campaign, "s-full"));
        events.push(open(TENANT, campaign, "s-restricted"));
    }
    let mut dnt = open(TENANT, "c-open", "s-dnt");
    dnt.dnt = true;
    let mut gpc = open(TENANT, "c-open", "s-gpc");
    gpc.gpc = true;
    events.extend([dnt, gpc]);
    env.produce(&events).await;
    wait_until(
        Duration::from_secs(30),
        "every event is counted",
        || async {
            campaign_rows(&client, "c-open").await == 4
                && campaign_rows(&client, "c-anon").await == 2
        },
    )
    .await;
    aggregator.stop().await;

    let pseudonym = privacy.subscriber_keys(TENANT, "s-full")[1].clone();
    assert_eq!(
        levels(&client, "c-open").await,
        vec![
            ("anonymous".to_string(), String::new()),
            ("anonymous".to_string(), String::new()),
            ("anonymous".to_string(), String::new()),
            ("pseudonymous".to_string(), pseudonym),
        ],
        "tenant cap lowers the grant; restriction, DNT and GPC give anonymous rows"
    );
    assert_eq!(
        levels(&client, "c-anon").await,
        vec![("anonymous".to_string(), String::new()); 2],
        "the campaign cap is lower still"
    );
    let policies = privacy.policies(TENANT).await.expect("policies readable");
    assert_eq!(policies.level.as_deref(), Some("pseudonymous"));
    assert_eq!(
        policies.campaigns.get("c-anon").map(String::as_str),
        Some("anonymous")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opt_in_tenant_stores_unconsented_subscribers_anonymously() {
    let env = Env::new("priv_optin").await;
    let privacy = env.privacy();
    let client = env.client();
    let aggregator = Aggregator::start(&env.config);
    // The deployment default is legitimate interest here; this tenant says opt-in.
    privacy
        .set_policy(TENANT, None, Some(TrackingBasis::OptIn), None, "test")
        .await
        .expect("tenant policy");
    privacy
        .set_consent(TENANT, "s-yes", Tracking::Granted, "test")
        .await
        .expect("consent");
    env.produce(&[
        open(TENANT, CAMPAIGN, "s-yes"),
        open(TENANT, CAMPAIGN, "s-unknown"),
    ])
    .await;
    wait_until(Duration::from_secs(30), "both opens counted", || async {
        campaign_rows(&client, CAMPAIGN).await == 2
    })
    .await;
    aggregator.stop().await;
    assert_eq!(
        levels(&client, CAMPAIGN).await,
        vec![
            ("anonymous".to_string(), String::new()),
            ("identified".to_string(), "s-yes".to_string()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restricted_subscribers_are_listed_for_exclusion_until_lifted() {
    let env = Env::new("priv_restrict").await;
    let privacy = env.privacy();
    privacy
        .set_consent(TENANT, "r1", Tracking::Granted, "test")
        .await
        .expect("consent");
    privacy
        .set_consent(TENANT, "r1", Tracking::Restricted, "test")
        .await
        .expect("restricted");
    privacy
        .set_consent(TENANT, "r2", Tracking::Restricted, "test")
        .await
        .expect("restricted");
    privacy
        .set_consent(TENANT, "r2", Tracking::Granted, "test")
        .await
        .expect("lifted");
    let keys = privacy.restricted_keys(TENANT).await.expect("readable");
    assert_eq!(
        keys,
        privacy.subscriber_keys(TENANT, "r1"),
        "r1 only, id and pseudonym"
    );
    assert!(privacy
        .restricted_keys("other")
        .await
        .expect("readable")
        .is_empty());
}
