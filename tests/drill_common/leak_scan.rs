//! After a drill: none of the client addresses the load claimed may be anywhere the pipeline
//! writes — every message of the drill's topics (key, value, headers), every string column of
//! every table of its database, its spool files and the logs of its processes. Addresses are
//! searched as text (as written, IPv6 also fully expanded) and, for IPv6, as raw bytes.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use mailpulse_testkit::consume;

use super::env::DrillEnv;
use super::CLIENT_IPS;

/// Byte patterns that would betray a client address.
fn patterns() -> Vec<(String, Vec<u8>)> {
    let mut patterns = Vec::new();
    for text in CLIENT_IPS {
        let ip: IpAddr = text.parse().expect("client IP");
        patterns.push((text.to_string(), text.as_bytes().to_vec()));
        if let IpAddr::V6(v6) = ip {
            let expanded = v6
                .segments()
                .iter()
                .map(|s| format!("{s:04x}"))
                .collect::<Vec<_>>()
                .join(":");
            patterns.push((format!("{text} expanded"), expanded.into_bytes()));
            patterns.push((format!("{text} raw"), v6.octets().to_vec()));
        }
    }
    patterns
}

fn find_in(haystack: &[u8]) -> Option<String> {
    patterns().into_iter().find_map(|(name, needle)| {
        haystack
            .windows(needle.len())
            .any(|window| window == needle.as_slice())
            .then_some(name)
    })
}

/// Messages of every topic of the drill; returns how many were scanned (all, and of the events
/// topic). The events topic is read again (for up to a minute) while it yields fewer than
/// `min_events`: another test on the shared stack may be holding the broker down.
async fn scan_kafka(env: &DrillEnv, min_events: usize) -> (usize, usize) {
    let mut events = 0;
    let mut scanned = 0;
    for topic in env.topic_names() {
        // Asks for more than exist, so it reads everything there is until the deadline (a drill's
        // topics hold at most tens of thousands of small messages: seconds to read).
        let (more_than_exist, deadline) = if topic == env.config.kafka.events_topic {
            (200_000, Duration::from_secs(6))
        } else {
            (10_000, Duration::from_secs(2))
        };
        let is_events = topic == env.config.kafka.events_topic;
        let mut messages = Vec::new();
        for _attempt in 0..12 {
            messages = consume(&topic, more_than_exist, deadline)
                .await
                .unwrap_or_default();
            if !is_events || messages.len() >= min_events {
                break;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        for message in &messages {
            let mut parts: Vec<&[u8]> = Vec::new();
            parts.extend(message.key.as_deref());
            parts.extend(message.payload.as_deref());
            for (name, value) in &message.headers {
                parts.push(name.as_bytes());
                parts.extend(value.as_deref());
            }
            for part in parts {
                if let Some(found) = find_in(part) {
                    panic!(
                        "client address {found} in Kafka topic {topic}, partition {} offset {}",
                        message.partition, message.offset
                    );
                }
            }
        }
        scanned += messages.len();
        if is_events {
            events = messages.len();
        }
    }
    (scanned, events)
}

#[derive(Debug, serde::Deserialize, clickhouse::Row)]
struct StringColumn {
    table: String,
    name: String,
}

/// Every String-like column of every table of the drill's database; returns the cells scanned.
async fn scan_clickhouse(env: &DrillEnv) -> u64 {
    let client = env.db.client();
    // Views hold nothing of their own; materialized views' storage is in their inner tables.
    let tables = client
        .query("SELECT name FROM system.tables WHERE database = ? AND engine != 'View'")
        .bind(env.db.name())
        .fetch_all::<String>()
        .await
        .expect("table list");
    let columns: Vec<StringColumn> = client
        .query(
            "SELECT table, name FROM system.columns \
             WHERE database = ? AND type LIKE '%String%'",
        )
        .bind(env.db.name())
        .fetch_all::<StringColumn>()
        .await
        .expect("column list")
        .into_iter()
        .filter(|c| tables.contains(&c.table))
        .collect();
    assert!(
        columns
            .iter()
            .any(|c| c.table == "events" && c.name == "visitor"),
        "the scan sees the events table"
    );
    let mut cells = 0;
    for column in &columns {
        let conditions = patterns()
            .iter()
            .map(|(_, needle)| {
                format!(
                    "position(toString(`{}`), unhex('{}')) > 0",
                    column.name,
                    needle
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                )
            })
            .collect::<Vec<_>>()
            .join(" OR ");
        #[derive(Debug, serde::Deserialize, clickhouse::Row)]
        struct Hits {
            rows: u64,
            hits: u64,
        }
        let sql = format!(
            "SELECT count() AS rows, countIf({conditions}) AS hits FROM `{}`",
            column.table
        );
        let hits = client
            .query(&sql)
            .fetch_one::<Hits>()
            .await
            .unwrap_or_else(|e| panic!("scan {}.{}: {e}", column.table, column.name));
        assert_eq!(
            hits.hits, 0,
            "a client address in ClickHouse {}.{}",
            column.table, column.name
        );
        cells += hits.rows;
    }
    cells
}

/// Every file under `dir` (spool segments, logs); returns the bytes scanned.
fn scan_files(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut bytes = 0;
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            bytes += scan_files(&path);
        } else if let Ok(content) = std::fs::read(&path) {
            if let Some(found) = find_in(&content) {
                panic!("client address {found} in {}", path.display());
            }
            bytes += content.len() as u64;
        }
    }
    bytes
}

/// Runs every scan; panics on the first address found. `min_events` is how many messages the
/// events topic must at least hold (so a short read cannot pass for a clean one). Returns a
/// one-line account.
pub async fn assert_no_client_ip(env: &DrillEnv, min_events: usize) -> String {
    let (messages, events) = scan_kafka(env, min_events).await;
    assert!(
        events >= min_events,
        "read {events} event messages, expected at least {min_events}"
    );
    let cells = scan_clickhouse(env).await;
    let spool = scan_files(&env.config.edge.spool_dir);
    let logs = scan_files(&env.dir);
    assert!(messages > 0 && cells > 0, "the scans saw data");
    format!(
        "no client IP in {messages} Kafka messages, {cells} ClickHouse string cells, \
         {spool} spool bytes, {logs} log bytes"
    )
}
