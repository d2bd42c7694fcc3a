//! The consume → enrich → gate → batch → insert → commit loop.
//!
//! # Exactly once in effect
//!
//! Kafka delivers at least once: offsets are committed only after the batch's INSERT has
//! succeeded (auto commit and auto offset store are off). Two filters turn that into
//! exactly-once statistics:
//!
//! - **The watermark.** `ingest_offsets` holds the highest stored offset per partition and is
//!   written by the same INSERT as the rows. A message at or below it was stored already (a
//!   redelivery after a crash before the commit, or an insert the client saw fail but the
//!   server completed). It is read when a partition is assigned and again after any failed
//!   insert — once that insert is known to be no longer running on the server.
//! - **Recent event ids.** A bounded set of stored ids catches duplicates produced upstream
//!   (same event id, another offset). The ids stored from a partition are loaded from
//!   ClickHouse whenever the partition is (re)assigned, since a duplicate always lands in its
//!   original's partition, and checked again just before each insert.
//!
//! One batch is one INSERT into `events`; every statistic is a materialized view of it, so a
//! batch is counted once, as a block. What remains: a server killed *between* writing `events`
//! and writing the views can leave some views with the batch and some without (see
//! `schemas/README.md`).
//!
//! # ClickHouse unavailable
//!
//! The batch is kept, consumption is paused (the consumer keeps polling so the group does not
//! evict it), and the insert is retried with exponential backoff up to 30 s. Nothing is
//! committed or dropped meanwhile; consumption resumes by itself.
//!
//! # Rebalances
//!
//! Revocations arrive inside `recv()`, never during a foreground insert, and wait for a
//! background one to end (`crate::inflight`): the part of the batch from a revoked partition is
//! discarded before anything else happens, and the new owner re-reads it from the last commit.
//!
//! Storing a batch (filters, INSERT, commit) is in `crate::storing`.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mailpulse_event::{Event, TrackingLevel};
use mailpulse_store::Client;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use tokio::sync::watch;
use uuid::Uuid;

use crate::admin::Health;
use crate::batch::{Batch, DeadLetter};
use crate::consent::ConsentBook;
use crate::consent_progress::ProgressHandle;
use crate::dedup::RecentIds;
use crate::dlq::DeadLetters;
use crate::enrichment::Enrichments;
use crate::gate::{Decision, Gate};
use crate::inflight::InFlight;
use crate::kafka::{PipelineContext, RebalanceEvent};
use crate::metrics::Metrics;
use crate::row::{anonymous_id, stored_id, PendingRow, Pseudonymizer, SubscriberKey};
use crate::storing::Flushed;

/// How long `recv()` may wait with an empty batch before the loop looks around again.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Tunables of the loop (from `[aggregator]`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub topic: String,
    pub batch_max_rows: usize,
    pub batch_max_wait: Duration,
    pub retry_initial: Duration,
    pub insert_timeout: Duration,
    pub dedup_capacity: usize,
    pub dedup_window_secs: u64,
}

/// A message reduced to what the pipeline needs, so the consumer is not borrowed while the
/// pipeline works on it.
pub(crate) struct Incoming {
    partition: i32,
    offset: i64,
    content: Result<Event, DeadLetter>,
}

impl Incoming {
    pub(crate) fn from_message(message: &BorrowedMessage<'_>) -> Incoming {
        let partition = message.partition();
        let offset = message.offset();
        let payload = message.payload().unwrap_or_default();
        let content = Event::from_json(payload).map_err(|error| DeadLetter {
            partition,
            offset,
            key: message.key().map(<[u8]>::to_vec),
            payload: payload.to_vec(),
            reason: error.to_string(),
            delivery: None,
        });
        Incoming {
            partition,
            offset,
            content,
        }
    }
}

