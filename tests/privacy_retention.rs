//! Retention against the real ClickHouse: whole months past every tenant's retention are
//! dropped as partitions, tenants with a shorter retention lose their older rows by delete,
//! subscriber keys of campaigns without events go, and the run reports and logs all of it.

mod privacy_common;

use std::collections::BTreeMap;
use std::time::Duration;

use mailpulse_event::{EventKind, TrackingLevel};
use mailpulse_privacy::retention::RetentionAction;
use mailpulse_store::{EventKindCode, EventRow, TrackingLevelCode};
use privacy_common::*;
use uuid::Uuid;

const DAY: u64 = 86_400;

fn row<'a>(tenant: &'a str, campaign: &'a str, subscriber: &'a str, ts: u64) -> EventRow<'a> {
    EventRow {
        event_id: Uuid::now_v7(),
        kind: EventKindCode(EventKind::Open),
        ts: ts as u32,
        tenant,
        campaign,
        subscriber_key: subscriber,
        link: "",
        url: "",
        visitor: "",
        country: "EE",
        region: "",
        city: "",
        asn: 0,
        network_class: "other",
        browser: "",
        os: "",
        device: "",
        email_client: "",
        machine: 0,
        machine_reason: "",
        dnt: 0,
        gpc: 0,
        end_pixel: 0,
        tracking_level: TrackingLevelCode(TrackingLevel::Identified),
        edge: "test",
        kafka_topic: "retention-test",
        kafka_partition: 0,
        kafka_offset: 0,
        ingested_at: ts as u32,
    }
}

/// The `YYYYMM` partition of a time.
async fn month_of(client: &mailpulse_store::Client, ts: u64) -> String {
    client
        .query("SELECT toString(toYYYYMM(toDateTime(?, 'UTC')))")
        .bind(ts)
        .fetch_one::<String>()
        .await
        .expect("ClickHouse computes the month")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_old_months_deletes_shorter_tenants_rows_and_reports() {
    let env = Env::new("priv_retention").await;
    let mut config = env.config.clone();
    config.privacy.retention_days = 396;
    let privacy = mailpulse_privacy::Privacy::new(&config)
        .expect("privacy service")
        .with_mutation_timeout(Duration::from_secs(60));
    let client = env.client();
    privacy
        .set_retention("short", Some(30))
        .await
        .expect("retention set");
    privacy
        .set_retention("long", Some(800))
        .await
        .expect("retention set");
    privacy
        .set_retention("cleared", Some(5))
        .await
        .expect("retention set");
    privacy
        .set_retention("cleared", None)
        .await
        .expect("back to the default");
    assert!(privacy.set_retention("short", Some(0)).await.is_err());

    let now = now_ms() / 1000;
    let ages = [1000u64, 500, 100, 1];
    let tenants = ["plain", "short", "long"];
    let campaigns: Vec<(String, String, u64)> = tenants
        .iter()
        .flat_map(|tenant| {
            ages.iter()
                .map(move |age| (tenant.to_string(), format!("{tenant}-{age}"), *age))
        })
        .collect();
    let rows: Vec<EventRow<'_>> = campaigns
        .iter()
        .map(|(tenant, campaign, age)| row(tenant, campaign, "sub-r", now - age * DAY))
        .collect();
    mailpulse_store::offsets::insert_events(
        &client,
        rows,
        "retention-test",
        Duration::from_secs(30),
    )
    .await
    .expect("rows inserted");
    assert_eq!(
        count(&client, "SELECT count() FROM campaign_uniques", &[]).await,
        12
    );

    let report = privacy.run_retention_at(now).await.expect("retention runs");
    assert_eq!(report.default_days, 396);
    assert_eq!(
        report.overrides,
        BTreeMap::from([("long".to_string(), 800), ("short".to_string(), 30)]),
        "a cleared override is gone"
    );

    let oldest_month = month_of(&client, now - 1000 * DAY).await;
    let find = |action: &str, table: &str, tenant: &str| -> Option<&RetentionAction> {
        report
            .actions
            .iter()
            .find(|a| a.action == action && a.table == table && a.tenant == tenant)
    };
    let dropped = find("drop_partition", "events", "").expect("the oldest month is dropped");
    assert_eq!(
        (dropped.partition.as_str(), dropped.rows),
        (oldest_month.as_str(), 3)
    );
    assert_eq!(
        report.partitions_dropped, 1,
        "only months past the longest retention (800 days)"
    );
    assert_eq!(
        find("delete_rows", "events", "short").map(|a| a.rows),
        Some(2)
    );
    assert_eq!(
        find("delete_rows", "events", "*").map(|a| a.rows),
        Some(1),
        "tenants on the default lose rows older than 396 days"
    );
    assert_eq!(
        find("delete_rows", "campaign_uniques", "").map(|a| a.rows),
        Some(6),
        "subscriber keys of the six campaigns without events left"
    );
    assert_eq!(report.rows_removed_total, 3 + 2 + 1 + 6);

    #[derive(Debug, serde::Deserialize, clickhouse::Row)]
    struct Left {
        campaign: String,
    }
    let left: Vec<String> = client
        .query("SELECT campaign FROM events ORDER BY campaign")
        .fetch_all::<Left>()
        .await
        .expect("events readable")
        .into_iter()
        .map(|row| row.campaign)
        .collect();
    assert_eq!(
        left,
        vec![
            "long-1",
            "long-100",
            "long-500",
            "plain-1",
            "plain-100",
            "short-1"
        ]
    );
    assert_eq!(
        count(&client, "SELECT count() FROM campaign_uniques", &[]).await,
        6
    );
    assert_eq!(
        count(
            &client,
            "SELECT count() FROM retention_log WHERE run_id = ?",
            &[&report.run_id]
        )
        .await,
        report.actions.len() as u64,
        "every action is logged"
    );

    let again = privacy.run_retention_at(now).await.expect("second run");
    assert!(
        again.actions.is_empty(),
        "nothing left to remove: {again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_periodic_job_removes_expired_rows_until_stopped() {
    let env = Env::new("priv_retention_job").await;
    let client = env.client();
    let privacy = std::sync::Arc::new(env.privacy());
    privacy
        .set_retention("short", Some(30))
        .await
        .expect("retention set");
    let now = now_ms() / 1000;
    let rows = vec![
        row("short", "old", "sub-j", now - 40 * DAY),
        row("short", "new", "sub-j", now - DAY),
        row("plain", "old", "sub-j", now - 40 * DAY),
    ];
    mailpulse_store::offsets::insert_events(
        &client,
        rows,
        "retention-job",
        Duration::from_secs(30),
    )
    .await
    .expect("rows inserted");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let job = tokio::spawn(mailpulse_privacy::retention::run_periodically(
        privacy,
        Duration::from_millis(200),
        stopped,
    ));
    wait_until(
        Duration::from_secs(30),
        "the expired row is removed",
        || async {
            count(
                &client,
                "SELECT count() FROM events WHERE tenant = 'short'",
                &[],
            )
            .await
                == 1
        },
    )
    .await;
    wait_until(Duration::from_secs(10), "the run is logged", || async {
        count(
            &client,
            "SELECT count() FROM retention_log WHERE tenant = 'short'",
            &[],
        )
        .await
            > 0
    })
    .await;
    stop.send_replace(true);
    tokio::time::timeout(Duration::from_secs(30), job)
        .await
        .expect("the job stops when told")
        .expect("the job did not panic");
    assert_eq!(
        count(
            &client,
            "SELECT count() FROM events WHERE tenant = 'plain'",
            &[]
        )
        .await,
        1,
        "a tenant on the 396-day default keeps a 40-day-old row"
    );
}
