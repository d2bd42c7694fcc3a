//! Access and portability: the export holds exactly the subscriber's rows, in the documented
//! shape (`schemas/export.v1.json`).

mod privacy_common;

use std::collections::BTreeSet;
use std::time::Duration;

use mailpulse_event::TrackingLevel;
use mailpulse_privacy::{Tracking, EXPORT_SCHEMA};
use privacy_common::*;
use serde_json::Value;

const SUBJECT: &str = "subject-export-1";
const OTHER: &str = "other-export-2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_is_exactly_the_subscribers_rows_and_history() {
    let env = Env::new("priv_export").await;
    let privacy = env.privacy();
    let client = env.client();
    let aggregator = Aggregator::start(&env.config);

    privacy
        .set_consent(
            TENANT,
            SUBJECT,
            Tracking::Level(TrackingLevel::Pseudonymous),
            "test",
        )
        .await
        .expect("consent");
    let mut events = vec![open(TENANT, "c1", SUBJECT), open(TENANT, "c1", OTHER)];
    env.produce(&events).await;
    wait_until(Duration::from_secs(30), "first opens stored", || async {
        campaign_rows(&client, "c1").await == 2
    })
    .await;
    privacy
        .set_consent(TENANT, SUBJECT, Tracking::Granted, "test")
        .await
        .expect("consent");
    let second = vec![
        open(TENANT, "c2", SUBJECT),
        open(TENANT, "c2", SUBJECT),
        open(TENANT, "c2", OTHER),
    ];
    env.produce(&second).await;
    events.extend(second);
    wait_until(Duration::from_secs(30), "second opens stored", || async {
        campaign_rows(&client, "c2").await == 3
    })
    .await;
    aggregator.stop().await;
    // Another table keyed by subscriber (as a feature module might add one): exported as
    // `table_row` lines, with its columns.
    client
        .query(
            "CREATE TABLE signups (tenant String, subscriber_key String, list String) \
             ENGINE = MergeTree ORDER BY tenant",
        )
        .execute()
        .await
        .expect("table created");
    client
        .query("INSERT INTO signups VALUES (?, ?, 'weekly'), (?, ?, 'daily')")
        .bind(TENANT)
        .bind(SUBJECT)
        .bind(TENANT)
        .bind(OTHER)
        .execute()
        .await
        .expect("rows inserted");

    let mut out = Vec::new();
    let summary = privacy
        .export(TENANT, SUBJECT, &mut out)
        .await
        .expect("export written");
    let text = String::from_utf8(out).expect("UTF-8");
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("every line is JSON"))
        .collect();

    let header = &lines[0];
    assert_eq!(header["record"], "export");
    assert_eq!(header["schema"], EXPORT_SCHEMA);
    assert_eq!(header["subscriber"], SUBJECT);
    let trailer = lines.last().expect("a trailer");
    assert_eq!(trailer["record"], "end");

    let exported: BTreeSet<String> = lines
        .iter()
        .filter(|line| line["record"] == "event")
        .map(|line| line["event_id"].as_str().expect("event_id").to_string())
        .collect();
    let expected: BTreeSet<String> = events
        .iter()
        .filter(|event| event.subscriber == SUBJECT)
        .map(|event| event.id.to_string())
        .collect();
    assert_eq!(exported, expected, "exactly the subscriber's events");
    assert_eq!(summary.events, 3);
    assert_eq!(trailer["events"], 3);
    let keys = privacy.subscriber_keys(TENANT, SUBJECT);
    for line in lines.iter().filter(|line| line["record"] == "event") {
        let key = line["subscriber_key"].as_str().expect("subscriber_key");
        assert!(
            keys.iter().any(|k| k == key),
            "{key} is one of the subject's keys"
        );
        assert!(line["kafka_offset"].is_i64(), "numbers are JSON numbers");
        assert_eq!(line["tenant"], TENANT);
    }
    assert!(
        !text.contains(OTHER),
        "nothing of the other subscriber is in the export"
    );

    let consent: Vec<&str> = lines
        .iter()
        .filter(|line| line["record"] == "consent")
        .map(|line| line["level"].as_str().expect("level"))
        .collect();
    assert_eq!(
        consent,
        vec!["pseudonymous", "default"],
        "the history, oldest first"
    );
    assert_eq!(summary.consent_changes, 2);
    let uniques: Vec<&str> = lines
        .iter()
        .filter(|line| line["record"] == "campaign_unique")
        .map(|line| line["campaign"].as_str().expect("campaign"))
        .collect();
    assert_eq!(uniques, vec!["c1", "c2"]);
    let table_rows: Vec<(&Value, &Value)> = lines
        .iter()
        .filter(|line| line["record"] == "table_row")
        .map(|line| (&line["source_table"], &line["list"]))
        .collect();
    assert_eq!(
        table_rows,
        vec![(&Value::from("signups"), &Value::from("weekly"))]
    );
    assert_eq!(summary.table_rows, 1);
    assert_eq!(
        lines.len() as u64,
        2 + summary.events
            + summary.campaign_uniques
            + summary.consent_changes
            + summary.table_rows
    );
    for line in &lines {
        assert_matches_schema(line);
    }
}

/// Checks a line against `schemas/export.v1.json`: its record type exists, it has exactly the
/// listed properties, and constants, enums and JSON types agree.
fn assert_matches_schema(line: &Value) {
    let schema: Value = serde_json::from_str(include_str!("../schemas/export.v1.json"))
        .expect("the schema is JSON");
    let record = line["record"]
        .as_str()
        .expect("every line names its record");
    let definition = &schema["$defs"][record];
    assert!(definition.is_object(), "record `{record}` is documented");
    let properties = definition["properties"]
        .as_object()
        .expect("properties listed");
    let object = line.as_object().expect("a line is an object");
    let required: Vec<&str> = definition["required"]
        .as_array()
        .expect("required listed")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for name in &required {
        assert!(object.contains_key(*name), "`{record}` line has `{name}`");
    }
    if definition["additionalProperties"] == false {
        let mut present: Vec<&String> = object.keys().collect();
        present.sort();
        let mut documented: Vec<&String> = properties.keys().collect();
        documented.sort();
        assert_eq!(
            present, documented,
            "`{record}` line has the documented fields"
        );
        assert_eq!(
            required.len(),
            properties.len(),
            "`{record}`: every field is required"
        );
    }
    for (name, spec) in properties {
        let Some(value) = object.get(name) else {
            continue;
        };
        if let Some(constant) = spec.get("const") {
            assert_eq!(value, constant, "`{record}.{name}`");
        }
        if let Some(choices) = spec.get("enum").and_then(Value::as_array) {
            assert!(
                choices.contains(value),
                "`{record}.{name}` = {value} is listed"
            );
        }
        match spec.get("type").and_then(Value::as_str) {
            Some("string") => assert!(value.is_string(), "`{record}.{name}` is a string"),
            Some("integer") => assert!(
                value.is_i64() || value.is_u64(),
                "`{record}.{name}` is an integer"
            ),
            Some("array") => assert!(value.is_array(), "`{record}.{name}` is an array"),
            _ => {}
        }
    }
}
