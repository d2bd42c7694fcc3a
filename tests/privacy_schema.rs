//! The privacy row types agree with the tables and queries they travel through (the ClickHouse
//! client runs with validation off, so a mismatch would silently write or read garbage).

mod privacy_common;

use mailpulse_privacy::history::{self, ConsentChange, HistoryInsert};
use mailpulse_privacy::retention::{RetentionLogRow, TenantRetentionRow};
use mailpulse_privacy::topic::Delivered;
use mailpulse_store::wire::{compare, describe_query, describe_table};
use privacy_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_rows_match_their_tables_and_queries() {
    let env = Env::new("priv_schema").await;
    let client = env.client();
    let at = Delivered {
        partition: 0,
        offset: 0,
    };
    let history_row = HistoryInsert::subscriber(
        "t",
        "s",
        mailpulse_event::ConsentState::Granted,
        None,
        0,
        "test",
        at,
    );
    let retention_log = RetentionLogRow {
        run_id: "",
        run_at: 0,
        action: 1,
        table_name: "",
        partition: "",
        tenant: "",
        cutoff: 0,
        rows: 0,
    };
    let retention = TenantRetentionRow {
        tenant: "",
        retention_days: 0,
        seq: 0,
        updated_at: 0,
    };
    for (table, problems) in [
        (
            "consent_history",
            compare(
                &history_row,
                &describe_table(&client, "consent_history")
                    .await
                    .expect("described"),
            ),
        ),
        (
            "retention_log",
            compare(
                &retention_log,
                &describe_table(&client, "retention_log")
                    .await
                    .expect("described"),
            ),
        ),
        (
            "tenant_retention",
            compare(
                &retention,
                &describe_table(&client, "tenant_retention")
                    .await
                    .expect("described"),
            ),
        ),
    ] {
        assert!(problems.is_empty(), "{table}: {problems:?}");
    }

    let sql = client
        .query(&history::subscriber_history_sql())
        .bind("t")
        .bind("s")
        .sql_display()
        .to_string();
    let columns = describe_query(&client, &sql).await.expect("described");
    let change = ConsentChange {
        scope: String::new(),
        campaign: String::new(),
        subscriber: String::new(),
        state: String::new(),
        level: String::new(),
        basis: String::new(),
        ts_ms: 0,
        source: String::new(),
        kafka_partition: 0,
        kafka_offset: 0,
    };
    let problems = compare(&change, &columns);
    assert!(problems.is_empty(), "consent history query: {problems:?}");
}
