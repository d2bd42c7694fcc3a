//! Erasure waits for every live aggregator to report that it applied the denial
//! (`consent_progress`), ignores processes that stopped cleanly or went silent, and deletes
//! nothing while one lags.

mod privacy_common;

use std::time::Duration;

use mailpulse_privacy::{PrivacyError, Tracking};
use privacy_common::*;

/// Writes a progress row for a fake aggregator process, stamped `age_secs` ago.
async fn report(
    env: &Env,
    replica: &str,
    partition: i32,
    applied_offset: i64,
    seq: u64,
    age_secs: u32,
) {
    env.client()
        .query(
            "INSERT INTO consent_progress \
             (consent_topic, replica, kafka_partition, applied_offset, seq, reported_at) \
             VALUES (?, ?, ?, ?, ?, now() - ?)",
        )
        .bind(env.config.kafka.consent_topic.as_str())
        .bind(replica)
        .bind(partition)
        .bind(applied_offset)
        .bind(seq)
        .bind(age_secs)
        .execute()
        .await
        .expect("progress row written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_deletes_nothing_until_every_live_aggregator_applied_the_denial() {
    let env = Env::new("priv_progress").await;
    let client = env.client();
    let privacy = env.privacy().with_apply_timeout(Duration::from_secs(2));
    privacy
        .set_consent(TENANT, "p1", Tracking::Granted, "test")
        .await
        .expect("consent");

    // A live process behind on both consent partitions; a stopped one and a silent one that
    // are just as far behind but must not count.
    for partition in [0, 1] {
        report(&env, "live", partition, 0, 1, 0).await;
        report(&env, "stopped", partition, 0, 1, 0).await;
        report(&env, "silent", partition, 0, 1, 0).await;
    }
    report(&env, "live", -1, 0, 1, 0).await;
    report(&env, "stopped", -1, -2, 1, 0).await;
    report(&env, "silent", -1, 0, 1, 60).await;

    let error = privacy
        .forget(TENANT, "p1")
        .await
        .expect_err("the lagging process holds the erasure back");
    assert_eq!(error.code(), "aggregator_lagging");
    let PrivacyError::AggregatorLagging { replicas, .. } = error else {
        panic!("lagging error");
    };
    assert_eq!(replicas, vec!["live".to_string()]);
    assert_eq!(
        count(
            &client,
            "SELECT count() FROM consent_history WHERE subscriber = 'p1' AND state = 'granted'",
            &[]
        )
        .await,
        1,
        "nothing was deleted"
    );

    // The process catches up (a later report replaces the earlier one).
    for partition in [0, 1] {
        report(&env, "live", partition, 1_000, 2, 0).await;
    }
    report(&env, "live", -1, 0, 2, 0).await;
    let receipt = privacy
        .forget(TENANT, "p1")
        .await
        .expect("erasure completes");
    assert_eq!(
        receipt
            .removed
            .iter()
            .find(|t| t.table == "consent_history")
            .map(|t| t.rows),
        Some(2),
        "the grant and the first attempt's denial; only the latest erasure record stays"
    );
    assert_eq!(
        count(
            &client,
            "SELECT count() FROM consent_history WHERE subscriber = 'p1'",
            &[]
        )
        .await,
        1
    );
}
