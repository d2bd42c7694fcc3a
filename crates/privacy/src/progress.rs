//! Waiting until every running aggregator applies a consent-topic record.
//!
//! Each aggregator process reports in `consent_progress` (written by the aggregator's
//! `consent_progress` module) the next consent offset per partition that it has applied *and*
//! that no insert gated with an older consent book is still running. A heartbeat row
//! (partition -1) says it is alive (`applied_offset` 0) or stopped cleanly (-2). A record at
//! offset `o` is in force once every live replica reports more than `o` for its partition.
//!
//! A replica that died without a clean stop is ignored once its heartbeat is older than
//! [`LIVENESS`]; an INSERT it left running on the server is waited out separately
//! ([`wait_for_older_inserts`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use clickhouse::Client;
use serde::Deserialize;

use crate::PrivacyError;

/// A replica whose heartbeat is older than this is considered gone.
pub const LIVENESS: Duration = Duration::from_secs(30);

/// Heartbeat partition and its values.
const HEARTBEAT_PARTITION: i32 = -1;
const STOPPED: i64 = -2;

#[derive(Debug, Deserialize, clickhouse::Row)]
struct ProgressRow {
    replica: String,
    kafka_partition: i32,
    applied_offset: i64,
    age_secs: u64,
}

const PROGRESS_SQL: &str = "SELECT replica, kafka_partition, \
       argMax(applied_offset, seq) AS applied_offset, \
       toUInt64(greatest(0, toInt64(now()) - toInt64(max(reported_at)))) AS age_secs \
     FROM consent_progress WHERE consent_topic = ? \
     GROUP BY replica, kafka_partition";

/// Replicas that are alive and have not yet applied every target (partition → offset).
async fn lagging(
    client: &Client,
    topic: &str,
    targets: &BTreeMap<i32, i64>,
) -> Result<Vec<String>, PrivacyError> {
    let rows = client
        .query(PROGRESS_SQL)
        .bind(topic)
        .fetch_all::<ProgressRow>()
        .await?;
    let mut live = BTreeSet::new();
    for row in &rows {
        if row.kafka_partition == HEARTBEAT_PARTITION
            && row.applied_offset != STOPPED
            && row.age_secs < LIVENESS.as_secs()
        {
            live.insert(row.replica.as_str());
        }
    }
    let mut applied: BTreeMap<(&str, i32), i64> = BTreeMap::new();
    for row in &rows {
        applied.insert(
            (row.replica.as_str(), row.kafka_partition),
            row.applied_offset,
        );
    }
    Ok(live
        .into_iter()
        .filter(|replica| {
            targets.iter().any(|(partition, offset)| {
                applied
                    .get(&(*replica, *partition))
                    .is_none_or(|next| next <= offset)
            })
        })
        .map(str::to_string)
        .collect())
}

/// Waits until every live aggregator has applied the records at `targets` (partition →
/// highest offset written there), or fails with [`PrivacyError::AggregatorLagging`].
pub(crate) async fn wait_applied(
    client: &Client,
    topic: &str,
    targets: &BTreeMap<i32, i64>,
    timeout: Duration,
) -> Result<(), PrivacyError> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        let behind = lagging(client, topic, targets).await?;
        if behind.is_empty() {
            return Ok(());
        }
        if started.elapsed() >= timeout {
            return Err(PrivacyError::AggregatorLagging {
                replicas: behind,
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}

/// Waits until no INSERT into an `events` table that started before `since` is still running
/// on the server: an aggregator that died mid-insert may have left one behind, gated with the
/// consent it knew then. Inserts time out after a minute, so this ends.
pub(crate) async fn wait_for_older_inserts(
    client: &Client,
    since: Instant,
    timeout: Duration,
) -> Result<(), PrivacyError> {
    let started = Instant::now();
    loop {
        let older_than = since.elapsed().as_secs_f64();
        let running = client
            .query(
                "SELECT count() FROM system.processes \
                 WHERE positionCaseInsensitive(query, 'INSERT INTO events') = 1 \
                   AND elapsed >= ?",
            )
            .bind(older_than)
            .fetch_one::<u64>()
            .await?;
        if running == 0 {
            return Ok(());
        }
        if started.elapsed() >= timeout {
            return Err(PrivacyError::AggregatorLagging {
                replicas: vec![format!("{running} INSERT(s) still running on ClickHouse")],
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
