//! The row types agree with the tables and queries they travel through. The ClickHouse client
//! runs with validation off (18.16 cannot answer it), so without these checks a mismatched
//! field would silently write or read garbage.

mod aggregator_common;

use aggregator_common::TestEnv;
use mailpulse_event::{EventKind, TrackingLevel};
use mailpulse_store::migrate::{migrate, MIGRATIONS};
use mailpulse_store::rows::{EventKindCode, EventRow, TrackingLevelCode};
use mailpulse_store::stats::{self, BreakdownRow, LinkStats, TotalsRow, UniquesRow};
use mailpulse_store::wire::{compare, describe_query, describe_table};
use mailpulse_store::Client;
use uuid::Uuid;

fn sample_row() -> EventRow<'static> {
    EventRow {
        event_id: Uuid::nil(),
        kind: EventKindCode(EventKind::Open),
        ts: 0,
        tenant: "",
        campaign: "",
        subscriber_key: "",
        link: "",
        url: "",
        visitor: "",
        country: "",
        region: "",
        city: "",
        asn: 0,
        network_class: "",
        browser: "",
        os: "",
        device: "",
        email_client: "",
        machine: 0,
        machine_reason: "",
        dnt: 0,
        gpc: 0,
        end_pixel: 0,
        tracking_level: TrackingLevelCode(TrackingLevel::Off),
        edge: "",
        kafka_topic: "",
        kafka_partition: 0,
        kafka_offset: 0,
        ingested_at: 0,
    }
}

/// The result columns of a query built by the client with its binds applied.
async fn query_columns(client: &Client, query: clickhouse::query::Query) -> Vec<(String, String)> {
    let sql = query.sql_display().to_string();
    describe_query(client, &sql)
        .await
        .unwrap_or_else(|error| panic!("cannot describe `{sql}`: {error}"))
}

/// A campaign query bound as the store binds it (tenant, campaign, then a limit if any).
fn campaign_query(client: &Client, sql: &str) -> clickhouse::query::Query {
    let query = client.query(sql).bind("acme").bind("spring");
    if sql.contains("LIMIT ?") {
        query.bind(10u64)
    } else {
        query
    }
}

fn assert_fits<T: serde::Serialize>(what: &str, row: &T, columns: &[(String, String)]) {
    let problems = compare(row, columns);
    assert!(problems.is_empty(), "{what} does not fit: {problems:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_types_match_the_schema_and_the_queries() {
    let env = TestEnv::new("agg_schema", 1).await;
    let client = env.client();

    let events = describe_table(&client, "events")
        .await
        .expect("events described");
    assert_fits("EventRow", &sample_row(), &events);

    // The Enum8 codes written by the Rust side are the ones the tables declare.
    let declared = |table_columns: &[(String, String)], column: &str| -> String {
        table_columns
            .iter()
            .find(|(name, _)| name == column)
            .map(|(_, ty)| ty.clone())
            .unwrap_or_else(|| panic!("no column {column}"))
    };
    for (kind, code) in EventKindCode::ALL {
        let entry = format!("'{}' = {code}", kind.as_str());
        assert!(
            declared(&events, "kind").contains(&entry),
            "events.kind lacks {entry}"
        );
    }
    for (level, code) in TrackingLevelCode::ALL {
        let entry = format!("'{}' = {code}", level.as_str());
        assert!(
            declared(&events, "tracking_level").contains(&entry),
            "events.tracking_level lacks {entry}"
        );
    }
    let uniques = describe_table(&client, "campaign_uniques")
        .await
        .expect("campaign_uniques described");
    assert_eq!(declared(&uniques, "kind"), declared(&events, "kind"));

    let totals = TotalsRow {
        opens_total: 0,
        opens_machine: 0,
        clicks_total: 0,
        clicks_machine: 0,
        unsubscribes: 0,
    };
    assert_fits(
        "TotalsRow",
        &totals,
        &query_columns(&client, campaign_query(&client, stats::TOTALS_SQL)).await,
    );
    let uniques_row = UniquesRow {
        opens_unique: 0,
        opens_unique_human: 0,
        clicks_unique: 0,
        clicks_unique_human: 0,
    };
    assert_fits(
        "UniquesRow",
        &uniques_row,
        &query_columns(&client, campaign_query(&client, stats::UNIQUES_SQL)).await,
    );
    let link = LinkStats {
        link: String::new(),
        url: String::new(),
        clicks_total: 0,
        clicks_machine: 0,
        clicks_unique_approx: 0,
    };
    assert_fits(
        "LinkStats",
        &link,
        &query_columns(&client, campaign_query(&client, stats::LINKS_SQL)).await,
    );
    let breakdown = BreakdownRow {
        dimension: String::new(),
        value: String::new(),
        opens_total: 0,
        opens_machine: 0,
        clicks_total: 0,
        clicks_machine: 0,
    };
    assert_fits(
        "BreakdownRow",
        &breakdown,
        &query_columns(&client, campaign_query(&client, stats::BREAKDOWN_SQL)).await,
    );
    assert_eq!(
        query_columns(
            &client,
            client
                .query(mailpulse_store::offsets::WATERMARKS_SQL)
                .bind("events"),
        )
        .await,
        vec![
            ("kafka_partition".to_string(), "Int32".to_string()),
            ("max_offset".to_string(), "Int64".to_string())
        ]
    );
    assert_eq!(
        query_columns(
            &client,
            client
                .query(mailpulse_store::offsets::RECENT_IDS_SQL)
                .bind("events")
                .bind(vec![0i32, 1])
                .bind(0u32)
                .bind(10u64),
        )
        .await,
        vec![("event_id".to_string(), "UUID".to_string())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_again_changes_nothing() {
    let env = TestEnv::new("agg_migrate", 1).await;
    let again = migrate(&env.config.clickhouse)
        .await
        .expect("second migrate");
    assert!(again.applied.is_empty(), "nothing left to apply: {again:?}");
    assert_eq!(again.already_applied.len(), MIGRATIONS.len());
    let recorded = env
        .client()
        .query("SELECT count() FROM schema_migrations")
        .fetch_one::<u64>()
        .await
        .expect("schema_migrations readable");
    assert_eq!(
        recorded,
        MIGRATIONS.len() as u64,
        "each migration recorded once"
    );
}
