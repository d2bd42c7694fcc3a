//! Tells erasure how far this process has applied the consent topic, in the
//! `consent_progress` table (`schemas/migrations/0005_privacy.sql`).
//!
//! The pipeline hands the reporter a snapshot of the applied consent offsets whenever no
//! insert gated with an older book can still land: right after it re-checked a batch against
//! the book and before that batch's INSERT, and between batches when no earlier insert is
//! unsettled. The reporter writes a row per partition whose value changed, plus a heartbeat
//! (partition -1) at least every [`HEARTBEAT`]; the heartbeat says "stopped" (-2) after a
//! clean shutdown. Erasure (`mailpulse-privacy`) waits until every live process reports past
//! its denial before deleting anything.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mailpulse_store::Client;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Longest time between two heartbeats. Erasure treats a process silent for 30 s as gone.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// Shortest time between two writes: progress changes with every batch, and erasure can wait
/// this long, so at most a few small INSERTs a second.
const MIN_SPACING: Duration = Duration::from_millis(250);

const HEARTBEAT_PARTITION: i32 = -1;
const ALIVE: i64 = 0;
const STOPPED: i64 = -2;

/// What the pipeline last said.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Report {
    /// Alive, nothing safe to claim yet.
    Starting,
    /// Partition → next consent offset applied with no older-gated insert in flight.
    Applied(BTreeMap<i32, i64>),
    /// Shut down with nothing left in flight.
    Stopped,
}

/// The pipeline's side: cheap, never waits for ClickHouse.
#[derive(Debug, Clone)]
pub struct ProgressHandle {
    reports: watch::Sender<Report>,
}

impl ProgressHandle {
    /// A snapshot of [`crate::consent_policy::AppliedOffsets`] that is now safe to claim.
    pub fn safe(&self, applied: BTreeMap<i32, i64>) {
        self.reports.send_if_modified(|current| {
            let changed = !matches!(current, Report::Applied(old) if *old == applied);
            if changed {
                *current = Report::Applied(applied);
            }
            changed
        });
    }

    /// The pipeline ended with no insert unsettled.
    pub fn stopped(&self) {
        self.reports.send_replace(Report::Stopped);
    }
}

/// Writes progress rows for one process.
pub struct Reporter {
    store: Client,
    topic: String,
    replica: String,
    /// Increases with every write, so the latest row wins in the ReplacingMergeTree.
    seq: u64,
    written: BTreeMap<i32, i64>,
}

impl Reporter {
    /// A reporter for this process, named `<host>-<uuid>`.
    pub fn new(store: Client, consent_topic: &str) -> Reporter {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "aggregator".into());
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        Reporter {
            store,
            topic: consent_topic.to_string(),
            replica: format!("{host}-{}", uuid::Uuid::now_v7()),
            seq: micros,
            written: BTreeMap::new(),
        }
    }

    /// Writes the first heartbeat, retrying until it is stored or `shutdown` turns true
    /// (false then). Must succeed before the process reads consent, so an erasure that starts
    /// later waits for this process.
    pub async fn register(&mut self, shutdown: &mut watch::Receiver<bool>) -> bool {
        let mut delay = Duration::from_millis(200);
        loop {
            match self.write(&[], ALIVE).await {
                Ok(()) => {
                    tracing::info!(replica = %self.replica, "consent progress reporting registered");
                    return true;
                }
                Err(error) => {
                    tracing::warn!(%error, ?delay, "cannot register in consent_progress (has `mailpulse migrate` run?); retrying")
                }
            }
            tokio::select! {
                _ = shutdown.changed() => return false,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    /// Starts the writer task; it ends after writing `Stopped`, or when every handle is gone.
    pub fn start(self) -> (ProgressHandle, JoinHandle<()>) {
        let (reports, receiver) = watch::channel(Report::Starting);
        let task = tokio::spawn(self.run(receiver));
        (ProgressHandle { reports }, task)
    }

    async fn run(mut self, mut receiver: watch::Receiver<Report>) {
        loop {
            let closed = tokio::select! {
                changed = receiver.changed() => changed.is_err(),
                _ = tokio::time::sleep(HEARTBEAT) => false,
            };
            if closed {
                return;
            }
            let report = receiver.borrow_and_update().clone();
            let result = match &report {
                Report::Starting => self.write(&[], ALIVE).await,
                Report::Applied(applied) => {
                    let changed: Vec<(i32, i64)> = applied
                        .iter()
                        .filter(|(p, o)| self.written.get(p) != Some(o))
                        .map(|(p, o)| (*p, *o))
                        .collect();
                    let result = self.write(&changed, ALIVE).await;
                    if result.is_ok() {
                        self.written.extend(changed);
                    }
                    result
                }
                Report::Stopped => self.write(&[], STOPPED).await,
            };
            if let Err(error) = result {
                tracing::warn!(%error, "cannot write consent progress; will retry");
            }
            if report == Report::Stopped {
                return;
            }
            tokio::time::sleep(MIN_SPACING).await;
        }
    }

    /// One INSERT: the changed partitions and the heartbeat, stamped with the server's clock.
    async fn write(
        &mut self,
        partitions: &[(i32, i64)],
        heartbeat: i64,
    ) -> Result<(), mailpulse_store::StoreError> {
        self.seq += 1;
        let rows = partitions
            .iter()
            .copied()
            .chain([(HEARTBEAT_PARTITION, heartbeat)]);
        let values = vec!["(?, ?, ?, ?, ?, now())"; partitions.len() + 1].join(", ");
        let sql = format!(
            "INSERT INTO consent_progress \
             (consent_topic, replica, kafka_partition, applied_offset, seq, reported_at) \
             VALUES {values}"
        );
        let mut query = self.store.query(&sql);
        for (partition, offset) in rows {
            query = query
                .bind(self.topic.as_str())
                .bind(self.replica.as_str())
                .bind(partition)
                .bind(offset)
                .bind(self.seq);
        }
        query.execute().await?;
        Ok(())
    }
}