pub struct Pipeline {
    pub(crate) consumer: StreamConsumer<PipelineContext>,
    pub(crate) store: Client,
    pub(crate) dead_letters: DeadLetters,
    pub(crate) gate: Gate,
    pub(crate) pseudonymizer: Pseudonymizer,
    pub(crate) consent: ConsentBook,
    /// Where the consent offsets that are safe to claim go (erasure waits on them).
    pub(crate) progress: ProgressHandle,
    pub(crate) enrichments: Enrichments,
    pub(crate) metrics: Metrics,
    pub(crate) health: Health,
    pub(crate) settings: Settings,
    pub(crate) recent: RecentIds,
    pub(crate) batch: Batch,
    /// Known watermarks: partition → highest stored offset (`None`: nothing stored). A missing
    /// partition must be read from ClickHouse before its rows are inserted.
    pub(crate) watermarks: HashMap<i32, Option<i64>>,
    pub(crate) assigned: HashSet<i32>,
    pub(crate) paused: bool,
    /// An insert the client gave up on, which must be over before watermarks are trusted.
    pub(crate) unsettled_insert: Option<String>,
    /// Consent records of accepted unsubscribes, confirmed before the batch is committed.
    pub(crate) withdrawals: crate::unsubscribe::Withdrawals,
    /// The insert running in the background while the next batch is read (see `inflight`).
    pub(crate) in_flight: Option<InFlight>,
    /// A background insert failed: its batch, merged with what was read since, must be stored
    /// by the sequential (pausing, retrying) path next.
    pub(crate) retry_pending: bool,
}

/// The rows of `pending` (a named function: an inline closure here trips the compiler's
/// `Send` inference for the async caller).
pub(crate) fn event_rows<'a>(
    pending: &'a [PendingRow],
    topic: &'a str,
    ingested_at: u32,
) -> impl Iterator<Item = mailpulse_store::EventRow<'a>> + Send + 'a {
    pending
        .iter()
        .map(move |row| row.to_row(topic, ingested_at))
}

