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
//! Revocations arrive inside `recv()`, never during an insert: the part of the batch from a
//! revoked partition is discarded before anything else happens, and the new owner re-reads it
//! from the last commit.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mailpulse_event::{Event, TrackingLevel};
use mailpulse_store::{offsets, Client, StoreError};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use uuid::Uuid;

use crate::admin::Health;
use crate::batch::{Batch, DeadLetter};
use crate::consent::ConsentBook;
use crate::consent_policy::regate;
use crate::consent_progress::ProgressHandle;
use crate::dedup::RecentIds;
use crate::dlq::DeadLetters;
use crate::enrichment::Enrichments;
use crate::gate::{Decision, Gate};
use crate::inflight::{self, InFlight, InsertJob, InsertOutcome, InsertSignal};
use crate::kafka::{PipelineContext, RebalanceEvent};
use crate::metrics::Metrics;
use crate::row::{anonymous_id, stored_id, PendingRow, Pseudonymizer, SubscriberKey};

/// Longest wait between insert retries.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

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
struct Incoming {
    partition: i32,
    offset: i64,
    content: Result<Event, DeadLetter>,
}

impl Incoming {
    fn from_message(message: &BorrowedMessage<'_>) -> Incoming {
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

/// Why a store attempt did not complete.
#[derive(Debug, thiserror::Error)]
enum StoreAttemptError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("dead-letter delivery failed: {0}")]
    DeadLetter(#[from] rdkafka::error::KafkaError),
    #[error("consent withdrawal delivery failed: {0}")]
    Withdrawal(rdkafka::error::KafkaError),
    #[error("the previous insert {0} is still running on the server")]
    StillRunning(String),
}

/// How a flush ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flushed {
    /// Stored (or nothing left to store) and committed.
    Committed,
    /// Shutdown came first: nothing committed, the next owner reads it again.
    Abandoned,
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
fn stopping(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow()
}

fn unix_now() -> u64 {
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

    fn apply_rebalances(&mut self) {
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

    fn handle(&mut self, incoming: Incoming) {
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

    /// Stores the batch and commits its offsets, retrying until it succeeds or shutdown.
    async fn flush(&mut self, shutdown: &mut watch::Receiver<bool>, mode: CommitMode) -> Flushed {
        let mut delay = self.settings.retry_initial;
        loop {
            match self.try_store().await {
                Ok(()) => break,
                Err(error) => {
                    self.metrics.insert_retries.inc();
                    tracing::warn!(%error, ?delay, rows = self.batch.rows().len(), "storing the batch failed; consumption paused, will retry");
                    self.set_paused(true);
                    if !self.wait_serving_consumer(delay, shutdown).await {
                        return Flushed::Abandoned;
                    }
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
            }
        }
        self.commit(mode);
        if self.paused {
            self.set_paused(false);
            tracing::info!("ClickHouse accepts inserts again; consumption resumed");
        }
        Flushed::Committed
    }

    /// Loads the ids stored from the batch's partitions that were (re)assigned since their ids
    /// were last loaded. An upstream duplicate lands in its original's partition (same key), so
    /// this catches one whichever replica stored the original, before or after a restart.
    async fn seed_partitions(&mut self) -> Result<(), StoreError> {
        let unseeded: Vec<i32> = self
            .batch
            .partitions()
            .filter(|partition| !self.recent.is_seeded(*partition))
            .collect();
        if unseeded.is_empty() {
            return Ok(());
        }
        let since = unix_now().saturating_sub(self.settings.dedup_window_secs + 3600);
        let ids = offsets::recent_event_ids(
            &self.store,
            &self.settings.topic,
            &unseeded,
            u32::try_from(since).unwrap_or(0),
            self.settings.dedup_capacity as u64,
        )
        .await?;
        let now = unix_now();
        // Newest first from the query; insert oldest first so eviction order holds.
        for id in ids.iter().rev() {
            self.recent.insert(*id, now);
        }
        for partition in &unseeded {
            self.recent.mark_seeded(*partition);
        }
        tracing::info!(partitions = ?unseeded, ids = ids.len(), "stored ids loaded for the duplicate filter");
        Ok(())
    }

    /// Delivers dead letters, drops rows already stored, and inserts the rest as one INSERT.
    async fn try_store(&mut self) -> Result<(), StoreAttemptError> {
        self.prepare_store().await?;
        if self.batch.rows().is_empty() {
            return Ok(());
        }
        let query_id = Uuid::now_v7().to_string();
        let ingested_at = u32::try_from(unix_now()).unwrap_or(u32::MAX);
        let topic = self.settings.topic.as_str();
        let started = Instant::now();
        let result = offsets::insert_events(
            &self.store,
            event_rows(self.batch.rows(), topic, ingested_at),
            &query_id,
            self.settings.insert_timeout,
        )
        .await;
        match result {
            Ok(written) => {
                self.metrics
                    .insert_duration
                    .observe(started.elapsed().as_secs_f64());
                self.metrics.inserted.inc_by(written);
                let batch = std::mem::take(&mut self.batch);
                self.advance_watermarks(&batch);
                self.batch = batch;
                Ok(())
            }
            Err(error) => {
                // The server may still complete it: settle that, then re-read the watermarks.
                self.unsettled_insert = Some(query_id);
                for partition in self.batch.partitions().collect::<Vec<_>>() {
                    self.watermarks.remove(&partition);
                }
                Err(error.into())
            }
        }
    }

    /// Everything before the INSERT: delivers dead letters and consent withdrawals, waits out
    /// an unsettled insert, re-gates the rows, and drops those already stored.
    async fn prepare_store(&mut self) -> Result<(), StoreAttemptError> {
        self.apply_rebalances();
        if !self.batch.dead_letters_mut().is_empty() {
            self.dead_letters
                .confirm(self.batch.dead_letters_mut())
                .await?;
        }
        if !self.withdrawals.is_empty() {
            self.withdrawals
                .confirm()
                .await
                .map_err(StoreAttemptError::Withdrawal)?;
        }
        if let Some(query_id) = &self.unsettled_insert {
            if offsets::query_running(&self.store, query_id).await? {
                return Err(StoreAttemptError::StillRunning(query_id.clone()));
            }
            self.unsettled_insert = None;
        }
        // Consent may have changed since these rows were accepted (an erasure waits for
        // this): decide them again with the book as it is now, then report that book as safe,
        // since no insert gated with an older one can still land. Done first, right after the
        // previous insert is known to be over, so that a failing step below (a missing table)
        // cannot keep an erasure waiting; the steps below only remove rows.
        let applied = self.consent.applied().snapshot();
        let regated = regate(
            &mut self.batch,
            &self.gate,
            &self.consent,
            &self.pseudonymizer,
        );
        for _ in 0..regated.dropped {
            self.metrics.skip("consent");
        }
        if regated.lowered > 0 {
            tracing::debug!(
                rows = regated.lowered,
                "pending rows lowered after a consent change"
            );
        }
        self.progress.safe(applied);
        let unknown: Vec<i32> = self
            .batch
            .partitions()
            .filter(|p| !self.watermarks.contains_key(p))
            .collect();
        if !unknown.is_empty() {
            let stored = offsets::watermarks(&self.store, &self.settings.topic).await?;
            for partition in unknown {
                self.watermarks
                    .insert(partition, stored.get(&partition).copied());
            }
        }
        let watermarks = &self.watermarks;
        let already = self
            .batch
            .drop_stored(|partition| watermarks.get(&partition).copied().flatten());
        let now = unix_now();
        for id in already {
            self.metrics.skip("offset");
            self.recent.insert(id, now);
        }
        self.seed_partitions().await?;
        // Duplicates of events stored by whoever owned a partition before us.
        let recent = &self.recent;
        let before = self.batch.rows().len();
        self.batch
            .revise_rows(|row| !recent.contains_event(&row.event.id, &anonymous_id(&row.event.id)));
        for _ in self.batch.rows().len()..before {
            self.metrics.skip("event_id");
        }
        Ok(())
    }

    /// Raises the known watermarks to the offsets of `batch`'s rows, now stored.
    fn advance_watermarks(&mut self, batch: &Batch) {
        for row in batch.rows() {
            let known = self.watermarks.entry(row.partition).or_insert(None);
            *known = Some(known.map_or(row.offset, |w| w.max(row.offset)));
        }
    }

    /// Prepares the batch and starts its INSERT in the background (see `inflight`); the loop
    /// goes on reading. The previous background insert is settled first, so one at most runs.
    async fn flush_in_background(&mut self, shutdown: &mut watch::Receiver<bool>) {
        self.settle_in_flight().await;
        if self.retry_pending {
            self.retry_pending = false;
            self.flush(shutdown, CommitMode::Async).await;
            return;
        }
        if let Err(error) = self.prepare_store().await {
            // ClickHouse or Kafka trouble: the sequential path pauses and retries.
            tracing::debug!(%error, "preparing the batch failed; storing it in the foreground");
            self.flush(shutdown, CommitMode::Async).await;
            return;
        }
        if self.batch.rows().is_empty() {
            self.commit(CommitMode::Async);
            return;
        }
        let signal = Arc::new(InsertSignal::default());
        self.consumer
            .context()
            .set_insert_in_flight(Some(signal.clone()));
        let job = InsertJob {
            store: self.store.clone(),
            topic: self.settings.topic.clone(),
            ingested_at: u32::try_from(unix_now()).unwrap_or(u32::MAX),
            query_id: Uuid::now_v7().to_string(),
            timeout: self.settings.insert_timeout,
            signal,
        };
        self.in_flight = Some(inflight::spawn(std::mem::take(&mut self.batch), job));
    }

    /// Waits for the background insert, if any. Stored: its offsets are committed. Failed: its
    /// batch goes back in front of the current one, for the sequential path to retry.
    async fn settle_in_flight(&mut self) {
        let Some(in_flight) = self.in_flight.take() else {
            return;
        };
        let outcome = in_flight.task.await;
        self.consumer.context().set_insert_in_flight(None);
        let InsertOutcome {
            mut batch,
            result,
            elapsed,
        } = match outcome {
            Ok(outcome) => outcome,
            // A panic in the insert task is a bug; carry it on rather than commit past a batch
            // that is lost (nothing of it was committed, so it is read again after a restart).
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        };
        match result {
            Ok(written) => {
                self.metrics.insert_duration.observe(elapsed.as_secs_f64());
                self.metrics.inserted.inc_by(written);
                self.advance_watermarks(&batch);
                self.commit_batch(&mut batch, CommitMode::Async);
            }
            Err(error) => {
                self.metrics.insert_retries.inc();
                tracing::warn!(%error, rows = batch.rows().len(), "background insert failed; retrying it in the foreground");
                // The server may still complete it: settle that, then re-read the watermarks.
                self.unsettled_insert = Some(in_flight.query_id);
                for partition in batch.partitions().collect::<Vec<_>>() {
                    self.watermarks.remove(&partition);
                }
                batch.absorb(std::mem::take(&mut self.batch));
                self.batch = batch;
                self.retry_pending = true;
            }
        }
    }

    /// Sleeps `delay` while still polling the consumer, so rebalances are served and the group
    /// keeps this member. False if shutdown came first.
    async fn wait_serving_consumer(
        &mut self,
        delay: Duration,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let until = tokio::time::Instant::now() + delay;
        loop {
            if stopping(shutdown) {
                return false;
            }
            let received = tokio::select! {
                _ = shutdown.changed() => return false,
                received = tokio::time::timeout_at(until, self.consumer.recv()) => match received {
                    Err(_elapsed) => None,
                    Ok(Ok(message)) => Some(Some(Incoming::from_message(&message))),
                    Ok(Err(error)) => {
                        tracing::debug!(%error, "consume error while paused");
                        Some(None)
                    }
                },
            };
            self.apply_rebalances();
            match received {
                None => return true,
                // A message from before the pause took effect: it belongs to the batch.
                Some(Some(incoming)) => self.handle(incoming),
                Some(None) => {}
            }
        }
    }

    fn set_paused(&mut self, paused: bool) {
        let assignment = match self.consumer.assignment() {
            Ok(assignment) => assignment,
            Err(error) => {
                tracing::warn!(%error, "cannot read the assignment");
                return;
            }
        };
        let result = if paused {
            self.consumer.pause(&assignment)
        } else {
            self.consumer.resume(&assignment)
        };
        if let Err(error) = result {
            tracing::warn!(%error, paused, "pause/resume failed");
        }
        self.paused = paused;
        self.health.set_paused(paused);
        self.metrics.paused.set(i64::from(paused));
    }

    fn commit(&mut self, mode: CommitMode) {
        let mut batch = std::mem::take(&mut self.batch);
        self.commit_batch(&mut batch, mode);
        self.batch = batch;
    }

    /// Commits the offsets after `batch` (stored) and empties it into the recent ids.
    fn commit_batch(&mut self, batch: &mut Batch, mode: CommitMode) {
        let mut positions = TopicPartitionList::new();
        for (partition, next) in batch.commit_positions() {
            if !self.assigned.contains(&partition) {
                continue;
            }
            if let Err(error) = positions.add_partition_offset(
                &self.settings.topic,
                partition,
                Offset::Offset(next),
            ) {
                tracing::warn!(%error, partition, "cannot list the offset to commit");
            }
        }
        if positions.count() > 0 {
            if let Err(error) = self.consumer.commit(&positions, mode) {
                // Stored already; a redelivery is skipped by the watermark.
                tracing::warn!(%error, "offset commit failed");
            }
        }
        if let Some(started) = batch.started() {
            self.metrics
                .batch_latency
                .observe(started.elapsed().as_secs_f64());
        }
        self.metrics.batches.inc();
        let now = unix_now();
        for id in batch.finish() {
            self.recent.insert(id, now);
        }
    }
}
