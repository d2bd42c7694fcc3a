//! What the aggregator asks ClickHouse to store each batch exactly once: the watermark of
//! stored Kafka offsets, the ids of recently stored events, whether an insert is still running,
//! and the insert itself.

use std::collections::HashMap;
use std::time::Duration;

use clickhouse::Client;
use serde::Deserialize;
use uuid::Uuid;

use crate::rows::{EventRow, EVENTS_TABLE};
use crate::StoreError;

#[derive(Debug, Deserialize, clickhouse::Row)]
struct PartitionWatermark {
    kafka_partition: i32,
    max_offset: i64,
}

/// Result columns: kafka_partition Int32, max_offset Int64.
pub const WATERMARKS_SQL: &str = "SELECT kafka_partition, maxMerge(max_offset) AS max_offset \
     FROM ingest_offsets WHERE kafka_topic = ? GROUP BY kafka_partition";

/// The highest stored offset of every partition of `topic` that has any stored row.
pub async fn watermarks(client: &Client, topic: &str) -> Result<HashMap<i32, i64>, StoreError> {
    let rows = client
        .query(WATERMARKS_SQL)
        .bind(topic)
        .fetch_all::<PartitionWatermark>()
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.kafka_partition, row.max_offset))
        .collect())
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct StoredId {
    #[serde(with = "clickhouse::serde::uuid")]
    event_id: Uuid,
}

/// Result columns: event_id UUID.
pub const RECENT_IDS_SQL: &str = "SELECT event_id FROM events \
     WHERE kafka_topic = ? AND has(?, kafka_partition) AND ts >= toDateTime(?) \
     ORDER BY ingested_at DESC LIMIT ?";

/// Ids of events from `partitions` of `topic` stored with a time after `since_unix`
/// (seconds), newest ingested first, at most `limit`. Loaded when the aggregator is assigned a
/// partition: a duplicate always lands in its original's partition (same key), so the ids of
/// that partition are all it needs to recognise one, whoever stored the original. This scans
/// `events` within the time window (the partitions the time condition keeps); it runs once per
/// assignment, not per batch.
pub async fn recent_event_ids(
    client: &Client,
    topic: &str,
    partitions: &[i32],
    since_unix: u32,
    limit: u64,
) -> Result<Vec<Uuid>, StoreError> {
    let rows = client
        .query(RECENT_IDS_SQL)
        .bind(topic)
        .bind(partitions)
        .bind(since_unix)
        .bind(limit)
        .fetch_all::<StoredId>()
        .await?;
    Ok(rows.into_iter().map(|row| row.event_id).collect())
}

/// Whether a query with this id is still running on the server: an insert the client gave up
/// on may still complete, so it must be over before the watermark is trusted again.
pub async fn query_running(client: &Client, query_id: &str) -> Result<bool, StoreError> {
    let running = client
        .query("SELECT count() FROM system.processes WHERE query_id = ?")
        .bind(query_id)
        .fetch_one::<u64>()
        .await?;
    Ok(running > 0)
}

/// Writes `rows` to `events` as one INSERT (one block: the views count it once), tagged with
/// `query_id`. Returns the number of rows written. `timeout` bounds sending and the server's
/// answer separately.
pub async fn insert_events<'a, I>(
    client: &Client,
    rows: I,
    query_id: &str,
    timeout: Duration,
) -> Result<u64, StoreError>
where
    I: IntoIterator<Item = EventRow<'a>>,
{
    let mut insert = client
        .insert::<EventRow<'_>>(EVENTS_TABLE)
        .await?
        .with_setting("query_id", query_id)
        .with_timeouts(Some(timeout), Some(timeout));
    let mut written = 0u64;
    for row in rows {
        insert.write(&row).await?;
        written += 1;
    }
    insert.end().await?;
    Ok(written)
}