/// Whether shutdown was requested (the borrow ends here, never held across an await).
pub(crate) fn stopping(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow()
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Pipeline {
    /// Runs until `shutdown` turns true, then stores or abandons the batch, commits what is
    /// stored and leaves the group.
    pub async fn run(
        mut self,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), crate::AggregatorError> {
        self.consumer
            .subscribe(&[self.settings.topic.as_str()])
            .map_err(crate::AggregatorError::Kafka)?;
        self.health.set_consuming(true);
        tracing::info!(topic = %self.settings.topic, "consuming");

        // Overlapping inserts with reading needs a runtime on which a revocation may block.
        let overlap = tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread;
        while !stopping(&shutdown) {
            if self.unsettled_insert.is_none() && self.in_flight.is_none() {
                // No insert in flight, and the next one re-checks consent first.
                self.progress.safe(self.consent.applied().snapshot());
            }
            let wait = self
                .batch
                .deadline(self.settings.batch_max_wait)
                .map_or(IDLE_POLL, |deadline| {
                    deadline.saturating_duration_since(Instant::now())
                });
            let received = tokio::select! {
                _ = shutdown.changed() => None,
                received = tokio::time::timeout(wait, self.consumer.recv()) => match received {
                    Ok(Ok(message)) => Some(Incoming::from_message(&message)),
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "consume error");
                        None
                    }
                    Err(_elapsed) => None,
                },
            };
            // An insert that ended is settled first; so is one a revocation just waited for, so
            // that its batch (if it failed) is trimmed of the revoked partitions below.
            let ended = self
                .in_flight
                .as_ref()
                .is_some_and(|in_flight| in_flight.task.is_finished());
            if ended || (self.in_flight.is_some() && self.consumer.context().has_events()) {
                self.settle_in_flight().await;
            }
            // Rebalances happened inside recv(), before the message it returned.
            self.apply_rebalances();
            if let Some(incoming) = received {
                self.handle(incoming);
            }
            if self.retry_pending {
                self.retry_pending = false;
                self.flush(&mut shutdown, CommitMode::Async).await;
            } else if self
                .batch
                .is_due(self.settings.batch_max_rows, self.settings.batch_max_wait)
            {
                if overlap {
                    self.flush_in_background(&mut shutdown).await;
                } else {
                    self.flush(&mut shutdown, CommitMode::Async).await;
                }
            }
        }

        tracing::info!("shutting down: storing the last batch");
        self.health.set_consuming(false);
        self.settle_in_flight().await;
        self.apply_rebalances();
        if !self.batch.is_empty() {
            // One attempt: shutdown is set, so a failure abandons instead of waiting.
            if self.flush(&mut shutdown, CommitMode::Sync).await == Flushed::Abandoned {
                tracing::warn!(
                    messages = self.batch.messages(),
                    "last batch abandoned; it will be read again"
                );
            }
        }
        self.dead_letters.flush(Duration::from_secs(5));
        self.consumer.unsubscribe();
        if self.unsettled_insert.is_none() {
            self.progress.stopped();
        }
        Ok(())
    }

    pub(crate) fn apply_rebalances(&mut self) {
        for event in self.consumer.context().take_events() {
            match event {
                RebalanceEvent::Revoked(partitions) => {
                    self.batch.discard_partitions(&partitions);
                    for partition in &partitions {
                        self.watermarks.remove(partition);
                        self.assigned.remove(partition);
                    }
                }
                RebalanceEvent::Assigned(partitions) => {
                    for partition in &partitions {
                        // Another consumer may have stored more since we last looked.
                        self.watermarks.remove(partition);
                        self.recent.forget_seeding(*partition);
                        self.assigned.insert(*partition);
                    }
                    if self.paused {
                        self.set_paused(true);
                    }
                }
            }
        }
    }

    pub(crate) fn handle(&mut self, incoming: Incoming) {
        self.metrics.consumed.inc();
        let Incoming {
            partition,
            offset,
            content,
        } = incoming;
        match content {
            Err(mut letter) => {
                tracing::warn!(partition, offset, reason = %letter.reason, "poison message to the dead-letter topic");
                self.metrics.skip("dlq");
                self.dead_letters.send(&mut letter);
                self.batch.push_dead_letter(letter);
            }
            Ok(event) => self.accept(event, partition, offset),
        }
        self.batch.processed(partition, offset);
    }

    fn accept(&mut self, event: Event, partition: i32, offset: i64) {
        if matches!(self.watermarks.get(&partition), Some(Some(stored)) if offset <= *stored) {
            // Stored before: remember the id, or a later upstream duplicate of it (another
            // offset, past the watermark) would be stored a second time.
            self.recent.insert(event.id, unix_now());
            self.metrics.skip("offset");
            return;
        }
        let anonymous = anonymous_id(&event.id);
        let in_flight = |id: &Uuid| {
            self.in_flight
                .as_ref()
                .is_some_and(|in_flight| in_flight.contains_id(id))
        };
        if self.recent.contains_event(&event.id, &anonymous)
            || self.batch.contains_id(&event.id)
            || self.batch.contains_id(&anonymous)
            || in_flight(&event.id)
            || in_flight(&anonymous)
        {
            self.metrics.skip("event_id");
            return;
        }
        // Before the gate: an unsubscribe is honoured whatever may be stored of the event.
        if event.kind == mailpulse_event::EventKind::Unsubscribe {
            self.withdrawals.withdraw(&event);
        }
        let consent = self.consent.lookup(&event.tenant, &event.subscriber);
        let policy = self
            .consent
            .policies()
            .lookup(&event.tenant, &event.campaign);
        let level = match self.gate.decide_with(consent, &policy, &event) {
            Decision::Drop => {
                self.metrics.skip("consent");
                return;
            }
            Decision::Store(level) => level,
        };
        let enriched = self.enrichments.enrich(&event);
        let key = match level {
            TrackingLevel::Identified => SubscriberKey::Identified,
            TrackingLevel::Pseudonymous => SubscriberKey::Pseudonym(
                self.pseudonymizer
                    .pseudonym(&event.tenant, &event.subscriber),
            ),
            TrackingLevel::Anonymous | TrackingLevel::Off => SubscriberKey::None,
        };
        self.batch.push_row(PendingRow {
            stored_id: stored_id(&event.id, level),
            event,
            partition,
            offset,
            level,
            key,
            enriched,
        });
    }
}
