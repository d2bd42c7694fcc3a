//! Bulk consent import: every bad line is reported with its number and code, and nothing is
//! applied (neither on the consent topic nor in the history) unless partial import was asked.

mod privacy_common;

use std::time::Duration;

use mailpulse_privacy::{ImportFormat, ImportMode, PrivacyError};
use privacy_common::*;

const MALFORMED: &str = "subscriber,tracking\n\
                         s1,granted\n\
                         s2,denied\n\
                         s3,sometimes\n\
                         \n\
                         s4\n\
                         \"s5,restricted\n\
                         s6,pseudonymous\n";

async fn history_rows(client: &mailpulse_store::Client) -> u64 {
    count(
        client,
        "SELECT count() FROM consent_history WHERE tenant = ?",
        &[TENANT],
    )
    .await
}

async fn topic_records(env: &Env) -> usize {
    mailpulse_testkit::consume(env.consent.name(), 100, Duration::from_secs(3))
        .await
        .expect("consent topic readable")
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_import_applies_nothing_and_reports_every_bad_line() {
    let env = Env::new("priv_import").await;
    let privacy = env.privacy();
    let client = env.client();

    let error = privacy
        .import(
            TENANT,
            MALFORMED.as_bytes(),
            ImportFormat::Csv,
            ImportMode::AllOrNothing,
            "import",
        )
        .await
        .expect_err("bad lines refuse the import");
    assert_eq!(error.code(), "malformed_import");
    let PrivacyError::MalformedImport(report) = error else {
        panic!("the error carries the report");
    };
    let bad: Vec<(u64, &str)> = report
        .errors
        .iter()
        .map(|e| (e.line, e.code.as_str()))
        .collect();
    assert_eq!(
        bad,
        vec![
            (4, "invalid_tracking"),
            (6, "wrong_field_count"),
            (7, "malformed_csv")
        ]
    );
    assert_eq!((report.lines, report.valid, report.applied), (6, 3, 0));
    assert_eq!(history_rows(&client).await, 0, "no history row written");
    assert_eq!(topic_records(&env).await, 0, "nothing on the consent topic");

    // Partial: the good lines go through, the bad ones are still reported.
    let report = privacy
        .import(
            TENANT,
            MALFORMED.as_bytes(),
            ImportFormat::Csv,
            ImportMode::Partial,
            "import",
        )
        .await
        .expect("partial import applies the good lines");
    assert_eq!(
        (report.valid, report.applied, report.errors_total),
        (3, 3, 3)
    );
    assert_eq!(history_rows(&client).await, 3);
    assert_eq!(topic_records(&env).await, 3);
    let view = privacy.consent(TENANT, "s6").await.expect("readable");
    assert_eq!(view.tracking.as_deref(), Some("pseudonymous"));
    assert_eq!(view.history[0].source, "import");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_jsonl_import_is_applied_in_order_and_honoured_by_the_aggregator() {
    let env = Env::new("priv_import_jsonl").await;
    let privacy = env.privacy();
    let client = env.client();
    let lines: String = (0..200)
        .map(|i| format!("{{\"subscriber\":\"j{i}\",\"tracking\":\"granted\"}}\n"))
        .chain(["{\"subscriber\":\"j7\",\"tracking\":\"denied\"}\n".to_string()])
        .collect();
    let report = privacy
        .import(
            TENANT,
            lines.as_bytes(),
            ImportFormat::Jsonl,
            ImportMode::AllOrNothing,
            "import",
        )
        .await
        .expect("a valid import applies");
    assert_eq!(
        (report.lines, report.applied, report.errors_total),
        (201, 201, 0)
    );
    assert_eq!(history_rows(&client).await, 201);
    let view = privacy.consent(TENANT, "j7").await.expect("readable");
    assert_eq!(
        view.tracking.as_deref(),
        Some("denied"),
        "the later line wins"
    );

    let aggregator = Aggregator::start(&env.config);
    env.produce(&[open(TENANT, CAMPAIGN, "j7"), open(TENANT, CAMPAIGN, "j8")])
        .await;
    wait_until(Duration::from_secs(30), "both opens counted", || async {
        campaign_rows(&client, CAMPAIGN).await == 2
    })
    .await;
    aggregator.stop().await;
    assert_eq!(
        rows_with_key(&client, "j7").await,
        0,
        "j7 denied: anonymous"
    );
    assert_eq!(
        rows_with_key(&client, "j8").await,
        1,
        "j8 granted: identified"
    );
}
