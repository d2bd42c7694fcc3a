//! Names unique across tests, processes and runs on one machine, readable in broker and
//! database listings: `<prefix>_<millis since epoch, hex>_<pid, hex>_<counter>`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique name starting with `prefix`, valid both as a Kafka topic and as a ClickHouse
/// identifier: characters outside `[A-Za-z0-9_]` in the prefix become `_`, and a prefix that
/// does not start with a letter gets a leading `t`.
pub fn unique_name(prefix: &str) -> String {
    let mut name: String = prefix
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name.insert(0, 't');
    }
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis())
        .unwrap_or_default();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{name}_{millis:x}_{:x}_{count}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_within_a_process() {
        let names: std::collections::HashSet<String> =
            (0..1000).map(|_| unique_name("same")).collect();
        assert_eq!(names.len(), 1000);
    }

    #[test]
    fn names_are_valid_clickhouse_identifiers_and_kafka_topics() {
        for prefix in ["events", "my-test.case", "9lives", "", "ünïcode"] {
            let name = unique_name(prefix);
            assert!(
                mailpulse_config::valid_identifier(&name),
                "`{name}` from `{prefix}` is not a ClickHouse identifier"
            );
            assert!(name.len() <= 249, "`{name}` is too long for a Kafka topic");
        }
    }

    #[test]
    fn names_keep_the_prefix_readable() {
        assert!(unique_name("stack-roundtrip").starts_with("stack_roundtrip_"));
    }
}
