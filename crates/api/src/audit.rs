//! The `audit_log` table: who (tenant, key id or `cli`) did what (`action`), to whom
//! (`subject`: a subscriber id, and only when the call named one) and how it ended.
//!
//! Two ways in: [`append`] writes at once and reports failure — for actions that must not
//! happen unrecorded (key management, erasure); [`AuditLog::record`] queues an entry for a
//! background writer that inserts once a second — for every API read, where one ClickHouse
//! INSERT per request would cost more than the request. A full queue drops entries and
//! counts them (`mailpulse_api_audit_dropped_total`) rather than slowing the API down.

use std::sync::Arc;
use std::time::Duration;

use clickhouse::Client;
use prometheus_client::metrics::counter::Counter;
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::tenant::now_secs;
use crate::ApiError;

/// Entries waiting for the background writer before new ones are dropped.
const QUEUE_CAPACITY: usize = 10_000;
/// How often queued entries are written.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Entries per INSERT at most.
const MAX_BATCH: usize = 1_000;

/// How an audited call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Refused: not permitted, or a resource of another tenant.
    Denied,
    NotFound,
    /// The request was invalid.
    Invalid,
    /// The server failed.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::NotFound => "not_found",
            Outcome::Invalid => "invalid",
            Outcome::Failed => "failed",
        }
    }

    /// The outcome an HTTP status stands for.
    pub fn of_status(status: u16) -> Outcome {
        match status {
            200..=399 => Outcome::Ok,
            401 | 403 => Outcome::Denied,
            404 => Outcome::NotFound,
            400..=499 => Outcome::Invalid,
            _ => Outcome::Failed,
        }
    }
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Seconds since the Unix epoch.
    pub ts: u32,
    pub tenant: String,
    /// An API key id, or `cli` for the command line.
    pub actor: String,
    /// A stable dotted name, e.g. `stats.summary`, `tenant.key_created`.
    pub action: String,
    /// A subscriber id when the call named one, else empty.
    pub subject: String,
    pub outcome: Outcome,
}

impl AuditEntry {
    /// An entry stamped now, with no subject.
    pub fn now(
        tenant: impl Into<String>,
        actor: impl Into<String>,
        action: impl Into<String>,
        outcome: Outcome,
    ) -> AuditEntry {
        AuditEntry {
            ts: now_secs(),
            tenant: tenant.into(),
            actor: actor.into(),
            action: action.into(),
            subject: String::new(),
            outcome,
        }
    }

    /// The same entry naming a subscriber.
    pub fn with_subject(mut self, subscriber: impl Into<String>) -> AuditEntry {
        self.subject = subscriber.into();
        self
    }
}

/// A row of `audit_log`, borrowed from an entry.
#[derive(Debug, Default, Serialize, clickhouse::Row)]
pub struct AuditRow<'a> {
    pub ts: u32,
    pub tenant: &'a str,
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub outcome: &'a str,
}

impl<'a> From<&'a AuditEntry> for AuditRow<'a> {
    fn from(entry: &'a AuditEntry) -> Self {
        AuditRow {
            ts: entry.ts,
            tenant: &entry.tenant,
            actor: &entry.actor,
            action: &entry.action,
            subject: &entry.subject,
            outcome: entry.outcome.as_str(),
        }
    }
}

/// Writes entries now, as one INSERT.
pub async fn append(client: &Client, entries: &[AuditEntry]) -> Result<(), ApiError> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut insert = client.insert::<AuditRow<'_>>("audit_log").await?;
    for entry in entries {
        insert.write(&AuditRow::from(entry)).await?;
    }
    insert.end().await?;
    Ok(())
}

/// Counters of the background writer.
#[derive(Debug, Clone, Default)]
pub struct AuditCounters {
    pub written: Counter,
    pub dropped: Counter,
}

/// The queue of the background writer; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    client: Client,
    queue: mpsc::Sender<AuditEntry>,
    counters: Arc<AuditCounters>,
}

/// The background writer; [`AuditWriter::finish`] writes what is queued and stops it.
pub struct AuditWriter {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl AuditWriter {
    /// Writes every queued entry, then returns.
    pub async fn finish(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl AuditLog {
    /// Starts the background writer.
    pub fn start(client: Client, counters: Arc<AuditCounters>) -> (AuditLog, AuditWriter) {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(write_queued(
            client.clone(),
            receiver,
            stopped,
            counters.clone(),
        ));
        (
            AuditLog {
                client,
                queue,
                counters,
            },
            AuditWriter { stop, task },
        )
    }

    /// Queues an entry; never waits. A full queue drops it (counted).
    pub fn record(&self, entry: AuditEntry) {
        if self.queue.try_send(entry).is_err() {
            self.counters.dropped.inc();
        }
    }

    /// Writes an entry now and reports failure (for actions that must be on record).
    pub async fn append(&self, entry: AuditEntry) -> Result<(), ApiError> {
        append(&self.client, std::slice::from_ref(&entry)).await?;
        self.counters.written.inc();
        Ok(())
    }
}

async fn write_queued(
    client: Client,
    mut receiver: mpsc::Receiver<AuditEntry>,
    mut stop: watch::Receiver<bool>,
    counters: Arc<AuditCounters>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut stopping = false;
    while !stopping {
        tokio::select! {
            received = receiver.recv_many(&mut batch, MAX_BATCH) => {
                if received == 0 {
                    return;
                }
                // Let a burst gather into one insert.
                tokio::select! {
                    () = tokio::time::sleep(FLUSH_INTERVAL) => {}
                    _ = stop.changed() => stopping = true,
                }
            }
            _ = stop.changed() => stopping = true,
        }
        while batch.len() < MAX_BATCH || stopping {
            match receiver.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(_) => break,
            }
        }
        for chunk in batch.chunks(MAX_BATCH) {
            match append(&client, chunk).await {
                Ok(()) => {
                    counters.written.inc_by(chunk.len() as u64);
                }
                Err(error) => {
                    tracing::warn!(%error, entries = chunk.len(), "audit entries could not be written");
                    counters.dropped.inc_by(chunk.len() as u64);
                }
            }
        }
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_outcomes() {
        assert_eq!(Outcome::of_status(200), Outcome::Ok);
        assert_eq!(Outcome::of_status(401), Outcome::Denied);
        assert_eq!(Outcome::of_status(404), Outcome::NotFound);
        assert_eq!(Outcome::of_status(400), Outcome::Invalid);
        assert_eq!(Outcome::of_status(503), Outcome::Failed);
    }

    #[test]
    fn a_subject_is_only_set_when_asked() {
        let entry = AuditEntry::now("acme", "k1", "stats.summary", Outcome::Ok);
        assert_eq!(entry.subject, "");
        assert_eq!(entry.with_subject("sub-9").subject, "sub-9");
    }
}
