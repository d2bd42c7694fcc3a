//! Tenant removal against the real broker, ClickHouse and aggregator: every row of the tenant
//! in every table and its API keys go, its consent records are deleted from the topic, events
//! from tokens it issued before are no longer stored, and another tenant is untouched.

mod privacy_common;

use std::collections::BTreeMap;
use std::time::Duration;

use mailpulse_api::{tenant, TenantId};
use mailpulse_event::{ConsentKey, TrackingLevel};
use mailpulse_privacy::Tracking;
use privacy_common::*;

const GONE: &str = "gone-tenant";
const KEPT: &str = "kept-tenant";

#[derive(Debug, serde::Deserialize, clickhouse::Row)]
struct TableName {
    table: String,
}

/// Rows of `tenant` in every table with a `tenant` column.
async fn rows_per_table(
    client: &mailpulse_store::Client,
    database: &str,
    tenant: &str,
) -> BTreeMap<String, u64> {
    let tables = client
        .query(
            "SELECT table FROM system.columns WHERE database = ? AND name = 'tenant' \
               AND table IN (SELECT name FROM system.tables WHERE database = ? \
                             AND engine NOT IN ('View', 'MaterializedView')) \
             ORDER BY table",
        )
        .bind(database)
        .bind(database)
        .fetch_all::<TableName>()
        .await
        .expect("system.columns readable");
    let mut rows = BTreeMap::new();
    for TableName { table } in tables {
        let found = count(
            client,
            &format!("SELECT count() FROM `{table}` WHERE tenant = ?"),
            &[tenant],
        )
        .await;
        rows.insert(table, found);
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_tenant_removes_everything_of_it_and_nothing_else() {
    let env = Env::new("priv_tenant").await;
    let privacy = env.privacy();
    let client = env.client();
    let aggregator = Aggregator::start(&env.config);

    for tenant_id in [GONE, KEPT] {
        privacy
            .set_consent(tenant_id, "t-granted", Tracking::Granted, "test")
            .await
            .expect("consent");
        privacy
            .set_consent(tenant_id, "t-denied", Tracking::Denied, "test")
            .await
            .expect("consent");
        privacy
            .set_policy(
                tenant_id,
                Some("c-policy"),
                None,
                Some(TrackingLevel::Pseudonymous),
                "test",
            )
            .await
            .expect("policy");
        privacy
            .set_retention(tenant_id, Some(90))
            .await
            .expect("retention");
        tenant::create_key(&client, &TenantId::parse(tenant_id).expect("id"))
            .await
            .expect("key");
        env.produce(&[
            open(tenant_id, CAMPAIGN, "t-granted"),
            open(tenant_id, CAMPAIGN, "t-denied"),
            open(tenant_id, "c-policy", "t-granted"),
        ])
        .await;
    }
    // `inserted` counts after the INSERT returned, i.e. after every materialized view has
    // its rows too (a count of `events` alone can run ahead of the views).
    wait_until(Duration::from_secs(30), "every open stored", || async {
        aggregator.metrics.inserted.get() == 6
    })
    .await;
    let kept_before = rows_per_table(&client, env.db.name(), KEPT).await;
    let gone_before = rows_per_table(&client, env.db.name(), GONE).await;
    for table in [
        "events",
        "campaign_daily",
        "campaign_uniques",
        "consent_history",
        "tenants",
        "tenant_retention",
    ] {
        assert!(
            gone_before.get(table) > Some(&0),
            "{table} holds the tenant before: {gone_before:?}"
        );
    }

    let receipt = privacy
        .delete_tenant(GONE, "test")
        .await
        .expect("tenant removed");
    assert_eq!(
        receipt.consent_keys_removed, 4,
        "tenant, two subscribers, one campaign"
    );
    let removed: BTreeMap<String, u64> = receipt
        .removed
        .iter()
        .map(|table| (table.table.clone(), table.rows))
        .collect();
    assert_eq!(removed, gone_before, "the receipt counts what was there");
    let gone_after = rows_per_table(&client, env.db.name(), GONE).await;
    assert!(
        gone_after.values().all(|rows| *rows == 0),
        "nothing of the tenant is left: {gone_after:?}"
    );
    assert_eq!(
        rows_per_table(&client, env.db.name(), KEPT).await,
        kept_before
    );

    // Events of mails sent before the removal are dropped; a token minted afterwards belongs to
    // a new tenant of that id, whose earlier consent records are gone.
    let consumed = aggregator.metrics.consumed.get();
    let mut late = open(GONE, CAMPAIGN, "t-granted");
    late.issued_at = receipt.requested_at_ms / 1000 - 60;
    let mut fresh = open(GONE, "c-new", "t-denied");
    fresh.issued_at = receipt.requested_at_ms / 1000 + 1;
    env.produce(&[late, fresh]).await;
    aggregator
        .wait_consumed(consumed + 2, Duration::from_secs(30))
        .await;
    aggregator.stop().await;
    assert_eq!(
        count(
            &client,
            "SELECT count() FROM events WHERE tenant = ? AND campaign = ?",
            &[GONE, CAMPAIGN]
        )
        .await,
        0,
        "the old token's open is not stored"
    );
    assert_eq!(
        count(
            &client,
            "SELECT count() FROM events WHERE tenant = ? AND subscriber_key = 't-denied'",
            &[GONE]
        )
        .await,
        1,
        "the earlier denial went with the tenant"
    );

    // On the topic, the tenant's keys end in tombstones, and the removal is recorded.
    let messages = mailpulse_testkit::consume(env.consent.name(), 1000, Duration::from_secs(3))
        .await
        .expect("consent topic readable");
    let mut latest: BTreeMap<String, bool> = BTreeMap::new();
    for message in &messages {
        let key = String::from_utf8(message.key.clone().expect("keyed")).expect("UTF-8 key");
        latest.insert(key, message.payload.is_some());
    }
    for (key, has_value) in &latest {
        let tenant_of = match ConsentKey::parse(key).expect("a known key form") {
            ConsentKey::Subscriber { tenant, .. }
            | ConsentKey::Tenant { tenant }
            | ConsentKey::Campaign { tenant, .. }
            | ConsentKey::Removed { tenant } => tenant,
        };
        if tenant_of == GONE {
            let expected = key.starts_with("removed:");
            assert_eq!(
                *has_value, expected,
                "{key}: only the removal record keeps a value"
            );
        } else {
            assert!(*has_value, "{key} of the other tenant keeps its value");
        }
    }
    assert!(latest.contains_key(&format!("removed:{GONE}")));
}
