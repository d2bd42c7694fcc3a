//! A full mailpulse configuration aimed at the stack, with names no other test shares.

use mailpulse_config::Config;

use crate::{try_stack, unique_group_id, unique_name, TestkitError};

/// A [`Config`] pointed at the local stack: its brokers, ClickHouse and MMDB files, unique
/// topic names, database, consumer group and spool directory (under `.stack/test-spool/`), and
/// `127.0.0.1:0` listeners so parallel tests never collide on a port.
///
/// Nothing is created: make the topics and database with [`crate::TestTopic::with_name`] and
/// [`crate::TestDatabase::with_name`] when the code under test does not create them itself.
/// It is built from the defaults plus `MAILPULSE_*` overrides only, ignoring the test process's
/// own environment.
pub fn test_config(prefix: &str) -> Result<Config, TestkitError> {
    let stack = try_stack()?;
    let base = unique_name(prefix);
    let overrides = [
        ("KAFKA_BROKERS", stack.kafka_brokers.clone()),
        ("KAFKA_EVENTS_TOPIC", format!("{base}_events")),
        ("KAFKA_CONSENT_TOPIC", format!("{base}_consent")),
        ("KAFKA_DLQ_TOPIC", format!("{base}_dlq")),
        ("KAFKA_SALT_TOPIC", format!("{base}_salt")),
        ("KAFKA_DELIVERIES_TOPIC", format!("{base}_deliveries")),
        ("CLICKHOUSE_URL", stack.clickhouse_url.clone()),
        ("CLICKHOUSE_DATABASE", base.clone()),
        ("EDGE_GEO_DB", stack.geo_db.display().to_string()),
        ("EDGE_ASN_DB", stack.asn_db.display().to_string()),
        (
            "EDGE_SPOOL_DIR",
            stack
                .dir
                .join("test-spool")
                .join(&base)
                .display()
                .to_string(),
        ),
        ("EDGE_LISTEN", "127.0.0.1:0".to_string()),
        ("API_LISTEN", "127.0.0.1:0".to_string()),
        ("AGGREGATOR_GROUP_ID", unique_group_id(prefix)),
    ];
    let env: Vec<(String, String)> = overrides
        .into_iter()
        .map(|(key, value)| (format!("MAILPULSE_{key}"), value))
        .collect();
    Ok(Config::load_with_env(None, &env)?)
}
